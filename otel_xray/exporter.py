"""XRaySpanExporter: a SpanExporter for OpenTelemetry's BatchSpanProcessor.

Each batch is translated, packed by local tree (a span whose parent is in the same batch
nests under it; everything else goes standalone) and sent in one emitter call. For
whole-trace documents regardless of batch boundaries use
:class:`~otel_xray.processor.XRaySpanProcessor` instead.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._diag import Counters, RateLimitedLog
from .config import TranslateOptions
from .emit import Emitter
from .emit.protocol import DEFAULT_MAX_DOCUMENT_BYTES
from .packing import MIN_DOCUMENT_BYTES, Packed, pack
from .translate.segment import Translated, translate_span

_log = logging.getLogger("otel_xray.exporter")

#: Counters every ``stats()`` reports, 0 until something happens.
_COMMON_STATS = (
    "spans_received", "spans_unsampled", "spans_sent", "documents_sent", "bytes_sent",
    "documents_failed", "documents_split", "spans_trimmed", "annotations_moved",
    "spans_dropped", "spans_dropped.translate_error", "spans_dropped.send_failed",
    "spans_dropped.shutdown",
)
_DROPPED_PREFIX = "spans_dropped."


class XRaySpanExporter(SpanExporter):
    """Exports span batches to X-Ray through an emitter (UDP to the daemon by default).

    ``emitter``: where documents go; ``None`` makes a
    :class:`~otel_xray.emit.udp.UdpEmitter` from ``AWS_XRAY_DAEMON_ADDRESS`` (default
    ``127.0.0.1:2000``). ``options``: how spans translate; ``None`` reads the
    ``OTEL_EXPORTER_XRAY_*`` environment variables. With no arguments this is the
    ``otel_xray`` traces exporter of ``OTEL_TRACES_EXPORTER=otel_xray``.

    :meth:`export` never raises: it returns ``FAILURE`` when a span could not be
    translated or a document was not delivered, and counts why in :meth:`stats`.
    """

    def __init__(
        self, emitter: Optional[Emitter] = None, *, options: Optional[TranslateOptions] = None
    ) -> None:
        self._emitter: Emitter = emitter if emitter is not None else _default_emitter()
        self._options = options if options is not None else TranslateOptions.from_env()
        self._limit = document_limit(self._emitter)
        self._counters = Counters()
        self._diag = RateLimitedLog(_log)
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Translate, pack and send one batch. Never raises."""
        try:
            return self._export(spans)
        except Exception:  # a bug here must not reach the BatchSpanProcessor's thread
            self._counters.add("spans_dropped.internal", len(spans))
            self._diag.error("internal", "exporting %d spans failed", len(spans), exc_info=True)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Stop exporting and close the emitter. Idempotent."""
        if self._closed:
            return
        self._closed = True
        close_emitter(self._emitter, self._diag)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is held between batches: always ``True``."""
        return True

    def stats(self) -> Dict[str, int]:
        """Counters: ``spans_received``, ``spans_sent``, ``documents_sent``, ``bytes_sent``,
        ``spans_dropped`` (total) and ``spans_dropped.<reason>``, ``documents_split``,
        ``spans_trimmed``…, and the emitter's counters prefixed ``emitter.``."""
        return collect_stats(self._counters, self._emitter, {})

    def _export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        counters = self._counters
        counters.add("spans_received", len(spans))
        if self._closed:
            counters.add("spans_dropped.shutdown", len(spans))
            return SpanExportResult.FAILURE
        items: List[Translated] = []
        failed = 0
        for span in spans:
            context = span.context
            if context is not None and not context.trace_flags.sampled:
                counters.add("spans_unsampled")
                continue
            item = translate_item(span, self._options, counters, self._diag)
            if item is None:
                failed += 1
            else:
                items.append(item)
        packed, unencoded = pack_items(items, self._limit, counters, self._diag)
        failed += unencoded
        delivered = send_packed(self._emitter, packed, counters, self._diag)
        ok = failed == 0 and delivered == len(packed)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


# --- shared with the processor ------------------------------------------------------------


def _default_emitter() -> Emitter:
    from .emit.udp import UdpEmitter

    return UdpEmitter()


