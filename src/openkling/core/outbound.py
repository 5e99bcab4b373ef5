"""The one guard for every request openkling sends to a URL it was given: callbacks, input
image URLs, and the relay's downloads of upstream results.

What counts as public is this module's own table (`SPECIAL_PURPOSE`), taken from the IANA
IPv4 and IPv6 Special-Purpose Address Registries (their "Globally Reachable" column) and the
IANA address-space registries (multicast, reserved, the IPv6 global unicast range), so the
answer does not depend on which Python's `ipaddress` classification is installed. Every
address a host name resolves to must be public; the request is then sent to the address
that was checked (`pinned_request`), so a second DNS answer cannot steer it elsewhere.

A refusal is `OutboundRefused`, not an API error: each caller says it in its own terms (a
400/1201 naming the field at create, a failed delivery, a relay error). Its text names the
setting that allows private targets.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openkling.errors import OpenKlingError

_RESOLVE_TIMEOUT = 3.0

#: What a refusal tells the operator to set to allow private targets, by caller.
CALLBACKS_SETTING = "OPENKLING_ALLOW_PRIVATE_CALLBACKS=true"
IMAGE_URLS_SETTING = "OPENKLING_ALLOW_PRIVATE_IMAGE_URLS=true"
#: The relay downloads from private hosts only when they are a channel's upstream.
RELAY_SETTING = "a provider_options.kling channel's base_url to this host"


class OutboundRefused(OpenKlingError):
    """A URL the guard will not send to. `reason` reads after the name of the field that
    held the URL ("host 'x' resolves to ...")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Reach(enum.Enum):
    """What a row of the table says about an address in it."""

    PUBLIC = "public"
    PRIVATE = "not public"
    #: The address carries an IPv4 address that a translator or tunnel delivers to: it is
    #: public exactly when every IPv4 address it carries is.
    EMBEDDED = "public when the IPv4 address it carries is"


@dataclass(frozen=True)
class Row:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    name: str
    reach: Reach


def _row(network: str, name: str, reach: Reach) -> Row:
    return Row(ipaddress.ip_network(network), name, reach)


P, N, E = Reach.PUBLIC, Reach.PRIVATE, Reach.EMBEDDED

#: The table. The most specific row holding an address decides; `0.0.0.0/0` and `::/0` make
#: sure one always does. Registry rows follow the "Globally Reachable" column; rows the
#: registries mark N/A or do not list say why in their name (docs/operations.md has the
#: table with the reasons).
SPECIAL_PURPOSE: tuple[Row, ...] = (
    # IPv4: unicast space is public unless a row below says otherwise.
    _row("0.0.0.0/0", "IPv4 unicast", P),
    _row("0.0.0.0/8", '"This network" (RFC 791)', N),
    _row("0.0.0.0/32", '"This host on this network" (RFC 1122)', N),
    _row("10.0.0.0/8", "Private-Use (RFC 1918)", N),
    _row("100.64.0.0/10", "Shared Address Space (RFC 6598)", N),
    _row("127.0.0.0/8", "Loopback (RFC 1122)", N),
    _row("169.254.0.0/16", "Link Local (RFC 3927)", N),
    _row("172.16.0.0/12", "Private-Use (RFC 1918)", N),
    _row("192.0.0.0/24", "IETF Protocol Assignments (RFC 6890)", N),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix (RFC 7335)", N),
    _row("192.0.0.8/32", "IPv4 dummy address (RFC 7600)", N),
    _row("192.0.0.9/32", "Port Control Protocol Anycast (RFC 7723)", P),
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast (RFC 8155)", P),
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery (RFC 8880)", N),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery (RFC 8880)", N),
    _row("192.0.2.0/24", "Documentation TEST-NET-1 (RFC 5737)", N),
    _row("192.31.196.0/24", "AS112-v4 (RFC 7535)", P),
    _row("192.52.193.0/24", "AMT (RFC 7450)", P),
    _row("192.88.99.0/24", "Deprecated 6to4 Relay Anycast (RFC 7526)", N),
    _row("192.168.0.0/16", "Private-Use (RFC 1918)", N),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service (RFC 7534)", P),
    _row("198.18.0.0/15", "Benchmarking (RFC 2544)", N),
    _row("198.51.100.0/24", "Documentation TEST-NET-2 (RFC 5737)", N),
    _row("203.0.113.0/24", "Documentation TEST-NET-3 (RFC 5737)", N),
    _row("224.0.0.0/4", "Multicast (RFC 5771)", N),
    _row("240.0.0.0/4", "Reserved (RFC 1112)", N),
    _row("255.255.255.255/32", "Limited Broadcast (RFC 919)", N),
    # IPv6: only the global unicast range is allocated (IANA IPv6 Address Space).
    _row("::/0", "reserved by the IETF, not allocated (RFC 4291)", N),
    _row("2000::/3", "IPv6 global unicast (RFC 4291)", P),
    _row("::/128", "Unspecified Address (RFC 4291)", N),
    _row("::1/128", "Loopback Address (RFC 4291)", N),
    _row("::/96", "IPv4-compatible, deprecated (RFC 4291)", N),
    _row("::ffff:0:0/96", "IPv4-mapped Address (RFC 4291)", N),
    _row("::ffff:0:0:0/96", "IPv4-translated, not in the registry (RFC 2765)", N),
    _row("64:ff9b::/96", "IPv4-IPv6 Translat. (NAT64, RFC 6052)", E),
    _row("64:ff9b:1::/48", "IPv4-IPv6 Translat., local use (RFC 8215)", N),
    _row("100::/64", "Discard-Only Address Block (RFC 6666)", N),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix (RFC 9780)", N),
    _row("2001::/23", "IETF Protocol Assignments (RFC 2928)", N),
    _row("2001::/32", "TEREDO (RFC 4380)", E),
    _row("2001:1::1/128", "Port Control Protocol Anycast (RFC 7723)", P),
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast (RFC 8155)", P),
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast (RFC 9665)", P),
    _row("2001:2::/48", "Benchmarking (RFC 5180)", N),
    _row("2001:3::/32", "AMT (RFC 7450)", P),
    _row("2001:4:112::/48", "AS112-v6 (RFC 7535)", P),
    _row("2001:10::/28", "Deprecated ORCHID (RFC 4843)", N),
    _row("2001:20::/28", "ORCHIDv2 (RFC 7343)", P),
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (RFC 9374)", P),
    _row("2001:db8::/32", "Documentation (RFC 3849)", N),
    _row("2002::/16", "6to4 (RFC 3056)", E),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service (RFC 7534)", P),
    _row("3fff::/20", "Documentation (RFC 9637)", N),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs (RFC 9602)", N),
    _row("fc00::/7", "Unique-Local (RFC 4193)", N),
    _row("fe80::/10", "Link-Local Unicast (RFC 4291)", N),
    _row("fec0::/10", "Site-Local, deprecated (RFC 3879)", N),
    _row("ff00::/8", "Multicast (RFC 4291)", N),
)

