"""The outbound guard's table against the IANA special-purpose registries, both sides of every
boundary, each embedded IPv4 form; and every outbound caller refusing an outside address
without sending anything.

The expected rows below are written from the registries (IPv4 and IPv6 Special-Purpose
Address Registries, "Globally Reachable"; IANA IPv6 Address Space for what lies outside
2000::/3), not read from `openkling.core.outbound`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest

from openkling.core.errors import KlingError
from openkling.core.image_fetch import ImageFetcher
from openkling.core.outbound import (
    CALLBACKS_SETTING,
    IMAGE_URLS_SETTING,
    OutboundRefused,
    check_outbound_url,
    is_public_ip,
    why_not_public,
)
from openkling.providers.kling.rehost import RehostError, download

# (block, globally reachable): the registries' rows and the address-space rows around them.
IPV4 = [
    ("0.0.0.0/8", False), ("0.0.0.0/32", False), ("10.0.0.0/8", False),
    ("100.64.0.0/10", False), ("127.0.0.0/8", False), ("169.254.0.0/16", False),
    ("172.16.0.0/12", False), ("192.0.0.0/24", False), ("192.0.0.0/29", False),
    ("192.0.0.8/32", False), ("192.0.0.9/32", True), ("192.0.0.10/32", True),
    ("192.0.0.170/32", False), ("192.0.0.171/32", False), ("192.0.2.0/24", False),
    ("192.31.196.0/24", True), ("192.52.193.0/24", True), ("192.88.99.0/24", False),
    ("192.168.0.0/16", False), ("192.175.48.0/24", True), ("198.18.0.0/15", False),
    ("198.51.100.0/24", False), ("203.0.113.0/24", False), ("224.0.0.0/4", False),
    ("240.0.0.0/4", False), ("255.255.255.255/32", False),
]
IPV6 = [
    ("::/128", False), ("::1/128", False), ("::/96", False), ("::ffff:0:0/96", False),
    ("::ffff:0:0:0/96", False), ("64:ff9b:1::/48", False), ("100::/64", False),
    ("100:0:0:1::/64", False), ("2000::/3", True), ("2001::/23", False),
    ("2001:1::1/128", True), ("2001:1::2/128", True), ("2001:1::3/128", True),
    ("2001:2::/48", False), ("2001:3::/32", True), ("2001:4:112::/48", True),
    ("2001:10::/28", False), ("2001:20::/28", True), ("2001:30::/28", True),
    ("2001:db8::/32", False), ("2620:4f:8000::/48", True), ("3fff::/20", False),
    ("5f00::/16", False), ("fc00::/7", False), ("fe80::/10", False), ("fec0::/10", False),
    ("ff00::/8", False),
]
# Rows whose answer is the IPv4 address they carry (registry: True for NAT64, N/A for these).
EMBEDDING = ["64:ff9b::/96", "2002::/16", "2001::/32"]


def expected(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is public by the rows above: the most specific row decides; IPv4
    outside every row is public, IPv6 outside every row is reserved."""
    rows = IPV4 if address.version == 4 else IPV6
    holding = [(ipaddress.ip_network(block), public) for block, public in rows
               if address in ipaddress.ip_network(block)]
    if not holding:
        return address.version == 4
    return max(holding, key=lambda row: row[0].prefixlen)[1]


def boundary_cases() -> list[tuple[str, str]]:
    """Each block's first and last address, and the addresses just outside it."""
    cases = []
    for block, _ in IPV4 + IPV6:
        net = ipaddress.ip_network(block)
        top = 2 ** net.max_prefixlen - 1
        for value in (int(net.network_address) - 1, int(net.network_address),
                      int(net.broadcast_address), int(net.broadcast_address) + 1):
            if 0 <= value <= top:
                cases.append((block, str(ipaddress.ip_address(value) if net.version == 4
                                         else ipaddress.IPv6Address(value))))
    return cases


@pytest.mark.parametrize("block,address", boundary_cases())
def test_both_sides_of_every_boundary(block: str, address: str) -> None:
    assert is_public_ip(address) is expected(ipaddress.ip_address(address)), (block, address)


