"""Fault injection for the pipeline tests: load from many threads, exact counter checks,
daemons that are missing or restart, an X-Ray API that misbehaves, and emitters written the
way a user might write them (blocking, raising, returning nonsense).

Everything here is real: SDK spans through a real ``TracerProvider``, real sockets on
127.0.0.1, a real ``http.server`` answering like a broken X-Ray endpoint. The emitters
below are *user code* implementing the public ``Emitter`` protocol, not stand-ins for ours.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from otel_xray.emit.protocol import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    HEADER,
    MAX_UDP_PAYLOAD,
    split_datagram,
)
from tests.support.helpers import walk
from tests.support.packing import assert_valid_packed
from tests.support.udp import UdpListener

#: Every reason a span can be dropped for (``spans_dropped.<reason>``).
DROP_REASONS = (
    "queue_full", "translate_error", "send_failed", "shutdown", "internal",
    "invalid_emitter_result",
)
#: How long any wait in these tests may take before the test fails (never reached when
#: the code under test works; only a hang gets there).
HANG = 20.0


# --- counters -------------------------------------------------------------------------------


def assert_reconciled(stats: Dict[str, int], *, processor: bool = True) -> None:
    """The counter contract at a quiescent point: every received span is sent, unsampled,
    dropped for a reason, or still queued/buffered; the drop total is the sum of its
    reasons; nothing is negative."""
    shown = {k: v for k, v in sorted(stats.items()) if v}
    assert all(v >= 0 for v in stats.values() if isinstance(v, int)), shown
    reasons = sum(v for k, v in stats.items() if k.startswith("spans_dropped."))
    assert stats["spans_dropped"] == reasons, shown
    held = stats["spans_queued"] + stats["spans_buffered"] if processor else 0
    accounted = stats["spans_sent"] + stats["spans_unsampled"] + stats["spans_dropped"] + held
    assert stats["spans_received"] == accounted, shown


def dropped(stats: Dict[str, int]) -> Dict[str, int]:
    """The non-zero drop reasons: ``{"send_failed": 12}``."""
    prefix = "spans_dropped."
    return {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix) and v}


# --- load -----------------------------------------------------------------------------------


class RecordOnlyOddTraces(Sampler):
    """Records every span but samples only traces with an even trace id, so that a load
    has unsampled spans that still reach ``on_end`` (the SDK skips non-recording ones)."""

    def should_sample(
        self, parent_context: Optional[Context], trace_id: int, name: str,
        kind: Optional[SpanKind] = None, attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None, trace_state: Any = None,
    ) -> SamplingResult:
        sampled = trace_id % 2 == 0
        return SamplingResult(Decision.RECORD_AND_SAMPLE if sampled else Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "RecordOnlyOddTraces"


class Load:
    """``threads`` application threads, each making ``traces`` traces of ``spans`` spans
    (a server root and its children) through ``provider``.

    ``run()`` returns when every thread finished (failing the test if one hangs) and
    records what the application saw: recording spans ended (``created``: the ones the
    SDK hands to span processors), how many of them were sampled, and any exception that
    reached an application thread.
    """

    def __init__(
        self, provider: TracerProvider, *, threads: int = 8, traces: int = 25, spans: int = 10
    ) -> None:
        self.tracer = provider.get_tracer("otel-xray-load")
        self.threads, self.traces, self.spans = threads, traces, spans
        self.created = 0
        self.sampled = 0
        self.errors: List[BaseException] = []
        self._lock = threading.Lock()

    def run(self, *, timeout: float = HANG) -> None:
        workers = [
            threading.Thread(target=self._app_thread, name=f"app-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(deadline - time.monotonic(), 0.0))
        hung = [worker.name for worker in workers if worker.is_alive()]
        assert not hung, f"application threads blocked in span.end(): {hung}"

    @property
    def unsampled(self) -> int:
        return self.created - self.sampled

    def _app_thread(self) -> None:
        created = sampled = 0
        try:
            for _ in range(self.traces):
                root = self.tracer.start_span("request", kind=SpanKind.SERVER)
                context = trace.set_span_in_context(root)
                spans = [
                    self.tracer.start_span(f"work-{index}", context=context)
                    for index in range(self.spans - 1)
                ] + [root]
                for span in spans:  # children first, then the root
                    if span.is_recording():
                        created += 1
                        sampled += span.get_span_context().trace_flags.sampled
                    span.end()
        except BaseException as exc:  # what the application would see
            with self._lock:
                self.errors.append(exc)
        finally:
            with self._lock:
                self.created += created
                self.sampled += sampled


def run_load(provider: TracerProvider, flush: Callable[[int], bool], **shape: int) -> Load:
    """Run a :class:`Load` of ``shape`` through ``provider``, then ``flush``; fails the
    test if the flush times out or an application thread saw an exception."""
    load = Load(provider, **shape)
    load.run()
    assert flush(int(HANG * 1000)), "force_flush timed out"
    assert not load.errors, load.errors[:3]
    return load


def received_span_ids(listener: UdpListener) -> List[str]:
    """The id of every segment and subsegment the daemon received, nested ones included."""
    return [node["id"] for document in list(listener.documents) for node in walk(document)]


def wait_received(listener: UdpListener, span_count: int, timeout: float = 10.0) -> List[str]:
    """Wait until ``span_count`` span ids arrived (at least); check that every datagram is
    a valid document; return the ids."""
    deadline = time.monotonic() + timeout
    ids = received_span_ids(listener)
    while len(ids) < span_count and time.monotonic() < deadline:
        time.sleep(0.01)
        ids = received_span_ids(listener)
    # A little longer, so that more than expected would show too.
    time.sleep(0.05)
    assert_valid_sample(listener)
    return received_span_ids(listener)


#: How many datagrams of a load are schema-checked: the check takes milliseconds per
#: nested span, and the translation of these spans is covered by the packing tests.
SCHEMA_SAMPLE = 8


def assert_valid_sample(listener: UdpListener) -> None:
    """Every datagram parsed as the daemon parses it; the first and last few are also
    complete, valid documents within the size limit."""
    assert not listener.errors, listener.errors[:3]
    datagrams = list(listener.datagrams)
    half = SCHEMA_SAMPLE // 2
    sample = datagrams if len(datagrams) <= SCHEMA_SAMPLE else datagrams[:half] + datagrams[-half:]
    for datagram in sample:
        assert len(datagram) <= MAX_UDP_PAYLOAD
        assert_valid_packed(split_datagram(datagram)[1])


def unused_udp_address() -> Tuple[str, int]:
    """``("127.0.0.1:PORT", PORT)`` with nothing listening on that UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return f"127.0.0.1:{port}", port