def document_limit(emitter: Emitter) -> int:
    """The emitter's ``max_document_bytes``; ``ValueError`` when packing cannot honour it."""
    limit = getattr(emitter, "max_document_bytes", DEFAULT_MAX_DOCUMENT_BYTES)
    if not isinstance(limit, int) or limit < MIN_DOCUMENT_BYTES:
        raise ValueError(
            f"emitter.max_document_bytes must be an int of at least {MIN_DOCUMENT_BYTES}, "
            f"got {limit!r}"
        )
    return limit


def translate_item(
    span: ReadableSpan, options: TranslateOptions, counters: Counters, diag: RateLimitedLog
) -> Optional[Translated]:
    """The span translated for packing, or ``None`` (counted and logged) when it cannot be."""
    try:
        item = translate_span(span, options)
        if not item.body:
            raise ValueError(f"span {item.span_id} has an empty document body")
        return item
    except Exception as exc:
        _translate_error(span, exc, counters, diag)
        return None


def pack_items(
    items: Sequence[Translated], limit: int, counters: Counters, diag: RateLimitedLog
) -> Tuple[List[Packed], int]:
    """Pack translated items into documents; also return how many could not be encoded
    (counted and logged as translate errors)."""
    failed: List[Tuple[Translated, Exception]] = []
    packed = pack(items, max_document_bytes=limit, counters=counters, failed=failed)
    for item, exc in failed:
        _translate_error(item.body.get("name", "?"), exc, counters, diag)
    return packed, len(failed)


def _translate_error(span: Any, exc: Exception, counters: Counters, diag: RateLimitedLog) -> None:
    counters.add("spans_dropped.translate_error")
    diag.warning(
        "translate_error", "span %r could not be translated and is dropped: %r",
        span if isinstance(span, str) else getattr(span, "name", "?"), exc,
    )


def send_packed(
    emitter: Emitter, packed: Sequence[Packed], counters: Counters, diag: RateLimitedLog
) -> int:
    """Send packed documents in one emitter call; count what was delivered."""
    if not packed:
        return 0
    documents = [item.document for item in packed]
    try:
        delivered = emitter.send(documents)
    except Exception:  # emitters must not raise; a broken one must not stop export
        diag.error("emitter", "emitter %r raised while sending", emitter, exc_info=True)
        delivered = 0
    spans = sum(item.spans for item in packed)
    size = sum(len(document) for document in documents)
    if delivered >= len(documents):
        sent_spans, sent_bytes = spans, size
    else:
        # Which ones failed is the emitter's business: estimate proportionally.
        sent_spans = spans * delivered // len(documents)
        sent_bytes = size * delivered // len(documents)
        counters.add("documents_failed", len(documents) - delivered)
        counters.add("spans_dropped.send_failed", spans - sent_spans)
    counters.add("documents_sent", delivered)
    counters.add("spans_sent", sent_spans)
    counters.add("bytes_sent", sent_bytes)
    return delivered


def close_emitter(emitter: Emitter, diag: RateLimitedLog) -> None:
    try:
        emitter.close()
    except Exception:
        diag.error("emitter", "closing emitter %r failed", emitter, exc_info=True)


def collect_stats(
    counters: Counters, emitter: Emitter, extra: Dict[str, int], keys: Sequence[str] = ()
) -> Dict[str, int]:
    """Counters with every known key present, ``spans_dropped`` as the total of its
    reasons, ``extra`` gauges, and the emitter's counters prefixed ``emitter.``."""
    stats = dict.fromkeys(_COMMON_STATS, 0)
    stats.update(dict.fromkeys(keys, 0))
    stats.update(counters.snapshot())
    stats.update(extra)
    stats["spans_dropped"] = sum(
        value for key, value in stats.items() if key.startswith(_DROPPED_PREFIX)
    )
    try:
        emitter_stats: Dict[str, Any] = dict(emitter.stats())
    except Exception:
        emitter_stats = {}
    for key, value in emitter_stats.items():
        if isinstance(value, int):
            stats["emitter." + key] = value
    return stats


__all__ = ["XRaySpanExporter"]
