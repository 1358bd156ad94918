"""AWS SDK calls carry an X-Amzn-Trace-Id naming the AWS subsegment we send for the call.

The real botocore instrumentation calls moto in server mode; the header is captured with
botocore's own ``before-send`` event, the last hook before the request leaves.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import botocore.session
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_xray.bootstrap import configure
from otel_xray.propagation import (
    TRACE_HEADER,
    TraceHeader,
    XRayPropagator,
    parse_trace_header,
)
from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener


@pytest.fixture(
    params=[AwsXRayPropagator, XRayPropagator], ids=["contrib-propagator", "otel-xray-propagator"]
)
def dynamodb(
    request: pytest.FixtureRequest, fresh_otel: None, udp_listener: UdpListener, moto_server: str
) -> Iterator[Any]:
    """A DynamoDB client, instrumented, whose sent X-Amzn-Trace-Id headers are recorded."""
    configure("orders", daemon_address=udp_listener.address)
    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument(propagator=request.param())
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", endpoint_url=moto_server
    )
    client.sent_headers = []

    def record(request: Any, **_: Any) -> None:
        client.sent_headers.append(request.headers.get(TRACE_HEADER))

    client.meta.events.register("before-send", record)
    try:
        yield client
    finally:
        instrumentor.uninstrument()


def sent_headers(client: Any) -> List[TraceHeader]:
    """The X-Amzn-Trace-Id of every request the client sent, parsed (all must parse)."""
    headers = []
    for raw in client.sent_headers:
        header = parse_trace_header(raw.decode() if isinstance(raw, bytes) else raw)
        assert header is not None, raw
        headers.append(header)
    return headers


def documents(listener: UdpListener, count: int) -> List[Dict[str, Any]]:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider) and provider.force_flush(10_000)
    return [assert_valid_document(doc) for doc in listener.wait_for(count)]


def test_header_parent_is_the_aws_subsegment_we_send(
    dynamodb: Any, udp_listener: UdpListener
) -> None:
    with trace.get_tracer("test").start_as_current_span("handle", kind=SpanKind.SERVER) as root:
        dynamodb.list_tables()
    (header,) = sent_headers(dynamodb)
    assert header.parent_id is not None
    assert header.trace_id == root.get_span_context().trace_id
    assert header.sampled is True

    (segment,) = documents(udp_listener, 1)
    by_id = {doc["id"]: doc for doc in walk(segment)}
    aws_call = by_id[f"{header.parent_id:016x}"]
    assert aws_call["namespace"] == "aws"
    assert aws_call["name"] == "DynamoDB"
    assert aws_call["aws"]["operation"] == "ListTables"
    assert segment["id"] == f"{root.get_span_context().span_id:016x}"


def test_every_call_names_its_own_subsegment(dynamodb: Any, udp_listener: UdpListener) -> None:
    with trace.get_tracer("test").start_as_current_span("handle", kind=SpanKind.SERVER):
        dynamodb.list_tables()
        dynamodb.list_tables()
    parents = {header.parent_id for header in sent_headers(dynamodb)}
    assert len(parents) == 2
    (segment,) = documents(udp_listener, 1)
    aws_ids = {int(doc["id"], 16) for doc in walk(segment) if doc.get("namespace") == "aws"}
    assert parents == aws_ids
