"""Packing: local span trees nest into one document, children by start time; cycles and
repeated ids lose no span."""

from __future__ import annotations

from typing import Optional

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.packing import pack
from otel_xray.translate.segment import standalone
from tests.support.helpers import (
    REMOTE_SPAN_ID,
    SpanRecorder,
    remote_context,
    walk,
)
from tests.support.packing import (
    assert_each_span_once_under_its_parent,
    assert_valid_packed,
    child_span,
    fan,
    made_item,
    made_tree,
    pack_spans,
    span_id,
    translate_all,
)

# --- nesting --------------------------------------------------------------------------------


def test_local_tree_becomes_one_document_with_nested_subsegments(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    child = child_span(tracer, "child", root)
    child_span(tracer, "grandchild", child).end()
    child.end()
    root.end()
    spans = recorder.spans()

    documents = pack_spans(spans)

    assert len(documents) == 1
    (document,) = documents
    assert "type" not in document
    names = [piece["name"] for piece in walk(document)]
    assert names == ["test-service", "child", "grandchild"]
    assert_each_span_once_under_its_parent(spans, documents)


def test_nested_subsegments_carry_no_standalone_fields(recorder: SpanRecorder) -> None:
    documents = pack_spans(fan(recorder, 3))
    for piece in documents[0]["subsegments"]:
        assert not {"type", "trace_id", "parent_id"} & set(piece)


def test_children_are_ordered_by_start_time_not_end_time(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    first = child_span(tracer, "first", root)
    second = child_span(tracer, "second", root)
    second.end()  # ends (and arrives) before "first"
    first.end()
    root.end()

    (document,) = pack_spans(recorder.spans())

    assert [child["name"] for child in document["subsegments"]] == ["first", "second"]


def test_spliced_document_equals_the_nested_dict_encoded_whole(recorder: SpanRecorder) -> None:
    spans = fan(recorder, 4, attribute_bytes=10)
    items = {item.span_id: item for item in translate_all(spans)}
    root = next(item for item in items.values() if item.is_root)
    expected = standalone(root)
    expected["subsegments"] = sorted(
        (item.body for item in items.values() if not item.is_root),
        key=lambda body: body["start_time"],
    )

    (raw,) = [packed.document for packed in pack(list(items.values()))]

    assert orjson.loads(raw) == expected
    assert len(raw) == len(orjson.dumps(expected))


def test_span_whose_parent_is_not_in_the_batch_is_a_standalone_subsegment_with_its_children(
    recorder: SpanRecorder,
) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    late = child_span(tracer, "late", root)
    child_span(tracer, "late-child", late).end()
    late.end()
    root.end()
    batch = [span for span in recorder.spans() if span.name != "root"]

    (document,) = pack_spans(batch)

    assert document["type"] == "subsegment"
    assert document["parent_id"] == span_id(recorder.spans()[-1])
    assert [child["name"] for child in document["subsegments"]] == ["late-child"]


def test_server_span_under_a_local_parent_tops_its_own_document(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    client = child_span(tracer, "client", root, kind=SpanKind.CLIENT)
    server = child_span(tracer, "server", client, kind=SpanKind.SERVER)
    child_span(tracer, "handler", server).end()
    server.end()
    client.end()
    root.end()
    spans = recorder.spans()

    documents = pack_spans(spans)

    assert len(documents) == 2
    inner = next(doc for doc in documents if doc["parent_id" if "parent_id" in doc else "id"]
                 == span_id(spans[2]))
    assert "type" not in inner and inner["subsegments"][0]["name"] == "handler"
    assert_each_span_once_under_its_parent(spans, documents)


@pytest.mark.parametrize(
    ("lambda_mode", "kind"), [(False, None), (True, "subsegment")], ids=["segment", "lambda"]
)
def test_root_with_remote_parent_nests_its_children_as_a_segment_or_on_lambda_a_subsegment(
    recorder: SpanRecorder, lambda_mode: bool, kind: Optional[str]
) -> None:
    tracer = recorder.tracer
    root = tracer.start_span(
        "incoming", kind=SpanKind.SERVER,
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote_context())),
    )
    child_span(tracer, "work", root).end()
    root.end()

    (document,) = pack_spans(recorder.spans(), TranslateOptions(lambda_mode=lambda_mode))

    assert document.get("type") == kind
    assert document["parent_id"] == f"{REMOTE_SPAN_ID:016x}"
    assert document["subsegments"][0]["name"] == "work"


def test_spans_of_several_traces_pack_into_one_document_per_trace(recorder: SpanRecorder) -> None:
    for _ in range(3):
        fan(recorder, 2)
    spans = recorder.spans()
    documents = pack_spans(spans)
    assert len(documents) == 3
    assert len({doc["trace_id"] for doc in documents}) == 3
    assert_each_span_once_under_its_parent(spans, documents)


def test_empty_batch_packs_to_nothing() -> None:
    assert pack([]) == []




# --- hand-made input ----------------------------------------------------------------------


def test_spans_whose_parents_form_a_cycle_are_each_sent_once() -> None:
    items = [
        made_item("000000000000000a", "000000000000000b"),
        made_item("000000000000000b", "000000000000000a"),
        made_item("000000000000000c", "000000000000000c"),
    ]
    documents = [assert_valid_packed(packed.document) for packed in pack(items)]
    assert sorted(piece["id"] for document in documents for piece in walk(document)) == [
        "000000000000000a", "000000000000000b", "000000000000000c"
    ]


def test_a_subsegments_key_in_a_body_is_replaced_by_the_packed_children() -> None:
    parent = made_item("000000000000000a", "00000000000000ff", subsegments=[{"bogus": True}])
    child = made_item("000000000000000b", "000000000000000a")
    (document,) = [assert_valid_packed(packed.document) for packed in pack([parent, child])]
    assert [piece["id"] for piece in document["subsegments"]] == ["000000000000000b"]


def test_a_repeated_span_id_keeps_both_spans_and_its_children_go_under_the_last() -> None:
    again = made_item("0000000000000002", "0000000000000001", name="again")
    grandchild = made_item("0000000000000009", "0000000000000002")
    items = [*made_tree(1), again, grandchild]

    (document,) = [orjson.loads(packed.document) for packed in pack(items)]

    first, last = document["subsegments"]
    assert (first["name"], last["name"]) == ("span-2", "again")
    assert "subsegments" not in first
    assert [piece["id"] for piece in last["subsegments"]] == ["0000000000000009"]


def test_the_same_item_twice_is_sent_twice_with_its_children_once() -> None:
    root, child = made_tree(1)
    grandchild = made_item("0000000000000009", "0000000000000002")
    packed = pack([root, child, grandchild, child])

    (document,) = [orjson.loads(item.document) for item in packed]

    assert [piece["id"] for piece in walk(document)] == [
        "0000000000000001", "0000000000000002", "0000000000000002", "0000000000000009"
    ]
