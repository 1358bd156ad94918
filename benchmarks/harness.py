"""The benchmarks: every measurement, the peers, and the table.

All figures come from one process and one run, on the same spans (see
:mod:`benchmarks.workload`). Every sender points at a :class:`~benchmarks.sink.UdpSink` on
127.0.0.1 that drains datagrams in another process. Each timed pass is repeated and the
median is reported; CPU time is taken per thread (``time.thread_time`` for the calling
thread, the worker thread's own CPU clock for the processor's worker) or per process
(``time.process_time``) where background threads are part of the cost.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import platform
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import orjson
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks.sink import UdpSink
from benchmarks.workload import (
    OPTIONS,
    SPANS_PER_TRACE,
    batches,
    finished_spans,
    make_provider,
    record_trace,
    record_xray_sdk_trace,
)

_HEADER = b'{"format":"json","version":1}\n'
_MAX_UDP_PAYLOAD = 65507

#: Batch size ADOT uses for OTLPUdpSpanExporter on Lambda (LAMBDA_SPAN_EXPORT_BATCH_SIZE).
ADOT_BATCH = 10
#: A generous case for ADOT: the largest round batch whose one datagram still fits UDP.
ADOT_BIG_BATCH = 100
#: BatchSpanProcessor's default max_export_batch_size.
BSP_BATCH = 512


# -- configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Sizes of one run."""

    name: str
    traces: int  # traces per timed pass (x10 spans)
    reps: int  # timed passes per measurement (median reported)
    check_traces: int  # traces whose datagrams are all parsed and checked
    memory_spans: int  # spans through the processor for the memory measurement
    memory_checkpoint: int  # spans at which the first peak is read


FULL = Config("full", traces=2000, reps=5, check_traces=500,
              memory_spans=1_000_000, memory_checkpoint=100_000)
QUICK = Config("quick", traces=500, reps=3, check_traces=200,
               memory_spans=200_000, memory_checkpoint=20_000)
TINY = Config("tiny", traces=30, reps=1, check_traces=30,
              memory_spans=1_000, memory_checkpoint=200)


# -- results ---------------------------------------------------------------------------


@dataclass
class Measure:
    """One measured variant: CPU and wall seconds for ``spans`` spans (medians)."""

    name: str
    spans: int
    cpu: float
    wall: float
    notes: List[str] = field(default_factory=list)

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.spans * 1e6

    @property
    def wall_us(self) -> float:
        return self.wall / self.spans * 1e6

    @property
    def rate(self) -> float:
        """Spans per CPU second."""
        return self.spans / self.cpu if self.cpu > 0 else float("inf")


@dataclass
class Target:
    """One line of the summary: ours against a peer, with the target when there is one."""

    measure: str
    ours: str
    peer: str
    ratio: Optional[float]
    ratio_text: str
    target: str
    met: Optional[bool]


@dataclass
class Results:
    config: Config
    measures: Dict[str, Measure] = field(default_factory=dict)
    datagrams: List[Tuple[str, float, float, int, str]] = field(default_factory=list)
    memory: List[Tuple[str, str]] = field(default_factory=list)
    targets: List[Target] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    load: List[float] = field(default_factory=list)  # 1-minute load average, start and end

    def add(self, measure: Measure) -> Measure:
        self.measures[measure.name] = measure
        return measure


# -- the code under test and the peers, imported when present ---------------------------


