"""Annotations, metadata, ``user``, span events and links (attributes concern).

Most cases run ``attributes.apply`` on a minimal document so that they do not depend on
which keys the other concerns map; a few run the whole ``to_document``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from otel_xray import TranslateOptions
from otel_xray.ids import to_xray_trace_id
from otel_xray.translate import attributes, to_document
from otel_xray.translate.attributes import (
    EVENTS_DROPPED_KEY,
    EVENTS_KEY,
    LINKS_DROPPED_KEY,
    MAX_ANNOTATIONS,
    MAX_EVENTS,
    MAX_LINKS,
)
from tests.support.helpers import (
    REMOTE_SPAN_ID,
    REMOTE_TRACE_ID,
    SpanRecorder,
    assert_valid_document,
)

OPTIONS = TranslateOptions(lambda_mode=False)
LONG = "v" * 1001


def document(
    recorder: SpanRecorder,
    attrs: Dict[str, Any],
    options: TranslateOptions = OPTIONS,
    *,
    exclude: FrozenSet[str] = frozenset(),
    is_segment: bool = True,
    events: Sequence[tuple] = (),
    links: Sequence[Link] = (),
) -> Dict[str, Any]:
    """A minimal valid document carrying what ``attributes.apply`` adds; validated."""
    span = recorder.span("s", attributes=attrs, events=events, links=links)
    skip_unless_sdk_kept(span, attrs)
    doc: Dict[str, Any] = {
        "name": "s",
        "id": f"{span.context.span_id:016x}",
        "trace_id": to_xray_trace_id(span.context.trace_id),
        "start_time": 1.0,
        "end_time": 2.0,
    }
    if not is_segment:
        doc.update(type="subsegment", parent_id="53995c3f42cd8ad8")
    attrs_of_span = dict(span.attributes or {})
    attributes.apply(
        doc, attrs_of_span, span.events, span.dropped_events, span.links,
        span.dropped_links, options, is_segment,
        attributes.key_plan(tuple(attrs_of_span), exclude),
    )
    return assert_valid_document(doc)


def skip_unless_sdk_kept(span: ReadableSpan, attrs: Dict[str, Any]) -> None:
    """Older SDKs (before AnyValue attributes) decode bytes and drop mappings."""
    kept = span.attributes or {}
    for key, value in attrs.items():
        if isinstance(value, (bytes, dict)) and type(kept.get(key)) is not type(value):
            pytest.skip(f"this SDK does not keep {type(value).__name__} attribute values")


def default_metadata(doc: Dict[str, Any]) -> Dict[str, Any]:
    return doc.get("metadata", {}).get("default", {})


# --- metadata.default ----------------------------------------------------------------


def test_attribute_goes_to_default_metadata_with_key_unchanged(recorder: SpanRecorder) -> None:
    doc = document(recorder, {"app.Order-ID": "A-1", "app.count": 3})
    assert default_metadata(doc) == {"app.Order-ID": "A-1", "app.count": 3}


def test_none_value_is_skipped(recorder: SpanRecorder) -> None:
    doc = document(recorder, {"app.gone": None, "app.kept": 1})
    assert default_metadata(doc) == {"app.kept": 1}


def test_span_without_attributes_has_no_metadata(recorder: SpanRecorder) -> None:
    doc = document(recorder, {})
    assert "metadata" not in doc and "annotations" not in doc


def test_key_mapped_by_another_concern_is_not_repeated(recorder: SpanRecorder) -> None:
    doc = document(recorder, {"http.method": "GET", "app.x": 1}, exclude=frozenset({"http.method"}))
    assert default_metadata(doc) == {"app.x": 1}


def test_annotations_list_attribute_is_not_repeated_in_metadata(recorder: SpanRecorder) -> None:
    doc = document(recorder, {"aws.xray.annotations": ("app.x",), "app.x": 1, "app.y": 2})
    assert default_metadata(doc) == {"app.y": 2}


def test_annotations_list_key_is_a_mapped_key() -> None:
    assert "aws.xray.annotations" in attributes.MAPPED_KEYS


# --- annotations ---------------------------------------------------------------------

# id: (attributes, options, exclude, expected annotations, keys expected in metadata.default)
ANNOTATION_CASES: Dict[str, tuple] = {
    "configured key annotated and not in metadata": (
        {"app.tier": "gold", "app.x": 1},
        TranslateOptions(indexed_attributes=("app.tier",)),
        frozenset(), {"app_tier": "gold"}, {"app.x"},
    ),
    "configured key absent from span adds nothing": (
        {"app.x": 1}, TranslateOptions(indexed_attributes=("app.tier",)),
        frozenset(), {}, {"app.x"},
    ),
    "span list annotates listed keys": (
        {"aws.xray.annotations": ("app.a", "app.b"), "app.a": 1, "app.b": True, "app.c": 2},
        OPTIONS, frozenset(), {"app_a": 1, "app_b": True}, {"app.c"},
    ),
    "span list as a single string": (
        {"aws.xray.annotations": "app.a", "app.a": 1.5}, OPTIONS,
        frozenset(), {"app_a": 1.5}, set(),
    ),
    "span list naming absent keys adds nothing": (
        {"aws.xray.annotations": ("app.none",), "app.a": 1}, OPTIONS,
        frozenset(), {}, {"app.a"},
    ),
    "index-all annotates every metadata attribute": (
        {"app.a": 1, "b": "x"}, TranslateOptions(index_all_attributes=True),
        frozenset(), {"app_a": 1, "b": "x"}, set(),
    ),
    "index-all skips keys mapped elsewhere": (
        {"http.method": "GET", "app.a": 1}, TranslateOptions(index_all_attributes=True),
        frozenset({"http.method"}), {"app_a": 1}, set(),
    ),
    "configured key mapped elsewhere is still annotated": (
        {"http.method": "GET"}, TranslateOptions(indexed_attributes=("http.method",)),
        frozenset({"http.method"}), {"http_method": "GET"}, set(),
    ),
    "span-listed key mapped elsewhere is still annotated": (
        {"aws.xray.annotations": ("http.method",), "http.method": "GET"}, OPTIONS,
        frozenset({"http.method"}), {"http_method": "GET"}, set(),
    ),
    "dots kept when annotation_dots": (
        {"app.tier": "gold"},
        TranslateOptions(indexed_attributes=("app.tier",), annotation_dots=True),
        frozenset(), {"app.tier": "gold"}, set(),
    ),
    "other characters become underscores": (
        {"app tier-é/x": 1}, TranslateOptions(indexed_attributes=("app tier-é/x",)),
        frozenset(), {"app_tier___x": 1}, set(),
    ),
    "key cut to 500 characters": (
        {"k" * 600: 1}, TranslateOptions(indexed_attributes=("k" * 600,)),
        frozenset(), {"k" * 500: 1}, set(),
    ),
    "string cut to 1000, whole value stays in metadata": (
        {"app.long": LONG}, TranslateOptions(indexed_attributes=("app.long",)),
        frozenset(), {"app_long": "v" * 1000}, {"app.long"},
    ),
    "lone surrogate in value replaced": (
        {"app.s": "a\ud800"}, TranslateOptions(indexed_attributes=("app.s",)),
        frozenset(), {"app_s": "a\ufffd"}, set(),
    ),
    "NaN is not an annotation and stays in metadata": (
        {"app.f": math.nan}, TranslateOptions(indexed_attributes=("app.f",)),
        frozenset(), {}, {"app.f"},
    ),
    "Infinity is not an annotation": (
        {"app.f": math.inf}, TranslateOptions(index_all_attributes=True),
        frozenset(), {}, {"app.f"},
    ),
    "sequence is not an annotation": (
        {"app.l": ("a", "b")}, TranslateOptions(indexed_attributes=("app.l",)),
        frozenset(), {}, {"app.l"},
    ),
    "bytes are not an annotation": (
        {"app.b": b"x"}, TranslateOptions(indexed_attributes=("app.b",)),
        frozenset(), {}, {"app.b"},
    ),
    "int over 64 bits is not an annotation": (
        {"app.i": 2**64}, TranslateOptions(indexed_attributes=("app.i",)),
        frozenset(), {}, {"app.i"},
    ),
    "collision after cleaning: first in priority wins": (
        {"app.x": 1, "app_x": 2}, TranslateOptions(indexed_attributes=("app_x", "app.x")),
        frozenset(), {"app_x": 2}, {"app.x"},
    ),
    "collision under index-all: first in sorted order wins": (
        {"app_x": 2, "app.x": 1}, TranslateOptions(index_all_attributes=True),
        frozenset(), {"app_x": 1}, {"app_x"},
    ),
    "aws.xray.metadata attributes are never index-all annotations": (
        {"aws.xray.metadata.ns": '{"a": 1}'}, TranslateOptions(index_all_attributes=True),
        frozenset(), {}, set(),
    ),
}


@pytest.mark.parametrize(
    ("attrs", "options", "exclude", "expected", "in_metadata"),
    list(ANNOTATION_CASES.values()), ids=list(ANNOTATION_CASES),
)
def test_annotations(
    recorder: SpanRecorder, attrs: Dict[str, Any], options: TranslateOptions,
    exclude: FrozenSet[str], expected: Dict[str, Any], in_metadata: set,
) -> None:
    doc = document(recorder, attrs, options, exclude=exclude)
    assert doc.get("annotations", {}) == expected
    assert set(default_metadata(doc)) == in_metadata


def test_at_most_50_annotations_rest_stays_in_metadata(recorder: SpanRecorder) -> None:
    attrs = {f"k{i:03d}": i for i in range(MAX_ANNOTATIONS + 10)}
    doc = document(recorder, attrs, TranslateOptions(index_all_attributes=True))
    assert doc["annotations"] == {f"k{i:03d}": i for i in range(MAX_ANNOTATIONS)}
    assert default_metadata(doc) == {f"k{i:03d}": i for i in range(MAX_ANNOTATIONS, 60)}


def test_annotation_priority_is_configured_then_span_list_then_index_all(
    recorder: SpanRecorder,
) -> None:
    attrs: Dict[str, Any] = {f"a{i:02d}": i for i in range(MAX_ANNOTATIONS)}
    attrs.update({"z.listed": "l", "z.configured": "c", "aws.xray.annotations": ("z.listed",)})
    options = TranslateOptions(indexed_attributes=("z.configured",), index_all_attributes=True)
    doc = document(recorder, attrs, options)
    annotations = list(doc["annotations"])
    assert annotations[:2] == ["z_configured", "z_listed"]
    assert len(annotations) == MAX_ANNOTATIONS
    assert set(default_metadata(doc)) == {"a48", "a49"}


# --- aws.xray.metadata.<ns> ----------------------------------------------------------

# id: (attributes, expected metadata)
NAMESPACE_CASES: Dict[str, tuple] = {
    "JSON object becomes the namespace": (
        {"aws.xray.metadata.orders": '{"id": 7, "items": [1, 2]}'},
        {"orders": {"id": 7, "items": [1, 2]}},
    ),
    "JSON non-object is wrapped": (
        {"aws.xray.metadata.orders": "[1, 2]"}, {"orders": {"value": [1, 2]}},
    ),
    "invalid JSON stays a string under its key": (
        {"aws.xray.metadata.orders": "{nope"},
        {"default": {"aws.xray.metadata.orders": "{nope"}},
    ),
    "NaN literal is invalid JSON": (
        {"aws.xray.metadata.n": "NaN"}, {"default": {"aws.xray.metadata.n": "NaN"}},
    ),
    "non-string value stays under its key": (
        {"aws.xray.metadata.n": 5}, {"default": {"aws.xray.metadata.n": 5}},
    ),
    "reserved AWS. namespace is never emitted": (
        {"aws.xray.metadata.AWS.x": '{"a": 1}'},
        {"default": {"aws.xray.metadata.AWS.x": {"a": 1}}},
    ),
    "reserved namespace matched in any case": (
        {"aws.xray.metadata.aws.x": '{"a": 1}'},
        {"default": {"aws.xray.metadata.aws.x": {"a": 1}}},
    ),
    "empty namespace stays under its key": (
        {"aws.xray.metadata.": '{"a": 1}'}, {"default": {"aws.xray.metadata.": {"a": 1}}},
    ),
    "default namespace merges, real attribute wins": (
        {"app.a": 1, "aws.xray.metadata.Default": '{"app.a": 2, "app.b": 3}'},
        {"default": {"app.a": 1, "app.b": 3}},
    ),
    "parsed JSON is bounded like any value": (
        {"aws.xray.metadata.deep": '{"a":' * 12 + "1" + "}" * 12},
        {"deep": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": "...[truncated]"}}}}}}}}},
    ),
}


@pytest.mark.parametrize(
    ("attrs", "expected"), list(NAMESPACE_CASES.values()), ids=list(NAMESPACE_CASES)
)
def test_metadata_namespaces(
    recorder: SpanRecorder, attrs: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    assert document(recorder, attrs)["metadata"] == expected


# --- user ----------------------------------------------------------------------------

# id: (attributes, is_segment, expected user, keys expected in metadata.default)
USER_CASES: Dict[str, tuple] = {
    "enduser.id on a segment": ({"enduser.id": "alice"}, True, "alice", set()),
    "user.id on a segment": ({"user.id": "bob"}, True, "bob", set()),
    "enduser.id preferred, user.id stays in metadata": (
        {"user.id": "bob", "enduser.id": "alice"}, True, "alice", {"user.id"},
    ),
    "integer id as text": ({"enduser.id": 42}, True, "42", set()),
    "blank id ignored": ({"enduser.id": " ", "user.id": "bob"}, True, "bob", {"enduser.id"}),
    "non-text id stays in metadata": ({"enduser.id": 1.5}, True, None, {"enduser.id"}),
    "cut to 250, whole id stays in metadata": (
        {"enduser.id": "u" * 300}, True, "u" * 250, {"enduser.id"},
    ),
    "subsegment keeps the id in metadata": ({"enduser.id": "alice"}, False, None, {"enduser.id"}),
}


@pytest.mark.parametrize(
    ("attrs", "is_segment", "expected", "in_metadata"),
    list(USER_CASES.values()), ids=list(USER_CASES),
)
def test_user(
    recorder: SpanRecorder, attrs: Dict[str, Any], is_segment: bool,
    expected: Optional[str], in_metadata: set,
) -> None:
    doc = document(recorder, attrs, is_segment=is_segment)
    assert doc.get("user") == expected
    assert set(default_metadata(doc)) == in_metadata


def test_translate_sets_user_on_segment_only(recorder: SpanRecorder) -> None:
    segment = assert_valid_document(
        to_document(recorder.span("root", attributes={"enduser.id": "alice"}), OPTIONS)
    )
    child = assert_valid_document(
        to_document(recorder.span("c", parent="local", attributes={"enduser.id": "alice"}), OPTIONS)
    )
    assert segment["user"] == "alice" and "user" not in child
    assert child["metadata"]["default"]["enduser.id"] == "alice"


# --- span events ---------------------------------------------------------------------


def test_event_kept_with_name_time_and_attributes(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, events=[("cache.miss", {"key": "k1"}, 1_500_000_000_500_000_000)])
    assert default_metadata(doc)[EVENTS_KEY] == [
        {"name": "cache.miss", "time": 1_500_000_000.5, "attributes": {"key": "k1"}}
    ]


def test_event_without_attributes_has_no_attributes_field(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, events=[("tick", {}, 2_000_000_000)])
    assert default_metadata(doc)[EVENTS_KEY] == [{"name": "tick", "time": 2.0}]


def test_exception_event_is_left_to_errors(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, events=[("exception", {"exception.type": "ValueError"})])
    assert EVENTS_KEY not in default_metadata(doc)


def test_event_attributes_are_json_safe(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, events=[("m", {"v": math.nan, "s": "\ud800"})])
    assert default_metadata(doc)[EVENTS_KEY][0]["attributes"] == {"v": "NaN", "s": "\ufffd"}


def test_events_beyond_cap_are_counted(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, events=[(f"e{i}", {}) for i in range(MAX_EVENTS + 3)])
    events = default_metadata(doc)[EVENTS_KEY]
    assert [e["name"] for e in events] == [f"e{i}" for i in range(MAX_EVENTS)]
    assert default_metadata(doc)[EVENTS_DROPPED_KEY] == 3


def test_events_dropped_by_sdk_limit_are_counted(recorder: SpanRecorder) -> None:
    span = recorder.provider.get_tracer("t").start_span("s")
    for i in range(130):  # the SDK keeps the last 128 events by default
        span.add_event(f"e{i}")
    span.end()
    finished = recorder.spans()[-1]
    doc: Dict[str, Any] = {}
    attributes.apply(
        doc, {}, finished.events, finished.dropped_events, finished.links,
        finished.dropped_links, OPTIONS, True, attributes.key_plan((), frozenset()),
    )
    assert doc["metadata"]["default"][EVENTS_DROPPED_KEY] == 2 + 128 - MAX_EVENTS


# --- span links ----------------------------------------------------------------------

LINKED = SpanContext(REMOTE_TRACE_ID, REMOTE_SPAN_ID, is_remote=True,
                     trace_flags=TraceFlags(TraceFlags.SAMPLED))


def test_link_has_xray_trace_id_span_id_and_attributes(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, links=[Link(LINKED, {"kind": "batch", "n": math.inf})])
    assert doc["links"] == [{
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "id": "53995c3f42cd8ad8",
        "attributes": {"kind": "batch", "n": "Infinity"},
    }]


def test_link_without_attributes_has_no_attributes_field(recorder: SpanRecorder) -> None:
    doc = document(recorder, {}, links=[Link(LINKED)])
    assert doc["links"] == [{"trace_id": "1-5759e988-bd862e3fe1be46a994272793",
                             "id": "53995c3f42cd8ad8"}]


def test_link_with_invalid_context_is_counted_not_sent(recorder: SpanRecorder) -> None:
    invalid = SpanContext(0, 0, is_remote=False)
    doc = document(recorder, {}, links=[Link(invalid, {"a": 1}), Link(LINKED)])
    assert [link["id"] for link in doc["links"]] == ["53995c3f42cd8ad8"]
    assert default_metadata(doc)[LINKS_DROPPED_KEY] == 1


def test_links_beyond_cap_are_counted(recorder: SpanRecorder) -> None:
    links: List[Link] = [
        Link(SpanContext(REMOTE_TRACE_ID, i + 1, is_remote=True)) for i in range(MAX_LINKS + 2)
    ]
    doc = document(recorder, {}, links=links)
    assert len(doc["links"]) == MAX_LINKS
    assert default_metadata(doc)[LINKS_DROPPED_KEY] == 2


def test_translate_carries_links_and_events(recorder: SpanRecorder) -> None:
    span = recorder.span("s", kind=SpanKind.SERVER, events=[("ready", {})], links=[Link(LINKED)])
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["links"][0]["id"] == "53995c3f42cd8ad8"
    assert doc["metadata"]["default"][EVENTS_KEY][0]["name"] == "ready"


# --- the public helpers other concerns may use ---------------------------------------

# id: (value, annotation value or None)
ANNOTATION_VALUE_CASES: Dict[str, tuple] = {
    "text": ("gold", "gold"),
    "text cut to 1000": ("v" * 1200, "v" * 1000),
    "bool": (False, False),
    "int": (-3, -3),
    "finite float": (0.5, 0.5),
    "NaN": (math.nan, None),
    "-Infinity": (-math.inf, None),
    "int over 64 bits": (-(2**63) - 1, None),
    "None": (None, None),
    "bytes": (b"x", None),
    "sequence": (("a",), None),
    "mapping": ({"a": 1}, None),
}


@pytest.mark.parametrize(
    ("value", "expected"), list(ANNOTATION_VALUE_CASES.values()), ids=list(ANNOTATION_VALUE_CASES)
)
def test_annotation_value(value: Any, expected: Any) -> None:
    assert attributes.annotation_value(value) == expected


# id: (key, dots, annotation key)
ANNOTATION_KEY_CASES: Dict[str, tuple] = {
    "letters digits underscore kept": ("Order_ID_42", False, "Order_ID_42"),
    "dot replaced": ("http.route", False, "http_route"),
    "dot kept on request": ("http.route", True, "http.route"),
    "non-ASCII letter replaced": ("größe", True, "gr__e"),
    "surrogate replaced": ("a\ud800", False, "a_"),
    "cut to 500": ("k" * 501, False, "k" * 500),
}


@pytest.mark.parametrize(
    ("key", "dots", "expected"), list(ANNOTATION_KEY_CASES.values()), ids=list(ANNOTATION_KEY_CASES)
)
def test_annotation_key(key: str, dots: bool, expected: str) -> None:
    assert attributes.annotation_key(key, dots=dots) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [("http.route", "http.route"), ("größe", "größe"), ("a\udfff", "a\ufffd"),
     ("k" * 2000, "k" * 1024)],
    ids=["kept as is", "unicode kept", "surrogate replaced", "cut to 1024"],
)
def test_metadata_key(key: str, expected: str) -> None:
    assert attributes.metadata_key(key) == expected
