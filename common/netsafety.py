"""Refuse fetches that would reach inside the operator's network (SSRF guard).

A URL handed over by a platform is untrusted: it may point at 127.0.0.1, a private range or
the cloud metadata service. Every address a host resolves to is checked before connecting,
and again on every redirect hop. The caller must then connect to exactly the addresses
returned by :func:`resolve_allowed`: resolving the name a second time to connect would let a
DNS server answer "public" for the check and "127.0.0.1" for the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from common.errors import Blocked, FetchError

# The cloud metadata endpoint is link-local already; named here for the error message.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return (
        addr in METADATA_ADDRESSES
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        # Shared/CGNAT space (100.64.0.0/10, Alibaba's metadata at 100.100.100.200) and
        # other special-purpose ranges are neither "private" nor reachable on the internet.
        or not addr.is_global
    )


def _allowed(host: str, addr: ipaddress._BaseAddress, allow: Iterable[str]) -> bool:
    for entry in allow:
        if entry.lower() == host.lower():
            return True
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}", code="unreachable") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def resolve_allowed(
    host: str, port: int, allow_private: Iterable[str]
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Resolve ``host`` once and return its addresses, the ones to connect to.

    Raises :class:`Blocked` if any of them is an internal address not allowed (checking all,
    not just the first, so the outcome cannot depend on which one a connection would pick).
    """
    allow = list(allow_private)
    addrs = list(dict.fromkeys(resolve(host, port)))  # getaddrinfo repeats; keep its order
    for addr in addrs:
        if _is_internal(addr) and not _allowed(host, addr, allow):
            raise Blocked(
                f"refusing to fetch from {host} ({addr}): private, loopback, link-local or "
                "metadata address (allow it with DFSCAN_ALLOW_PRIVATE_HOSTS)",
                code="blocked_address",
            )
    return addrs
