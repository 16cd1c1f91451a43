"""Where webhooks may go: public addresses only, unless the server allows private ones.

A callback_url chosen by a job's owner makes the master send requests for them, so it must
not reach loopback, private, link-local (cloud metadata at 169.254.169.254) or other
non-public addresses: that would let anyone who can submit a job probe the master's own
network. The host is checked twice: at submit, when it is an address literal or a local name
(the only cases decidable without DNS); and at every delivery, on the addresses the name
resolves to at that moment, because DNS can change between the two (rebinding). The
dispatcher then connects only to an address that passed here.
"""

from __future__ import annotations

import ipaddress
import socket
from ipaddress import IPv4Address, IPv6Address

ALLOW_SETTING = "DCCF_ALLOW_PRIVATE_CALLBACKS"

Address = IPv4Address | IPv6Address

# NAT64 (RFC 6052): on a network with a NAT64 gateway, 64:ff9b::a00:1 reaches 10.0.0.1.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class CallbackRefused(Exception):
    """The callback's host is, or resolves to, an address webhooks must not reach."""


def literal_address(host: str) -> Address | None:
    """The address a host names without DNS, or None for a name.

    Besides dotted quads this takes the legacy forms the C resolver accepts ("127.1",
    "2130706433", "0x7f.1"): they connect to the same place, so they must not slip past.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError):
        return None


def is_public(address: Address) -> bool:
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or _nat64_embedded(address)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def submit_refusal(host: str) -> str | None:
    """Why this callback host is refused at submit, or None when only DNS can tell."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host!r} is a local name"
    address = literal_address(name)
    if address is not None and not is_public(address):
        return f"{address} is not a public address"
    return None


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to right now, every one public.

    Raises CallbackRefused when any is not (a name with one private address among public
    ones is refused whole, since the resolver's order is not ours to trust), and OSError
    when the name does not resolve.
    """
    reason = submit_refusal(host)
    if reason is not None:
        raise CallbackRefused(f"the callback host is refused: {reason}")
    literal = literal_address(host)
    if literal is not None:
        return [str(literal)]
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    for text in addresses:
        if not is_public(ipaddress.ip_address(text)):
            raise CallbackRefused(
                f"the callback host {host} resolves to {text}, which is not a public address"
            )
    return addresses


def _nat64_embedded(address: IPv6Address) -> IPv4Address | None:
    if address not in _NAT64:
        return None
    return IPv4Address(int(address) & 0xFFFFFFFF)
