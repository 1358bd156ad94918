"""The segment skeleton: kinds of document, ids, times (clamped to what X-Ray accepts)."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate.segment import ORIGINAL_END_KEY, ORIGINAL_START_KEY
from tests.support.helpers import REMOTE_SPAN_ID, SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)


def test_span_without_parent_becomes_segment(recorder: SpanRecorder) -> None:
    doc = assert_valid_document(to_document(recorder.span("root"), OPTIONS))
    assert "type" not in doc and "parent_id" not in doc


def test_span_with_remote_parent_becomes_segment_with_parent_id(recorder: SpanRecorder) -> None:
    doc = assert_valid_document(to_document(recorder.span("s", parent="remote"), OPTIONS))
    assert "type" not in doc
    assert doc["parent_id"] == f"{REMOTE_SPAN_ID:016x}"
    assert doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


def test_server_span_with_local_parent_becomes_segment(recorder: SpanRecorder) -> None:
    doc = to_document(recorder.span("s", parent="local", kind=SpanKind.SERVER), OPTIONS)
    assert "type" not in doc and "parent_id" in doc


def test_internal_span_with_local_parent_becomes_standalone_subsegment(
    recorder: SpanRecorder,
) -> None:
    doc = assert_valid_document(to_document(recorder.span("child", parent="local"), OPTIONS))
    assert doc["type"] == "subsegment" and "namespace" not in doc


def test_client_span_gets_remote_namespace(recorder: SpanRecorder) -> None:
    doc = to_document(recorder.span("call", parent="local", kind=SpanKind.CLIENT), OPTIONS)
    assert doc["namespace"] == "remote"


def test_times_are_float_seconds(recorder: SpanRecorder) -> None:
    span = recorder.span("s")
    doc = to_document(span, OPTIONS)
    assert doc["start_time"] == span.start_time / 1e9
    assert doc["end_time"] == span.end_time / 1e9


def test_lambda_mode_sends_root_with_remote_parent_as_subsegment(recorder: SpanRecorder) -> None:
    span = recorder.span("handler", parent="remote", kind=SpanKind.SERVER)
    doc = assert_valid_document(to_document(span, TranslateOptions(lambda_mode=True)))
    assert doc["type"] == "subsegment"
    assert doc["parent_id"] == f"{REMOTE_SPAN_ID:016x}"


def test_invalid_lambda_mode_falls_back_to_detection_in_the_given_environment() -> None:
    environ = {"OTEL_EXPORTER_XRAY_LAMBDA_MODE": "maybe", "AWS_LAMBDA_FUNCTION_NAME": "fn"}
    assert TranslateOptions.from_env(environ).lambda_mode is True


_NS = 1_000_000_000
_MAX_NS = 2**53 * 1000  # the latest time sent: 2**53 microseconds


@pytest.mark.parametrize(
    ("start", "end", "expected", "originals"),
    [
        (-5 * _NS, 2 * _NS, (0.0, 2.0), {ORIGINAL_START_KEY: -5 * _NS}),
        (3 * _NS, 2 * _NS, (3.0, 3.0), {ORIGINAL_END_KEY: 2 * _NS}),
        (-5 * _NS, -2 * _NS, (0.0, 0.0), {
            ORIGINAL_START_KEY: -5 * _NS, ORIGINAL_END_KEY: -2 * _NS,
        }),
        (_NS, 10**30, (1.0, _MAX_NS / 1e9), {ORIGINAL_END_KEY: "1" + "0" * 30}),
        (10**400, 10**400, (_MAX_NS / 1e9, _MAX_NS / 1e9), {
            ORIGINAL_START_KEY: "1" + "0" * 400, ORIGINAL_END_KEY: "1" + "0" * 400,
        }),
    ],
    ids=["negative-start", "end-before-start", "both-negative", "far-future-end", "beyond-float"],
)
def test_absurd_times_are_clamped_and_kept_in_metadata(
    start: int, end: int, expected: Tuple[float, float], originals: Dict[str, Any]
) -> None:
    span = ReadableSpan(
        "work", context=SpanContext(1 << 64, 1, False, TraceFlags(TraceFlags.SAMPLED)),
        start_time=start, end_time=end,
    )

    doc = assert_valid_document(to_document(span, OPTIONS))

    assert (doc["start_time"], doc["end_time"]) == expected
    assert doc["metadata"]["default"] == originals


def test_times_in_range_are_not_reported(recorder: SpanRecorder) -> None:
    doc = assert_valid_document(to_document(recorder.span("s"), OPTIONS))

    assert "metadata" not in doc
