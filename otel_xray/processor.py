"""XRaySpanProcessor: whole local span trees as one X-Ray document each, sent in the background.

The application's threads only append finished spans to a bounded queue (O(1)). One
daemon worker thread translates them, holds each finished non-root span until its
document root ends, then packs the whole tree into one segment document with nested
subsegments (split only to fit 64 kB) and hands it to the emitter:

- a span whose parent was already sent goes out at once as a standalone subsegment
  under its parent, with its own buffered descendants nested;
- a buffered span whose root does not end within ``orphan_timeout_millis`` -- or when
  more than ``max_buffered_spans`` are held, or on ``force_flush`` -- goes out as a
  standalone subsegment, its buffered descendants nested (the oldest first); it is
  never dropped;
- when the queue is full the oldest queued span is dropped and counted.

Every limit has an ``OTEL_EXPORTER_XRAY_*`` environment variable; explicit arguments win.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from typing import Deque, Dict, List, Mapping, Optional, Set, Tuple

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ._diag import Counters, RateLimitedLog
from .config import TranslateOptions, env_int
from .emit import Emitter
from .exporter import (
    _default_emitter,
    close_emitter,
    collect_stats,
    document_limit,
    pack_items,
    send_packed,
    translate_item,
)
from .packing import Packed, pack
from .translate.segment import Translated

_log = logging.getLogger("otel_xray.processor")

#: Finished spans waiting for the worker; when full, the oldest is dropped.
ENV_MAX_QUEUE_SIZE = "OTEL_EXPORTER_XRAY_MAX_QUEUE_SIZE"
#: How long the worker sleeps between rounds when the queue holds less than a batch.
ENV_SCHEDULE_DELAY_MILLIS = "OTEL_EXPORTER_XRAY_SCHEDULE_DELAY_MILLIS"
#: Queued spans that wake the worker early; also the spans it packs per emitter call.
ENV_MAX_EXPORT_BATCH_SIZE = "OTEL_EXPORTER_XRAY_MAX_EXPORT_BATCH_SIZE"
#: Finished spans held while their document root is still running.
ENV_MAX_BUFFERED_SPANS = "OTEL_EXPORTER_XRAY_MAX_BUFFERED_SPANS"
#: How long a finished span waits for its root before it is sent on its own.
ENV_ORPHAN_TIMEOUT_MILLIS = "OTEL_EXPORTER_XRAY_ORPHAN_TIMEOUT_MILLIS"

DEFAULT_MAX_QUEUE_SIZE = 2048
DEFAULT_SCHEDULE_DELAY_MILLIS = 500
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
DEFAULT_MAX_BUFFERED_SPANS = 10_000
DEFAULT_ORPHAN_TIMEOUT_MILLIS = 30_000

#: ``shutdown()`` waits at most this long for the last spans to go out.
SHUTDOWN_TIMEOUT_MILLIS = 30_000
# Ids of sent spans are remembered in two generations of this many (bounded memory): a
# child that ends after its parent was sent finds it there.
_SENT_GENERATION = 16_384

_PROCESSOR_STATS = (
    "spans_dropped.queue_full", "spans_sent_early.orphan_timeout",
    "spans_sent_early.buffer_full", "spans_sent_early.flush",
)


# A buffered span: (the translated span, when it was taken from the queue). A tuple, not an
# object: every span with a parent passes through here. The body stays a dict until its
# tree is sent, so that a whole tree is encoded by one orjson call.
_Buffered = Tuple[Translated, float]


class XRaySpanProcessor(SpanProcessor):
    """Sends each local span tree as one X-Ray document, from a background thread.

    ``emitter``: where documents go; ``None`` makes a
    :class:`~otel_xray.emit.udp.UdpEmitter` from ``AWS_XRAY_DAEMON_ADDRESS``.
    ``options``: how spans translate; ``None`` reads ``OTEL_EXPORTER_XRAY_*``.
    The limits default to their environment variable, else:

    - ``max_queue_size`` (2048): finished spans waiting for the worker; when full, the
      oldest is dropped (``spans_dropped.queue_full``);
    - ``schedule_delay_millis`` (500): the worker's longest sleep;
    - ``max_export_batch_size`` (512): queued spans that wake the worker early;
    - ``max_buffered_spans`` (10,000): finished spans held for their root; beyond it the
      oldest are sent early, as standalone subsegments (``spans_sent_early.buffer_full``);
    - ``orphan_timeout_millis`` (30,000): how long a finished span waits for its root
      before it is sent as a standalone subsegment (``spans_sent_early.orphan_timeout``).

    Unsampled spans are not sent. Nothing here raises into the application; problems are
    counted in :meth:`stats` and logged at most once a minute per kind. Safe across
    ``os.fork()``: the child starts with an empty queue and its own worker thread.
    """

    # Set by _reset_process_state (again in a forked child).
    _lock: threading.Lock
    _wake: threading.Event
    _counters: Counters
    _diag: RateLimitedLog

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
    ) -> None:
        env = os.environ
        self._emitter: Emitter = emitter if emitter is not None else _default_emitter()
        self._options = options if options is not None else TranslateOptions.from_env()
        self._limit = document_limit(self._emitter)
        self._max_queue_size = _setting(
            max_queue_size, env, ENV_MAX_QUEUE_SIZE, DEFAULT_MAX_QUEUE_SIZE, 1
        )
        self._delay = _setting(
            schedule_delay_millis, env, ENV_SCHEDULE_DELAY_MILLIS,
            DEFAULT_SCHEDULE_DELAY_MILLIS, 1,
        ) / 1000
        self._batch_size = _setting(
            max_export_batch_size, env, ENV_MAX_EXPORT_BATCH_SIZE,
            DEFAULT_MAX_EXPORT_BATCH_SIZE, 1,
        )
        self._max_buffered = _setting(
            max_buffered_spans, env, ENV_MAX_BUFFERED_SPANS, DEFAULT_MAX_BUFFERED_SPANS, 0
        )
        self._orphan_timeout = _setting(
            orphan_timeout_millis, env, ENV_ORPHAN_TIMEOUT_MILLIS,
            DEFAULT_ORPHAN_TIMEOUT_MILLIS, 0,
        ) / 1000
        self._closed = False  # shutdown() was called: on_end ignores spans
        self._reset_process_state()
        if hasattr(os, "register_at_fork"):
            method = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: _call_weak(method))

    # --- SpanProcessor ------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a finished, sampled span for the worker: O(1), never raises."""
        try:
            if self._closed:
                self._counters.add("spans_dropped.shutdown")
                return
            context = span.context
            if context is not None and not context.trace_flags.sampled:
                self._counters.add("spans_unsampled")
                return
            queue = self._queue
            if len(queue) >= self._max_queue_size:
                self._queue_full()
            queue.append(span)  # a full deque drops its oldest item
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:
            self._counters.add("spans_dropped.internal")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send every span finished so far, buffered ones included (as standalone
        subsegments, nested among themselves where they can). Returns whether that
        finished within ``timeout_millis``."""
        try:
            done = threading.Event()
            with self._lock:
                if self._stopped:
                    return not self._queue
                self._flush_requests.append(done)
            self._wake.set()
            return done.wait(max(timeout_millis, 0) / 1000)
        except Exception:
            self._diag.error("internal", "force_flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Flush, stop the worker and close the emitter. Idempotent; spans that end
        afterwards are counted as ``spans_dropped.shutdown``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_MILLIS / 1000
        try:
            if not self.force_flush(SHUTDOWN_TIMEOUT_MILLIS):
                self._diag.warning(
                    "shutdown", "shutdown: spans still unsent after %d ms",
                    SHUTDOWN_TIMEOUT_MILLIS,
                )
            with self._lock:
                self._stopped = True
            self._wake.set()
            worker = self._worker
            if worker is not None and worker is not threading.current_thread():
                worker.join(max(deadline - time.monotonic(), 0.0))
        finally:
            close_emitter(self._emitter, self._diag)

    def stats(self) -> Dict[str, int]:
        """Counters of this process.

        ``spans_received`` (every span handed to ``on_end``), ``spans_unsampled``,
        ``spans_sent`` / ``documents_sent`` / ``bytes_sent`` (JSON bytes) as the emitter
        reported them delivered, ``spans_dropped`` (total) and ``spans_dropped.<reason>``
        (``queue_full``, ``translate_error``, ``send_failed``, ``shutdown``),
        ``spans_sent_early.<reason>`` (``orphan_timeout``, ``buffer_full``, ``flush``),
        ``documents_split``, ``spans_trimmed``, ``annotations_moved``; gauges
        ``spans_queued`` and ``spans_buffered``; the emitter's counters as ``emitter.*``.
        """
        snapshot = self._counters.snapshot()
        queued = len(self._queue)
        received = (
            self._taken + queued
            + snapshot.get("spans_dropped.queue_full", 0)
            + snapshot.get("spans_dropped.shutdown", 0)
            + snapshot.get("spans_unsampled", 0)
            + snapshot.get("spans_dropped.internal", 0)
        )
        extra = {
            "spans_received": received,
            "spans_queued": queued,
            "spans_buffered": len(self._pending),
        }
        return collect_stats(self._counters, self._emitter, extra, _PROCESSOR_STATS)

    # --- process state ------------------------------------------------------------------

    def _reset_process_state(self) -> None:
        """Everything a (forked) process must own: queue, locks, counters, worker."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queue: Deque[ReadableSpan] = collections.deque(maxlen=self._max_queue_size)
        self._flush_requests: List[threading.Event] = []
        self._stopped = self._closed
        self._counters = Counters()
        self._diag = RateLimitedLog(_log)
        # Worker-thread state.
        self._taken = 0
        self._pending: collections.OrderedDict[str, _Buffered] = collections.OrderedDict()
        self._children: Dict[str, List[str]] = {}
        self._sent: Set[str] = set()
        self._sent_before: Set[str] = set()
        self._worker: Optional[threading.Thread] = None
        if not self._closed:
            self._worker = threading.Thread(
                target=self._run, name="otel-xray-processor", daemon=True
            )
            self._worker.start()

    def _after_fork_in_child(self) -> None:
        # The parent's worker thread does not exist here, and its locks may be held.
        self._reset_process_state()

    def _queue_full(self) -> None:
        self._counters.add("spans_dropped.queue_full")
        self._diag.warning(
            "queue_full", "span queue full (%d): dropping the oldest span; raise %s or "
            "reduce the span rate", self._max_queue_size, ENV_MAX_QUEUE_SIZE,
        )

    # --- worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            with self._lock:
                requests, self._flush_requests = self._flush_requests, []
                stopping = self._stopped
            try:
                self._round(flush=bool(requests) or stopping)
            except Exception:  # the worker must survive anything
                self._diag.error("internal", "export round failed", exc_info=True)
            for request in requests:
                request.set()
            if stopping:
                return

    def _round(self, flush: bool) -> None:
        """Take what is queued now, send what is ready, release orphans."""
        now = time.monotonic()
        queue = self._queue
        ready: List[Translated] = []
        # Every span passes through this loop: look the fixed parts up once.
        options, counters, diag = self._options, self._counters, self._diag
        pending, children = self._pending, self._children
        batch_size, max_buffered = self._batch_size, self._max_buffered
        for _ in range(len(queue)):
            try:
                span = queue.popleft()
            except IndexError:
                break
            self._taken += 1
            encoded = translate_item(span, options, counters, diag)
            if encoded is None:
                continue
            parent = encoded.parent_id
            if (
                encoded.is_root
                or parent is None
                or parent in self._sent
                or parent in self._sent_before
            ):
                self._release(encoded, ready)
            else:
                pending[encoded.span_id] = (encoded, now)
                siblings = children.get(parent)
                if siblings is None:
                    children[parent] = [encoded.span_id]
                else:
                    siblings.append(encoded.span_id)
                if len(pending) > max_buffered:
                    self._buffer_full(ready)
            if len(ready) >= batch_size:
                self._send(ready)
                ready = []
        self._release_expired(now, ready)
        if flush:
            released = 0
            while self._pending:
                released += self._release_oldest(ready)
            if released:
                self._counters.add("spans_sent_early.flush", released)
        self._send(ready)

    def _buffer_full(self, ready: List[Translated]) -> None:
        released = self._release_oldest(ready)
        self._counters.add("spans_sent_early.buffer_full", released)
        self._diag.warning(
            "buffer_full", "more than %d finished spans wait for their root: sending the "
            "oldest early as standalone subsegments; raise %s if traces are that big",
            self._max_buffered, ENV_MAX_BUFFERED_SPANS,
        )

    def _release(self, encoded: Translated, ready: List[Translated]) -> None:
        """Make ``encoded`` and its buffered descendants ready to send, and remember
        their ids as sent."""
        ready.append(encoded)
        sent = self._sent
        sent.add(encoded.span_id)
        children = self._children
        kids = children.pop(encoded.span_id, None) if children else None
        if kids:
            pending = self._pending
            stack = [kids]
            while stack:
                for kid in stack.pop():
                    buffered = pending.pop(kid, None)
                    if buffered is not None:
                        ready.append(buffered[0])
                        sent.add(kid)
                        grandchildren = children.pop(kid, None)
                        if grandchildren:
                            stack.append(grandchildren)
        if len(sent) >= _SENT_GENERATION:
            # Bounded memory: forget the generation before the previous one. (A released
            # subtree may overshoot the generation by its size, at most the buffer limit.)
            self._sent_before = sent
            self._sent = set()

    def _release_oldest(self, ready: List[Translated]) -> int:
        """Release the buffered subtree holding the oldest buffered span; return its size."""
        pending = self._pending
        key = next(iter(pending))
        for _ in range(len(pending)):  # bounded: parent links may form a cycle
            parent = pending[key][0].parent_id
            if parent is None or parent == key or parent not in pending:
                break
            key = parent
        encoded = pending.pop(key)[0]
        parent = encoded.parent_id
        siblings = self._children.get(parent) if parent is not None else None
        if siblings is not None:
            siblings.remove(key)
            if not siblings:
                del self._children[parent]  # type: ignore[arg-type]
        before = len(ready)
        self._release(encoded, ready)
        return len(ready) - before

    def _release_expired(self, now: float, ready: List[Translated]) -> None:
        pending = self._pending
        cutoff = now - self._orphan_timeout
        released = 0
        while pending and next(iter(pending.values()))[1] <= cutoff:
            released += self._release_oldest(ready)
        if released:
            self._counters.add("spans_sent_early.orphan_timeout", released)

    def _send(self, ready: List[Translated]) -> None:
        if not ready:
            return
        try:
            packed, _ = pack_items(ready, self._limit, self._counters, self._diag)
        except Exception:
            # A packing bug must not lose spans: each one fits a document on its own.
            self._diag.error("pack", "packing %d spans failed; sending them one by one",
                             len(ready), exc_info=True)
            packed = self._one_by_one(ready)
        send_packed(self._emitter, packed, self._counters, self._diag)

    def _one_by_one(self, ready: List[Translated]) -> List[Packed]:
        packed: List[Packed] = []
        for item in ready:
            try:
                alone = pack([item], max_document_bytes=self._limit, counters=self._counters)
            except Exception:
                alone = []
            if not alone:  # the span could not be encoded
                self._counters.add("spans_dropped.translate_error")
            packed.extend(alone)
        return packed


