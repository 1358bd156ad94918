"""A local stand-in for the X-Ray daemon: receive, check and assemble documents.

:class:`Listener` binds a UDP socket, accepts datagrams as the daemon does (header line,
then one JSON document), checks every document as the X-Ray service would, and groups the
valid ones into traces. It reports through callbacks, so the ``listen`` command prints and
the ``demo`` command embeds the same class::

    listener = Listener(("127.0.0.1", 0), on_trace=print_trace)
    listener.start()              # background thread; or serve(stop_event) in this one
    ...                           # send to listener.address
    listener.wait_idle()          # until nothing arrived for a moment
    listener.close()              # flushes pending traces, then closes the socket

No datagram stops it: whatever goes wrong while one is handled (a bug here, or an
exception from a callback) is logged (the first of each kind with its traceback), counted
in :attr:`Stats.errors`, and the listener goes on with the next datagram.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..emit.address import daemon_address, format_host_port
from ..emit.protocol import split_datagram
from .assemble import Trace, TraceAssembler
from .validate import Note, check_document, show

_log = logging.getLogger("otel_xray.cli.listen")

#: Larger than any UDP payload, so a datagram is never cut.
_RECEIVE_BYTES = 65_535
_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
_POLL_SECONDS = 0.05
_MAX_DRAIN = 100_000


@dataclass
class Received:
    """One datagram and what the listener made of it."""

    data: bytes
    source: Tuple[Any, ...]
    document: Optional[Dict[str, Any]] = None
    """The parsed document (also when it has problems), ``None`` if the body is not JSON."""
    body: bytes = b""
    errors: List[str] = field(default_factory=list)
    """Reasons X-Ray (or the daemon) would reject this datagram."""
    warnings: List[str] = field(default_factory=list)
    """What X-Ray would accept but silently ignore or lose."""
    notes: List[Note] = field(default_factory=list)
    """What is outside the documented format but accepted by X-Ray."""

    def describe(self) -> str:
        """A short label for messages: the document's name, id and trace id when known."""
        doc = self.document
        if doc is None:
            return f"datagram of {len(self.data)} bytes from {format_source(self.source)}"
        parts = [f"{k}={show(doc[k])}" for k in ("name", "id", "trace_id") if k in doc]
        return "document " + (" ".join(parts) or f"of {len(self.body)} bytes")


@dataclass
class Stats:
    """What the listener has seen so far."""

    datagrams: int = 0
    documents: int = 0
    """Documents accepted (no problems) into traces."""
    rejected: int = 0
    """Datagrams X-Ray would reject."""
    problems: int = 0
    """Individual problems found in rejected datagrams."""
    warnings: int = 0
    notes: int = 0
    """Things outside the documented format that X-Ray accepts, in accepted documents."""
    traces: int = 0
    """Traces reported through ``on_trace``; one reported again (a late document re-opened
    it) counts once."""
    errors: int = 0
    """Exceptions caught while handling a datagram or a trace (a bug, or a failing
    callback); each is logged."""


def format_source(source: Tuple[Any, ...]) -> str:
    if len(source) >= 2:
        return format_host_port(str(source[0]), int(source[1]))
    return str(source)


def resolve_listen_address(address: Optional[str]) -> Tuple[str, int]:
    """The UDP ``(host, port)`` to listen on: ``address`` in the daemon's syntax, else
    ``AWS_XRAY_DAEMON_ADDRESS``, else ``127.0.0.1:2000``. Raises ``ValueError`` if malformed.
    """
    parsed = daemon_address(address)
    return parsed.udp_host, parsed.udp_port


