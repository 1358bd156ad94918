"""Property: ``translate`` never raises and always yields a valid document, for any span.

Spans are made by the real SDK from generated names, kinds, attributes (every value type the
SDK accepts, odd keys, NaN, bytes, lone surrogates, and the keys every concern reads),
events (exceptions with real and garbage tracebacks included), links, statuses, resources,
parents and options.

Bounded on purpose: the generated attributes keep a single span's document under 64 kB,
because trimming one oversized span is the packer's job (issue 3), not translate's.
Runs derandomized so CI is reproducible; run with ``OTEL_XRAY_FUZZ_SEED=random`` (and
``OTEL_XRAY_FUZZ_EXAMPLES=5000``) to explore.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from tests.support.helpers import assert_valid_document

# --- generated values ------------------------------------------------------------------

#: Any code point, lone surrogates included (Hypothesis leaves them out by default).
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=40)
#: Text that looks like what the concerns parse: URLs, hosts, ids, numbers as text.
SHAPED = st.sampled_from([
    "", " ", "GET", "get", "PUT", "200", "429", "-1", "99999999999999999999", "1e400", "NaN",
    "aws-api", "DynamoDB", "S3", "SQS", "Lambda", "GetItem", "us-east-1",
    "postgresql", "mysql", "sqlite", "mssql", "oracle", "redis", "mongodb", "other_sql",
    "https://api.example.com/a?b=c", "http://user:pw@host:8080/p", "http://[::1]:80/",
    "http://[bad", "//no-scheme", "https://h:99999/", "ftp://x", "http://é.example/ü",
    "postgresql://u:secret@db.local:5432/app", "jdbc:mysql://db:3306/x", "Server=h;Password=p",
    "mysql://:@/", "host.example.com", "10.0.0.1", "::1", "[::1]", "a,b", "a@b", "\ud800",
    "https://sqs.us-east-1.amazonaws.com/123456789012/q", "arn:aws:sns:us-east-1:123:t",
    "arn:aws:lambda:eu-west-1:123456789012:function:f", "1-5759e988-bd862e3fe1be46a994272793",
    '{"a": 1}', "[1, 2]", "{", "null", '"x"', '{"a": NaN}',
])
INTS = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 80, 443, 65535, 65536, -1, 2**63, 2**64])
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = st.one_of(
    st.booleans(), INTS, FLOATS, TEXT, SHAPED, st.binary(max_size=20),
)
HOMOGENEOUS = st.one_of(
    st.lists(st.booleans(), max_size=4), st.lists(INTS, max_size=4),
    st.lists(FLOATS, max_size=4), st.lists(st.one_of(TEXT, SHAPED), max_size=4),
)
#: Newer SDKs accept AnyValue: heterogeneous and nested sequences and mappings.
ANY_VALUE = st.recursive(
    st.one_of(st.none(), SCALARS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
VALUES = st.one_of(st.none(), SCALARS, SCALARS, HOMOGENEOUS, ANY_VALUE)

#: Keys the concerns read, so their code paths run on odd values too.
KNOWN_KEYS = [
    "http.method", "http.request.method", "http.url", "url.full", "url.scheme", "http.scheme",
    "url.path", "url.query", "http.target", "http.host", "http.server_name", "net.host.name",
    "net.host.port", "server.address", "server.port", "net.peer.name", "net.peer.port",
    "net.peer.ip", "network.peer.address", "http.user_agent", "user_agent.original",
    "http.client_ip", "client.address", "http.status_code", "http.response.status_code",
    "http.response.body.size", "http.response_content_length", "http.route",
    "rpc.system", "rpc.service", "rpc.method", "aws.region", "cloud.region", "aws.request_id",
    "aws.requestId", "aws.operation", "aws.service", "aws.account_id",
    "aws.dynamodb.table_names", "aws.table_name", "aws.sqs.queue_url", "aws.queue_url",
    "messaging.url", "aws.s3.bucket", "aws.s3.key", "retry_attempts", "aws.xray.retries",
    "aws.local.service", "aws.remote.service", "peer.service",
    "db.system", "db.system.name", "db.name", "db.namespace", "db.statement", "db.query.text",
    "db.user", "db.connection_string", "db.operation",
    "enduser.id", "user.id", "aws.xray.annotations", "aws.xray.metadata.ns",
    "aws.xray.metadata.AWS.x", "aws.xray.metadata.default", "exception.type",
    "otel.events", "AWS.key", "a.b", "a_b", "with space", "é", "\udc00",
]
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(ANY_CHAR, min_size=1, max_size=30))
ATTRIBUTES = st.dictionaries(KEYS, VALUES, max_size=12)

#: One big value per span: up to 40,000 characters for a key no concern maps (cut by the
#: attributes concern), up to 12,000 for any key (other concerns may copy it once or twice).
HUGE = st.one_of(
    st.tuples(st.just("app.huge"), st.integers(0, 40_000)),
    st.tuples(st.sampled_from(KNOWN_KEYS), st.integers(0, 12_000)),
)


def _real_traceback() -> str:
    def inner(value: str) -> None:
        raise ValueError(f"bad, value: {value}")

    try:
        try:
            inner("x")
        except ValueError as exc:
            raise KeyError("during, handling") from exc
    except KeyError:
        return traceback.format_exc()
    return ""


STACKTRACES = st.one_of(
    TEXT,
    st.sampled_from([
        _real_traceback(),
        'Traceback (most recent call last):\n  File "a, b.py", line 9, in <module>\n    x()\n'
        "    ^^^\nZeroDivisionError: division by zero",
        "java.lang.IllegalStateException: boom\n\tat com.ex.A.run(A.java:10)\n\t... 3 more",
        "Error: boom\n    at f (/app/x.js:1:2)",
        'Traceback (most recent call last):\n  File "x.py", line NaN, in f',
        "During handling of the above exception, another exception occurred:",
        'File "x.py", line 99999999999999999999999, in g',
    ]),
    st.lists(st.sampled_from([
        "Traceback (most recent call last):", '  File "/p/a.py", line 3, in f', "    f()",
        "    ~~~^^", "ValueError: x", "",
        "The above exception was the direct cause of the following exception:",
    ]), max_size=200).map("\n".join),
)
EXCEPTION_ATTRIBUTES = st.fixed_dictionaries(
    {}, optional={
        "exception.type": st.one_of(TEXT, SHAPED), "exception.message": TEXT,
        "exception.stacktrace": STACKTRACES, "exception.escaped": st.booleans(),
    },
)
TIMESTAMPS = st.integers(0, 2**62)
#: Events and links carry fewer attributes, to stay well under 64 kB in total.
SMALL_ATTRIBUTES = st.dictionaries(KEYS, VALUES, max_size=4)
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.one_of(TEXT, st.just("exception")), SMALL_ATTRIBUTES, TIMESTAMPS),
        st.tuples(st.just("exception"), EXCEPTION_ATTRIBUTES, TIMESTAMPS),
    ),
    max_size=4,
)
SPAN_CONTEXTS = st.builds(
    SpanContext, trace_id=st.integers(0, 2**128 - 1), span_id=st.integers(0, 2**64 - 1),
    is_remote=st.booleans(), trace_flags=st.just(TraceFlags(TraceFlags.SAMPLED)),
)
LINKS = st.lists(st.tuples(SPAN_CONTEXTS, st.one_of(st.none(), SMALL_ATTRIBUTES)), max_size=3)
STATUSES = st.one_of(
    st.none(),
    st.builds(Status, st.sampled_from(list(StatusCode)), st.one_of(st.none(), TEXT, SHAPED)),
)
RESOURCE_KEYS = st.sampled_from([
    "service.name", "service.version", "cloud.provider", "cloud.platform", "cloud.region",
    "cloud.account.id", "cloud.availability_zone", "host.id", "host.type", "host.image.id",
    "container.name", "container.id", "aws.ecs.launchtype", "aws.ecs.task.arn",
    "aws.ecs.cluster.arn", "aws.ecs.container.arn", "aws.ecs.task.family", "k8s.cluster.name",
    "k8s.pod.name", "aws.log.group.names", "aws.log.group.arns", "deployment.environment",
    "telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version",
    "telemetry.auto.version", "telemetry.distro.version", "faas.name",
    "service.instance.id", "aws.eks.cluster.arn",
])
RESOURCE_VALUES = st.one_of(
    VALUES,
    st.sampled_from([
        "aws", "gcp", "aws_ec2", "aws_ecs", "aws_eks", "aws_elastic_beanstalk",
        "aws_app_runner", "aws_lambda", "ec2", "fargate", "FARGATE", "python", "1.2.3",
    ]),
    st.lists(st.sampled_from(["group-a", "arn:aws:logs:us-east-1:123:log-group:g:*", ""]),
             max_size=3),
)
RESOURCES = st.tuples(
    st.dictionaries(st.one_of(RESOURCE_KEYS, KEYS), RESOURCE_VALUES, max_size=10),
    st.booleans(),  # merge with the SDK's default resource
)
PARENTS = st.one_of(st.none(), st.just("local"), SPAN_CONTEXTS)
OPTIONS = st.builds(
    TranslateOptions,
    indexed_attributes=st.lists(KEYS, max_size=5).map(tuple),
    index_all_attributes=st.booleans(),
    annotation_dots=st.booleans(),
    resource_metadata=st.booleans(),
    log_group_names=st.lists(st.one_of(TEXT, SHAPED), max_size=2).map(tuple),
    lambda_mode=st.booleans(),
    max_stack_frames=st.integers(1, 60),
)


@dataclass
class Case:
    name: str
    kind: SpanKind
    attributes: Dict[str, Any]
    huge: Tuple[str, int]
    events: List[Tuple[str, Dict[str, Any], int]]
    links: List[Tuple[SpanContext, Optional[Dict[str, Any]]]]
    status: Optional[Status]
    resource: Tuple[Dict[str, Any], bool]
    parent: Any
    start: int
    duration: int
    exception: bool


CASES = st.builds(
    Case,
    name=st.one_of(TEXT, SHAPED, st.text(ANY_CHAR, max_size=400)),
    kind=st.sampled_from(list(SpanKind)),
    attributes=ATTRIBUTES,
    huge=HUGE,
    events=EVENTS,
    links=LINKS,
    status=STATUSES,
    resource=RESOURCES,
    parent=PARENTS,
    start=TIMESTAMPS,
    duration=st.integers(0, 10**13),
    exception=st.booleans(),
)


@contextlib.contextmanager
def sdk_logs_silenced() -> Iterator[None]:
    """The SDK warns about every odd key and value it drops; nothing to see here."""
    logger = logging.getLogger("opentelemetry")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def make_span(case: Case) -> ReadableSpan:
    """One finished span, made by the real SDK from ``case``."""
    attributes, merge = case.resource
    resource = Resource.create(attributes) if merge else Resource(attributes)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fuzz")
    if case.parent == "local":
        context = trace.set_span_in_context(tracer.start_span("local-parent"))
    elif isinstance(case.parent, SpanContext):
        context = trace.set_span_in_context(NonRecordingSpan(case.parent))
    else:
        context = None
    huge_key, huge_length = case.huge
    attrs = dict(case.attributes)
    attrs[huge_key] = "x" * huge_length
    span = tracer.start_span(
        case.name, context=context, kind=case.kind, attributes=attrs,
        links=[Link(ctx, link_attrs) for ctx, link_attrs in case.links],
        start_time=case.start,
    )
    for name, event_attrs, timestamp in case.events:
        span.add_event(name, event_attrs, timestamp)
    if case.exception:
        try:
            raise RuntimeError("boom, with a comma")
        except RuntimeError as exc:
            span.record_exception(exc)
    if case.status is not None:
        span.set_status(case.status)
    span.end(end_time=case.start + case.duration)
    return exporter.get_finished_spans()[-1]


_RANDOM = os.environ.get("OTEL_XRAY_FUZZ_SEED") == "random"


@settings(
    max_examples=int(os.environ.get("OTEL_XRAY_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=not _RANDOM,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
    ],
)
@given(case=CASES, options=OPTIONS)
def test_translate_never_raises_and_yields_a_valid_document(
    case: Case, options: TranslateOptions
) -> None:
    with sdk_logs_silenced():
        span = make_span(case)
    assert_valid_document(to_document(span, options))
