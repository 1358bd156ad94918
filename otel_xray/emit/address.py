"""The X-Ray daemon address syntax, as the native SDKs accept it.

Two forms:

- ``host:port``: UDP and TCP on the same address, e.g. ``127.0.0.1:2000``,
  ``[::1]:2000`` or ``xray-daemon:2000``;
- ``tcp:host:port udp:host:port`` (either order, both required): separate addresses.

The value comes from an explicit argument, else ``AWS_XRAY_DAEMON_ADDRESS``, else
``127.0.0.1:2000``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

ENV_DAEMON_ADDRESS = "AWS_XRAY_DAEMON_ADDRESS"
DEFAULT_DAEMON_ADDRESS = "127.0.0.1:2000"

_ACCEPTED_FORMS = (
    "accepted forms: 'host:port' (e.g. '127.0.0.1:2000', '[::1]:2000', 'xray-daemon:2000') "
    "or 'tcp:host:port udp:host:port' in either order "
    "(e.g. 'tcp:127.0.0.1:2000 udp:127.0.0.1:2000')"
)
# RFC 1123 host names (plus '_', which real-world DNS names contain).
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_PORT = re.compile(r"^[0-9]{1,5}$")


@dataclass(frozen=True)
class DaemonAddress:
    """Where the daemon listens: UDP for segments, TCP for its API proxy (sampling)."""

    udp_host: str
    udp_port: int
    tcp_host: str
    tcp_port: int

    @property
    def udp(self) -> str:
        """The UDP address in ``host:port`` form (IPv6 hosts in brackets)."""
        return format_host_port(self.udp_host, self.udp_port)

    @property
    def tcp(self) -> str:
        """The TCP address in ``host:port`` form (IPv6 hosts in brackets)."""
        return format_host_port(self.tcp_host, self.tcp_port)


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def daemon_address(
    address: Optional[str] = None, environ: Optional[Mapping[str, str]] = None
) -> DaemonAddress:
    """Return the daemon address from ``address``, else the environment, else the default.

    Raises ``ValueError`` for a malformed value, naming where it came from (the argument or
    ``AWS_XRAY_DAEMON_ADDRESS``) and the accepted forms.
    """
    if address is not None:
        return parse_daemon_address(address, source="X-Ray daemon address argument")
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_DAEMON_ADDRESS)
    if from_env is not None and from_env.strip():
        return parse_daemon_address(from_env, source=ENV_DAEMON_ADDRESS)
    return parse_daemon_address(DEFAULT_DAEMON_ADDRESS)


def parse_daemon_address(value: str, *, source: str = "X-Ray daemon address") -> DaemonAddress:
    """Parse either daemon address form; raise ``ValueError`` naming ``source`` if malformed."""
    parts = value.split()
    try:
        if len(parts) == 1:
            if parts[0][:4].lower() in ("tcp:", "udp:") and ":" in parts[0][4:]:
                raise ValueError(
                    f"{parts[0]!r} needs its pair: both 'tcp:host:port' and 'udp:host:port' "
                    "are required"
                )
            host, port = _parse_host_port(parts[0])
            return DaemonAddress(host, port, host, port)
        if len(parts) == 2:
            return _parse_double_form(parts)
        raise ValueError("expected one or two space-separated parts" if parts else "empty")
    except ValueError as exc:
        raise ValueError(f"invalid {source} {value!r}: {exc}; {_ACCEPTED_FORMS}") from None


def _parse_double_form(parts: List[str]) -> DaemonAddress:
    found: Dict[str, Tuple[str, int]] = {}
    for part in parts:
        protocol, sep, rest = part.partition(":")
        protocol = protocol.lower()
        if not sep or protocol not in ("tcp", "udp"):
            raise ValueError(f"{part!r} must start with 'tcp:' or 'udp:'")
        if protocol in found:
            raise ValueError(f"'{protocol}:' given twice; both 'tcp:' and 'udp:' are required")
        found[protocol] = _parse_host_port(rest)
    udp_host, udp_port = found["udp"]
    tcp_host, tcp_port = found["tcp"]
    return DaemonAddress(udp_host, udp_port, tcp_host, tcp_port)


def _parse_host_port(text: str) -> Tuple[str, int]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise ValueError(f"{text!r}: an IPv6 address must look like '[::1]:2000'")
        host, port_text = text[1:close], text[close + 2 :]
        if not _is_ipv6(host):
            raise ValueError(f"{host!r} is not an IPv6 address")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r} has no port")
        if ":" in host:
            raise ValueError(f"{text!r}: put an IPv6 address in brackets, e.g. '[::1]:2000'")
        if not host:
            raise ValueError(f"{text!r} has no host")
        if not _HOST_NAME.match(host):
            raise ValueError(f"{host!r} is not a valid host name or IP address")
    return host, _parse_port(port_text)


def _parse_port(text: str) -> int:
    port = int(text) if _PORT.match(text) else 0
    if not 1 <= port <= 65535:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return port


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])  # allow a zone: fe80::1%eth0
    except ValueError:
        return False
    return True


__all__ = [
    "DEFAULT_DAEMON_ADDRESS",
    "ENV_DAEMON_ADDRESS",
    "DaemonAddress",
    "daemon_address",
    "parse_daemon_address",
]
