"""The export chain shared by the processor and the exporter: translate -> pack -> send -> count.

:class:`Pipeline` owns the emitter and the counters. :meth:`Pipeline.export` runs the whole
chain (the exporter); its stages -- :meth:`~Pipeline.by_trace`, :meth:`~Pipeline.translate`,
:meth:`~Pipeline.pack`, :meth:`~Pipeline.deliver` -- are there for the processor, which holds
translated spans between translating and packing. Everything it runs is guarded: a span
that cannot be translated, a packing bug, an emitter that raises or answers nonsense, each
ends up counted under ``spans_dropped.<reason>`` -- every span handed to it is counted
exactly once as sent or as dropped. The emitter runs under OpenTelemetry's
suppress-instrumentation key, so an instrumented client inside it (botocore for the X-Ray
API, urllib for the daemon's TCP proxy) records no spans of our own exports.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from ._diag import Counters, RateLimitedLog
from .config import TranslateOptions
from .emit import Emitter
from .emit.protocol import DEFAULT_MAX_DOCUMENT_BYTES
from .packing import MIN_DOCUMENT_BYTES, Packed, pack
from .translate.segment import Translated, reads_fields, translate_span

__all__ = ["Pipeline", "default_emitter", "is_sampled", "suppressed"]

_log = logging.getLogger("otel_xray.pipeline")

#: Counters every ``stats()`` reports, 0 until something happens.
_STATS = (
    "spans_received", "spans_unsampled", "spans_sent", "documents_sent", "bytes_sent",
    "documents_failed", "documents_split", "spans_trimmed", "annotations_moved",
    "spans_dropped", "spans_dropped.translate_error", "spans_dropped.send_failed",
    "spans_dropped.invalid_emitter_result", "spans_dropped.shutdown", "spans_dropped.internal",
)
_DROPPED_PREFIX = "spans_dropped."
_SAMPLED = TraceFlags.SAMPLED

# The key OpenTelemetry's instrumentations check before recording (the SDK's batch
# processor sets it around every export).
_SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")


class suppressed:
    """``with suppressed():`` -- instrumentations record nothing in this block."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        if otel_context.get_value(_SUPPRESS_KEY):  # already (an export inside an export)
            self._token: Optional[object] = None
        else:
            self._token = otel_context.attach(otel_context.set_value(_SUPPRESS_KEY, True))

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]


def is_sampled(context: Optional[SpanContext]) -> bool:
    """Whether the span of ``context`` is to be sent: its sampled flag. A span without a
    context is sent on, for translation to report it."""
    if type(context) is SpanContext:  # a tuple: indexing skips two property calls
        return bool(context[3] & _SAMPLED)
    return context is None or bool(context.trace_flags.sampled)


def default_emitter() -> Emitter:
    """The emitter ``OTEL_EXPORTER_XRAY_TRANSPORT`` names (default: a
    :class:`~otel_xray.emit.udp.UdpEmitter`) for ``AWS_XRAY_DAEMON_ADDRESS``."""
    from .emit.transport import transport_emitter

    return transport_emitter()


