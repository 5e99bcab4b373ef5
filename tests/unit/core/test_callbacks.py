"""The outbound URL guard as callbacks use it, and the signature receivers verify."""

from __future__ import annotations

import pytest

from openkling.core.callbacks import sign, verify
from openkling.core.outbound import (
    CALLBACKS_SETTING,
    OutboundRefused,
    check_outbound_url,
    is_public_ip,
    pinned_request,
)


async def check_callback_url(url: str, *, allow_private: bool) -> str | None:
    return await check_outbound_url(url, allow_private=allow_private, setting=CALLBACKS_SETTING)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
     "fe80::1", "fd00:ec2::254", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1"],
)
def test_private_reserved_and_metadata_addresses_are_not_public(address: str) -> None:
    assert not is_public_ip(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public_ip(address)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]/x",
     "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/cb"],
)
async def test_private_targets_refused_by_default(url: str) -> None:
    with pytest.raises(OutboundRefused) as info:
        await check_callback_url(url, allow_private=False)
    assert "set OPENKLING_ALLOW_PRIVATE_CALLBACKS=true to allow private targets" in str(info.value)


async def test_private_targets_allowed_when_configured() -> None:
    # Nothing is resolved, so there is no address to pin the delivery to.
    assert await check_callback_url("http://127.0.0.1:9000/hook", allow_private=True) is None
    assert await check_callback_url("http://localhost/hook", allow_private=True) is None


async def test_public_ip_literal_accepted() -> None:
    assert await check_callback_url("https://8.8.8.8/hook", allow_private=False) == "8.8.8.8"
    assert await check_callback_url("http://1.1.1.1:8080/x", allow_private=False) == "1.1.1.1"


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "not a url", "http:///path", "/relative"])
async def test_non_http_urls_refused(url: str) -> None:
    with pytest.raises(OutboundRefused) as info:
        await check_callback_url(url, allow_private=True)
    assert "http" in info.value.reason


async def test_unresolvable_host_refused() -> None:
    with pytest.raises(OutboundRefused) as info:
        await check_callback_url("http://no-such-host.invalid/x", allow_private=False)
    assert "does not resolve" in info.value.reason


def test_signature_round_trip_and_tamper() -> None:
    body = b'{"task_id":"1"}'
    signature = sign("whsec_x", 1700000000, body)
    assert signature.startswith("v1=")
    assert verify("whsec_x", 1700000000, body, signature)
    assert not verify("whsec_x", 1700000001, body, signature)
    assert not verify("whsec_y", 1700000000, body, signature)
    assert not verify("whsec_x", 1700000000, body + b" ", signature)


def test_pinned_request_keeps_host_and_server_name() -> None:
    url, headers, extensions = pinned_request("https://hooks.example.com:8443/cb?x=1", "8.8.8.8")
    assert url == "https://8.8.8.8:8443/cb?x=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    url, headers, extensions = pinned_request("http://hooks.example.com/cb", "2001:4860::8888")
    assert url == "http://[2001:4860::8888]/cb" and headers == {"Host": "hooks.example.com"}
    assert extensions == {}
    assert pinned_request("http://127.0.0.1:9/x", None) == ("http://127.0.0.1:9/x", {}, {})


async def test_check_returns_the_address_it_checked() -> None:
    assert await check_callback_url("https://8.8.8.8/hook", allow_private=False) == "8.8.8.8"
    assert await check_callback_url("http://127.0.0.1/hook", allow_private=True) is None
