"""``OTEL_EXPORTER_XRAY_TRANSPORT``: which emitter the zero-code and one-call setups use.

- ``udp`` (default): :class:`~otel_xray.emit.udp.UdpEmitter`, the daemon's UDP port;
- ``tcp``: :class:`~otel_xray.emit.tcp.TcpEmitter`, the daemon's TCP proxy to the X-Ray API;
- ``api``: :class:`~otel_xray.emit.api.ApiEmitter`, PutTraceSegments with the default
  credential chain (needs ``otel-xray[api]``).
"""

from __future__ import annotations

import logging
import os
from typing import Mapping, Optional

from . import Emitter

ENV_TRANSPORT = "OTEL_EXPORTER_XRAY_TRANSPORT"
TRANSPORTS = ("udp", "tcp", "api")

_log = logging.getLogger("otel_xray.emit.transport")


def transport_name(environ: Optional[Mapping[str, str]] = None) -> str:
    """``udp``, ``tcp`` or ``api`` from ``OTEL_EXPORTER_XRAY_TRANSPORT``; another value is
    logged and ``udp`` used."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_TRANSPORT, "").strip().lower()
    if not value:
        return "udp"
    if value not in TRANSPORTS:
        _log.warning("%s=%r is not udp, tcp or api; using udp", ENV_TRANSPORT, value)
        return "udp"
    return value


def transport_emitter(address: Optional[str] = None) -> Emitter:
    """The emitter of :func:`transport_name`, for the daemon at ``address`` (default:
    ``AWS_XRAY_DAEMON_ADDRESS``, else ``127.0.0.1:2000``; not used by ``api``)."""
    transport = transport_name()
    if transport == "tcp":
        from .tcp import TcpEmitter

        return TcpEmitter(address)
    if transport == "api":
        from .api import ApiEmitter

        return ApiEmitter()
    from .udp import UdpEmitter

    return UdpEmitter(address)


__all__ = ["ENV_TRANSPORT", "transport_emitter", "transport_name"]
