"""Callback URLs: refusing private-network targets, and signing what we send.

Each delivery carries `X-Openkling-Timestamp` (Unix seconds) and
`X-Openkling-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed with the account's
callback secret, so a receiver can check origin and freshness. The body is Kling's bare task
object, unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openkling.core.errors import KlingError

SIGNATURE_HEADER = "X-Openkling-Signature"
TIMESTAMP_HEADER = "X-Openkling-Timestamp"
_RESOLVE_TIMEOUT = 3.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def is_public_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:  # both ends of the tunnel must be public
            return all(is_public_ip(str(end)) for end in ip.teredo)
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_ip(str(embedded))
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches through mapping, NAT64, 6to4 or the old
    IPv4-compatible form: a private one must not be reachable by wrapping it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        # (:: and ::1 are not IPv4-compatible addresses)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def check_callback_url(
    url: str,
    *,
    allow_private: bool,
    field: str = "callback_url",
    setting: str = "OPENKLING_ALLOW_PRIVATE_CALLBACKS",
) -> str | None:
    """Raise 400/1201 naming `field` unless `url` is an http(s) URL to a public host.

    The same guard serves every URL a client gives us (callbacks, input images); `setting`
    is the switch the refusal names. Returns the checked address to connect to (None when
    private targets are allowed), so that the request cannot be steered elsewhere by a second
    DNS answer (DNS rebinding).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise KlingError.invalid(field, f"is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise KlingError.invalid(field, "must be an absolute http or https URL")
    try:
        parts.port  # noqa: B018 -- raises on a port out of range or not a number
    except ValueError as exc:
        raise KlingError.invalid(field, "has an invalid port") from exc
    if allow_private:
        return None
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            _RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError) as exc:
        raise KlingError.invalid(field, f"host {host!r} does not resolve") from exc
    for info in infos:
        address = str(info[4][0])
        if not is_public_ip(address):
            raise KlingError.invalid(
                field,
                f"host {host!r} resolves to a private or reserved address ({address}); "
                f"set {setting}=true to allow it",
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
