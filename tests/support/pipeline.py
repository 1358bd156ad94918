"""A real SDK TracerProvider wired to XRaySpanProcessor and a real UDP listener.

Import into a test module with the listener fixture::

    from tests.support.pipeline import Pipeline, pipeline
    from tests.support.udp import udp_listener
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from otel_xray import TranslateOptions
from otel_xray.emit.protocol import MAX_UDP_PAYLOAD, split_datagram
from otel_xray.emit.udp import UdpEmitter
from otel_xray.processor import XRaySpanProcessor
from tests.support.packing import assert_valid_packed
from tests.support.udp import UdpListener

OPTIONS = TranslateOptions(lambda_mode=False)


class Pipeline:
    """TracerProvider -> XRaySpanProcessor -> UdpEmitter -> the test daemon.

    ``finished()`` lists every span the SDK ended (kept by a second, in-memory processor),
    to compare with what arrived.
    """

    def __init__(
        self, listener: UdpListener, sampler: Optional[Sampler] = None, **settings: Any
    ) -> None:
        self.listener = listener
        self.emitter = UdpEmitter(listener.address)
        settings.setdefault("options", OPTIONS)
        self.processor = XRaySpanProcessor(self.emitter, **settings)
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("otel-xray-tests")

    def child(self, name: str, parent: trace.Span, **kwargs: Any) -> trace.Span:
        return self.tracer.start_span(name, context=trace.set_span_in_context(parent), **kwargs)

    def finished(self) -> List[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def flush(self) -> None:
        assert self.processor.force_flush(30_000)

    def documents(self, count: int, timeout: float = 15.0) -> List[Dict[str, Any]]:
        """Wait for ``count`` documents; check every datagram; return them parsed."""
        self.listener.wait_for(count, timeout)
        return valid_documents(self.listener)

    def stats(self) -> Dict[str, int]:
        return self.processor.stats()

    def close(self) -> None:
        self.provider.shutdown()


def valid_documents(listener: UdpListener) -> List[Dict[str, Any]]:
    """Every datagram received: within the UDP limit, daemon-parsable, a valid document."""
    assert not listener.errors, listener.errors[:3]
    documents = []
    for datagram in listener.datagrams:
        assert len(datagram) <= MAX_UDP_PAYLOAD
        _, body = split_datagram(datagram)
        documents.append(assert_valid_packed(body))
    return documents


@pytest.fixture
def pipeline(udp_listener: UdpListener) -> Iterator[Callable[..., Pipeline]]:
    """Make pipelines to the test daemon (settings go to XRaySpanProcessor); all are shut
    down afterwards."""
    made: List[Pipeline] = []

    def make(sampler: Optional[Sampler] = None, **settings: Any) -> Pipeline:
        pipe = Pipeline(udp_listener, sampler, **settings)
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        pipe.close()
