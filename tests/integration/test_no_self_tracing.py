"""Exports never trace themselves: an instrumented client that an emitter uses (botocore
through ApiEmitter, urllib in a user's emitter) creates no spans while the pipeline sends,
so one application span gives exactly one document, however often the pipeline flushes."""

from __future__ import annotations

import datetime
import json
import urllib.request
from typing import Any, Dict, Iterator, List, Sequence

import botocore.session
import pytest
from botocore.config import Config
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.urllib import URLLibInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

import otel_xray
from otel_xray import ApiEmitter, configure
from otel_xray.emit.protocol import DEFAULT_MAX_DOCUMENT_BYTES
from otel_xray.ids import to_xray_trace_id
from tests.support.faults import FaultyXRay
from tests.support.helpers import assert_valid_document, walk

pytestmark = pytest.mark.usefixtures("fresh_otel")

FLUSHES = 4


@pytest.fixture
def botocore_instrumented() -> Iterator[None]:
    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def urllib_instrumented() -> Iterator[None]:
    instrumentor = URLLibInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _one_span_and_flushes(provider: TracerProvider) -> trace.Span:
    span = trace.get_tracer("app").start_span("checkout", kind=SpanKind.SERVER)
    span.end()
    for _ in range(FLUSHES):  # each flush would send the spans the previous one made
        assert provider.force_flush(10_000)
    return span


def _xray_client(endpoint_url: str) -> Any:
    return botocore.session.get_session().create_client(
        "xray", region_name="us-east-1", endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _everything_stored(endpoint_url: str) -> Dict[str, List[Dict[str, Any]]]:
    """Every document moto stored, by trace id (read with instrumentation already off)."""
    client = _xray_client(endpoint_url)
    summaries = client.get_trace_summaries(
        StartTime=datetime.datetime(1971, 1, 1),
        EndTime=datetime.datetime.now() + datetime.timedelta(days=1),
    )["TraceSummaries"]
    trace_ids = sorted(summary["Id"] for summary in summaries)
    stored: Dict[str, List[Dict[str, Any]]] = {}
    for start in range(0, len(trace_ids), 5):  # BatchGetTraces takes at most 5 ids
        response = client.batch_get_traces(TraceIds=trace_ids[start : start + 5])
        for stored_trace in response["Traces"]:
            stored[stored_trace["Id"]] = [
                json.loads(segment["Document"]) for segment in stored_trace["Segments"]
            ]
    return stored


def test_api_emitter_sends_no_span_of_its_own_put_trace_segments_calls(
    moto_server: str, botocore_instrumented: None
) -> None:
    # Only this test's documents in moto from here on.
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10
    ).close()
    # Everything sampled: a span of our own export would be sent too.
    provider = configure(
        "checkout", emitter=ApiEmitter(endpoint_url=moto_server, region="us-east-1"),
        sampler=ALWAYS_ON,
    )

    span = _one_span_and_flushes(provider)
    BotocoreInstrumentor().uninstrument()  # reading moto back must not make spans either

    stored = _everything_stored(moto_server)
    context = span.get_span_context()
    trace_id = to_xray_trace_id(context.trace_id)
    assert list(stored) == [trace_id], "moto holds traces the application never made"
    (document,) = stored[trace_id]
    assert_valid_document(document)
    assert [node["id"] for node in walk(document)] == [f"{context.span_id:016x}"]
    operations = [
        node.get("aws", {}).get("operation") for docs in stored.values()
        for doc in docs for node in walk(doc)
    ]
    assert "PutTraceSegments" not in operations
    stats: Dict[str, int] = otel_xray.stats()
    assert stats["spans_received"] == stats["spans_sent"] == 1


class _UrllibEmitter:
    """A user's emitter posting documents with urllib (PutTraceSegments' JSON shape)."""

    max_document_bytes = DEFAULT_MAX_DOCUMENT_BYTES

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, documents: Sequence[bytes]) -> List[bool]:
        body = json.dumps({"TraceSegmentDocuments": [d.decode() for d in documents]})
        request = urllib.request.Request(
            self.url, data=body.encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            delivered = response.status == 200
        return [delivered] * len(documents)

    def stats(self) -> Dict[str, int]:
        return {}

    def close(self) -> None:
        pass


def test_emitter_using_instrumented_urllib_sends_no_span_of_its_own_requests(
    faulty_xray: Any, urllib_instrumented: None
) -> None:
    server: FaultyXRay = faulty_xray("ok")
    provider = configure("checkout", emitter=_UrllibEmitter(server.url), sampler=ALWAYS_ON)

    span = _one_span_and_flushes(provider)

    (document,) = server.documents()
    assert_valid_document(document)
    assert [node["id"] for node in walk(document)] == [
        f"{span.get_span_context().span_id:016x}"
    ]
    assert len(server.requests) == 1
    stats: Dict[str, int] = otel_xray.stats()
    assert stats["spans_received"] == stats["spans_sent"] == 1
