"""XRaySpanProcessor: whole local span trees as one X-Ray document each, sent in the background.

The application's threads only append finished spans to a bounded queue (O(1)). One daemon
worker thread takes them a trace at a time, translates them, holds each one in a
:class:`~otel_xray.buffer.TraceBuffer` until its document root ends, and packs and sends
what is ready; each stage is the :class:`~otel_xray.pipeline.Pipeline`'s, which counts.
When the queue is full the oldest queued span is dropped and counted.

Every limit has an ``OTEL_EXPORTER_XRAY_*`` environment variable and a valid range;
explicit arguments win; a value out of range is logged once and the default used.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import Deque, Dict, List, Optional, Tuple

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .buffer import Entry, TraceBuffer
from .config import IntSetting, TranslateOptions
from .emit import Emitter
from .packing import Packed
from .pipeline import Pipeline, default_emitter, is_sampled, suppressed
from .propagation import link_displaced_parent
from .translate.segment import Translated

__all__ = ["XRaySpanProcessor"]

_log = logging.getLogger("otel_xray.processor")

MAX_QUEUE_SIZE = IntSetting(
    "max_queue_size", "OTEL_EXPORTER_XRAY_MAX_QUEUE_SIZE", 2048, 1, 1_000_000
)
SCHEDULE_DELAY_MILLIS = IntSetting(
    "schedule_delay_millis", "OTEL_EXPORTER_XRAY_SCHEDULE_DELAY_MILLIS", 500, 1, 60_000
)
MAX_EXPORT_BATCH_SIZE = IntSetting(
    "max_export_batch_size", "OTEL_EXPORTER_XRAY_MAX_EXPORT_BATCH_SIZE", 512, 1, 1_000_000
)
MAX_BUFFERED_SPANS = IntSetting(
    "max_buffered_spans", "OTEL_EXPORTER_XRAY_MAX_BUFFERED_SPANS", 10_000, 0, 1_000_000
)
ORPHAN_TIMEOUT_MILLIS = IntSetting(
    "orphan_timeout_millis", "OTEL_EXPORTER_XRAY_ORPHAN_TIMEOUT_MILLIS", 30_000, 0, 3_600_000
)
SHUTDOWN_TIMEOUT_MILLIS = IntSetting(
    "shutdown_timeout_millis", "OTEL_EXPORTER_XRAY_SHUTDOWN_TIMEOUT_MILLIS", 30_000, 0, 600_000
)


#: The most queued spans the worker takes at once, all of them, by copying the queue (under
#: the lock on_end takes: a C-level copy, microseconds); from a longer queue it takes
#: _TAKE_SOME at a time, one by one.
_TAKE_ALL = 1024
_TAKE_SOME = 64

# What the pipeline counts for each span the worker took from the queue.
_SETTLED = (
    "spans_sent", "spans_dropped.translate_error", "spans_dropped.send_failed",
    "spans_dropped.invalid_emitter_result", "spans_dropped.internal",
)


class XRaySpanProcessor(SpanProcessor):
    """Sends each local span tree as one X-Ray document, from a background thread.

    ``emitter``: where documents go; ``None`` makes a
    :class:`~otel_xray.emit.udp.UdpEmitter` from ``AWS_XRAY_DAEMON_ADDRESS``.
    ``options``: how spans translate; ``None`` reads ``OTEL_EXPORTER_XRAY_*``.
    The limits default to their environment variable, else (valid range in brackets):

    - ``max_queue_size`` (2048, [1, 1,000,000]): finished spans waiting for the worker;
      when full, the oldest is dropped (``spans_dropped.queue_full``);
    - ``schedule_delay_millis`` (500, [1, 60,000]): the worker's longest sleep;
    - ``max_export_batch_size`` (512, [1, 1,000,000]): queued spans that wake the worker
      early; also the most spans packed per emitter call;
    - ``max_buffered_spans`` (10,000, [0, 1,000,000]): finished spans held for their
      root; beyond it the oldest are sent early as standalone subsegments
      (``spans_sent_early.buffer_full``);
    - ``orphan_timeout_millis`` (30,000, [0, 3,600,000]): how long a finished span waits
      for its root before it is sent as a standalone subsegment
      (``spans_sent_early.orphan_timeout``);
    - ``shutdown_timeout_millis`` (30,000, [0, 600,000]): the longest :meth:`shutdown`
      waits for the last spans; what is still queued then is ``spans_dropped.shutdown``.

    Unsampled spans are not sent. Nothing here raises into or blocks the application;
    problems are counted in :meth:`stats` and logged at most once a minute per kind. Safe
    across ``os.fork()``: the child starts with an empty queue and its own worker.
    """

    # Set by _reset_process_state (again in a forked child).
    _lock: threading.Lock
    _wake: threading.Event
    _queue: Deque[ReadableSpan]
    _buffer: TraceBuffer[Translated]
    _worker: Optional[threading.Thread]

    def __init__(
        self,
        emitter: Optional[Emitter] = None,
        *,
        options: Optional[TranslateOptions] = None,
        max_queue_size: Optional[int] = None,
        schedule_delay_millis: Optional[int] = None,
        max_export_batch_size: Optional[int] = None,
        max_buffered_spans: Optional[int] = None,
        orphan_timeout_millis: Optional[int] = None,
        shutdown_timeout_millis: Optional[int] = None,
    ) -> None:
        self._pipeline = Pipeline(
            emitter if emitter is not None else default_emitter(),
            options if options is not None else TranslateOptions.from_env(),
        )
        self._max_queue_size = MAX_QUEUE_SIZE.resolve(max_queue_size)
        self._delay = SCHEDULE_DELAY_MILLIS.resolve(schedule_delay_millis) / 1000
        self._batch_size = MAX_EXPORT_BATCH_SIZE.resolve(max_export_batch_size)
        self._max_buffered = MAX_BUFFERED_SPANS.resolve(max_buffered_spans)
        self._orphan_timeout = ORPHAN_TIMEOUT_MILLIS.resolve(orphan_timeout_millis) / 1000
        self._shutdown_timeout = SHUTDOWN_TIMEOUT_MILLIS.resolve(shutdown_timeout_millis) / 1000
        self._closed = False  # shutdown() was called: on_end drops spans
        self._reset_process_state()
        if hasattr(os, "register_at_fork"):
            method = weakref.WeakMethod(self._reset_process_state)
            os.register_at_fork(after_in_child=lambda: _call_weak(method))

    @property
    def emitter(self) -> Emitter:
        """Where this processor's documents go."""
        return self._pipeline.emitter

    # --- SpanProcessor ------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """On Lambda: link the handler's span to the trace its event came from."""
        if self._pipeline.options.lambda_mode:
            link_displaced_parent(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a finished, sampled span for the worker: O(1), never raises or blocks."""
        try:
            sampled = is_sampled(span.context)
            with self._lock:  # the counts and the queue change together: exact accounting
                self._received += 1
                if self._closed:
                    self._dropped_shutdown += 1
                    return
                if not sampled:
                    self._unsampled += 1
                    return
                queue = self._queue
                if len(queue) >= self._max_queue_size:
                    queue.popleft()
                    self._dropped_queue_full += 1
                    full = True
                else:
                    full = False
                queue.append(span)
                wake = len(queue) >= self._batch_size
            if full:
                self._queue_full()
            if wake and not self._wake.is_set():
                self._wake.set()
        except Exception:
            self._dropped_internal += 1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send every span finished so far, buffered ones included (as standalone
        subsegments, nested among themselves where they can). Returns whether that
        finished within ``timeout_millis``.

        Takes no lock the application could hold: safe from a signal handler.
        """
        try:
            if self._stopped:
                return not self._queue and self._in_flight() == 0
            done = threading.Event()
            self._flush_requests.append(done)  # deque.append: atomic
            self._wake.set()
            return done.wait(max(timeout_millis, 0) / 1000)
        except Exception:
            self._pipeline.diag.error("internal", "force_flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Flush (at most ``shutdown_timeout_millis``), stop the worker and close the
        emitter. Idempotent; spans that end afterwards count as ``spans_dropped.shutdown``."""
        self.stop(close_emitter=True)

    def stop(self, *, close_emitter: bool) -> None:
        """:meth:`shutdown`, keeping the emitter open when ``close_emitter`` is false (it is
        shared with a processor that replaces this one)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + self._shutdown_timeout
        try:
            if not self.force_flush(int(self._shutdown_timeout * 1000)):
                self._pipeline.diag.warning(
                    "shutdown", "shutdown: spans still unsent after %d ms (raise %s if the "
                    "emitter needs longer)", self._shutdown_timeout * 1000,
                    SHUTDOWN_TIMEOUT_MILLIS.env,
                )
            self._stopped = True
            self._wake.set()
            worker = self._worker
            if worker is not None and worker is not threading.current_thread():
                worker.join(max(deadline - time.monotonic(), 0.0))
            with self._lock:  # what the worker never took is lost: say so
                self._dropped_shutdown += len(self._queue)
                self._queue.clear()
        finally:
            if close_emitter:
                self._pipeline.close_emitter()

    def stats(self) -> Dict[str, int]:
        """Counters of this process.

        ``spans_received`` (every span handed to ``on_end``), ``spans_unsampled``,
        ``spans_sent`` / ``documents_sent`` / ``bytes_sent`` (JSON bytes) as the emitter
        reported them delivered, ``spans_dropped`` (total) and ``spans_dropped.<reason>``
        (``queue_full``, ``translate_error``, ``send_failed``, ``invalid_emitter_result``,
        ``shutdown``, ``internal``), ``spans_sent_early.<reason>`` (``orphan_timeout``,
        ``buffer_full``, ``flush``), ``documents_split``, ``spans_trimmed``,
        ``annotations_moved``; gauges ``spans_queued`` (waiting for the worker or being
        sent) and ``spans_buffered`` (waiting for their root); the
        emitter's counters as ``emitter.<key>``. Once nothing is in flight (after
        :meth:`force_flush`), ``spans_received`` = ``spans_sent`` + ``spans_unsampled`` +
        ``spans_dropped`` + ``spans_queued`` + ``spans_buffered``.
        """
        with self._lock:
            extra = {
                "spans_received": self._received,
                "spans_unsampled": self._unsampled,
                "spans_dropped.queue_full": self._dropped_queue_full,
                "spans_dropped.shutdown": self._dropped_shutdown,
                "spans_queued": len(self._queue),
            }
        extra["spans_queued"] += self._in_flight()
        extra["spans_dropped.internal"] = (
            self._dropped_internal + self._pipeline.counters.get("spans_dropped.internal")
        )
        extra["spans_buffered"] = len(self._buffer)
        for reason, count in self._buffer.released_early.items():
            extra["spans_sent_early." + reason] = count
        return self._pipeline.stats(extra)

    def _in_flight(self) -> int:
        """Spans the worker took from the queue that are neither buffered nor counted yet
        (being translated, packed or sent -- e.g. inside an emitter that blocks)."""
        counters = self._pipeline.counters
        settled = sum(counters.get(key) for key in _SETTLED) + len(self._buffer)
        return max(self._taken - settled, 0)

    # --- process state ------------------------------------------------------------------

    def _reset_process_state(self) -> None:
        """Everything a (forked) process must own: queue, lock, counters, buffer, worker.

        In a forked child the parent's worker does not exist and its locks may be held:
        nothing of the parent's is used again.
        """
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queue = collections.deque()
        self._flush_requests: Deque[threading.Event] = collections.deque()
        self._received = self._unsampled = self._taken = 0
        self._dropped_queue_full = self._dropped_shutdown = self._dropped_internal = 0
        self._stopped = self._closed
        self._buffer = TraceBuffer(
            max_spans=self._max_buffered, orphan_timeout=self._orphan_timeout
        )
        self._pipeline.reset_counters()
        self._worker = None
        if not self._closed:
            self._worker = threading.Thread(
                target=self._run, name="otel-xray-processor", daemon=True
            )
            self._worker.start()

    def _queue_full(self) -> None:
        self._pipeline.diag.warning(
            "queue_full", "span queue full (%d): dropping the oldest span; raise %s or "
            "reduce the span rate", self._max_queue_size, MAX_QUEUE_SIZE.env,
        )

    # --- worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        # This thread only exports: nothing it does may be traced (e.g. botocore calls of
        # the API emitter), or each export would produce spans to export.
        with suppressed():
            while True:
                self._wake.wait(self._delay)
                self._wake.clear()
                requests: List[threading.Event] = []
                while self._flush_requests:
                    requests.append(self._flush_requests.popleft())
                stopping = self._stopped
                try:
                    self._round(flush=bool(requests) or stopping)
                except Exception:  # the worker must survive anything
                    self._pipeline.diag.error("internal", "export round failed", exc_info=True)
                for request in requests:
                    request.set()
                if stopping:
                    return

    def _round(self, flush: bool) -> None:
        """Take what is queued now, send what is ready, release orphans."""
        now = time.monotonic()
        buffer, pipeline = self._buffer, self._pipeline
        batch_size = self._batch_size
        packed: List[Packed] = []
        spans_packed = 0
        failed: List[Tuple[Translated, Exception]] = []
        left = len(self._queue)  # not more: a busy application must not keep us here
        while left > 0:
            spans = self._take(left)
            if not spans:
                break
            left -= len(spans)
            # All sampled (on_end queued no other); what cannot be read is counted there.
            traces = pipeline.by_trace(spans)[0]
            for trace_id, spans_of_trace in traces.items():
                # Translated before holding: the buffer works on the ids translation reads,
                # and a trace released at once is packed while its objects are young.
                entries: List[Entry[Translated]] = [
                    (item.span_id, item.parent_id, item.is_root, item)
                    for item in pipeline.translate(spans_of_trace)
                ]
                ready = buffer.add(trace_id, entries, now, failed)
                if failed:  # a bug in the buffer loses these spans, counted
                    pipeline.counters.add("spans_dropped.internal", len(failed))
                    pipeline.diag.error("internal", "buffering %d spans failed: %r",
                                        len(failed), failed[0][1])
                    failed.clear()
                if ready:
                    spans_packed += self._pack(ready, packed)
                    if spans_packed >= batch_size:
                        self._deliver(packed)
                        packed, spans_packed = [], 0
        ready = buffer.expire(now)
        if flush:
            ready.extend(buffer.flush())
        if ready:
            self._pack(ready, packed)
        self._deliver(packed)

    def _take(self, left: int) -> List[ReadableSpan]:
        """Queued spans, at most ``left``, counted as taken in the same step (under the lock
        that :meth:`stats` reads the queue under: no span is ever in neither count)."""
        with self._lock:
            queue = self._queue
            if len(queue) <= min(left, _TAKE_ALL):
                spans = list(queue)
                queue.clear()
            else:
                spans = [queue.popleft() for _ in range(min(left, _TAKE_SOME, len(queue)))]
            self._taken += len(spans)
        return spans

    def _pack(self, ready: List[Translated], packed: List[Packed]) -> int:
        """Pack ``ready`` onto ``packed``; return how many spans that was."""
        try:
            documents = self._pipeline.pack(ready)
        except Exception:  # Pipeline.pack guards itself; this is a last resort
            self._lost("packing", len(ready))
            return 0
        packed.extend(documents)
        return len(ready)

    def _deliver(self, packed: List[Packed]) -> None:
        if not packed:
            return
        try:
            self._pipeline.deliver(packed)
        except Exception:  # Pipeline.deliver guards the emitter; this is a last resort
            self._lost("sending", sum(p.spans for p in packed))

    def _lost(self, stage: str, spans: int) -> None:
        self._pipeline.counters.add("spans_dropped.internal", spans)
        self._pipeline.diag.error("internal", "%s %d spans failed", stage, spans, exc_info=True)


def _call_weak(method: weakref.WeakMethod) -> None:  # type: ignore[type-arg]
    bound = method()
    if bound is not None:
        bound()
