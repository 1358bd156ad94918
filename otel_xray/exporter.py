"""XRaySpanExporter: a SpanExporter for OpenTelemetry's BatchSpanProcessor.

Each batch goes through the :class:`~otel_xray.pipeline.Pipeline`: a span whose parent is
in the same batch nests under it, everything else goes standalone, all in one emitter
call. For whole-trace documents regardless of batch boundaries use
:class:`~otel_xray.processor.XRaySpanProcessor` instead.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .config import TranslateOptions
from .emit import Emitter
from .pipeline import Pipeline, default_emitter, suppressed

__all__ = ["XRaySpanExporter"]


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
        self._pipeline = Pipeline(
            emitter if emitter is not None else default_emitter(),
            options if options is not None else TranslateOptions.from_env(),
        )
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Translate, pack and send one batch. Never raises."""
        counters = self._pipeline.counters
        counters.add("spans_received", len(spans))
        if self._closed:
            counters.add("spans_dropped.shutdown", len(spans))
            return SpanExportResult.FAILURE
        try:
            with suppressed():
                ok = self._export(spans)
        except Exception:  # a bug here must not reach the BatchSpanProcessor's thread
            counters.add("spans_dropped.internal", len(spans))
            self._pipeline.diag.error(
                "internal", "exporting %d spans failed", len(spans), exc_info=True
            )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Stop exporting and close the emitter. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pipeline.close_emitter()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is held between batches: always ``True``."""
        return True

    def stats(self) -> Dict[str, int]:
        """Counters: ``spans_received``, ``spans_sent``, ``documents_sent``, ``bytes_sent``,
        ``spans_dropped`` (total) and ``spans_dropped.<reason>``, ``documents_split``,
        ``spans_trimmed``…, and the emitter's counters as ``emitter.<key>``. Every span
        handed to :meth:`export` is counted once as sent, unsampled or dropped."""
        return self._pipeline.stats()

    def _export(self, spans: Sequence[ReadableSpan]) -> bool:
        pipeline = self._pipeline
        delivered, unsampled = pipeline.export(spans)
        if unsampled:
            pipeline.counters.add("spans_unsampled", unsampled)
        return delivered