def _setting(
    explicit: Optional[int], env: Mapping[str, str], name: str, default: int, minimum: int
) -> int:
    """The explicit value (checked), else the environment variable ``name``, else default."""
    if explicit is None:
        return env_int(env, name, default, minimum=minimum)
    if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < minimum:
        raise ValueError(
            f"must be an integer >= {minimum}, got {explicit!r} (environment: {name})"
        )
    return explicit


def _call_weak(method: weakref.WeakMethod) -> None:  # type: ignore[type-arg]
    bound = method()
    if bound is not None:
        bound()


__all__ = [
    "DEFAULT_MAX_BUFFERED_SPANS",
    "DEFAULT_MAX_EXPORT_BATCH_SIZE",
    "DEFAULT_MAX_QUEUE_SIZE",
    "DEFAULT_ORPHAN_TIMEOUT_MILLIS",
    "DEFAULT_SCHEDULE_DELAY_MILLIS",
    "ENV_MAX_BUFFERED_SPANS",
    "ENV_MAX_EXPORT_BATCH_SIZE",
    "ENV_MAX_QUEUE_SIZE",
    "ENV_ORPHAN_TIMEOUT_MILLIS",
    "ENV_SCHEDULE_DELAY_MILLIS",
    "XRaySpanProcessor",
]
