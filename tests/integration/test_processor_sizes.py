"""Never lose a span to size: huge trees, deep chains and huge spans through the processor
to a real UDP listener; every span id arrives exactly once, every datagram is valid."""

from __future__ import annotations

import traceback
from typing import Any, Callable, Dict, List

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.packing import MAX_NESTING_DEPTH, TRIM_NAMESPACE
from tests.support.packing import assert_each_span_once_under_its_parent, depth
from tests.support.pipeline import Pipeline, valid_documents

MakePipeline = Callable[..., Pipeline]


def _all_arrived(pipe: Pipeline) -> List[Dict[str, Any]]:
    """Flush, wait for every document sent; check every datagram and every span id."""
    pipe.flush()
    sent = pipe.stats()["documents_sent"]
    pipe.listener.wait_for(sent)
    documents = valid_documents(pipe.listener)
    assert len(documents) == sent
    assert_each_span_once_under_its_parent(pipe.finished(), documents)
    assert pipe.stats()["spans_dropped"] == 0
    return documents


def test_thousand_child_tree(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(1000):
        pipe.child(f"child-{index}", root, attributes={"payload": "p" * 150}).end()
    root.end()

    documents = _all_arrived(pipe)

    assert len(documents) > 1
    assert pipe.stats()["documents_split"] == len(documents) - 1


def test_two_thousand_deep_chain(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    opened: List[trace.Span] = [pipe.tracer.start_span("level-0", kind=SpanKind.SERVER)]
    for level in range(1, 2000):
        opened.append(pipe.child(f"level-{level}", opened[-1]))
    for span in reversed(opened):
        span.end()

    documents = _all_arrived(pipe)

    assert all(depth(document) <= MAX_NESTING_DEPTH for document in documents)


def test_single_span_with_megabytes_of_attributes(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    attributes = {f"blob.{index}": "b" * 30_000 for index in range(100)}
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    pipe.child("huge", root, attributes=attributes).end()
    pipe.child("small", root).end()
    root.end()

    documents = _all_arrived(pipe)

    trimmed = [
        piece for document in documents for piece in [document, *document.get("subsegments", [])]
        if TRIM_NAMESPACE in piece.get("metadata", {})
    ]
    assert len(trimmed) == 1 and trimmed[0]["name"] == "huge"
    assert pipe.stats()["spans_trimmed"] == 1


def _recurse(levels: int) -> None:
    if levels:
        _recurse(levels - 1)
    raise ValueError("at the bottom " + "x" * 500)


def test_single_span_with_a_huge_exception_stack(pipeline: MakePipeline) -> None:
    pipe = pipeline(options=TranslateOptions(lambda_mode=False, max_stack_frames=100_000))
    try:
        _recurse(900)
    except ValueError as exc:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stack = stack.replace('File "', 'File "' + "/deep/path" * 30 + "/")
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    failing = pipe.child("failing", root)
    for _ in range(5):
        failing.add_event("exception", {"exception.type": "ValueError",
                                        "exception.message": "m" * 10_000,
                                        "exception.stacktrace": stack})
    failing.end()
    root.end()

    documents = _all_arrived(pipe)

    (failed,) = [
        piece for document in documents for piece in [document, *document.get("subsegments", [])]
        if piece.get("cause")
    ]
    assert "stack_frames" in failed["metadata"][TRIM_NAMESPACE]["trimmed"]
    exception = failed["cause"]["exceptions"][0]
    assert exception["truncated"] > 0
