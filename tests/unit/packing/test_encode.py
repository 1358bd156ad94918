"""Packing: every document is strict JSON, whatever the bodies hold."""

from __future__ import annotations

from typing import Any

import pytest

from otel_xray.packing import MIN_DOCUMENT_BYTES, pack
from otel_xray.packing.encode import dumps
from otel_xray.translate.segment import translate_span
from tests.support.helpers import (
    SpanRecorder,
)
from tests.support.packing import (
    OPTIONS,
    assert_each_span_once_under_its_parent,
    assert_valid_packed,
    fan,
    translate_all,
)

# --- encoding safety net ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [2**80, "lone \ud800 surrogate", {1: "int key"}, b"\xff bytes", {"nested": [{"x": 2**90}]},
     float("nan")],
    ids=["huge-int", "surrogate", "int-key", "bytes", "nested-huge-int", "nan"],
)
def test_encode_document_always_produces_strict_json(value: Any) -> None:
    document = {
        "name": "n", "id": "0123456789abcdef", "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "start_time": 1.0, "end_time": 2.0, "metadata": {"default": {"v": value}},
    }
    assert_valid_packed(dumps(document))


def test_document_limit_below_the_minimum_is_rejected(recorder: SpanRecorder) -> None:
    item = translate_span(recorder.span("s"), OPTIONS)
    with pytest.raises(ValueError, match="max_document_bytes"):
        pack([item], max_document_bytes=MIN_DOCUMENT_BYTES - 1)


def test_smaller_limit_is_honoured(recorder: SpanRecorder) -> None:
    spans = fan(recorder, 200, attribute_bytes=100)
    limit = MIN_DOCUMENT_BYTES
    raw = pack(translate_all(spans), max_document_bytes=limit)
    documents = [assert_valid_packed(packed.document, limit) for packed in raw]
    assert sum(packed.spans for packed in raw) == len(spans)
    assert_each_span_once_under_its_parent(spans, documents)
