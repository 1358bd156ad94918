"""The translator's fast paths give the same documents as the plain ones.

Translation reads an SDK span's fields directly (not through its copying properties),
skips concerns whose keys are absent and remembers per-resource, per-trace, per-name and
per-key results. Each test pins one of those shortcuts to the behaviour it replaces.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, List

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes

from otel_xray import TranslateOptions
from otel_xray.ids import to_xray_trace_id
from otel_xray.translate import segment, to_document
from otel_xray.translate.attributes import EVENTS_DROPPED_KEY, EVENTS_KEY, LINKS_DROPPED_KEY
from otel_xray.translate.names import clean_name
from tests.support.documents import without
from tests.support.helpers import (
    REMOTE_SPAN_ID,
    REMOTE_TRACE_ID,
    SpanRecorder,
    assert_valid_document,
)

OPTIONS = TranslateOptions(lambda_mode=False)
TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793


def _context(span_id: int, trace_id: int = TRACE_ID, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id, span_id, remote, TraceFlags(TraceFlags.SAMPLED))


class RedactingSpan(ReadableSpan):
    """A span class that shows its attributes through its own property."""

    @property
    def attributes(self) -> Attributes:
        return MappingProxyType({"redacted": True})


def test_span_class_overriding_a_property_is_read_through_it() -> None:
    span = RedactingSpan(
        "work", context=_context(1), parent=_context(2), attributes={"secret": "s3cr3t"},
        start_time=1_000_000_000, end_time=2_000_000_000,
    )

    doc = assert_valid_document(to_document(span, OPTIONS))

    assert doc["metadata"]["default"] == {"redacted": True}


def test_hand_made_span_with_plain_attributes_events_and_links() -> None:
    span = ReadableSpan(
        "work", context=_context(1), parent=_context(2), attributes={"k": "v", "n": 3},
        events=(Event("cache.miss", {"key": "a"}, timestamp=1_500_000_000),),
        links=(Link(_context(3, trace_id=TRACE_ID + 1), {"why": "batch"}),),
        start_time=1_000_000_000, end_time=2_000_000_000,
    )

    doc = assert_valid_document(to_document(span, OPTIONS))

    default = doc["metadata"]["default"]
    assert (default["k"], default["n"]) == ("v", 3)
    assert default[EVENTS_KEY] == [
        {"name": "cache.miss", "time": 1.5, "attributes": {"key": "a"}}
    ]
    assert doc["links"] == [{
        "trace_id": to_xray_trace_id(TRACE_ID + 1), "id": f"{3:016x}",
        "attributes": {"why": "batch"},
    }]


def test_span_without_attributes() -> None:
    span = ReadableSpan(
        "work", context=_context(1), parent=_context(2), attributes=None,
        start_time=1_000_000_000, end_time=2_000_000_000,
    )

    doc = assert_valid_document(to_document(span, OPTIONS))

    assert "metadata" not in doc


def test_running_span_is_translated_with_its_current_attributes() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    span = provider.get_tracer("t").start_span("work", attributes={"step": 1})

    first = assert_valid_document(to_document(span, OPTIONS))  # type: ignore[arg-type]
    span.set_attribute("step", 2)
    second = assert_valid_document(to_document(span, OPTIONS))  # type: ignore[arg-type]
    span.end()

    assert first["in_progress"] is True
    assert first["metadata"]["default"]["step"] == 1
    assert second["metadata"]["default"]["step"] == 2


def test_events_and_links_the_sdk_dropped_are_counted() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_events=2, max_links=1))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    links = [Link(_context(10 + i, remote=True)) for i in range(3)]
    with provider.get_tracer("t").start_as_current_span("work", links=links) as span:
        for i in range(5):
            span.add_event(f"e{i}")

    doc = assert_valid_document(to_document(exporter.get_finished_spans()[0], OPTIONS))

    default = doc["metadata"]["default"]
    assert [event["name"] for event in default[EVENTS_KEY]] == ["e3", "e4"]
    assert default[EVENTS_DROPPED_KEY] == 3
    assert default[LINKS_DROPPED_KEY] == 2
    assert len(doc["links"]) == 1


def test_a_name_is_cleaned_the_same_way_every_time() -> None:
    names = ["a\tb", "ok-name", " padded ", "x" * 300, "bad\ud800name", "!!!"]

    first = [clean_name(name) for name in names]
    # Enough other names to cycle the cache of cleaned names.
    for i in range(5000):
        clean_name(f"name-{i}\n")
    again = [clean_name(name) for name in names]

    assert first == again == ["a b", "ok-name", "padded", "x" * 200, "badname", ""]


def test_annotation_keys_follow_each_spans_own_options(recorder: SpanRecorder) -> None:
    span = recorder.span("s", attributes={"order.id": "o-1"})
    dotted = TranslateOptions(indexed_attributes=("order.id",), annotation_dots=True,
                              lambda_mode=False)
    plain = TranslateOptions(indexed_attributes=("order.id",), lambda_mode=False)

    docs = [assert_valid_document(to_document(span, options))
            for options in (dotted, plain, dotted)]

    assert [doc["annotations"] for doc in docs] == [
        {"order.id": "o-1"}, {"order_id": "o-1"}, {"order.id": "o-1"}
    ]


def test_whether_a_key_is_mapped_depends_on_the_span(recorder: SpanRecorder) -> None:
    aws_call = recorder.span(
        "DynamoDB.GetItem", kind=SpanKind.CLIENT, parent="local",
        attributes={"rpc.system": "aws-api", "rpc.method": "GetItem"},
    )
    grpc_call = recorder.span(
        "Get", kind=SpanKind.CLIENT, parent="local",
        attributes={"rpc.system": "grpc", "rpc.method": "Get"},
    )

    docs = [assert_valid_document(to_document(span, OPTIONS))
            for span in (aws_call, grpc_call, aws_call)]

    metadata = [doc.get("metadata", {}).get("default", {}) for doc in docs]
    assert [values.get("rpc.method") for values in metadata] == [None, "Get", None]
    assert docs[0]["aws"]["operation"] == docs[2]["aws"]["operation"] == "GetItem"


def test_spans_of_many_traces_each_get_their_own_trace_id() -> None:
    spans: List[ReadableSpan] = [
        ReadableSpan(
            "work", context=_context(1, trace_id=(i << 96) | 7),
            start_time=1_000_000_000, end_time=2_000_000_000,
        )
        for i in range(1, 1500)
    ]

    docs = [to_document(span, OPTIONS) for span in spans]

    assert [doc["trace_id"] for doc in docs] == [
        to_xray_trace_id((i << 96) | 7) for i in range(1, 1500)
    ]


def test_segments_of_many_resources_each_get_their_own_fields() -> None:
    resources = [
        Resource.create({"service.name": f"svc-{i}", "service.version": f"1.{i}"})
        for i in range(100)
    ]
    spans = [
        ReadableSpan(
            "GET /", context=_context(1), parent=_context(REMOTE_SPAN_ID, REMOTE_TRACE_ID, True),
            resource=resource, kind=SpanKind.SERVER,
            start_time=1_000_000_000, end_time=2_000_000_000,
        )
        for resource in resources
    ]

    docs: List[Dict[str, Any]] = [to_document(span, OPTIONS) for span in spans * 2]

    assert [(doc["name"], doc["service"]["version"]) for doc in docs] == [
        (f"svc-{i}", f"1.{i}") for i in range(100)
    ] * 2


def test_name_sources_follow_each_spans_kind(recorder: SpanRecorder) -> None:
    # Same keys, in the same order: one remembered key set, one name per kind.
    attributes = {"url.full": "https://api.example.com/v1/items"}
    spans = [
        recorder.span("fetch", kind=kind, parent="local", attributes=attributes)
        for kind in (SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.CLIENT)
    ]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    assert [doc["name"] for doc in docs] == ["api.example.com", "fetch", "api.example.com"]


def test_metadata_follows_each_spans_own_key_order(recorder: SpanRecorder) -> None:
    spans = [
        recorder.span("s", parent="local", attributes=dict(pairs))
        for pairs in ([("a", 1), ("b", 2)], [("b", 2), ("a", 1)], [("a", 1), ("b", 2)])
    ]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    assert [list(doc["metadata"]["default"].items()) for doc in docs] == [
        [("a", 1), ("b", 2)], [("b", 2), ("a", 1)], [("a", 1), ("b", 2)]
    ]


_SQL_CALL = {
    "db.system.name": "postgresql", "db.namespace": "shop",
    "db.query.text": "SELECT 1", "server.address": "db.internal", "server.port": 5432,
}


def test_a_repeated_sql_span_gets_its_own_sql_block(recorder: SpanRecorder) -> None:
    spans = [
        recorder.span("SELECT", kind=SpanKind.CLIENT, parent="local", attributes=_SQL_CALL)
        for _ in range(2)
    ]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]
    docs[0]["sql"]["url"] = "changed"

    assert docs[1]["sql"] == {
        "database_type": "postgresql", "sanitized_query": "SELECT 1",
        "url": "postgresql://db.internal:5432/shop",
    }


def test_sql_blocks_follow_each_spans_value_types(recorder: SpanRecorder) -> None:
    # Equal values of other types (True == 1) must not share a remembered block.
    ports = [5432, True, 5432, 1]
    spans = [
        recorder.span("SELECT", kind=SpanKind.CLIENT, parent="local",
                      attributes={**_SQL_CALL, "server.port": port})
        for port in ports
    ]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    assert [doc["sql"]["url"] for doc in docs] == [
        "postgresql://db.internal:5432/shop", "postgresql://db.internal/shop",
        "postgresql://db.internal:5432/shop", "postgresql://db.internal:1/shop",
    ]


def test_annotations_follow_each_spans_values_with_the_same_keys(
    recorder: SpanRecorder,
) -> None:
    options = TranslateOptions(indexed_attributes=("a", "b", "a"), lambda_mode=False)
    spans = [
        recorder.span("s", attributes={"a": a, "b": "x"})
        for a in ("first", [1, 2], "third")
    ]

    docs = [assert_valid_document(to_document(span, options)) for span in spans]

    assert [doc["annotations"] for doc in docs] == [
        {"a": "first", "b": "x"}, {"b": "x"}, {"a": "third", "b": "x"}
    ]
    assert docs[1]["metadata"]["default"] == {"a": [1, 2]}


# --- spans that repeat an earlier one ----------------------------------------------------
# A span equal to an earlier one in everything but ids and times gets the earlier span's
# remembered fields: each test pins one thing the remembered fields must not leak across.


def _body(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The document without what differs between two spans of equal content."""
    return without(doc, "id", "trace_id", "parent_id", "start_time", "end_time")