@pytest.mark.parametrize("address,public", [
    ("192.0.0.192", False),  # the address the attack reached: inside 192.0.0.0/24
    ("fec0::1", False),  # site-local
    ("::ffff:0:7f00:1", False),  # IPv4-translated 127.0.0.1
    ("::ffff:0:808:808", False),  # IPv4-translated, even of a public address
    ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", False),  # IPv4-mapped
    ("::127.0.0.1", False), ("::8.8.8.8", False),  # IPv4-compatible (deprecated)
    ("64:ff9b:1::808:808", False),  # local-use NAT64
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("4000::1", False),
])
def test_the_addresses_this_pythons_ipaddress_gets_wrong(address: str, public: bool) -> None:
    assert is_public_ip(address) is public


def _teredo(server: str, client: str) -> str:
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64)
    value |= ~int(ipaddress.IPv4Address(client)) & 0xFFFFFFFF
    return str(ipaddress.IPv6Address(value))


def embedded_forms(ipv4: str) -> list[str]:
    """`ipv4` inside each form that delivers to it: NAT64 (RFC 6052), 6to4 (RFC 3056), a
    Teredo client (RFC 4380, with a public server) and a Teredo server (public client)."""
    value = int(ipaddress.IPv4Address(ipv4))
    nat64 = ipaddress.IPv6Address((0x0064FF9B << 96) | value)
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    return [str(nat64), str(six_to_four), _teredo("65.54.227.120", ipv4),
            _teredo(ipv4, "65.54.227.120")]


def _first_addresses() -> list[str]:
    return [str(ipaddress.ip_network(block).network_address) for block, _ in IPV4] + [
        "8.8.8.8", "1.1.1.1"]


@pytest.mark.parametrize("ipv4", _first_addresses())
def test_each_embedded_form_is_judged_by_the_ipv4_it_carries(ipv4: str) -> None:
    public = expected(ipaddress.IPv4Address(ipv4))
    for address in embedded_forms(ipv4):
        assert is_public_ip(address) is public, (ipv4, address)


def test_embedding_rows_are_the_registry_prefixes() -> None:
    for block in EMBEDDING:
        net = ipaddress.ip_network(block)
        assert not is_public_ip(str(net.network_address))  # carries 0.0.0.0
    assert is_public_ip(embedded_forms("8.8.8.8")[0])


def test_a_refusal_names_the_row_that_refused() -> None:
    assert why_not_public("192.0.0.192") == "192.0.0.0/24 IETF Protocol Assignments (RFC 6890)"
    why = why_not_public("64:ff9b::7f00:1") or ""
    assert why.startswith("64:ff9b::/96") and "carrying 127.0.0.1: 127.0.0.0/8 Loopback" in why


OUTSIDE = ["http://192.0.0.192/hook", "http://[fec0::1]/hook", "http://[::ffff:0:7f00:1]/hook",
           "http://[64:ff9b::a9fe:a9fe]/x", "http://[2002:c0a8:101::1]/x",
           "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x"]


@pytest.mark.parametrize("url", OUTSIDE)
@pytest.mark.parametrize("setting", [CALLBACKS_SETTING, IMAGE_URLS_SETTING])
async def test_a_refusal_names_the_setting(url: str, setting: str) -> None:
    with pytest.raises(OutboundRefused) as info:
        await check_outbound_url(url, allow_private=False, setting=setting)
    assert info.value.reason.endswith(f"; set {setting} to allow private targets")
    assert "private or reserved address" in info.value.reason


def _no_sending() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a request was sent to {request.url}")

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("url", OUTSIDE)
async def test_image_urls_are_refused_before_sending(url: str) -> None:
    async with httpx.AsyncClient(transport=_no_sending()) as http:
        fetcher = ImageFetcher(http, allow_private=False)
        with pytest.raises(KlingError) as info:
            await fetcher.load("image", url)
    assert info.value.code == 1201 and info.value.message.startswith("image: host")
    assert "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS=true" in info.value.message


@pytest.mark.parametrize("url", OUTSIDE)
async def test_relay_downloads_are_refused_before_sending(url: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(transport=_no_sending()) as http:
        with pytest.raises(RehostError) as info:
            await download(http, url, tmp_path / "v", max_bytes=1000, time_limit=5)
    message = str(info.value)
    assert message.startswith("refusing to download the video: host")
    assert "provider_options.kling channel's base_url" in message
