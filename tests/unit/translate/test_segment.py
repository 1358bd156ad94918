"""The segment skeleton: kinds of document, ids, times."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
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
