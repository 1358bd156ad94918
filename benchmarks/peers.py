"""The peers otel-xray is compared with, each imported only when installed.

* ADOT's ``OTLPUdpSpanExporter`` (``aws-opentelemetry-distro``): OTLP protobuf, base64, one
  datagram per export call. ADOT uses it with ``BatchSpanProcessor(max_export_batch_size=10)``
  on Lambda, so it is measured with batches of 10.
* ``aws-xray-sdk``: the native recorder and its UDP emitter, recording the same trace.
* ``BatchSpanProcessor`` + :class:`NoopExporter`: the OpenTelemetry SDK's own processor.
* :class:`TouchFloorExporter`: the cheapest exporter that still does an exporter's work, and
  :class:`TouchFloorWorker`: the same work done the way a processor's worker does it.
"""

from __future__ import annotations

import collections
import importlib
import socket
import threading
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import orjson
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

#: The header line of every X-Ray daemon datagram.
HEADER = b'{"format":"json","version":1}\n'
#: The largest UDP payload on IPv4.
MAX_UDP_PAYLOAD = 65507
#: Batch size ADOT uses for OTLPUdpSpanExporter on Lambda (LAMBDA_SPAN_EXPORT_BATCH_SIZE).
ADOT_BATCH = 10
#: A generous case for ADOT: the largest round batch whose one datagram still fits UDP.
ADOT_BIG_BATCH = 100
#: BatchSpanProcessor's default max_export_batch_size.
BSP_BATCH = 512


def _import(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@dataclass(frozen=True)
class Peers:
    """The peers' classes, ``None`` where not installed."""

    adot: Any = None  # amazon.opentelemetry.distro.otlp_udp_exporter.OTLPUdpSpanExporter
    encode_spans: Any = None  # opentelemetry.exporter.otlp.proto.common.trace_encoder
    xray_recorder: Any = None  # aws_xray_sdk.core.recorder.AWSXRayRecorder

    @classmethod
    def load(cls) -> Peers:
        return cls(
            adot=_import("amazon.opentelemetry.distro.otlp_udp_exporter", "OTLPUdpSpanExporter"),
            encode_spans=_import(
                "opentelemetry.exporter.otlp.proto.common.trace_encoder", "encode_spans"),
            xray_recorder=_import("aws_xray_sdk.core.recorder", "AWSXRayRecorder"),
        )

    def adot_exporter(self, address: str) -> Optional[SpanExporter]:
        """ADOT's ``OTLPUdpSpanExporter`` sending to ``address``; ``None`` if not installed."""
        if self.adot is None:
            return None
        made: SpanExporter = self.adot(endpoint=address)
        return made

    def xray_sdk_recorder(self, address: str) -> Any:
        """An ``aws-xray-sdk`` recorder (sampling off, no plugins) sending to ``address``."""
        if self.xray_recorder is None:
            return None
        recorder = self.xray_recorder()
        recorder.configure(sampling=False, plugins=(), context_missing="IGNORE_ERROR",
                           daemon_address=address, service="orders")
        return recorder


ADOT_MISSING = "ADOT OTLPUdpSpanExporter (aws-opentelemetry-distro)"
XRAY_SDK_MISSING = "aws-xray-sdk"


class NoopExporter(SpanExporter):
    """Accepts every batch and does nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class CountingExporter(SpanExporter):
    """Counts the spans handed to ``inner`` (what a BatchSpanProcessor did not drop)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return self.inner.export(spans)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class TouchFloorExporter(SpanExporter):
    """The touch floor: the least work an exporter of whole traces can do.

    Reads each span's ids, times, name and attributes into a dict, nests the dicts by
    parent within each trace of the batch, and sends one ``orjson.dumps`` per trace in
    one UDP datagram (with the daemon header). No translation, no size limit, no trimming:
    no real exporter can be cheaper, so our exporter's throughput is judged against it.
    Its documents use ``id`` and ``subsegments`` so the datagram check can count their spans.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.connect((host, int(port)))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        nodes: Dict[Tuple[int, int], Dict[str, Any]] = {}
        placed: List[Tuple[int, Optional[int], Dict[str, Any]]] = []
        for span in spans:
            context = span.context
            if context is None:
                continue
            parent = span.parent
            node: Dict[str, Any] = {
                "id": f"{context.span_id:016x}",
                "parent_id": None if parent is None else f"{parent.span_id:016x}",
                "name": span.name,
                "start_time": (span.start_time or 0) / 1e9,
                "end_time": (span.end_time or 0) / 1e9,
                "attributes": dict(span.attributes or {}),
            }
            nodes[context.trace_id, context.span_id] = node
            placed.append((context.trace_id, None if parent is None else parent.span_id, node))
        roots: Dict[int, List[Dict[str, Any]]] = {}
        for trace_id, parent_id, node in placed:
            above = None if parent_id is None else nodes.get((trace_id, parent_id))
            if above is None:
                roots.setdefault(trace_id, []).append(node)
            else:
                above.setdefault("subsegments", []).append(node)
        send = self._sock.send
        dumps = orjson.dumps
        for trace_id, tops in roots.items():
            document: Dict[str, Any] = tops[0] if len(tops) == 1 else {"subsegments": tops}
            document["trace_id"] = f"{trace_id:032x}"
            send(HEADER + dumps(document))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._sock.close()


class TouchFloorWorker(SpanProcessor):
    """The touch floor done where a processor's worker does its work: in its own thread.

    ``on_end`` queues the span; a background thread hands the queued spans to a
    :class:`TouchFloorExporter` in batches of 512 when that many are queued, or on
    :meth:`force_flush` (which the caller waits for, as it waits for ours). Its thread's CPU
    is the like-for-like peer of ``XRaySpanProcessor``'s worker: both read spans that
    another thread made. (``BatchSpanProcessor`` cannot stand in: its ``force_flush``
    exports in the calling thread.)
    """

    #: Its thread's name (the benchmark counts that thread's CPU).
    THREAD = "touch-floor-worker"

    def __init__(self, address: str) -> None:
        self._exporter = TouchFloorExporter(address)
        self._queue: Deque[ReadableSpan] = collections.deque()
        self._flushes: Deque[threading.Event] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.THREAD, daemon=True)
        self._thread.start()

    def on_end(self, span: ReadableSpan) -> None:
        self._queue.append(span)
        if len(self._queue) >= BSP_BATCH:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._exporter.shutdown()

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._wake.wait()
            self._wake.clear()
            flushes = [self._flushes.popleft() for _ in range(len(self._flushes))]
            while queue:
                batch = [queue.popleft() for _ in range(min(BSP_BATCH, len(queue)))]
                self._exporter.export(batch)
            for done in flushes:
                done.set()
            if self._stopping:
                return
