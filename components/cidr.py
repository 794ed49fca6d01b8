"""Checks on IPv4 CIDRs read from config, shared by every cloud's address plan.

Pure: no Pulumi import. Each check appends a one-line message that starts with the config key to `errors` and
says whether the value passed, so a plan can report every problem at once.
"""

from __future__ import annotations

import ipaddress

IPv4Network = ipaddress.IPv4Network

# The private ranges of RFC 1918, section 3.
RFC1918: tuple[IPv4Network, ...] = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)


def parse(value: object, key: str, what: str, errors: list[str], *, canonical: bool) -> IPv4Network | None:
    """The IPv4 network `value` names, or None after appending why it is not one.

    With `canonical`, the text must be written exactly as the network prints (address/prefix, no host bits);
    without it, any form `ipaddress` accepts strictly (a bare address is a /32, a netmask may follow the slash).
    """
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: {what} must be an IPv4 CIDR such as 10.0.0.0/16, got {value!r}; set it")
        return None
    text = value.strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        errors.append(f"{key}: {text!r} is not an IPv4 CIDR; write it as address/prefix, e.g. 10.0.0.0/16")
        return None
    if not isinstance(net, IPv4Network):
        errors.append(f"{key}: {text} is IPv6; this plan needs an IPv4 CIDR such as 10.0.0.0/16")
        return None
    if canonical and "/" not in text:
        errors.append(f"{key}: {text} has no prefix length; write it as address/prefix, e.g. {text}/16")
        return None
    if _has_host_bits(text, net, canonical=canonical):
        errors.append(f"{key}: {text} has host bits set; use the network address {net}")
        return None
    return net


def _has_host_bits(text: str, net: IPv4Network, *, canonical: bool) -> bool:
    if canonical:
        return str(net) != text
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return True
    return False


def check_private(net: IPv4Network, key: str, what: str, errors: list[str]) -> bool:
    """Whether `net` lies inside one RFC 1918 block; appends why not."""
    if any(net.subnet_of(block) for block in RFC1918):
        return True
    errors.append(
        f"{key}: {net} is not inside a private RFC 1918 block; {what} must be within 10.0.0.0/8, "
        "172.16.0.0/12 or 192.168.0.0/16"
    )
    return False


def check_prefix(net: IPv4Network, key: str, what: str, bounds: tuple[int, int], errors: list[str], *,
                 cloud: str) -> bool:
    """Whether `net`'s prefix length is within `bounds` (inclusive); appends what `cloud` accepts if not."""
    low, high = bounds
    if low <= net.prefixlen <= high:
        return True
    errors.append(f"{key}: {net} is a /{net.prefixlen}; {cloud} accepts {what} from /{low} to /{high}")
    return False