def _import(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@dataclass
class Parts:
    processor: Any = None  # otel_xray.processor.XRaySpanProcessor
    exporter: Any = None  # otel_xray.exporter.XRaySpanExporter
    emitter: Any = None  # otel_xray.emit.udp.UdpEmitter
    translate_span: Any = None  # otel_xray.translate.translate_span
    adot: Any = None  # amazon.opentelemetry.distro.otlp_udp_exporter.OTLPUdpSpanExporter
    encode_spans: Any = None  # opentelemetry.exporter.otlp.proto.common.trace_encoder
    xray_recorder: Any = None  # aws_xray_sdk.core.recorder.AWSXRayRecorder

    @classmethod
    def load(cls) -> Parts:
        return cls(
            processor=_import("otel_xray.processor", "XRaySpanProcessor"),
            exporter=_import("otel_xray.exporter", "XRaySpanExporter"),
            emitter=_import("otel_xray.emit.udp", "UdpEmitter"),
            translate_span=_import("otel_xray.translate", "translate_span"),
            adot=_import("amazon.opentelemetry.distro.otlp_udp_exporter", "OTLPUdpSpanExporter"),
            encode_spans=_import(
                "opentelemetry.exporter.otlp.proto.common.trace_encoder", "encode_spans"
            ),
            xray_recorder=_import("aws_xray_sdk.core.recorder", "AWSXRayRecorder"),
        )

    def ours_missing(self) -> List[str]:
        names = {
            "otel_xray.processor.XRaySpanProcessor": self.processor,
            "otel_xray.exporter.XRaySpanExporter": self.exporter,
            "otel_xray.emit.udp.UdpEmitter": self.emitter,
        }
        return [name for name, value in names.items() if value is None]


# -- timing helpers --------------------------------------------------------------------


def _thread_cpu_clock(thread: threading.Thread) -> Callable[[], float]:
    """A function returning the CPU seconds ``thread`` has used so far (Linux/macOS)."""
    ident = thread.ident
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return lambda: 0.0
    clock = time.pthread_getcpuclockid(ident)
    return lambda: time.clock_gettime(clock)


@contextlib.contextmanager
def _clock(cpu: Callable[[], float] = time.thread_time) -> Iterator[List[float]]:
    """Yields a list that holds [cpu seconds, wall seconds] of the block when it ends."""
    out: List[float] = []
    c0, w0 = cpu(), time.perf_counter()
    yield out
    out.extend((cpu() - c0, time.perf_counter() - w0))


class _NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _CountingExporter(SpanExporter):
    """Counts spans handed to ``inner`` (to detect drops upstream)."""

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


def _stat(stats: Dict[str, Any], *names: str) -> int:
    """The first counter of ``names`` present in a ``stats()`` dict (0 if none)."""
    for name in names:
        if name in stats:
            return int(stats[name])
    return 0


def _dropped(stats: Dict[str, Any]) -> int:
    return sum(int(v) for k, v in stats.items() if k.startswith("spans_dropped") and "." not in k)


# -- 1. export throughput --------------------------------------------------------------


Pass = Callable[[], Tuple[float, float]]  # one timed pass: (CPU seconds, wall seconds)


def _interleaved(reps: int, passes: Dict[str, Pass]) -> Dict[str, Tuple[float, float]]:
    """Median (CPU, wall) of each pass, the passes interleaved rep by rep.

    Other processes share the machine (and maybe the physical core): interleaving, with the
    order reversed every other rep, spreads any drift over every variant alike.
    """
    samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in passes}
    names = list(passes)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            gc.collect()
            samples[name].append(passes[name]())
    return {
        name: (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
        for name, runs in samples.items()
    }


def bench_export(cfg: Config, parts: Parts, sink: UdpSink, spans: Sequence[ReadableSpan],
                 prebuilt: Sequence[Dict[str, Any]], prebuilt_spans: int,
                 res: Results) -> None:
    """Spans per CPU second through translate + pack + encode + send, same spans for all."""
    n = len(spans)
    passes: Dict[str, Pass] = {}
    notes: Dict[str, Callable[[], List[str]]] = {}
    spans_of: Dict[str, int] = {}
    cleanup: List[Callable[[], None]] = []

    def exporter_pass(exporter: Any, size: int) -> Pass:
        cut = batches(spans, size)

        def run() -> Tuple[float, float]:
            sink.reset()
            with _clock() as t:
                for batch in cut:
                    exporter.export(batch)
            sink.settle()
            return t[0], t[1]

        return run

    if parts.exporter is not None and parts.emitter is not None:
        for size in (BSP_BATCH, ADOT_BATCH):
            exporter = parts.exporter(parts.emitter(sink.address), options=OPTIONS)
            passes[f"export: XRaySpanExporter, batches of {size}"] = exporter_pass(exporter, size)
            cleanup.append(exporter.shutdown)
    if parts.processor is not None and parts.emitter is not None:
        name = "export: XRaySpanProcessor worker thread"
        passes[name], notes[name], stop = _processor_worker(cfg, parts, sink, spans)
        cleanup.append(stop)
    if parts.adot is not None:
        for size in (ADOT_BATCH, ADOT_BIG_BATCH):
            adot = parts.adot(endpoint=sink.address)
            passes[f"export: ADOT OTLPUdpSpanExporter, batches of {size}"] = exporter_pass(
                adot, size)
            cleanup.append(adot.shutdown)
    else:
        res.missing.append("aws-opentelemetry-distro (ADOT OTLPUdpSpanExporter)")
    if parts.translate_span is not None:
        translate = parts.translate_span

        def translate_pass() -> Tuple[float, float]:
            with _clock() as t:
                for span in spans:
                    translate(span, OPTIONS)
            return t[0], t[1]

        passes["breakdown: translate_span only (no pack/encode/send)"] = translate_pass
    if prebuilt:
        name = "floor: orjson.dumps + send of pre-built packed documents"
        passes[name], spans_of[name], stop = _floor_pass(sink, prebuilt, prebuilt_spans, n)
        cleanup.append(stop)
    for name, (cpu, wall) in _interleaved(cfg.reps, passes).items():
        extra = notes[name]() if name in notes else []
        res.add(Measure(name, spans_of.get(name, n), cpu, wall, extra))
    for stop in cleanup:
        stop()


def _processor_worker(cfg: Config, parts: Parts, sink: UdpSink, spans: Sequence[ReadableSpan]
                      ) -> Tuple[Pass, Callable[[], List[str]], Callable[[], None]]:
    """XRaySpanProcessor fed the finished spans; CPU of its own threads only.

    The spans are handed over with ``on_end`` in the order they ended, 1,000 at a time,
    each chunk followed by ``force_flush`` so that nothing is dropped for overflow. The CPU
    clocks of the threads the processor started measure the export work (translate + pack
    + encode + send) and nothing else; wall time covers the whole hand-over.
    Returns the pass, a function giving notes, and a function that shuts it down.
    """
    threads = _NewThreadsCpu()
    processor = parts.processor(parts.emitter(sink.address), options=OPTIONS)
    chunk = 1000
    n = len(spans)

    def run() -> Tuple[float, float]:
        sink.reset()
        c0, w0 = threads.sample(), time.perf_counter()
        for start in range(0, n, chunk):
            for span in spans[start : start + chunk]:
                processor.on_end(span)
            threads.sample()  # notice a worker started lazily
            processor.force_flush(30_000)
        wall = time.perf_counter() - w0
        used = threads.used_since(c0)
        sink.settle()
        return used, wall

    def notes() -> List[str]:
        out = [f"{threads.count} processor thread(s)"]
        if threads.count == 0:
            out.append("no worker thread found: CPU is 0")
        dropped = _dropped(processor.stats())
        if dropped:
            out.append(f"{dropped} spans dropped")
        return out

    return run, notes, processor.shutdown


class _NewThreadsCpu:
    """CPU seconds of the threads started after this object was made."""

    def __init__(self) -> None:
        self._before = {t.ident for t in threading.enumerate()}
        self._clocks: Dict[int, Callable[[], float]] = {}

    @property
    def count(self) -> int:
        return len(self._clocks)

    def sample(self) -> Dict[int, float]:
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is not None and ident not in self._before and ident not in self._clocks:
                self._clocks[ident] = _thread_cpu_clock(thread)
        out: Dict[int, float] = {}
        for ident, clock in self._clocks.items():
            with contextlib.suppress(OSError):  # the thread ended
                out[ident] = clock()
        return out

    def used_since(self, start: Dict[int, float]) -> float:
        now = self.sample()
        return sum(value - start.get(ident, 0.0) for ident, value in now.items())


def _floor_pass(sink: UdpSink, documents: Sequence[Dict[str, Any]], span_count: int,
                target_spans: int) -> Tuple[Pass, int, Callable[[], None]]:
    """The floor: orjson-encode pre-built documents and send each in a datagram.

    The documents (what our processor sent, parsed back into dicts) are repeated to about
    ``target_spans`` spans. Returns the pass, its span count and a cleanup function.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", sink.port))
    dumps = orjson.dumps
    repeat = max(1, round(target_spans / max(span_count, 1)))

    def run() -> Tuple[float, float]:
        sink.reset()
        with _clock() as t:
            for _ in range(repeat):
                for doc in documents:
                    sock.send(_HEADER + dumps(doc))
        sink.settle()
        return t[0], t[1]

    return run, span_count * repeat, sock.close


# -- 2. application-thread cost --------------------------------------------------------


APP_OURS = "app thread: XRaySpanProcessor"
APP_BSP_NOOP = "app thread: BatchSpanProcessor + no-op exporter"
APP_OURS_DEFERRED = "app thread: XRaySpanProcessor, export deferred to after the pass"
APP_BSP_DEFERRED = "app thread: BatchSpanProcessor + no-op exporter, deferred likewise"


def bench_app_thread(cfg: Config, parts: Parts, sink: UdpSink, res: Results) -> None:
    """CPU of the application thread per span created and ended, per processor setup.

    One thread creates spans as fast as it can. Besides the target pair (our processor vs
    BatchSpanProcessor + a no-op exporter) it times our processor with its export
    deferred until after the pass (what the application thread pays for ``on_end`` and
    for handing spans over, without a busy worker competing for the GIL and the caches)
    and BatchSpanProcessor with real exporters (the same competition, for comparison).
    A processor that keeps finished spans moves their deallocation to its own thread.
    """
    big = 10**7
    # The processors, and a function of the spans created that returns the spans dropped.
    Setup = Tuple[List[SpanProcessor], Callable[[int], int]]

    def bsp(exporter: SpanExporter, **kwargs: Any) -> Setup:
        counting = _CountingExporter(exporter)
        return [BatchSpanProcessor(counting, **kwargs)], lambda made: made - counting.spans

    def ours(**kwargs: Any) -> Setup:
        processor = parts.processor(parts.emitter(sink.address), options=OPTIONS, **kwargs)
        return [processor], lambda made: _dropped(processor.stats())

    setups: Dict[str, Callable[[], Setup]] = {
        "app thread: no processor": lambda: ([], lambda made: 0),
        APP_BSP_NOOP: lambda: bsp(_NoopExporter()),
        APP_BSP_DEFERRED: lambda: bsp(_NoopExporter(), max_queue_size=big,
                                      max_export_batch_size=big, schedule_delay_millis=big),
    }
    if parts.processor is not None and parts.emitter is not None:
        setups[APP_OURS] = ours
        setups[APP_OURS_DEFERRED] = (
            lambda: ours(max_queue_size=big, max_export_batch_size=big,
                         schedule_delay_millis=big))
    if parts.exporter is not None and parts.emitter is not None:
        setups["app thread: BatchSpanProcessor + XRaySpanExporter"] = lambda: bsp(
            parts.exporter(parts.emitter(sink.address), options=OPTIONS))
    if parts.adot is not None:
        setups[f"app thread: BatchSpanProcessor(batch {ADOT_BATCH}) + ADOT "
               "OTLPUdpSpanExporter"] = lambda: bsp(
            parts.adot(endpoint=sink.address), max_export_batch_size=ADOT_BATCH)
    built: Dict[str, Tuple[TracerProvider, Callable[[int], int]]] = {}
    for name, make in setups.items():
        try:
            procs, dropped = make()
        except TypeError:  # a limit our processor does not take: skip that variant
            continue
        built[name] = (make_provider(*procs), dropped)
    spans = cfg.traces * SPANS_PER_TRACE

    def app_pass(provider: TracerProvider) -> Pass:
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            with _clock() as t:
                for i in range(cfg.traces):
                    record_trace(tracer, i)
            provider.force_flush()  # this setup's background work ends before the next
            return t[0], t[1]

        return run

    passes = {name: app_pass(provider) for name, (provider, _) in built.items()}
    cleanup = _on_end_passes(cfg, parts, sink, passes)
    timed = _interleaved(cfg.reps, passes)
    for name, (cpu, wall) in timed.items():
        notes = []
        if name in built:
            built[name][0].force_flush()
            lost = built[name][1](spans * cfg.reps)
            if lost > 0:
                notes.append(f"{lost:,} of {spans * cfg.reps:,} spans dropped (queue full: "
                             "the exporting thread could not keep up)")
            built[name][0].shutdown()
        res.add(Measure(name, spans, cpu, wall, notes))
    for stop in cleanup:
        stop()


PACED = "app thread, paced (1 ms sleep between traces): "
#: Sleep between traces in the paced scenario: a service waiting on I/O between requests.
PACE_SECONDS = 0.001


def bench_app_paced(cfg: Config, parts: Parts, sink: UdpSink, res: Results) -> None:
    """CPU of create + end per span when the application waits on I/O between traces.

    Most services spend their time waiting (database, HTTP): between two traces the thread
    sleeps 1 ms, releasing the GIL, and the exporting thread works then. Only the creation
    and ending of the spans is timed.
    """
    setups: Dict[str, Callable[[], List[SpanProcessor]]] = {
        "no processor": list,
        "BatchSpanProcessor + no-op exporter": lambda: [BatchSpanProcessor(_NoopExporter())],
    }
    if parts.processor is not None and parts.emitter is not None:
        setups["XRaySpanProcessor"] = lambda: [
            parts.processor(parts.emitter(sink.address), options=OPTIONS)]
    if parts.exporter is not None and parts.emitter is not None:
        setups["BatchSpanProcessor + XRaySpanExporter"] = lambda: [BatchSpanProcessor(
            parts.exporter(parts.emitter(sink.address), options=OPTIONS))]
    traces = max(cfg.traces // 4, 5)
    providers = {PACED + name: make_provider(*make()) for name, make in setups.items()}

    def paced_pass(provider: TracerProvider) -> Pass:
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            cpu = wall = 0.0
            for i in range(traces):
                time.sleep(PACE_SECONDS)
                c0, w0 = time.thread_time(), time.perf_counter()
                record_trace(tracer, i)
                cpu += time.thread_time() - c0
                wall += time.perf_counter() - w0
            provider.force_flush()
            return cpu, wall

        return run

    timed = _interleaved(cfg.reps, {n: paced_pass(p) for n, p in providers.items()})
    for name, (cpu, wall) in timed.items():
        res.add(Measure(name, traces * SPANS_PER_TRACE, cpu, wall))
        providers[name].shutdown()


def _on_end_passes(cfg: Config, parts: Parts, sink: UdpSink,
                   passes: Dict[str, Pass]) -> List[Callable[[], None]]:
    """Add passes timing ``on_end`` alone on finished spans (queues big enough, workers idle).

    This isolates what a processor itself costs the application thread, without span
    creation and without the cache effects of another thread freeing the spans.
    """
    spans = finished_spans(cfg.traces)
    big = 10**7
    processors: Dict[str, SpanProcessor] = {
        "app thread, on_end alone: BatchSpanProcessor + no-op exporter": BatchSpanProcessor(
            _NoopExporter(), max_queue_size=big, max_export_batch_size=big,
            schedule_delay_millis=big),
    }
    if parts.processor is not None and parts.emitter is not None:
        with contextlib.suppress(TypeError):  # no such limits: skip this breakdown
            processors["app thread, on_end alone: XRaySpanProcessor"] = parts.processor(
                parts.emitter(sink.address), options=OPTIONS, max_queue_size=big,
                max_export_batch_size=big, schedule_delay_millis=big)

    def on_end_pass(processor: SpanProcessor) -> Pass:
        def run() -> Tuple[float, float]:
            with _clock() as t:
                for span in spans:
                    processor.on_end(span)
            return t[0], t[1]

        return run

    for name, processor in processors.items():
        passes[name] = on_end_pass(processor)
    return [p.shutdown for p in processors.values()]


# -- 3. end-to-end CPU -----------------------------------------------------------------


def bench_end_to_end(cfg: Config, parts: Parts, sink: UdpSink, res: Results) -> None:
    """Process CPU (all threads) per span, from creating spans to the datagrams sent."""
    spans = cfg.traces * SPANS_PER_TRACE
    chunk = 100  # traces between flushes: 1,000 spans, under every queue's limit
    Setup = Tuple[List[SpanProcessor], Callable[[], int]]  # processors, spans delivered

    def otel_pass(setup: Setup) -> Tuple[Pass, Callable[[], int], Callable[[], None]]:
        procs, delivered = setup
        provider = make_provider(*procs)
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            sink.reset()
            with _clock(time.process_time) as t:
                for start in range(0, cfg.traces, chunk):
                    for i in range(start, min(start + chunk, cfg.traces)):
                        record_trace(tracer, i)
                    provider.force_flush()
            sink.settle()
            return t[0], t[1]

        return run, delivered, provider.shutdown

    def ours() -> Setup:
        processor = parts.processor(parts.emitter(sink.address), options=OPTIONS)
        return [processor], lambda: _stat(processor.stats(), "spans_sent", "spans_exported")

    def bsp(exporter: SpanExporter, **kwargs: Any) -> Setup:
        counting = _CountingExporter(exporter)
        return [BatchSpanProcessor(counting, **kwargs)], lambda: counting.spans

    setups: Dict[str, Callable[[], Setup]] = {
        "end to end: no processor (span creation only)": lambda: ([], lambda: -1),
    }
    if parts.processor is not None and parts.emitter is not None:
        setups["end to end: XRaySpanProcessor + UdpEmitter"] = ours
    if parts.exporter is not None and parts.emitter is not None:
        setups["end to end: BatchSpanProcessor + XRaySpanExporter"] = lambda: bsp(
            parts.exporter(parts.emitter(sink.address), options=OPTIONS))
    if parts.adot is not None:
        setups[f"end to end: BatchSpanProcessor(batch {ADOT_BATCH}) + "
               "ADOT OTLPUdpSpanExporter"] = lambda: bsp(
            parts.adot(endpoint=sink.address), max_export_batch_size=ADOT_BATCH)
    passes: Dict[str, Pass] = {}
    delivered: Dict[str, Callable[[], int]] = {}
    cleanup: List[Callable[[], None]] = []
    for name, setup in setups.items():
        passes[name], delivered[name], stop = otel_pass(setup())
        cleanup.append(stop)
    if parts.xray_recorder is not None:
        passes[XRAY_SDK_E2E] = _xray_sdk_pass(cfg, parts, sink)
    else:
        res.missing.append("aws-xray-sdk")
    for name, (cpu, wall) in _interleaved(cfg.reps, passes).items():
        notes = []
        count = delivered[name]() if name in delivered else -1
        if 0 <= count < spans * cfg.reps:
            notes.append(f"only {count:,} of {spans * cfg.reps:,} spans exported")
        res.add(Measure(name, spans, cpu, wall, notes))
    for stop in cleanup:
        stop()


XRAY_SDK_E2E = "end to end: aws-xray-sdk recorder + its UDP emitter"


def _xray_sdk_recorder(parts: Parts, sink: UdpSink) -> Any:
    recorder = parts.xray_recorder()
    recorder.configure(sampling=False, plugins=(), context_missing="IGNORE_ERROR",
                       daemon_address=sink.address, service="orders")
    return recorder


def _xray_sdk_pass(cfg: Config, parts: Parts, sink: UdpSink) -> Pass:
    recorder = _xray_sdk_recorder(parts, sink)

    def run() -> Tuple[float, float]:
        sink.reset()
        with _clock(time.process_time) as t:
            for i in range(cfg.traces):
                record_xray_sdk_trace(recorder, i)
        sink.settle()
        return t[0], t[1]

    return run


# -- 4. datagrams per trace and bytes per span ------------------------------------------


def _walk_ids(doc: Dict[str, Any]) -> Iterator[str]:
    yield str(doc.get("id"))
    for child in doc.get("subsegments", ()):
        yield from _walk_ids(child)


def _check_datagrams(datagrams: Sequence[bytes], expected_ids: Optional[set[str]],
                     expected_count: int) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Parse datagrams as the daemon does; return documents and a list of problems.

    With ``expected_ids`` every id must arrive exactly once; without, only the number of
    (sub)segments is checked (a peer that makes its own ids).
    """
    problems: List[str] = []
    docs: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    for data in datagrams:
        if len(data) > _MAX_UDP_PAYLOAD:
            problems.append(f"datagram of {len(data)} bytes")
        head, sep, body = data.partition(b"\n")
        if not sep or orjson.loads(head) != {"format": "json", "version": 1}:
            problems.append(f"bad header {head[:60]!r}")
            continue
        doc = orjson.loads(body)
        docs.append(doc)
        for span_id in _walk_ids(doc):
            seen[span_id] = seen.get(span_id, 0) + 1
    if expected_ids is None:
        total = sum(seen.values())
        if total != expected_count:
            problems.append(f"{total} (sub)segments arrived, {expected_count} expected")
        return docs, problems
    missing = expected_ids - seen.keys()
    repeated = [k for k, v in seen.items() if v > 1]
    if missing:
        problems.append(f"{len(missing)} span ids never arrived")
    if repeated:
        problems.append(f"{len(repeated)} span ids arrived more than once")
    return docs, problems


def bench_datagrams(cfg: Config, parts: Parts, sink: UdpSink, res: Results) -> Tuple[
        List[Dict[str, Any]], int]:
    """Datagrams per trace and bytes per span; every datagram parsed and checked.

    Returns the documents our processor sent (pre-built input for the floor) and the
    number of spans they hold.
    """
    traces = cfg.check_traces
    spans = finished_spans(traces, start=10_000_000)
    ids = {f"{s.context.span_id:016x}" for s in spans if s.context is not None}
    prebuilt: List[Dict[str, Any]] = []

    def record(name: str, send: Callable[[], None], check: str = "ids") -> None:
        """Send with ``send``; check "ids" (each once), "count" (of segments) or "none"."""
        sink.reset()
        sink.keep()
        send()
        sink.settle()
        datagrams = sink.take()
        docs: List[Dict[str, Any]] = []
        verdict = "not checked (OTLP protobuf, base64)"
        if check != "none":
            docs, problems = _check_datagrams(datagrams, ids if check == "ids" else None,
                                              len(spans))
            res.problems.extend(f"{name}: {problem}" for problem in problems)
            verdict = "; ".join(problems) or (
                "every span id exactly once; header + JSON valid" if check == "ids"
                else "10 (sub)segments per trace; header + JSON valid")
        size = sum(len(d) for d in datagrams)
        largest = max((len(d) for d in datagrams), default=0)
        res.datagrams.append((name, len(datagrams) / traces, size / len(spans), largest,
                              verdict))
        if name.startswith("XRaySpanProcessor"):
            prebuilt.extend(docs)

    if parts.processor is not None and parts.emitter is not None:
        processor = parts.processor(parts.emitter(sink.address), options=OPTIONS)

        def via_processor() -> None:
            # 1,000 spans (100 whole traces) at a time: a burst larger than the queue
            # (2,048) would be dropped by design, faster than the worker can take it.
            for start in range(0, len(spans), 1000):
                for span in spans[start : start + 1000]:
                    processor.on_end(span)
                processor.force_flush(30_000)

        record("XRaySpanProcessor", via_processor)
        processor.shutdown()
    if parts.exporter is not None and parts.emitter is not None:
        for size in (BSP_BATCH, ADOT_BATCH):
            exporter = parts.exporter(parts.emitter(sink.address), options=OPTIONS)

            def via_exporter(exporter: Any = exporter, size: int = size) -> None:
                for batch in batches(spans, size):
                    exporter.export(batch)

            record(f"XRaySpanExporter, batches of {size}", via_exporter)
            exporter.shutdown()
    if parts.adot is not None:
        adot = parts.adot(endpoint=sink.address)

        def via_adot() -> None:
            for batch in batches(spans, ADOT_BATCH):
                adot.export(batch)

        record(f"ADOT OTLPUdpSpanExporter, batches of {ADOT_BATCH}", via_adot, check="none")
        adot.shutdown()
        if parts.encode_spans is not None:
            batch = spans[:BSP_BATCH]
            big = parts.encode_spans(batch).SerializeToString()
            size = len(_HEADER) + 3 + (len(big) + 2) // 3 * 4  # header + "T1S" + base64
            res.datagrams.append((
                f"ADOT OTLPUdpSpanExporter, one batch of {len(batch)} (computed, not sent)",
                SPANS_PER_TRACE / len(batch), size / len(batch), size,
                f"over the {_MAX_UDP_PAYLOAD:,}-byte UDP limit: EMSGSIZE, whole batch lost"
                if size > _MAX_UDP_PAYLOAD else "fits",
            ))
    if parts.xray_recorder is not None:
        recorder = _xray_sdk_recorder(parts, sink)

        def via_xray_sdk() -> None:
            for i in range(traces):
                record_xray_sdk_trace(recorder, i)

        record("aws-xray-sdk", via_xray_sdk, check="count")
    return prebuilt, len(spans)


# -- 5. memory -------------------------------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _page_size()
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def bench_memory(cfg: Config, parts: Parts, sink: UdpSink, res: Results) -> None:
    """Peak RSS while ``memory_spans`` spans are created and sent through XRaySpanProcessor.

    The application thread creates traces as fast as it can but waits whenever more than
    1,000 spans are queued, so that every span is *sent* (not dropped for a full queue):
    memory must stay flat because the processor releases what it sent, not because it
    drops. RSS is read every 1,000 spans.
    """
    if parts.processor is None or parts.emitter is None:
        return
    processor = parts.processor(parts.emitter(sink.address), options=OPTIONS)
    provider = make_provider(processor)
    tracer = provider.get_tracer("bench")
    gc.collect()
    base = _rss_bytes()
    peak_early = peak = base
    traces = cfg.memory_spans // SPANS_PER_TRACE
    checkpoint = cfg.memory_checkpoint // SPANS_PER_TRACE
    tenth = max(traces // 10, 1)
    trajectory: List[str] = []
    waited = 0.0
    t0 = time.perf_counter()
    for i in range(traces):
        record_trace(tracer, i)
        if i % 100 == 99:
            peak = max(peak, _rss_bytes())
            if i < checkpoint:
                peak_early = peak
            w0 = time.perf_counter()
            while processor.stats().get("spans_queued", 0) > 1000:
                time.sleep(0.0005)
            waited += time.perf_counter() - w0
        if i % tenth == tenth - 1:
            trajectory.append(f"{_rss_bytes() / 2**20:.0f}")
    provider.force_flush()
    wall = time.perf_counter() - t0
    peak = max(peak, _rss_bytes())
    stats = processor.stats()
    provider.shutdown()
    mb = 2**20
    growth = peak - peak_early
    later_spans = cfg.memory_spans - cfg.memory_checkpoint
    per_span = growth / later_spans if later_spans else 0.0
    # Keeping even one small object per span (a set entry, ~60 bytes) would grow by more.
    flat = per_span < 10.0
    dropped = _dropped(stats)
    sent = _stat(stats, "spans_sent", "spans_exported")
    res.memory = [
        ("RSS before", f"{base / mb:.1f} MB"),
        (f"peak RSS, first {cfg.memory_checkpoint:,} spans", f"{peak_early / mb:.1f} MB"),
        (f"peak RSS, all {cfg.memory_spans:,} spans", f"{peak / mb:.1f} MB"),
        ("growth after the checkpoint", f"{growth / mb:+.1f} MB ({per_span:.2f} bytes/span)"),
        ("RSS (MB) after each tenth of the spans", ", ".join(trajectory)),
        ("spans sent / dropped", f"{sent:,} / {dropped:,}"),
        ("wall time", f"{wall:.1f} s ({cfg.memory_spans / wall:,.0f} spans/s created and "
                      f"sent; {waited:.1f} s waiting for the queue)"),
    ]
    res.targets.append(Target(
        f"peak memory, {cfg.memory_spans:,} spans through XRaySpanProcessor",
        f"{peak / mb:.1f} MB", f"{peak_early / mb:.1f} MB at {cfg.memory_checkpoint:,}",
        None, f"{growth / mb:+.1f} MB", "flat (< 10 B/span growth)",
        flat and dropped == 0 and sent == cfg.memory_spans,
    ))


# -- the summary -----------------------------------------------------------------------


def _ratio_target(res: Results, measure: str, ours: Optional[Measure], peer: Optional[Measure],
                  *, higher_is_better: bool, target: Optional[float], target_text: str) -> None:
    if ours is None or peer is None:
        res.targets.append(Target(measure, _fmt(ours, higher_is_better),
                                  _fmt(peer, higher_is_better), None, "n/a", target_text, None))
        return
    ratio = ours.rate / peer.rate if higher_is_better else ours.cpu_us / peer.cpu_us
    met = None if target is None else (ratio >= target if higher_is_better else ratio <= target)
    res.targets.append(Target(measure, _fmt(ours, higher_is_better),
                              _fmt(peer, higher_is_better), ratio, f"{ratio:.2f}x",
                              target_text, met))


def _fmt(m: Optional[Measure], rate: bool) -> str:
    if m is None:
        return "n/a"
    if rate:
        return f"{m.rate:,.0f} spans/s"
    return f"{m.cpu_us:.1f} µs/span"


def summarize(res: Results) -> None:
    m = res.measures.get
    adot = m(f"export: ADOT OTLPUdpSpanExporter, batches of {ADOT_BATCH}")
    floor = m("floor: orjson.dumps + send of pre-built packed documents")
    memory_targets = [t for t in res.targets if t.measure.startswith("peak memory")]
    res.targets = []
    for ours_name, label in (
        (f"export: XRaySpanExporter, batches of {BSP_BATCH}",
         f"export throughput: XRaySpanExporter (batches of {BSP_BATCH}) vs ADOT"),
        (f"export: XRaySpanExporter, batches of {ADOT_BATCH}",
         f"export throughput: XRaySpanExporter (batches of {ADOT_BATCH}) vs ADOT"),
        ("export: XRaySpanProcessor worker thread",
         "export throughput: XRaySpanProcessor worker vs ADOT"),
    ):
        _ratio_target(res, label, m(ours_name), adot, higher_is_better=True, target=4.0,
                      target_text="≥ 4x")
    _ratio_target(res, f"export throughput: XRaySpanExporter (batches of {BSP_BATCH}) vs ADOT "
                  f"with batches of {ADOT_BIG_BATCH} (its best case that fits a datagram)",
                  m(f"export: XRaySpanExporter, batches of {BSP_BATCH}"),
                  m(f"export: ADOT OTLPUdpSpanExporter, batches of {ADOT_BIG_BATCH}"),
                  higher_is_better=True, target=4.0, target_text="≥ 4x")
    _ratio_target(res, "export throughput: XRaySpanProcessor worker vs encode+send floor",
                  m("export: XRaySpanProcessor worker thread"), floor, higher_is_better=True,
                  target=None, target_text="(floor = 1x)")
    _ratio_target(res, "app-thread CPU per span, flood (one thread creating spans non-stop): "
                  "XRaySpanProcessor vs BatchSpanProcessor+no-op",
                  m(APP_OURS), m(APP_BSP_NOOP),
                  higher_is_better=False, target=1.2, target_text="≤ 1.2x")
    _ratio_target(res, "app-thread CPU per span, paced (1 ms of I/O wait between traces): "
                  "XRaySpanProcessor vs BatchSpanProcessor+no-op",
                  m(PACED + "XRaySpanProcessor"), m(PACED + "BatchSpanProcessor + no-op exporter"),
                  higher_is_better=False, target=1.2, target_text="≤ 1.2x")
    _ratio_target(res, "app-thread CPU per span, both holding the spans until after the pass "
                  "(no busy worker): XRaySpanProcessor vs BatchSpanProcessor+no-op",
                  m(APP_OURS_DEFERRED), m(APP_BSP_DEFERRED), higher_is_better=False,
                  target=1.2, target_text="≤ 1.2x")
    _ratio_target(res, "app-thread CPU per span: XRaySpanProcessor vs BatchSpanProcessor + "
                  "XRaySpanExporter (same export work in the background)",
                  m(APP_OURS), m("app thread: BatchSpanProcessor + XRaySpanExporter"),
                  higher_is_better=False, target=None, target_text="(info)")
    _ratio_target(res, "app-thread CPU per span: XRaySpanProcessor vs no processor",
                  m(APP_OURS), m("app thread: no processor"),
                  higher_is_better=False, target=None, target_text="(info)")
    _ratio_target(res, "app-thread CPU of on_end alone: XRaySpanProcessor vs BatchSpanProcessor",
                  m("app thread, on_end alone: XRaySpanProcessor"),
                  m("app thread, on_end alone: BatchSpanProcessor + no-op exporter"),
                  higher_is_better=False, target=None, target_text="(info)")
    _ratio_target(res, "end-to-end CPU per span: XRaySpanProcessor vs aws-xray-sdk",
                  m("end to end: XRaySpanProcessor + UdpEmitter"),
                  m(XRAY_SDK_E2E),
                  higher_is_better=False, target=None, target_text="(lower is better)")
    _ratio_target(res, "end-to-end CPU per span: XRaySpanProcessor vs BSP + ADOT exporter",
                  m("end to end: XRaySpanProcessor + UdpEmitter"),
                  m(f"end to end: BatchSpanProcessor(batch {ADOT_BATCH}) + "
                    "ADOT OTLPUdpSpanExporter"),
                  higher_is_better=False, target=None, target_text="(lower is better)")
    ours_dg = next((d for d in res.datagrams if d[0] == "XRaySpanProcessor"), None)
    if ours_dg is not None:
        res.targets.append(Target(
            "datagrams per 10-span trace (XRaySpanProcessor)", f"{ours_dg[1]:.2f}",
            "aws-xray-sdk: " + next((f"{d[1]:.2f}" for d in res.datagrams
                                     if d[0] == "aws-xray-sdk"), "n/a"),
            ours_dg[1], f"{ours_dg[1]:.2f}", "1", abs(ours_dg[1] - 1.0) < 1e-9))
        adot_dg = next((d for d in res.datagrams
                        if d[0] == f"ADOT OTLPUdpSpanExporter, batches of {ADOT_BATCH}"), None)
        sdk_dg = next((d for d in res.datagrams if d[0] == "aws-xray-sdk"), None)
        if adot_dg is not None:
            ratio = ours_dg[2] / adot_dg[2]
            res.targets.append(Target(
                "bytes per span on the wire: XRaySpanProcessor vs ADOT (batches of 10)",
                f"{ours_dg[2]:,.0f} B", f"{adot_dg[2]:,.0f} B"
                + (f" (aws-xray-sdk: {sdk_dg[2]:,.0f} B)" if sdk_dg else ""),
                ratio, f"{ratio:.2f}x", "(lower is better)", None))
    res.targets.extend(memory_targets)


def render(res: Results, elapsed: float) -> str:
    out: List[str] = []
    load = " → ".join(f"{x:.1f}" for x in res.load)
    out.append(f"otel-xray benchmarks ({res.config.name} run, {elapsed:.0f} s, "
               f"load average {load}): {_environment()}")
    out.append("")
    out.append("| measure | otel-xray | peer | ratio | target | met |")
    out.append("|---|---|---|---|---|---|")
    for t in res.targets:
        met = "n/a" if t.met is None else ("**yes**" if t.met else "**no**")
        if t.met is None and t.target.startswith("("):
            met = ""
        out.append(f"| {t.measure} | {t.ours} | {t.peer} | {t.ratio_text} | {t.target} | {met} |")
    out.append("")
    out.append("Raw figures (median of the passes; CPU = the measured thread's CPU, "
               "or the whole process's for *end to end*):")
    out.append("")
    out.append("| variant | spans | CPU µs/span | wall µs/span | spans per CPU s | notes |")
    out.append("|---|---:|---:|---:|---:|---|")
    for meas in res.measures.values():
        out.append(f"| {meas.name} | {meas.spans:,} | {meas.cpu_us:.2f} | {meas.wall_us:.2f} | "
                   f"{meas.rate:,.0f} | {'; '.join(meas.notes)} |")
    if res.datagrams:
        out.append("")
        out.append("| datagrams of the same traces | datagrams/trace | bytes/span | "
                   "largest datagram | check |")
        out.append("|---|---:|---:|---:|---|")
        for name, per_trace, per_span, largest, check in res.datagrams:
            out.append(f"| {name} | {per_trace:.2f} | {per_span:,.0f} | {largest:,} | {check} |")
    if res.memory:
        out.append("")
        out.append("| memory (XRaySpanProcessor, RSS sampled every 1,000 spans) | value |")
        out.append("|---|---|")
        for name, value in res.memory:
            out.append(f"| {name} | {value} |")
    for problem in res.problems:
        out.append(f"\nPROBLEM: {problem}")
    for missing in res.missing:
        out.append(f"\nnot measured (not installed/implemented): {missing}")
    return "\n".join(out)


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "not installed"


def _environment() -> str:
    dists = ("otel-xray", "opentelemetry-sdk", "orjson", "aws-opentelemetry-distro",
             "protobuf", "aws-xray-sdk")
    versions = ", ".join(f"{d} {_version(d)}" for d in dists)
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs "
            f"({_cpu_model()}), Python {platform.python_version()}; {versions}")


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


# -- main ------------------------------------------------------------------------------


def run(cfg: Config, *, sections: Sequence[str] = ("all",),
        log: Callable[[str], None] = lambda s: None, sink_in_thread: bool = False) -> Results:
    """Run the benchmarks of ``cfg`` and return the results (also used by the smoke test).

    ``sink_in_thread`` drains datagrams in a thread instead of a child process (for tests:
    the figures are then not comparable).
    """
    res = Results(cfg)
    res.load.append(_load())
    sink = UdpSink(in_thread=sink_in_thread)  # a process sink forks: before any thread
    try:
        parts = Parts.load()
        res.missing.extend(parts.ours_missing())
        want = set(sections)
        every = "all" in want
        log("recording spans ...")
        spans = finished_spans(cfg.traces)
        prebuilt: List[Dict[str, Any]] = []
        prebuilt_spans = 0
        if every or "datagrams" in want or "export" in want:
            log("4. datagrams per trace, bytes per span ...")
            prebuilt, prebuilt_spans = bench_datagrams(cfg, parts, sink, res)
        if every or "export" in want:
            log("1. export throughput ...")
            bench_export(cfg, parts, sink, spans, prebuilt, prebuilt_spans, res)
        if every or "app" in want:
            log("2. application-thread cost ...")
            bench_app_thread(cfg, parts, sink, res)
            bench_app_paced(cfg, parts, sink, res)
        if every or "e2e" in want:
            log("3. end-to-end CPU ...")
            bench_end_to_end(cfg, parts, sink, res)
        if every or "memory" in want:
            log(f"5. memory over {cfg.memory_spans:,} spans ...")
            bench_memory(cfg, parts, sink, res)
        summarize(res)
    finally:
        sink.close()
    res.load.append(_load())
    return res


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    size.add_argument("--tiny", action="store_true", help="a few hundred spans (smoke test)")
    parser.add_argument("--only", nargs="+", default=["all"],
                        choices=["all", "export", "app", "e2e", "datagrams", "memory"],
                        help="run only these sections")
    parser.add_argument("--readme", action="store_true",
                        help="also write the tables into benchmarks/README.md (between the "
                             "results markers)")
    args = parser.parse_args(argv)
    cfg = TINY if args.tiny else QUICK if args.quick else FULL
    # Rate-limited warnings of the code under test must not pollute the table.
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    res = run(cfg, sections=args.only,
              log=lambda s: print(s, file=sys.stderr, flush=True))
    table = render(res, time.perf_counter() - started)
    print(table)
    if args.readme:
        _write_readme(table)
    return 0


README = Path(__file__).with_name("README.md")
_START = "<!-- results:start (written by benchmarks/run.py --readme) -->"
_END = "<!-- results:end -->"


def _write_readme(table: str) -> None:
    """Replace what stands between the results markers of benchmarks/README.md."""
    text = README.read_text()
    head, sep, rest = text.partition(_START)
    _, sep2, tail = rest.partition(_END)
    if not sep or not sep2:
        raise SystemExit(f"{README} has no results markers ({_START} ... {_END})")
    README.write_text(f"{head}{_START}\n{table}\n{_END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
