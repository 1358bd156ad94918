"""The code under test, built through otel-xray's public API only.

This is the one module of the benchmarks that touches otel-xray (besides the X-Ray id
generator of :mod:`benchmarks.workload`): the internals may move, the public names do not.
"""

from __future__ import annotations

from typing import Any, Dict

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

import otel_xray
from benchmarks.workload import ANNOTATION_KEYS

#: The translation options of every benchmark: the workload's annotations, no Lambda.
OPTIONS = otel_xray.TranslateOptions(indexed_attributes=ANNOTATION_KEYS, lambda_mode=False)

#: A limit so large that nothing is exported before a flush: the "deferred" variants
#: (BatchSpanProcessor's limits have no ceiling).
NEVER = 10**7
#: The same for XRaySpanProcessor, whose limits have a valid range (out of range, the
#: default would be used): the largest queue and batch, the longest delay (no pass of a
#: scenario lasts a minute).
DEFERRED = {"max_queue_size": 1_000_000, "max_export_batch_size": 1_000_000,
             "schedule_delay_millis": 60_000}


def processor(address: str, *, deferred: bool = False) -> SpanProcessor:
    """``XRaySpanProcessor`` + ``UdpEmitter(address)``; ``deferred``: export only on flush."""
    limits: Dict[str, Any] = {}
    if deferred:
        limits = DEFERRED
    made: SpanProcessor = otel_xray.XRaySpanProcessor(
        otel_xray.UdpEmitter(address), options=OPTIONS, **limits)
    return made


def exporter(address: str) -> SpanExporter:
    """``XRaySpanExporter`` + ``UdpEmitter(address)``."""
    made: SpanExporter = otel_xray.XRaySpanExporter(otel_xray.UdpEmitter(address),
                                                    options=OPTIONS)
    return made


def _counter(stats: Dict[str, int], name: str) -> int:
    return int(stats.get(name, 0))


def sent(made: Any) -> int:
    """Spans ``made`` (our processor or exporter) reported delivered."""
    return _counter(made.stats(), "spans_sent")


def dropped(made: Any) -> int:
    """Spans ``made`` (our processor or exporter) dropped, for any reason."""
    return _counter(made.stats(), "spans_dropped")


def queued(made: Any) -> int:
    """Spans waiting in our processor's queue."""
    return _counter(made.stats(), "spans_queued")