def test_a_repeated_span_gets_the_document_of_a_fresh_translation(
    recorder: SpanRecorder,
) -> None:
    attributes = {**_SQL_CALL, "rows": 3, "cached": False, "tables": ("a", "b")}
    spans = [recorder.span("SELECT", kind=SpanKind.CLIENT, parent="local",
                           attributes=attributes) for _ in range(3)]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    assert _body(docs[1]) == _body(docs[2]) == _body(docs[0])
    assert len({doc["id"] for doc in docs}) == 3
    assert docs[1]["start_time"] == spans[1].start_time / 1e9  # type: ignore[operator]


def test_a_repeated_span_keeps_each_values_type(recorder: SpanRecorder) -> None:
    # Equal values of other types (True == 1 == 1.0, 0.0 == -0.0 == 0 == False,
    # (1,) == (True,)), beside a float attribute (2.5) or an int one (0).
    values = [True, 1, 1.0, 0.0, -0.0, (1,), (True,), "1", 0, False]
    spans = [recorder.span("work", attributes={"v": value, "w": other})
             for value in values * 2 for other in (2.5, 0)]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    got = [doc["metadata"]["default"]["v"] for doc in docs]
    expected = [v for v in [True, 1, 1.0, 0.0, -0.0, [1], [True], "1", 0, False] * 2
                for _ in range(2)]
    assert [(type(v), v) for v in got] == [(type(v), v) for v in expected]
    assert [str(v) for v in got] == [str(v) for v in expected]  # -0.0 stays -0.0


