"""Send documents through the X-Ray daemon's TCP proxy (``POST /TraceSegments``).

The daemon (and the CloudWatch agent) listens on TCP as well as UDP: there it is a signing
proxy to the X-Ray API. A request sent to it unsigned leaves signed with the daemon's
credentials, so the application needs none, nothing is lost to a full UDP buffer, and up to
50 documents travel in one call. The same proxy serves the sampling API
(:mod:`otel_xray.sampling`); :func:`post_json` is the one HTTP call both use.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import socket
from typing import Any, List, Mapping, Optional, Tuple

from .address import DaemonAddress, daemon_address
from .api import BatchEmitter, SendFailure

_log = logging.getLogger("otel_xray.emit.tcp")

#: Telemetry must not hold its thread for long.
DEFAULT_TIMEOUT_SECONDS = 2.0


class HttpError(Exception):
    """An answer other than 200: ``status``, the X-Ray error type when given, the body."""

    def __init__(self, status: int, error_type: str, body: bytes) -> None:
        super().__init__(f"HTTP {status} {error_type}: {body[:200]!r}".strip())
        self.status = status
        self.error_type = error_type
        self.body = body


def post_json(
    host: str, port: int, path: str, body: Mapping[str, Any], timeout: float
) -> Any:
    """POST ``body`` as JSON to ``http://host:port/path``; return the decoded JSON answer.

    Raises ``OSError`` (and ``http.client.HTTPException``) for connection problems,
    :class:`HttpError` for an answer other than 200, ``ValueError`` for an answer that is
    not JSON. No proxy is used (the daemon is local), and no span is created.
    """
    from ..pipeline import suppressed  # (imported late: the pipeline imports the emitters)

    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    with suppressed():
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request(
                "POST", path, payload, {"Content-Type": "application/json", "Connection": "close"}
            )
            response = connection.getresponse()
            data = response.read()
            status = response.status
            error_type = response.getheader("x-amzn-ErrorType", "") or ""
        finally:
            connection.close()
    if status != 200:
        raise HttpError(status, error_type.split(":", 1)[0], data)
    return json.loads(data.decode("utf-8")) if data.strip() else {}


class TcpEmitter(BatchEmitter):
    """Sends documents in batches of up to 50 to the daemon's TCP proxy (``/TraceSegments``).

    ``address`` uses the daemon syntax (``host:port`` or ``tcp:host:port udp:host:port``);
    when it is ``None`` ``AWS_XRAY_DAEMON_ADDRESS`` is used, else ``127.0.0.1:2000``. A
    malformed address raises ``ValueError`` here; after that nothing is raised: connection
    errors, error answers and rejected documents are counted in :meth:`stats` and logged
    (rate-limited). A call waits at most ``timeout`` seconds for the daemon.

    :meth:`stats` has :class:`~otel_xray.ApiEmitter`'s counters; the reasons in
    ``send_errors.<reason>`` are an errno name such as ``ECONNREFUSED``, ``timeout``,
    ``http_<status>``, the X-Ray error type the daemon passed on (``ThrottledException``…),
    ``bad_response``, ``unprocessed`` or ``closed``.

    Each call opens its own connection, so the emitter works unchanged after ``os.fork()``.
    """

    def __init__(
        self, address: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.daemon: DaemonAddress = daemon_address(address)
        self.timeout = timeout
        super().__init__(_log)

    @property
    def address(self) -> str:
        """The daemon's TCP address, ``host:port``."""
        return self.daemon.tcp

    def close(self) -> None:
        """Later sends are counted as ``closed``. Idempotent; there is nothing to release."""
        with self._close_lock:
            self._closed = True

    def __repr__(self) -> str:
        return f"TcpEmitter({self.address!r})"

    def _call(self, texts: List[str]) -> Any:
        daemon = self.daemon
        try:
            return post_json(daemon.tcp_host, daemon.tcp_port, "/TraceSegments",
                             {"TraceSegmentDocuments": texts}, self.timeout)
        except HttpError as exc:
            raise SendFailure(exc.error_type or f"http_{exc.status}",
                              f"the daemon at {self.address} answered {exc}") from None
        except ValueError as exc:
            raise SendFailure("bad_response",
                              f"the daemon at {self.address} answered no JSON: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise SendFailure(
                _connection_reason(exc),
                f"cannot send to the daemon's TCP proxy at {self.address} ({exc}); is the "
                "daemon running, and is its TCP address right?",
            ) from None


def _connection_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno{exc.errno}")
    return type(exc).__name__


def split_host_port(endpoint: str) -> Tuple[str, int]:
    """``http://host:port``, ``host:port`` or ``[::1]:port`` → ``(host, port)``."""
    text = endpoint.strip()
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() != "http":
            raise ValueError(f"endpoint {endpoint!r}: only http:// is supported (the daemon)")
        text = text.rstrip("/")
    parsed = daemon_address(text)
    return parsed.tcp_host, parsed.tcp_port


__all__ = ["HttpError", "TcpEmitter", "post_json", "split_host_port"]
