"""annotate() and put_metadata(): X-Ray annotations and metadata through span attributes."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from otel_xray import TranslateOptions
from otel_xray.span_helpers import annotate, put_metadata
from otel_xray.translate import to_document
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)


def _document(recorder: SpanRecorder, record: Callable[[trace.Span], None]) -> Dict[str, Any]:
    span = recorder.tracer.start_span("work")
    record(span)
    span.end()
    finished: ReadableSpan = recorder.spans()[-1]
    return assert_valid_document(to_document(finished, OPTIONS))


@pytest.mark.parametrize(
    "value",
    ["gold", 42, 2.5, True, False],
    ids=["string", "int", "float", "true", "false"],
)
def test_annotate_makes_an_annotation(recorder: SpanRecorder, value: Any) -> None:
    doc = _document(recorder, lambda s: annotate(s, "tier", value))
    assert doc["annotations"] == {"tier": value}


def test_annotate_several_keys_keeps_them_all(recorder: SpanRecorder) -> None:
    def record(span: trace.Span) -> None:
        annotate(span, "a", 1)
        annotate(span, "b", "two")
        annotate(span, "a", 3)  # the same key again: the last value wins, listed once

    doc = _document(recorder, record)
    assert doc["annotations"] == {"a": 3, "b": "two"}


def test_annotate_keeps_the_value_as_an_attribute(recorder: SpanRecorder) -> None:
    span = recorder.tracer.start_span("work")
    annotate(span, "tier", "gold")
    span.end()
    attributes = recorder.spans()[-1].attributes or {}
    assert attributes["tier"] == "gold"
    assert list(attributes["aws.xray.annotations"]) == ["tier"]


def test_annotate_key_with_dot_becomes_underscore(recorder: SpanRecorder) -> None:
    doc = _document(recorder, lambda s: annotate(s, "order.id", "o-1"))
    assert doc["annotations"] == {"order_id": "o-1"}


@pytest.mark.parametrize(
    "value",
    [None, {"a": 1}, [1, 2], b"bytes", object()],
    ids=["none", "dict", "list", "bytes", "object"],
)
def test_annotate_ignores_values_x_ray_cannot_index(recorder: SpanRecorder, value: Any) -> None:
    doc = _document(recorder, lambda s: annotate(s, "bad", value))
    assert "annotations" not in doc
    assert "bad" not in doc.get("metadata", {}).get("default", {})


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"items": 3, "total": 9.5}, {"items": 3, "total": 9.5}),
        ([1, "two"], [1, "two"]),
        ("text", "text"),
        (None, None),
    ],
    ids=["object", "list", "string", "null"],
)
def test_put_metadata_lands_in_the_namespace(
    recorder: SpanRecorder, value: Any, expected: Any
) -> None:
    doc = _document(recorder, lambda s: put_metadata(s, "cart", value, "shop"))
    assert doc["metadata"]["shop"] == {"cart": expected}


def test_put_metadata_default_namespace(recorder: SpanRecorder) -> None:
    doc = _document(recorder, lambda s: put_metadata(s, "debug", {"x": 1}))
    assert doc["metadata"]["default"]["debug"] == {"x": 1}


def test_put_metadata_merges_keys_of_one_namespace(recorder: SpanRecorder) -> None:
    def record(span: trace.Span) -> None:
        put_metadata(span, "a", 1, "ns")
        put_metadata(span, "b", 2, "ns")
        put_metadata(span, "c", 3, "other")

    doc = _document(recorder, record)
    assert doc["metadata"]["ns"] == {"a": 1, "b": 2}
    assert doc["metadata"]["other"] == {"c": 3}


def test_put_metadata_values_without_json_form_become_valid_json(
    recorder: SpanRecorder,
) -> None:
    class Order:
        def __str__(self) -> str:
            return "Order#7"

    value = {"nan": math.nan, "inf": math.inf, "obj": Order(), "big": 1 << 80, 3: "int key"}
    doc = _document(recorder, lambda s: put_metadata(s, "v", value, "ns"))
    stored = doc["metadata"]["ns"]["v"]
    assert stored["nan"] == "NaN" and stored["inf"] == "Infinity"
    assert stored["obj"] == "Order#7"
    assert stored["big"] == str(1 << 80)
    assert stored["3"] == "int key"


@pytest.mark.parametrize("namespace", ["AWS.reserved", "aws.lower", ""], ids=str)
def test_put_metadata_ignores_reserved_or_empty_namespace(
    recorder: SpanRecorder, namespace: str
) -> None:
    doc = _document(recorder, lambda s: put_metadata(s, "k", 1, namespace))
    assert "metadata" not in doc


@pytest.mark.parametrize(
    "call",
    [
        lambda s: annotate(s, "", 1),
        lambda s: annotate(s, None, 1),  # type: ignore[arg-type]
        lambda s: put_metadata(s, "", 1),
        lambda s: put_metadata(s, 7, 1),  # type: ignore[arg-type]
        lambda s: put_metadata(s, "k", 1, None),  # type: ignore[arg-type]
    ],
    ids=["annotate-empty-key", "annotate-none-key", "metadata-empty-key", "metadata-int-key",
         "metadata-none-namespace"],
)
def test_helpers_never_raise_on_bad_arguments(
    recorder: SpanRecorder, call: Callable[[trace.Span], None]
) -> None:
    doc = _document(recorder, call)
    assert "annotations" not in doc


@pytest.mark.parametrize(
    "span",
    [trace.INVALID_SPAN, trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT), None, "not a span"],
    ids=["invalid-span", "non-recording", "none", "string"],
)
def test_helpers_accept_spans_that_do_not_record(span: Any) -> None:
    annotate(span, "k", 1)
    put_metadata(span, "k", {"a": 1})


def test_helpers_on_an_ended_span_change_nothing(recorder: SpanRecorder) -> None:
    span = recorder.tracer.start_span("work")
    span.end()
    annotate(span, "late", 1)
    put_metadata(span, "late", 1)
    assert "late" not in (recorder.spans()[-1].attributes or {})


def test_helpers_work_on_the_current_span(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("work"):
        annotate(trace.get_current_span(), "tier", "gold")
        put_metadata(trace.get_current_span(), "cart", [1], "shop")
    doc = assert_valid_document(to_document(recorder.spans()[-1], OPTIONS))
    assert doc["annotations"] == {"tier": "gold"}
    assert doc["metadata"]["shop"] == {"cart": [1]}
