"""How spans reach the code under test: the processor set-ups, and feeding finished spans.

Every scenario that compares processors takes its set-ups from :func:`make_setup`, so the
same name means the same configuration everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from benchmarks import ours
from benchmarks.context import Context
from benchmarks.peers import ADOT_BATCH, ADOT_MISSING, CountingExporter, NoopExporter
from benchmarks.workload import batches, make_provider

#: Spans handed to a processor between two flushes: a burst larger than its queue (2,048)
#: would be dropped by design, faster than any worker can take it.
CHUNK = 1000


@dataclass
class Setup:
    """Span processors under one name, and how many spans they lost."""

    label: str
    processors: List[SpanProcessor]
    lost: Callable[[int], int]  # spans lost (dropped, never exported) of the spans made

    def provider(self) -> TracerProvider:
        return make_provider(*self.processors)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()


def _bsp(label: str, exporter: SpanExporter, *, deferred: bool = False,
         batch: Optional[int] = None) -> Setup:
    counting = CountingExporter(exporter)
    if deferred:
        processor = BatchSpanProcessor(counting, max_queue_size=ours.NEVER,
                                       max_export_batch_size=ours.NEVER,
                                       schedule_delay_millis=ours.NEVER)
    elif batch is not None:
        processor = BatchSpanProcessor(counting, max_export_batch_size=batch)
    else:
        processor = BatchSpanProcessor(counting)
    return Setup(label, [processor], lambda made: made - counting.spans)


def _ours(label: str, ctx: Context, *, deferred: bool = False) -> Setup:
    processor = ours.processor(ctx.sink.address, deferred=deferred)
    return Setup(label, [processor], lambda made: ours.dropped(processor))


#: The set-ups by key, with their labels.
LABELS = {
    "none": "no processor",
    "bsp_noop": "BatchSpanProcessor + no-op exporter",
    "bsp_noop_deferred": "BatchSpanProcessor + no-op exporter, export deferred to a flush",
    "xray_processor": "XRaySpanProcessor + UdpEmitter",
    "xray_processor_deferred": "XRaySpanProcessor, export deferred to a flush",
    "bsp_xray_exporter": "BatchSpanProcessor + XRaySpanExporter",
    "bsp_adot": f"BatchSpanProcessor(batch {ADOT_BATCH}) + ADOT OTLPUdpSpanExporter",
}


def make_setup(key: str, ctx: Context) -> Optional[Setup]:
    """The set-up called ``key`` (see :data:`LABELS`); ``None`` if its peer is missing."""
    label = LABELS[key]
    if key == "none":
        return Setup(label, [], lambda made: 0)
    if key == "bsp_noop":
        return _bsp(label, NoopExporter())
    if key == "bsp_noop_deferred":
        return _bsp(label, NoopExporter(), deferred=True)
    if key == "xray_processor":
        return _ours(label, ctx)
    if key == "xray_processor_deferred":
        return _ours(label, ctx, deferred=True)
    if key == "bsp_xray_exporter":
        return _bsp(label, ours.exporter(ctx.sink.address))
    if key == "bsp_adot":
        adot = ctx.peers.adot_exporter(ctx.sink.address)
        return None if adot is None else _bsp(label, adot, batch=ADOT_BATCH)
    raise KeyError(key)


def make_setups(keys: Sequence[str], ctx: Context, missing: List[str]) -> Dict[str, Setup]:
    """The set-ups of ``keys`` that can be made; the peers of the others go to ``missing``."""
    made: Dict[str, Setup] = {}
    for key in keys:
        setup = make_setup(key, ctx)
        if setup is None:
            missing.append(ADOT_MISSING)  # the only peer a set-up can lack
        else:
            made[key] = setup
    return made


def lost_note(setup: Setup, made: int) -> List[str]:
    """A note when ``setup`` lost some of the ``made`` spans (e.g. to a full queue)."""
    lost = setup.lost(made)
    if lost <= 0:
        return []
    return [f"{lost:,} of {made:,} spans dropped (queue full: the exporting thread could not "
            "keep up)"]


def export_in_batches(exporter: SpanExporter, spans: Sequence[ReadableSpan], size: int) -> None:
    """Hand ``spans`` to ``exporter`` in batches of ``size``, as BatchSpanProcessor would."""
    for batch in batches(spans, size):
        exporter.export(batch)


def hand_over(processor: SpanProcessor, spans: Sequence[ReadableSpan],
              between: Callable[[], object] = lambda: None) -> None:
    """``on_end`` every span, :data:`CHUNK` at a time, each chunk followed by a flush.

    ``between`` is called after each chunk is handed over, before its flush.
    """
    for start in range(0, len(spans), CHUNK):
        for span in spans[start : start + CHUNK]:
            processor.on_end(span)
        between()
        processor.force_flush(30_000)