def unused_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- emitters a user might write --------------------------------------------------------------


class UserEmitter:
    """The public ``Emitter`` protocol, delivering each document as a real datagram to
    ``listener`` (when given). Subclasses decide what ``send`` reports."""

    max_document_bytes = DEFAULT_MAX_DOCUMENT_BYTES

    def __init__(self, listener: Optional[UdpListener] = None) -> None:
        self.calls = 0
        self.offered = 0  # documents handed to send(), delivered or not
        self.documents: List[bytes] = []
        self.closed = False
        self._sock: Optional[socket.socket] = None
        if listener is not None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.connect((listener.host, listener.port))

    def send(self, documents: Sequence[bytes]) -> Any:
        self.calls += 1
        self.offered += len(documents)
        self.documents.extend(documents)
        return [self._deliver(document) for document in documents]

    def stats(self) -> Dict[str, int]:
        return {"calls": self.calls}

    def close(self) -> None:
        self.closed = True
        if self._sock is not None:
            self._sock.close()

    def _deliver(self, document: bytes) -> bool:
        if self._sock is None:
            return True
        try:
            self._sock.send(HEADER + document)
        except OSError:
            return False
        return True


class OversizeEveryOther(UserEmitter):
    """Sends every other document padded past the UDP limit, so that the kernel refuses
    it with a real ``EMSGSIZE``; reports per document what was delivered."""

    def __init__(self, listener: UdpListener) -> None:
        super().__init__(listener)
        self.refused: List[bytes] = []

    def send(self, documents: Sequence[bytes]) -> Any:
        self.calls += 1
        self.offered += len(documents)
        flags = []
        for index, document in enumerate(documents):
            if index % 2:
                assert self._sock is not None
                try:
                    self._sock.send(HEADER + document + b" " * 70_000)
                    flags.append(True)
                except OSError:  # EMSGSIZE: the datagram is over 65,507 bytes
                    self.refused.append(document)
                    flags.append(False)
            else:
                self.documents.append(document)
                flags.append(self._deliver(document))
        return flags