class Listener:
    """Receives X-Ray daemon datagrams on a UDP socket and assembles them into traces.

    Callbacks run in the receiving thread (or the caller of :meth:`flush`/:meth:`close`),
    one at a time:

    - ``on_datagram(received)`` for every datagram, after it was checked;
    - ``on_trace(trace, warnings)`` when a trace has been quiet for ``quiet_after``
      seconds, or is flushed. A document that arrives later for a reported trace re-opens
      it: it is reported again, complete (while ``on_trace`` runs,
      :attr:`Trace.late_documents` says how many documents are new).

    An exception from a callback is logged and counted in :attr:`Stats.errors`; the
    listener carries on. ``clock`` (monotonic seconds) decides when a trace is quiet; tests
    pass their own.

    The socket is bound in the constructor (``port`` 0 picks a free port; see
    :attr:`address`). ``OSError`` is raised there if the address is not available.
    """

    def __init__(
        self,
        bind: Tuple[str, int] = ("127.0.0.1", 0),
        *,
        quiet_after: float = 1.0,
        on_datagram: Optional[Callable[[Received], None]] = None,
        on_trace: Optional[Callable[[Trace, List[str]], None]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_after = quiet_after
        self.stats = Stats()
        self._clock = clock
        self._logged: Set[Tuple[str, type]] = set()
        self._on_datagram = on_datagram
        self._on_trace = on_trace
        self._assembler = TraceAssembler()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last_datagram = time.monotonic()
        self._sock = _bind(bind)
        sockname = self._sock.getsockname()
        self.host: str = sockname[0]
        self.port: int = sockname[1]

    @property
    def address(self) -> str:
        """Where to send: ``host:port`` (IPv6 in brackets), e.g. for ``UdpEmitter``."""
        return format_host_port(self.host, self.port)

    # -- running ---------------------------------------------------------------------------

    def start(self) -> Listener:
        """Receive in a background (daemon) thread until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve, args=(self._stop,), name="otel-xray-listener", daemon=True
            )
            self._thread.start()
        return self

    def serve(self, stop: threading.Event) -> None:
        """Receive in the calling thread until ``stop`` is set."""
        while not stop.is_set():
            try:
                readable, _, _ = select.select([self._sock], [], [], _POLL_SECONDS)
            except (OSError, ValueError):  # socket closed under us
                return
            try:
                if readable:
                    self._receive()
                self._report_quiet()
            except Exception as exc:  # the receiving thread must survive
                self._failed("receiving", exc)

    def close(self) -> None:
        """Stop receiving, report every pending trace, close the socket. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._sock.fileno() >= 0:
            # What already arrived still counts (bounded, in case senders keep going).
            for _ in range(_MAX_DRAIN):
                if not self._pending():
                    break
                self._receive()
        self.flush()
        self._sock.close()

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_idle(self, idle: float = 0.3, timeout: float = 10.0) -> bool:
        """Wait until no datagram arrived for ``idle`` seconds; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if now - self._last_datagram >= idle and not self._pending():
                return True
            if now >= deadline:
                return False
            time.sleep(min(0.02, idle))

    def wait_for_documents(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` datagrams arrived and were handled; False on ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.stats.datagrams < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def flush(self) -> List[Trace]:
        """Report (through ``on_trace``) and return every pending trace, quiet or not."""
        with self._lock:
            traces = self._assembler.pop_all()
            for trace in traces:
                self._finish(trace)
        return traces

    # -- receiving -------------------------------------------------------------------------

    def _pending(self) -> bool:
        """Whether a datagram is waiting in the socket's buffer."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def _receive(self) -> None:
        try:
            data, source = self._sock.recvfrom(_RECEIVE_BYTES)
        except OSError as exc:  # e.g. ICMP errors surfacing on the socket
            _log.debug("receive failed: %s", exc)
            return
        self._last_datagram = time.monotonic()
        with self._lock:
            try:
                self._handle(data, source)
            except Exception as exc:  # one datagram never stops the listener
                self._failed("handling a datagram", exc)
            finally:
                # Last, so whoever waits for the count sees the datagram fully handled.
                self.stats.datagrams += 1

    def _handle(self, data: bytes, source: Tuple[Any, ...]) -> None:
        received = check_datagram(data, source)
        stats = self.stats
        stats.warnings += len(received.warnings)
        if received.errors:
            stats.rejected += 1
            stats.problems += len(received.errors)
        elif received.document is not None:
            stats.documents += 1
            stats.notes += len(received.notes)
            self._assembler.add(received.document, len(received.body), self._clock(),
                                received.notes)
        if self._on_datagram is not None:
            self._on_datagram(received)

    def _report_quiet(self) -> None:
        with self._lock:
            for trace in self._assembler.pop_quiet(self._clock(), self.quiet_after):
                self._finish(trace)

    def _finish(self, trace: Trace) -> None:
        try:
            warnings = trace.warnings()
            if not trace.reported:
                self.stats.traces += 1
            # Count each warning once, also when the trace is reported again.
            self.stats.warnings += max(0, len(warnings) - trace.warned)
            trace.warned = max(trace.warned, len(warnings))
            if self._on_trace is not None:
                self._on_trace(trace, warnings)
        except Exception as exc:  # one trace never stops the listener
            self._failed("reporting a trace", exc)
        finally:
            trace.mark_reported()

    def _failed(self, doing: str, exc: Exception) -> None:
        """Count an exception; log the first of each kind with its traceback."""
        self.stats.errors += 1
        kind = (doing, type(exc))
        if kind in self._logged:
            _log.debug("listener: error while %s: %r", doing, exc)
            return
        self._logged.add(kind)
        _log.error("otel-xray listener: error while %s (counted in stats.errors; further "
                   "errors of this kind are logged at DEBUG level)", doing, exc_info=exc)


def check_datagram(data: bytes, source: Tuple[Any, ...] = ()) -> Received:
    """Split and check one datagram as the daemon and then the X-Ray API would."""
    received = Received(data, source)
    try:
        _, body = split_datagram(data)
    except RecursionError:  # a header nested too deep for Python's json
        received.errors.append("rejected by the daemon: header is not valid JSON "
                               f"(nested too deep): {data[:60]!r}")
        return received
    except ValueError as exc:
        received.errors.append(f"rejected by the daemon: {exc}")
        return received
    received.body = body
    report = check_document(body)
    received.document = report.document
    received.errors.extend(report.errors)
    received.warnings.extend(report.warnings)
    received.notes.extend(report.notes)
    return received


def _bind(bind: Tuple[str, int]) -> socket.socket:
    host, port = bind
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):  # the kernel's default buffer will do
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER_BYTES)
    try:
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = [
    "Listener",
    "Received",
    "Stats",
    "check_datagram",
    "format_source",
    "resolve_listen_address",
]