class Pipeline:
    """Translate spans, pack them into documents, send them through ``emitter``, count.

    ``emitter``: where documents go; its ``max_document_bytes`` bounds every document
    (``ValueError`` here when packing cannot honour it). ``options``: how spans translate.
    """

    def __init__(self, emitter: Emitter, options: TranslateOptions) -> None:
        self.emitter = emitter
        self.options = options
        self.max_document_bytes = _document_limit(emitter)
        self.counters = Counters()
        self.diag = RateLimitedLog(_log)

    def reset_counters(self) -> None:
        """Fresh counters and log state (a forked child starts its own)."""
        self.counters = Counters()
        self.diag = RateLimitedLog(_log)

    def stats(self, extra: Optional[Dict[str, int]] = None) -> Dict[str, int]:
        """Every counter (0 when nothing happened), ``spans_dropped`` as the total of its
        reasons, the ``extra`` values, and the emitter's counters as ``emitter.<key>``."""
        stats = dict.fromkeys(_STATS, 0)
        stats.update(self.counters.snapshot())
        if extra:
            stats.update(extra)
        stats["spans_dropped"] = sum(
            value for key, value in stats.items() if key.startswith(_DROPPED_PREFIX)
        )
        try:
            emitter_stats: Dict[str, Any] = dict(self.emitter.stats())
        except Exception:
            emitter_stats = {}
        for key, value in emitter_stats.items():
            if isinstance(value, int) and not isinstance(value, bool):
                stats["emitter." + key] = value
        return stats

    def close_emitter(self) -> None:
        try:
            self.emitter.close()
        except Exception:
            self.diag.error("emitter", "closing emitter %r failed", self.emitter, exc_info=True)

    def export(self, spans: Iterable[ReadableSpan]) -> Tuple[bool, int]:
        """Translate, pack and send the sampled ``spans`` in one emitter call; return
        whether every one was delivered, and how many were not sampled.

        The spans are translated and packed one trace at a time, so that only one trace's
        documents exist as objects at once: a batch of hundreds of spans leaves no
        intermediate objects behind for the garbage collector to promote and sweep.
        """
        traces, unsampled, unreadable = self.by_trace(spans, sampled_only=True)
        packed: List[Packed] = []
        wanted = translated = 0
        for spans_of_trace in traces.values():
            items = self.translate(spans_of_trace)
            wanted += len(spans_of_trace)
            translated += len(items)
            if items:
                packed.extend(self.pack(items))
        # What could not be read, translated or packed is counted already (translate_error).
        complete = not unreadable and translated == wanted == sum(p.spans for p in packed)
        return self.deliver(packed) and complete, unsampled

    # -- stages ------------------------------------------------------------------------

    def by_trace(
        self, spans: Iterable[ReadableSpan], *, sampled_only: bool = False
    ) -> Tuple[Dict[Hashable, List[ReadableSpan]], int, int]:
        """``spans`` grouped by trace id, each trace's in the order given; with
        ``sampled_only``, the spans not sampled are left out. Returns the groups, how many
        were left out, and how many could not be read (counted as ``translate_error``). A
        span without a context goes under ``None``, for translation to report it."""
        traces: Dict[Hashable, List[ReadableSpan]] = {}
        unsampled = unreadable = 0
        cls: Optional[type] = None
        fast = False
        for span in spans:
            try:
                if type(span) is not cls:  # the spans of a batch are usually of one class
                    cls = type(span)
                    fast = reads_fields(cls)
                context = span._context if fast else span.context
                if sampled_only and not is_sampled(context):
                    unsampled += 1
                    continue
                if type(context) is SpanContext:  # a tuple: indexing skips a property call
                    trace_id: Hashable = context[0]
                else:
                    trace_id = None if context is None else context.trace_id
            except Exception as exc:
                self._translate_error(getattr(span, "name", "?"), exc)
                unreadable += 1
                continue
            spans_of_trace = traces.get(trace_id)
            if spans_of_trace is None:
                traces[trace_id] = [span]
            else:
                spans_of_trace.append(span)
        return traces, unsampled, unreadable

    def translate(self, spans: Iterable[ReadableSpan]) -> List[Translated]:
        """``spans`` translated for packing; a span that cannot be is left out, counted
        (``translate_error``) and logged."""
        items: List[Translated] = []
        append = items.append
        options = self.options
        for span in spans:
            try:
                append(translate_span(span, options))
            except Exception as exc:
                self._translate_error(getattr(span, "name", "?"), exc)
        return items

    def pack(self, items: Sequence[Translated]) -> List[Packed]:
        """``items`` packed into documents (see :func:`~otel_xray.packing.pack`); a span
        packing leaves out (an empty body) is counted as ``translate_error``. A packing bug
        does not lose the spans: they are packed one by one instead."""
        failed: List[Any] = []
        try:
            packed = pack(
                items, max_document_bytes=self.max_document_bytes, counters=self.counters,
                failed=failed,
            )
        except Exception:
            # A packing bug must not lose the batch: each span fits a document on its own.
            self.diag.error(
                "pack", "packing %d spans failed; sending them one by one", len(items),
                exc_info=True,
            )
            return self._pack_one_by_one(items)
        for item, error in failed:
            self._translate_error(item.body.get("name", "?"), error)
        return packed

    def _pack_one_by_one(self, items: Sequence[Translated]) -> List[Packed]:
        packed: List[Packed] = []
        failed: List[Any] = []
        for item in items:
            try:
                packed.extend(
                    pack(
                        [item], max_document_bytes=self.max_document_bytes,
                        counters=self.counters, failed=failed,
                    )
                )
            except Exception as exc:
                self._translate_error(item.body.get("name", "?"), exc)
        for item, error in failed:
            self._translate_error(item.body.get("name", "?"), error)
        return packed

    def deliver(self, packed: Sequence[Packed]) -> bool:
        """Send the documents in one emitter call and count what each one carried; return
        whether every one was delivered."""
        if not packed:
            return True
        documents = [item.document for item in packed]
        try:
            with suppressed():
                result = self.emitter.send(documents)
        except Exception:  # emitters must not raise; a broken one must not stop export
            self.diag.error("emitter", "emitter %r raised while sending", self.emitter,
                            exc_info=True)
            result = [False] * len(documents)
        flags = _delivery_flags(result, len(documents))
        counters = self.counters
        if flags is None:
            self.diag.error(
                "emitter_result", "emitter %r returned %r from send(); expected one bool per "
                "document (or the number delivered): counting its %d documents as lost",
                self.emitter, result, len(documents),
            )
            counters.add("documents_failed", len(documents))
            counters.add("spans_dropped.invalid_emitter_result", sum(p.spans for p in packed))
            return False
        sent_docs = sent_spans = sent_bytes = lost_spans = 0
        for item, delivered in zip(packed, flags):
            if delivered:
                sent_docs += 1
                sent_spans += item.spans
                sent_bytes += len(item.document)
            else:
                lost_spans += item.spans
        counters.add("documents_sent", sent_docs)
        counters.add("spans_sent", sent_spans)
        counters.add("bytes_sent", sent_bytes)
        if lost_spans or sent_docs < len(documents):
            counters.add("documents_failed", len(documents) - sent_docs)
            counters.add("spans_dropped.send_failed", lost_spans)
            return False
        return True

    def _translate_error(self, name: object, exc: Exception) -> None:
        self.counters.add("spans_dropped.translate_error")
        self.diag.warning(
            "translate_error", "span %r could not be translated and is dropped: %r", name, exc
        )


def _delivery_flags(result: object, count: int) -> Optional[List[bool]]:
    """Per-document delivery from an emitter's ``send`` result, ``None`` when it makes no
    sense. One bool per document is the protocol; an int (the first N delivered) is
    accepted from emitters written for the earlier protocol."""
    if isinstance(result, bool):
        return None
    if isinstance(result, int):
        return [True] * result + [False] * (count - result) if 0 <= result <= count else None
    if (
        isinstance(result, (list, tuple))
        and len(result) == count
        and all(isinstance(flag, bool) for flag in result)
    ):
        return list(result)
    return None


def _document_limit(emitter: Emitter) -> int:
    limit = getattr(emitter, "max_document_bytes", DEFAULT_MAX_DOCUMENT_BYTES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < MIN_DOCUMENT_BYTES:
        raise ValueError(
            f"emitter.max_document_bytes must be an int of at least {MIN_DOCUMENT_BYTES}, "
            f"got {limit!r}"
        )
    return limit
