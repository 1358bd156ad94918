"""Exact accounting under concurrent load: every span the application ends is sent,
unsampled, or dropped for a named reason, and "sent" means the daemon's socket got it.

8 application threads make 10-span traces through a real TracerProvider; the pipeline
sends over real UDP to a test daemon on 127.0.0.1 that is up, down (nothing listening: the
kernel answers port unreachable), or restarted midway on the same port. At each quiescent
point (after ``force_flush``)::

    spans_received == spans_sent + spans_unsampled + spans_dropped + spans_queued + spans_buffered

and ``spans_sent`` equals the span ids counted in the documents the daemon received.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

import otel_xray
from otel_xray import UdpEmitter, XRaySpanExporter, XRaySpanProcessor, configure
from otel_xray.emit.protocol import split_datagram
from tests.support.faults import (
    HANG,
    Load,
    RecordOnlyOddTraces,
    assert_reconciled,
    dropped,
    run_load,
    unused_udp_address,
    wait_received,
)
from tests.support.pipeline import OPTIONS
from tests.support.udp import UdpListener

FLUSH_MILLIS = int(HANG * 1000)


def _provider(processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider(sampler=RecordOnlyOddTraces())
    provider.add_span_processor(processor)
    return provider


def _delivered(listener: UdpListener, sent: int) -> List[str]:
    """The span ids the daemon received once ``sent`` of them should be there; checks
    that each arrived once."""
    ids = wait_received(listener, sent)
    assert len(ids) == len(set(ids)), "a span arrived twice"
    assert listener.dropped == 0, "the test daemon's receive buffer overflowed"
    return ids


def _json_bytes(listener: UdpListener) -> int:
    return sum(len(split_datagram(datagram)[1]) for datagram in listener.datagrams)


class _Gate:
    """Wraps an emitter (as a user could) and holds every ``send`` until ``open()``."""

    def __init__(self, emitter: UdpEmitter) -> None:
        self.emitter = emitter
        self.max_document_bytes = emitter.max_document_bytes
        self.opened = threading.Event()

    def open(self) -> None:
        self.opened.set()

    def send(self, documents: Sequence[bytes]) -> Any:
        self.opened.wait(HANG)
        return self.emitter.send(documents)

    def stats(self) -> Dict[str, int]:
        return self.emitter.stats()

    def close(self) -> None:
        self.opened.set()
        self.emitter.close()


class _RecordingExporter(XRaySpanExporter):
    """Our exporter, remembering what each export returned to the BatchSpanProcessor."""

    def __init__(self, emitter: UdpEmitter) -> None:
        super().__init__(emitter, options=OPTIONS)
        self.results: List[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result)
        return result


class _Restart:
    """Load with the daemon up, then stopped (its socket closed once everything sent so far
    was read, so no datagram is lost in the close), then started again on the same port;
    a flush after each phase."""

    def __init__(
        self, provider: TracerProvider, flush: Callable[[int], bool],
        stats: Callable[[], Dict[str, int]], listener: UdpListener,
    ) -> None:
        self.up = run_load(provider, flush, traces=10)
        self.delivered = len(_delivered(listener, self.up.sampled))
        listener.close()
        self.down = run_load(provider, flush, traces=10)
        self.while_down = stats()
        restarted = UdpListener(port=listener.port)
        try:
            self.again = run_load(provider, flush, traces=10)
            self.delivered += len(_delivered(restarted, self.again.sampled))
        finally:
            restarted.close()

    @property
    def created(self) -> int:
        return self.up.created + self.down.created + self.again.created

    @property
    def sampled(self) -> int:
        return self.up.sampled + self.down.sampled + self.again.sampled


# --- XRaySpanProcessor ------------------------------------------------------------------------


def test_processor_with_the_daemon_up_sends_every_sampled_span_exactly_once(
    udp_listener: UdpListener,
) -> None:
    processor = XRaySpanProcessor(UdpEmitter(udp_listener.address), options=OPTIONS)
    load = run_load(_provider(processor), processor.force_flush)

    stats = processor.stats()
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created
    assert stats["spans_unsampled"] == load.unsampled > 0
    assert dropped(stats) == {}
    assert stats["spans_queued"] == stats["spans_buffered"] == 0
    assert stats["spans_sent"] == load.sampled
    assert len(_delivered(udp_listener, load.sampled)) == stats["spans_sent"]
    assert stats["documents_sent"] == len(udp_listener.datagrams)
    assert stats["bytes_sent"] == _json_bytes(udp_listener)
    processor.shutdown()


def test_processor_with_the_daemon_down_counts_every_span_as_send_failed_none_as_sent() -> None:
    address, _ = unused_udp_address()
    processor = XRaySpanProcessor(UdpEmitter(address), options=OPTIONS)
    load = run_load(_provider(processor), processor.force_flush)

    stats = processor.stats()
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created
    assert stats["spans_sent"] == stats["documents_sent"] == stats["bytes_sent"] == 0
    assert dropped(stats) == {"send_failed": load.sampled}
    assert stats["documents_failed"] > 0
    assert stats["emitter.send_errors.ECONNREFUSED"] > 0
    processor.shutdown()


def test_processor_with_the_daemon_restarted_midway_counts_each_phase_exactly(
    udp_listener: UdpListener,
) -> None:
    processor = XRaySpanProcessor(UdpEmitter(udp_listener.address), options=OPTIONS)

    restart = _Restart(_provider(processor), processor.force_flush, processor.stats, udp_listener)

    stats = processor.stats()
    assert_reconciled(restart.while_down)
    assert_reconciled(stats)
    assert dropped(restart.while_down) == {"send_failed": restart.down.sampled}
    assert dropped(stats) == {"send_failed": restart.down.sampled}
    assert stats["spans_sent"] == restart.delivered == restart.up.sampled + restart.again.sampled
    assert stats["spans_received"] == restart.created
    processor.shutdown()


def test_processor_with_a_small_queue_counts_what_it_drops_as_queue_full(
    udp_listener: UdpListener,
) -> None:
    gate = _Gate(UdpEmitter(udp_listener.address))
    processor = XRaySpanProcessor(gate, options=OPTIONS, max_queue_size=64)
    load = Load(_provider(processor))

    load.run()  # the worker is held in its first send: the queue overflows
    gate.open()
    assert processor.force_flush(FLUSH_MILLIS)

    stats = processor.stats()
    assert not load.errors
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created
    assert set(dropped(stats)) == {"queue_full"}
    assert stats["spans_sent"] + stats["spans_dropped.queue_full"] == load.sampled
    assert len(_delivered(udp_listener, stats["spans_sent"])) == stats["spans_sent"]
    processor.shutdown()


def test_processor_counts_stay_reconciled_after_shutdown(udp_listener: UdpListener) -> None:
    processor = XRaySpanProcessor(UdpEmitter(udp_listener.address), options=OPTIONS)
    provider = _provider(processor)
    Load(provider, traces=5).run()

    processor.shutdown()
    before = processor.stats()
    late = Load(provider, threads=2, traces=4)
    late.run()  # after shutdown: counted, not sent, never raised

    stats = processor.stats()
    assert not late.errors
    assert_reconciled(before)
    assert_reconciled(stats)
    assert stats["spans_received"] == before["spans_received"] + late.created
    assert stats["spans_sent"] == before["spans_sent"]
    # An unsampled span ended after shutdown may count as either.
    assert stats["spans_dropped.shutdown"] - before["spans_dropped.shutdown"] >= late.sampled
    assert len(_delivered(udp_listener, stats["spans_sent"])) == stats["spans_sent"]


# --- XRaySpanExporter under BatchSpanProcessor -------------------------------------------------


def _batch(exporter: XRaySpanExporter) -> BatchSpanProcessor:
    # A queue that cannot overflow: BatchSpanProcessor's own drops are not ours to count.
    return BatchSpanProcessor(
        exporter, max_queue_size=100_000, max_export_batch_size=256, schedule_delay_millis=50
    )


def test_exporter_with_the_daemon_up_sends_every_sampled_span_exactly_once(
    udp_listener: UdpListener,
) -> None:
    exporter = _RecordingExporter(UdpEmitter(udp_listener.address))
    batch = _batch(exporter)
    load = run_load(_provider(batch), batch.force_flush)

    stats = exporter.stats()
    assert_reconciled(stats, processor=False)
    assert stats["spans_received"] == load.sampled  # the SDK exports sampled spans only
    assert dropped(stats) == {}
    assert stats["spans_sent"] == load.sampled
    assert len(_delivered(udp_listener, load.sampled)) == load.sampled
    assert stats["documents_sent"] == len(udp_listener.datagrams)
    assert set(exporter.results) == {SpanExportResult.SUCCESS}
    batch.shutdown()


def test_exporter_with_the_daemon_down_fails_every_export_and_sends_nothing() -> None:
    address, _ = unused_udp_address()
    exporter = _RecordingExporter(UdpEmitter(address))
    batch = _batch(exporter)
    load = run_load(_provider(batch), batch.force_flush)

    stats = exporter.stats()
    assert_reconciled(stats, processor=False)
    assert stats["spans_received"] == load.sampled
    assert stats["spans_sent"] == stats["documents_sent"] == 0
    assert dropped(stats) == {"send_failed": load.sampled}
    assert stats["emitter.send_errors.ECONNREFUSED"] > 0
    assert set(exporter.results) == {SpanExportResult.FAILURE}
    batch.shutdown()


def test_exporter_with_the_daemon_restarted_midway_counts_each_phase_exactly(
    udp_listener: UdpListener,
) -> None:
    exporter = _RecordingExporter(UdpEmitter(udp_listener.address))
    batch = _batch(exporter)

    restart = _Restart(_provider(batch), batch.force_flush, exporter.stats, udp_listener)

    stats = exporter.stats()
    assert_reconciled(stats, processor=False)
    assert stats["spans_received"] == restart.sampled  # the SDK exports sampled spans only
    assert dropped(restart.while_down) == dropped(stats) == {"send_failed": restart.down.sampled}
    assert stats["spans_sent"] == restart.delivered == restart.up.sampled + restart.again.sampled
    assert SpanExportResult.FAILURE in exporter.results
    assert exporter.results[-1] is SpanExportResult.SUCCESS
    batch.shutdown()


# --- otel_xray.stats() -------------------------------------------------------------------------


def test_stats_is_empty_before_configure(fresh_otel: None) -> None:
    assert otel_xray.stats() == {}


def test_stats_reports_the_configured_pipeline_reconciled(
    fresh_otel: None, udp_listener: UdpListener
) -> None:
    provider = configure(
        "accounting", emitter=UdpEmitter(udp_listener.address), sampler=RecordOnlyOddTraces()
    )
    load = Load(provider, threads=4, traces=5)

    load.run()
    assert provider.force_flush(FLUSH_MILLIS)

    stats: Dict[str, int] = otel_xray.stats()
    assert not load.errors
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created
    assert stats["spans_sent"] == len(_delivered(udp_listener, load.sampled)) == load.sampled