def test_a_repeated_span_follows_its_own_name_kind_and_place(recorder: SpanRecorder) -> None:
    attributes = {"http.request.method": "GET", "url.full": "http://a.example/x"}
    made = [
        recorder.span("one", kind=SpanKind.CLIENT, parent="local", attributes=attributes),
        recorder.span("two", kind=SpanKind.CLIENT, parent="local", attributes=attributes),
        recorder.span("one", kind=SpanKind.INTERNAL, parent="local", attributes=attributes),
        recorder.span("one", kind=SpanKind.CLIENT, parent="remote", attributes=attributes),
        recorder.span("one", kind=SpanKind.CLIENT, parent="local", attributes=attributes),
    ]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in made]

    assert [doc.get("namespace") for doc in docs] == ["remote", "remote", None, None, "remote"]
    assert [doc.get("type") for doc in docs] == [
        "subsegment", "subsegment", "subsegment", None, "subsegment"
    ]
    assert _body(docs[4]) == _body(docs[0])
    assert docs[0]["name"] == docs[1]["name"]  # an HTTP call is named after its host
    assert docs[2]["name"] == "one"


def test_a_repeated_span_follows_its_own_resource_and_options() -> None:
    first = SpanRecorder(resource=Resource.create({"service.name": "a", "service.version": "1"}))
    second = SpanRecorder(resource=Resource.create({"service.name": "a", "service.version": "2"}))
    indexed = TranslateOptions(lambda_mode=False, indexed_attributes=("k",))
    spans = [recorder.span("GET /", kind=SpanKind.SERVER, attributes={"k": "v"})
             for recorder in (first, second, first)]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]
    annotated = assert_valid_document(to_document(spans[0], indexed))

    assert [doc["service"]["version"] for doc in docs] == ["1", "2", "1"]
    assert annotated["annotations"] == {"k": "v"}
    assert "annotations" not in docs[2]


