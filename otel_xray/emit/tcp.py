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
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from opentelemetry import context as otel_context

from .._diag import Counters, RateLimitedLog
from .address import DaemonAddress, daemon_address
from .api import MAX_BATCH_SIZE
from .protocol import DEFAULT_MAX_DOCUMENT_BYTES

_log = logging.getLogger("otel_xray.emit.tcp")

#: The X-Ray API refuses documents over 64 kB.
_API_MAX_DOCUMENT_BYTES = 64 * 1024
#: Telemetry must not hold its thread for long.
DEFAULT_TIMEOUT_SECONDS = 2.0

# Instrumentations (urllib, urllib3, requests, botocore…) create no span while these are set.
_SUPPRESS_KEYS = tuple(
    key
    for key in (
        getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None),
        getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
        "suppress_instrumentation",  # the plain key older instrumentations read
    )
    if key is not None
)


class HttpError(Exception):
    """An answer other than 200: ``status``, the X-Ray error type when given, the body."""

    def __init__(self, status: int, error_type: str, body: bytes) -> None:
        super().__init__(f"HTTP {status} {error_type}: {body[:200]!r}".strip())
        self.status = status
        self.error_type = error_type
        self.body = body


def suppressed_context() -> otel_context.Context:
    """The current context with instrumentation suppressed: our own calls make no spans."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx


def post_json(
    host: str, port: int, path: str, body: Mapping[str, Any], timeout: float
) -> Any:
    """POST ``body`` as JSON to ``http://host:port/path``; return the decoded JSON answer.

    Raises ``OSError`` (and ``http.client.HTTPException``) for connection problems,
    :class:`HttpError` for an answer other than 200, ``ValueError`` for an answer that is
    not JSON. No proxy is used (the daemon is local), and no span is created.
    """
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    token = otel_context.attach(suppressed_context())
    try:
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
    finally:
        otel_context.detach(token)
    if status != 200:
        raise HttpError(status, error_type.split(":", 1)[0], data)
    return json.loads(data.decode("utf-8")) if data.strip() else {}


class TcpEmitter:
    """Sends documents in batches of up to 50 to the daemon's TCP proxy (``/TraceSegments``).

    ``address`` uses the daemon syntax (``host:port`` or ``tcp:host:port udp:host:port``);
    when it is ``None`` ``AWS_XRAY_DAEMON_ADDRESS`` is used, else ``127.0.0.1:2000``. A
    malformed address raises ``ValueError`` here; after that nothing is raised: connection
    errors, error answers and rejected documents are counted in :meth:`stats` and logged
    (rate-limited). A call waits at most ``timeout`` seconds for the daemon.

    Each call opens its own connection, so the emitter works unchanged after ``os.fork()``.
    """

    def __init__(
        self, address: Optional[str] = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.daemon: DaemonAddress = daemon_address(address)
        self.max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
        self.timeout = timeout
        self._counters = Counters()
        self._diag = RateLimitedLog(_log)
        self._closed = False
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """The daemon's TCP address, ``host:port``."""
        return self.daemon.tcp

    def send(self, documents: Sequence[bytes]) -> int:
        """Send documents in batches of up to 50; return how many X-Ray accepted.

        Never raises.
        """
        if self._closed:
            self._fail(len(documents), "closed", "send to %s after close()", self.address)
            return 0
        accepted = 0
        batch: List[str] = []
        batch_bytes = 0
        for document in documents:
            if len(document) > _API_MAX_DOCUMENT_BYTES:
                self._oversize(len(document))
                continue
            batch.append(document.decode("utf-8", "replace"))
            batch_bytes += len(document)
            if len(batch) == MAX_BATCH_SIZE:
                accepted += self._post(batch, batch_bytes)
                batch, batch_bytes = [], 0
        if batch:
            accepted += self._post(batch, batch_bytes)
        return accepted

    def stats(self) -> Dict[str, int]:
        """Counters.

        ``documents_sent`` (accepted by X-Ray) and ``bytes_sent`` (document bytes of the
        calls); ``send_errors``: documents lost, also counted as ``send_errors.<reason>``
        (an errno name such as ``ECONNREFUSED``, ``timeout``, ``http_<status>``, the X-Ray
        error type the daemon passed on such as ``ThrottledException``, ``bad_response``,
        ``unprocessed``, ``closed``); ``unprocessed.<ErrorCode>`` for documents X-Ray
        rejected; ``oversize_dropped``: documents over 64 kB (a packer bug); ``api_calls``.
        """
        counts = {"documents_sent": 0, "bytes_sent": 0, "send_errors": 0, "oversize_dropped": 0}
        counts.update(self._counters.snapshot())
        return counts

    def close(self) -> None:
        """Later sends are counted as ``closed``. Idempotent; there is nothing to release."""
        with self._lock:
            self._closed = True

    def __repr__(self) -> str:
        return f"TcpEmitter({self.address!r})"

    def _post(self, batch: List[str], batch_bytes: int) -> int:
        self._counters.add("api_calls")
        try:
            answer = post_json(
                self.daemon.tcp_host, self.daemon.tcp_port, "/TraceSegments",
                {"TraceSegmentDocuments": batch}, self.timeout,
            )
        except HttpError as exc:
            reason = exc.error_type or f"http_{exc.status}"
            self._fail(len(batch), reason, "the daemon at %s answered %s", self.address, exc)
            return 0
        except ValueError as exc:
            self._fail(len(batch), "bad_response", "the daemon at %s answered no JSON: %s",
                       self.address, exc)
            return 0
        except (OSError, http.client.HTTPException) as exc:
            reason = _connection_reason(exc)
            self._fail(len(batch), reason, "cannot send to the daemon's TCP proxy at %s (%s); "
                       "is the daemon running, and is its TCP address right?", self.address, exc)
            return 0
        except Exception as exc:  # a bug here must not reach the application
            self._fail(len(batch), "internal", "sending to %s failed: %r", self.address, exc)
            return 0
        unprocessed = answer.get("UnprocessedTraceSegments") if isinstance(answer, dict) else None
        rejected = unprocessed if isinstance(unprocessed, list) else []
        if rejected:
            self._unprocessed(rejected)
        accepted = max(len(batch) - len(rejected), 0)
        self._counters.add("documents_sent", accepted)
        self._counters.add("bytes_sent", batch_bytes)
        return accepted

    def _unprocessed(self, rejected: List[Any]) -> None:
        self._counters.add("send_errors", len(rejected))
        self._counters.add("send_errors.unprocessed", len(rejected))
        codes = [item.get("ErrorCode") if isinstance(item, dict) else None for item in rejected]
        for code in codes:
            self._counters.add(f"unprocessed.{code or 'unknown'}")
        self._diag.warning(
            "unprocessed", "X-Ray rejected %d document(s) sent through %s: %s",
            len(rejected), self.address, ", ".join(str(code) for code in codes[:5]),
        )

    def _oversize(self, size: int) -> None:
        self._counters.add("oversize_dropped")
        self._diag.error(
            "oversize",
            "bug: a document of %d bytes is over the X-Ray API's 64 kB limit; it was not "
            "sent. The packer should have split it; please report this.",
            size,
        )

    def _fail(self, count: int, reason: str, msg: str, *args: Any) -> None:
        self._counters.add("send_errors", count)
        self._counters.add("send_errors." + reason, count)
        self._diag.warning("send." + reason, msg, *args)


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


__all__ = ["HttpError", "TcpEmitter", "post_json", "split_host_port", "suppressed_context"]
