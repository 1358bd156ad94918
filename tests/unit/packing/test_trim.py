"""Packing: a span too big for a document on its own is trimmed, least important content
first, never dropped."""

from __future__ import annotations

import traceback
from typing import Any, Dict

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_xray import TranslateOptions
from otel_xray._diag import Counters
from otel_xray.packing import TRIM_NAMESPACE
from otel_xray.translate.segment import translate_span
from tests.support.helpers import (
    SpanRecorder,
)
from tests.support.packing import (
    pack_spans,
    span_id,
)

# --- trimming ---------------------------------------------------------------------------------


def _huge_span(recorder: SpanRecorder, **kwargs: Any) -> ReadableSpan:
    attributes = {f"attr.{index}": f"{index}:" + "v" * 30_000 for index in range(100)}
    return recorder.span("huge", parent="local", attributes=attributes, **kwargs)


def test_span_with_megabytes_of_attributes_is_trimmed_not_dropped(recorder: SpanRecorder) -> None:
    span = _huge_span(recorder)
    counters = Counters()

    (document,) = pack_spans([span], counters=counters)

    assert document["id"] == span_id(span)
    marker = document["metadata"][TRIM_NAMESPACE]
    assert marker["trimmed"] == ["metadata"]
    assert marker["original_bytes"] > 3_000_000
    assert counters.get("spans_trimmed") == 1


def test_trimming_cuts_metadata_strings_before_dropping_values(recorder: SpanRecorder) -> None:
    span = recorder.span("big", parent="local", attributes={"one": "w" * 100_000, "small": "s"})

    (document,) = pack_spans([span])

    default = document["metadata"]["default"]
    assert default["small"] == "s"
    assert default["one"].startswith("www") and default["one"].endswith("...[truncated]")


def _deep_recursion(levels: int) -> None:
    if levels:
        _deep_recursion(levels - 1)
    raise RuntimeError("bottom of a very deep stack " + "m" * 200)


def test_huge_exception_stack_is_cut_with_truncated_counting_the_frames_left_out(
    recorder: SpanRecorder,
) -> None:
    try:
        _deep_recursion(900)
    except RuntimeError as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stacktrace = text.replace('File "', 'File "' + "/very/long/path" * 20 + "/")
    span = recorder.span(
        "failing", parent="local",
        events=[("exception", {"exception.type": "RuntimeError", "exception.message": "boom",
                               "exception.stacktrace": stacktrace})] * 3,
    )
    options = TranslateOptions(lambda_mode=False, max_stack_frames=100_000)
    full = translate_span(span, options).body["cause"]["exceptions"][0]

    (document,) = pack_spans([span], options)

    exception = document["cause"]["exceptions"][0]
    assert "stack_frames" in document["metadata"][TRIM_NAMESPACE]["trimmed"]
    kept = len(exception.get("stack", []))
    assert kept < len(full["stack"])
    assert exception["truncated"] == full.get("truncated", 0) + len(full["stack"]) - kept


def test_annotations_are_trimmed_last(recorder: SpanRecorder) -> None:
    options = TranslateOptions(lambda_mode=False, indexed_attributes=("team",))
    attributes: Dict[str, Any] = {"team": "payments"}
    attributes.update({f"attr.{index}": "v" * 20_000 for index in range(10)})
    span = recorder.span("big", parent="local", attributes=attributes)

    (document,) = pack_spans([span], options)

    assert document["annotations"] == {"team": "payments"}


@pytest.mark.parametrize("events", [0, 1], ids=["no-events", "with-events"])
def test_trimmed_document_is_valid_and_fits(recorder: SpanRecorder, events: int) -> None:
    span = _huge_span(
        recorder, events=[("note", {"text": "e" * 30_000})] * 30 * events
    )
    (document,) = pack_spans([span])
    assert document["name"] == "huge"


def test_trim_marker_lists_what_was_trimmed_in_order(recorder: SpanRecorder) -> None:
    span = recorder.span(
        "events", parent="local", events=[("note", {"text": "e" * 30_000})] * 30,
    )
    (document,) = pack_spans([span])
    default = document["metadata"]["default"]
    assert document["metadata"][TRIM_NAMESPACE]["trimmed"] == ["events"]
    assert default["otel.events_dropped"] + len(default.get("otel.events", [])) == 30
