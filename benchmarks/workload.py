"""The trace every benchmark records: one request of a small web service.

One SERVER root (an HTTP request) with 9 descendants: a validation step, two SQL queries,
an outgoing HTTP call, a DynamoDB call, a pricing step that itself makes a SQL query and an
HTTP call, an SQS publish and a render step (10 spans, depth 3). It carries the usual
HTTP/DB/AWS attributes, two attributes configured as X-Ray annotations and a few that end
up as metadata. :func:`record_xray_sdk_trace` records the same shape with the native
aws-xray-sdk (segment + 9 subsegments, the same annotations and metadata).
"""

from __future__ import annotations

from typing import Any, List, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.semconv._incubating.attributes.aws_attributes import (
    AWS_DYNAMODB_TABLE_NAMES,
    AWS_REQUEST_ID,
)
from opentelemetry.semconv._incubating.attributes.cloud_attributes import CLOUD_REGION
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_DESTINATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
)
from opentelemetry.semconv._incubating.attributes.rpc_attributes import (
    RPC_METHOD,
    RPC_SERVICE,
    RPC_SYSTEM,
)
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS
from opentelemetry.semconv.attributes.db_attributes import (
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL, URL_PATH, URL_SCHEME
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from opentelemetry.trace import SpanKind

from otel_xray import XRayIdGenerator

SPANS_PER_TRACE = 10

#: Attributes the benchmark indexes as X-Ray annotations (the rest become metadata).
ANNOTATION_KEYS = ("order.id", "customer.tier")
#: Attribute keys only this benchmark uses (no semantic convention exists for them).
_ORDER_ID = "order.id"
_CUSTOMER_TIER = "customer.tier"
_CART_ITEMS = "cart.items"
_CART_TOTAL = "cart.total"
_TEMPLATE = "render.template"

RESOURCE = Resource.create(
    {
        "service.name": "orders",
        "service.version": "1.4.2",
        "cloud.provider": "aws",
        "cloud.platform": "aws_ec2",
        "cloud.region": "eu-west-1",
        "cloud.availability_zone": "eu-west-1a",
        "host.id": "i-0a1b2c3d4e5f60718",
        "host.type": "m7g.large",
    }
)

_SELECT_ORDER = "SELECT id, status, total FROM orders WHERE id = ?"
_SELECT_CUSTOMER = "SELECT id, tier, country FROM customers WHERE id = ?"
_QUEUE = "order-events"


def make_provider(*processors: SpanProcessor) -> TracerProvider:
    """A real SDK provider with the benchmark's resource, X-Ray ids and ``processors``.

    No exit hook: the scenarios shut their providers down, and a hook would keep every
    provider made for fresh spans (and so the spans) alive until the process ends.
    """
    provider = TracerProvider(resource=RESOURCE, id_generator=XRayIdGenerator(),
                              shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def record_trace(tracer: trace.Tracer, i: int) -> None:
    """Record one 10-span trace with ``tracer`` (as an instrumented app would)."""
    order = f"ord-{i:08d}"
    with tracer.start_as_current_span(
        "GET /orders/{id}",
        kind=SpanKind.SERVER,
        attributes={
            HTTP_REQUEST_METHOD: "GET",
            URL_SCHEME: "https",
            URL_PATH: f"/orders/{order}",
            HTTP_ROUTE: "/orders/{id}",
            SERVER_ADDRESS: "api.example.com",
            CLIENT_ADDRESS: "203.0.113.7",
            USER_AGENT_ORIGINAL: "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
            _ORDER_ID: order,
            _CUSTOMER_TIER: "gold",
        },
    ) as root:
        with tracer.start_as_current_span("validate", attributes={_CART_ITEMS: 3}):
            pass
        _sql(tracer, "orders", _SELECT_ORDER)
        _http(tracer, "inventory.internal", f"/stock/{order}")
        with tracer.start_as_current_span(
            "DynamoDB.GetItem",
            kind=SpanKind.CLIENT,
            attributes={
                RPC_SYSTEM: "aws-api",
                RPC_SERVICE: "DynamoDB",
                RPC_METHOD: "GetItem",
                CLOUD_REGION: "eu-west-1",
                AWS_DYNAMODB_TABLE_NAMES: ("carts",),
                AWS_REQUEST_ID: "Q7RS8TUV9WXYZ0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789AB",
            },
        ):
            pass
        with tracer.start_as_current_span("price", attributes={_CART_TOTAL: 42.5}):
            _sql(tracer, "customers", _SELECT_CUSTOMER)
            _http(tracer, "tax.internal", "/rates/eu")
        with tracer.start_as_current_span(
            f"{_QUEUE} publish",
            kind=SpanKind.PRODUCER,
            attributes={
                MESSAGING_SYSTEM: "aws_sqs",
                MESSAGING_DESTINATION_NAME: _QUEUE,
                MESSAGING_OPERATION_TYPE: "publish",
            },
        ):
            pass
        with tracer.start_as_current_span("render", attributes={_TEMPLATE: "order.html"}):
            pass
        root.set_attribute(HTTP_RESPONSE_STATUS_CODE, 200)


def _sql(tracer: trace.Tracer, table: str, query: str) -> None:
    with tracer.start_as_current_span(
        f"SELECT {table}",
        kind=SpanKind.CLIENT,
        attributes={
            DB_SYSTEM_NAME: "postgresql",
            DB_NAMESPACE: "shop",
            DB_OPERATION_NAME: "SELECT",
            DB_QUERY_TEXT: query,
            SERVER_ADDRESS: "db.internal",
            SERVER_PORT: 5432,
        },
    ):
        pass


def _http(tracer: trace.Tracer, host: str, path: str) -> None:
    with tracer.start_as_current_span(
        "GET",
        kind=SpanKind.CLIENT,
        attributes={
            HTTP_REQUEST_METHOD: "GET",
            URL_FULL: f"http://{host}{path}",
            SERVER_ADDRESS: host,
            HTTP_RESPONSE_STATUS_CODE: 200,
        },
    ):
        pass


class _Collect(SpanProcessor):
    """Keeps every finished span, in end order."""

    def __init__(self) -> None:
        self.spans: List[ReadableSpan] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def finished_spans(traces: int, start: int = 0) -> List[ReadableSpan]:
    """``traces`` recorded traces as finished SDK spans, in the order they ended."""
    collect = _Collect()
    tracer = make_provider(collect).get_tracer("otel-xray-bench")
    for i in range(start, start + traces):
        record_trace(tracer, i)
    return collect.spans


def batches(spans: Sequence[ReadableSpan], size: int) -> List[Sequence[ReadableSpan]]:
    """``spans`` cut into export batches of ``size`` (as BatchSpanProcessor would)."""
    return [spans[i : i + size] for i in range(0, len(spans), size)]


def record_xray_sdk_trace(recorder: Any, i: int) -> None:
    """The same trace with the native aws-xray-sdk: a segment and 9 subsegments."""
    order = f"ord-{i:08d}"
    segment = recorder.begin_segment("orders")
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", f"https://api.example.com/orders/{order}")
    segment.put_http_meta("user_agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
    segment.put_http_meta("client_ip", "203.0.113.7")
    segment.put_annotation("order_id", order)
    segment.put_annotation("customer_tier", "gold")
    segment.put_metadata(HTTP_ROUTE, "/orders/{id}")
    _xray_sub(recorder, "validate", None, {_CART_ITEMS: 3})
    _xray_sql(recorder, _SELECT_ORDER)
    _xray_http(recorder, "inventory.internal", f"/stock/{order}")
    sub = recorder.begin_subsegment("DynamoDB", "aws")
    sub.set_aws(
        {
            "operation": "GetItem",
            "region": "eu-west-1",
            "table_name": "carts",
            "request_id": "Q7RS8TUV9WXYZ0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789AB",
        }
    )
    recorder.end_subsegment()
    recorder.begin_subsegment("price")
    recorder.current_subsegment().put_metadata(_CART_TOTAL, 42.5)
    _xray_sql(recorder, _SELECT_CUSTOMER)
    _xray_http(recorder, "tax.internal", "/rates/eu")
    recorder.end_subsegment()
    sub = recorder.begin_subsegment("SQS", "aws")
    sub.set_aws({"operation": "SendMessage", "queue_url": _QUEUE})
    recorder.end_subsegment()
    _xray_sub(recorder, "render", None, {_TEMPLATE: "order.html"})
    segment.put_http_meta("status", 200)
    recorder.end_segment()


def _xray_sub(recorder: Any, name: str, namespace: Any, metadata: dict[str, Any]) -> None:
    sub = recorder.begin_subsegment(name, namespace or "local")
    for key, value in metadata.items():
        sub.put_metadata(key, value)
    recorder.end_subsegment()


def _xray_sql(recorder: Any, query: str) -> None:
    sub = recorder.begin_subsegment("shop@db.internal", "remote")
    sub.set_sql(
        {
            "database_type": "postgresql",
            "url": "db.internal:5432/shop",
            "sanitized_query": query,
        }
    )
    recorder.end_subsegment()


def _xray_http(recorder: Any, host: str, path: str) -> None:
    sub = recorder.begin_subsegment(host, "remote")
    sub.put_http_meta("method", "GET")
    sub.put_http_meta("url", f"http://{host}{path}")
    sub.put_http_meta("status", 200)
    recorder.end_subsegment()
