"""Callbacks against docs/api.md: a receiver written from the docs, fixed signature vectors,
and the edges of the callback URL guard (credentials, IPv6 zone ids, ports).

Expected values are literals from the docs, never the module's own constants or functions."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from openkling.core import callbacks
from openkling.core.callbacks import sign, verify
from openkling.core.outbound import (
    CALLBACKS_SETTING,
    OutboundRefused,
    check_outbound_url,
    is_public_ip,
    pinned_request,
)

SECRET = "whsec_test"
TIMESTAMP = 1700000000
BODY = b'{"task_id":"866889456698785798","task_status":"succeed"}'
# HMAC-SHA256 keyed "whsec_test" over "1700000000." + BODY, computed once with hashlib.
VECTOR = "v1=940294493663a061e18ae86f98d651ad82879776e16276341a16866d4dcbe924"
EMPTY_BODY_VECTOR = "v1=5967f3c560522fa40cf2876ebc3c3a08551dd6959aaade3b413460591895bdcc"


def docs_receiver(secret: str, headers: dict[str, str], body: bytes, *, now: float) -> bool:
    """The receiver docs/api.md tells users to write, header names and all."""
    timestamp = headers["X-Openkling-Timestamp"]
    signature = headers["X-Openkling-Signature"]
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(now - int(timestamp)) < 300
    return fresh and hmac.compare_digest("v1=" + mac.hexdigest(), signature)


def delivery_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers as the deliverer sets them: the module's names, the module's signature."""
    return {
        callbacks.TIMESTAMP_HEADER: str(timestamp),
        callbacks.SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def test_signature_matches_the_fixed_vectors() -> None:
    assert sign(SECRET, TIMESTAMP, BODY) == VECTOR
    assert sign(SECRET, TIMESTAMP, b"") == EMPTY_BODY_VECTOR


def test_a_receiver_written_from_the_docs_accepts_what_we_send() -> None:
    headers = delivery_headers(SECRET, TIMESTAMP, BODY)
    assert set(headers) == {"X-Openkling-Timestamp", "X-Openkling-Signature"}
    assert headers["X-Openkling-Timestamp"] == "1700000000"
    assert docs_receiver(SECRET, headers, BODY, now=TIMESTAMP + 10)
    assert not docs_receiver("whsec_other", headers, BODY, now=TIMESTAMP + 10)
    assert not docs_receiver(SECRET, headers, BODY + b" ", now=TIMESTAMP + 10)
    assert not docs_receiver(SECRET, headers, BODY, now=TIMESTAMP + 301)  # a replay


def test_verify_accepts_exactly_the_documented_signature() -> None:
    assert verify(SECRET, TIMESTAMP, BODY, VECTOR)
    assert not verify(SECRET, TIMESTAMP, BODY, VECTOR.removeprefix("v1="))
    assert not verify(SECRET, TIMESTAMP, BODY, "v1=" + "0" * 64)
    assert not verify(SECRET, TIMESTAMP + 1, BODY, VECTOR)


@pytest.mark.parametrize(
    "address,public",
    [
        ("fe80::1%eth0", False),  # a zone id names the interface, not the address
        ("fe80::1%25eth0", False),  # as urlsplit leaves it (percent-encoded)
        ("2606:4700:4700::1111%eth0", True),
        ("2606:4700:4700::1111%a%b", True),
        ("::ffff:8.8.8.8", False),  # IPv4-mapped: not globally reachable (IANA registry)
        ("::ffff:10.0.0.1", False),
        ("ff0e::1", False),  # global-scope multicast
        ("233.252.0.1", False),  # IPv4 multicast
    ],
)
def test_zone_ids_mapped_and_multicast_addresses(address: str, public: bool) -> None:
    assert is_public_ip(address) is public


async def check_callback_url(url: str, *, allow_private: bool) -> str | None:
    return await check_outbound_url(url, allow_private=allow_private, setting=CALLBACKS_SETTING)


async def refused(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(OutboundRefused) as info:
        await check_callback_url(url, allow_private=allow_private)
    return info.value.reason


async def test_credentials_in_the_url_do_not_hide_the_host() -> None:
    assert await check_callback_url("http://user:pw@8.8.8.8/hook", allow_private=False) == (
        "8.8.8.8")
    message = await refused("http://8.8.8.8:80@127.0.0.1/hook")
    assert message.startswith("host '127.0.0.1' resolves to a private")
    assert "(127.0.0.1)" in message and "OPENKLING_ALLOW_PRIVATE_CALLBACKS=true" in message
    message = await refused("http://user:pw@169.254.169.254/latest")
    assert message.startswith("host '169.254.169.254' resolves to a private")


async def test_a_link_local_address_with_a_zone_id_is_refused() -> None:
    message = await refused("http://[fe80::1%25eth0]:8080/hook")
    assert message.startswith("host 'fe80::1%25eth0'")


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ["http://8.8.8.8:99999/hook", "https://8.8.8.8:https/hook",
                                 "http://127.0.0.1:65536/hook"])
async def test_an_invalid_port_is_refused_naming_the_field(url: str, allow_private: bool) -> None:
    assert await refused(url, allow_private=allow_private) == "has an invalid port"


@pytest.mark.parametrize("url", ["http://8.8.8.8:65535/hook", "https://8.8.8.8:1/hook",
                                 "https://8.8.8.8/hook", "HTTP://8.8.8.8/hook"])
async def test_valid_ports_and_default_ports_are_accepted(url: str) -> None:
    assert await check_callback_url(url, allow_private=False) == "8.8.8.8"


async def test_public_ipv6_literal_is_accepted_and_returned() -> None:
    url = "http://[2606:4700:4700::1111]:8080/hook"
    assert await check_callback_url(url, allow_private=False) == "2606:4700:4700::1111"


@pytest.mark.parametrize(
    "url,reason",
    [("http://[::1/hook", "is not a valid URL"), ("ftp://8.8.8.8/x", "must be an absolute http"),
     ("https:///x", "must be an absolute http"), ("8.8.8.8/hook", "must be an absolute http")],
)
async def test_malformed_urls_are_refused_naming_the_field(url: str, reason: str) -> None:
    for allow_private in (False, True):
        assert (await refused(url, allow_private=allow_private)).startswith(
            reason)


async def test_an_unresolvable_host_is_named() -> None:
    message = await refused("https://no-such-host.invalid/hook")
    assert message == "host 'no-such-host.invalid' does not resolve"


def test_pinning_keeps_credentials_and_strips_them_from_host() -> None:
    url, headers, extensions = pinned_request("https://u:p%40x@hooks.example.com/cb", "8.8.8.8")
    assert url == "https://u:p%40x@8.8.8.8/cb"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    url, headers, _ = pinned_request("http://u@hooks.example.com:8080/cb?a=1#f", "2001:db8::1")
    assert url == "http://u@[2001:db8::1]:8080/cb?a=1#f"
    assert headers == {"Host": "hooks.example.com:8080"}


def test_pinning_an_address_given_without_private_check_is_a_no_op() -> None:
    url = "http://user:pw@localhost:9000/x"
    assert pinned_request(url, None) == (url, {}, {})