def test_failed_spans_each_get_their_own_exception_ids(recorder: SpanRecorder) -> None:
    error = ValueError("boom")
    spans = [recorder.span("work", parent="local", exception=error,
                           status=Status(StatusCode.ERROR, "boom")) for _ in range(2)]

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    ids = [doc["cause"]["exceptions"][0]["id"] for doc in docs]
    assert ids[0] != ids[1]


def test_a_document_changed_by_its_reader_changes_no_later_one(recorder: SpanRecorder) -> None:
    spans = [recorder.span("SELECT", kind=SpanKind.CLIENT, parent="local",
                           attributes=_SQL_CALL) for _ in range(2)]

    first = to_document(spans[0], OPTIONS)
    first["sql"]["url"] = "changed"
    first["metadata"]["default"]["new"] = 1
    second = to_document(spans[1], OPTIONS)

    assert second["sql"]["url"] == "postgresql://db.internal:5432/shop"
    assert "new" not in second.get("metadata", {}).get("default", {})


def test_spans_with_much_text_are_not_remembered(recorder: SpanRecorder) -> None:
    before = len(segment._memos)
    for index in range(3):
        span = recorder.span(f"big-{index}", attributes={"text": "x" * 5000})
        assert_valid_document(to_document(span, OPTIONS))

    assert len(segment._memos) <= before  # (or emptied, when it filled up)


def test_spans_whose_values_never_repeat_stop_being_remembered(
    recorder: SpanRecorder,
) -> None:
    spans = [recorder.span("unique", attributes={"request.id": f"r-{n}", "shape.probe": 1})
             for n in range(200)]
    before = len(segment._memos)

    docs = [assert_valid_document(to_document(span, OPTIONS)) for span in spans]

    assert len(segment._memos) - before <= segment._MEMO_WINDOW
    assert [doc["metadata"]["default"]["request.id"] for doc in docs] == [
        f"r-{n}" for n in range(200)
    ]