class CountingEmitter(UserEmitter):
    """The older protocol: ``send`` returns how many documents (the first N) went out;
    delivers only the first ``limit`` of each call."""

    def __init__(self, listener: UdpListener, limit: int) -> None:
        super().__init__(listener)
        self.limit = limit

    def send(self, documents: Sequence[bytes]) -> Any:
        self.calls += 1
        self.offered += len(documents)
        kept = list(documents)[: self.limit]
        self.documents.extend(kept)
        for document in kept:
            self._deliver(document)
        return len(kept)


class ResultEmitter(UserEmitter):
    """Returns ``result`` from every ``send`` (e.g. ``None``: not a valid answer)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result

    def send(self, documents: Sequence[bytes]) -> Any:
        super().send(documents)
        return self.result


class RaisingEmitter(UserEmitter):
    """Raises from ``send``, ``stats`` and ``close``: a buggy transport."""

    def send(self, documents: Sequence[bytes]) -> Any:
        self.calls += 1
        raise ConnectionError("the transport broke")

    def stats(self) -> Dict[str, int]:
        raise RuntimeError("stats broke")

    def close(self) -> None:
        raise RuntimeError("close broke")


class BlockingEmitter(UserEmitter):
    """Blocks inside ``send`` until ``release`` is set (a hung transport); ``entered`` is
    set when the first call starts, ``returned`` when a blocked call gave up or returned."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()

    def send(self, documents: Sequence[bytes]) -> Any:
        self.entered.set()
        try:
            self.release.wait(HANG * 3)
            return super().send(documents)
        finally:
            self.returned.set()


# --- an X-Ray API that misbehaves -----------------------------------------------------------------


class FaultyXRay:
    """A real HTTP server on 127.0.0.1 answering PutTraceSegments with ``mode``:

    ``ok`` (200, everything processed), ``throttle`` (429 ThrottledException), ``error``
    (500), ``unavailable`` (503), ``garbage`` (bytes that are not HTTP, then close),
    ``hang`` (never answers until :meth:`close` or ``unhang``).
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.requests: List[Dict[str, Any]] = []
        self.unhang = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.requests.append(json.loads(body or b"{}"))
                server.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faulty-xray", daemon=True
        )
        self._thread.start()

    def documents(self) -> List[Dict[str, Any]]:
        return [
            json.loads(document)
            for request in self.requests
            for document in request.get("TraceSegmentDocuments", ())
        ]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "hang":
            self.unhang.wait(HANG * 3)
            handler.close_connection = True
            return
        if mode == "garbage":
            handler.wfile.write(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
            handler.close_connection = True
            return
        answers: Dict[str, Tuple[int, Dict[str, Any]]] = {
            "ok": (200, {"UnprocessedTraceSegments": []}),
            "throttle": (429, {"__type": "ThrottledException", "message": "Rate exceeded"}),
            "error": (500, {"__type": "InternalFailure", "message": "boom"}),
            "unavailable": (503, {"__type": "ServiceUnavailable", "message": "try later"}),
        }
        status, body = answers[mode]
        raw = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/x-amz-json-1.1")
        if status != 200:
            handler.send_header("x-amzn-ErrorType", str(body["__type"]))
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def close(self) -> None:
        self.unhang.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def faulty_xray() -> Iterator[Callable[[str], FaultyXRay]]:
    """Make misbehaving X-Ray endpoints (``faulty_xray("throttle")``); closed afterwards."""
    made: List[FaultyXRay] = []

    def make(mode: str) -> FaultyXRay:
        server = FaultyXRay(mode)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def wait_until(condition: Callable[[], bool], timeout: float = HANG) -> bool:
    """Poll ``condition`` until true or ``timeout``; return its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(0.01)
    return True