#: Most specific first, so the first row that holds an address is the one that decides.
_BY_PREFIX = sorted(SPECIAL_PURPOSE, key=lambda row: -row.network.prefixlen)


def row_for(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Row:
    """The row of the table that decides `ip`."""
    for row in _BY_PREFIX:
        if row.network.version == ip.version and ip in row.network:
            return row
    raise AssertionError("the table covers every address")  # pragma: no cover


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an `EMBEDDED` row's address delivers to: the NAT64 address (the
    last 32 bits of `64:ff9b::/96`, RFC 6052), the 6to4 router (bits 16-47, RFC 3056), or
    both ends of a Teredo tunnel (server: bits 32-63; client: the last 32 bits inverted,
    RFC 4380)."""
    value = int(ip)
    if ip in _SIX_TO_FOUR:
        return (ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF),)
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((value >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~value & 0xFFFFFFFF)
        return (server, client)
    return (ipaddress.IPv4Address(value & 0xFFFFFFFF),)


_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def why_not_public(address: str) -> str | None:
    """None when `address` (an IP literal, with or without an IPv6 zone id) is public, else
    the table row (and, for an embedded form, the IPv4 row) that says it is not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    row = row_for(ip)
    if row.reach is Reach.PUBLIC:
        return None
    if row.reach is Reach.PRIVATE:
        return f"{row.network} {row.name}"
    assert isinstance(ip, ipaddress.IPv6Address)
    for inner in embedded_ipv4(ip):
        inner_row = row_for(inner)
        if inner_row.reach is not Reach.PUBLIC:
            return (f"{row.network} {row.name} carrying {inner}: "
                    f"{inner_row.network} {inner_row.name}")
    return None


def is_public_ip(address: str) -> bool:
    return why_not_public(address) is None


def check_url_shape(url: str) -> str:
    """The host of an absolute http(s) URL with a valid port, or OutboundRefused."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise OutboundRefused(f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise OutboundRefused("must be an absolute http or https URL")
    try:
        parts.port  # noqa: B018 -- raises on a port out of range or not a number
    except ValueError as exc:
        raise OutboundRefused("has an invalid port") from exc
    return host


async def check_outbound_url(url: str, *, allow_private: bool, setting: str) -> str | None:
    """Raise OutboundRefused unless `url` is an http(s) URL whose host resolves only to
    public addresses (or `allow_private`). Returns the address to connect to (None when
    private targets are allowed), so the request cannot be steered elsewhere by a second DNS
    answer (DNS rebinding). `setting` is what the refusal tells the operator to set."""
    host = check_url_shape(url)
    if allow_private:
        return None
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            _RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError) as exc:
        raise OutboundRefused(f"host {host!r} does not resolve") from exc
    for info in infos:
        address = str(info[4][0])
        why = why_not_public(address)
        if why is not None:
            raise OutboundRefused(
                f"host {host!r} resolves to a private or reserved address ({address}) in "
                f"{why}; set {setting} to allow private targets"
            )
    return str(infos[0][4][0])


def pinned_request(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL, extra headers and httpx extensions that send `url`'s request to `address`
    while keeping its Host header and, for https, its TLS server name and certificate check."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = userinfo + at + netloc  # credentials in the URL still reach the receiver
    pinned = urlunsplit(parts._replace(netloc=netloc))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions
