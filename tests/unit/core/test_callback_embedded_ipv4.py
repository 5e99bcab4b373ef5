"""IPv6 addresses that carry an IPv4 address are judged by that address (RFC 6052 NAT64,
RFC 3056 6to4, RFC 4380 Teredo, RFC 4291 IPv4-mapped and IPv4-compatible)."""

from __future__ import annotations

import pytest

from openkling.core.callbacks import check_callback_url, is_public_ip
from openkling.core.errors import Code, KlingError

PRIVATE_WRAPPED = [
    "64:ff9b::7f00:1",  # NAT64 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:1",  # local-use NAT64 10.0.0.1
    "2002:7f00:1::1",  # 6to4 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 192.168.1.1
    "::127.0.0.1",  # IPv4-compatible
    "::10.1.2.3",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:172.16.0.1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]
PUBLIC_WRAPPED = [
    "64:ff9b::808:808",  # NAT64 8.8.8.8
    "2002:808:808::1",  # 6to4 8.8.8.8
    "::ffff:8.8.8.8",
    "::8.8.8.8",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, server 65.54.227.120, client 8.8.8.8
]


@pytest.mark.parametrize("address", PRIVATE_WRAPPED)
def test_private_ipv4_inside_ipv6_is_private(address: str) -> None:
    assert not is_public_ip(address)


@pytest.mark.parametrize("address", PUBLIC_WRAPPED)
def test_public_ipv4_inside_ipv6_is_public(address: str) -> None:
    assert is_public_ip(address)


@pytest.mark.parametrize("address", ["::1", "::", "fe80::1", "fc00::1"])
def test_plain_private_ipv6_stays_private(address: str) -> None:
    assert not is_public_ip(address)


async def test_a_nat64_loopback_callback_url_is_refused() -> None:
    with pytest.raises(KlingError) as info:
        await check_callback_url("http://[64:ff9b::7f00:1]/hook", allow_private=False)
    assert info.value.code == Code.INVALID_PARAMETER
    assert info.value.message.startswith("callback_url:")


async def test_a_nat64_public_callback_url_is_accepted() -> None:
    pinned = await check_callback_url("http://[64:ff9b::808:808]/hook", allow_private=False)
    assert pinned == "64:ff9b::808:808"
