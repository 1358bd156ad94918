"""Pipeline: every span handed to it is counted once as sent or as dropped with a reason.

The emitters here are written as an application would write its own (they are the user's
code, not ours); the spans are real SDK spans.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray.config import TranslateOptions
from otel_xray.pipeline import Pipeline, suppressed
from tests.support.helpers import SpanRecorder

OPTIONS = TranslateOptions(lambda_mode=False)


class ScriptedEmitter:
    """Answers ``send`` with a scripted result and remembers what it saw."""

    max_document_bytes = 64_000

    def __init__(self, result: Any) -> None:
        self.result = result
        self.sent: List[bytes] = []
        self.instrumentation_enabled: List[bool] = []

    def send(self, documents: Sequence[bytes]) -> Any:
        self.sent.extend(documents)
        self.instrumentation_enabled.append(is_instrumentation_enabled())
        if isinstance(self.result, Exception):
            raise self.result
        return self.result(documents) if callable(self.result) else self.result

    def stats(self) -> Dict[str, int]:
        return {"custom": 7}

    def close(self) -> None:
        pass


def roots(recorder: SpanRecorder, count: int) -> List[Any]:
    return [recorder.span(f"root-{index}") for index in range(count)]


def _span(name: str, trace_id: int, flags: int = 1) -> ReadableSpan:
    context = SpanContext(trace_id, 7, False, TraceFlags(flags))
    return ReadableSpan(name, context=context, start_time=1, end_time=2)


class ContextByProperty(ReadableSpan):
    """A span class that shows its context through its own property, not the field."""

    @property
    def context(self) -> SpanContext:
        return SpanContext(99, 7, False, TraceFlags(1))


def send(emitter: ScriptedEmitter, recorder: SpanRecorder, count: int) -> Dict[str, int]:
    pipeline = Pipeline(emitter, OPTIONS)
    pipeline.export(roots(recorder, count))
    return pipeline.stats()


def test_one_flag_per_document_counts_exactly_the_delivered_spans(
    recorder: SpanRecorder,
) -> None:
    stats = send(ScriptedEmitter(lambda docs: [True, False, True]), recorder, 3)
    assert (stats["spans_sent"], stats["spans_dropped.send_failed"]) == (2, 1)
    assert (stats["documents_sent"], stats["documents_failed"]) == (2, 1)


def test_an_int_result_means_the_first_documents_were_delivered(
    recorder: SpanRecorder,
) -> None:
    stats = send(ScriptedEmitter(2), recorder, 3)
    assert (stats["spans_sent"], stats["spans_dropped.send_failed"]) == (2, 1)


@pytest.mark.parametrize("result", [None, "3", [True], 4, -1, True, [1, 1, 1]],
                         ids=["none", "str", "short", "too-many", "negative", "bool", "ints"])
def test_a_nonsense_result_drops_the_spans_with_their_own_reason(
    recorder: SpanRecorder, result: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stats = send(ScriptedEmitter(result), recorder, 3)
    assert stats["spans_dropped.invalid_emitter_result"] == 3
    assert stats["spans_sent"] == 0 and stats["spans_dropped"] == 3
    assert "expected one bool per document" in caplog.text


def test_an_emitter_that_raises_loses_its_spans_as_send_failed(recorder: SpanRecorder) -> None:
    stats = send(ScriptedEmitter(OSError("boom")), recorder, 2)
    assert stats["spans_dropped.send_failed"] == 2 and stats["spans_sent"] == 0


def test_send_reports_whether_everything_was_delivered(recorder: SpanRecorder) -> None:
    pipeline = Pipeline(ScriptedEmitter(lambda docs: [True] * len(docs)), OPTIONS)
    span = recorder.span("root")
    assert pipeline.export([span]) == (True, 0)
    failing = Pipeline(ScriptedEmitter(lambda docs: [False] * len(docs)), OPTIONS)
    assert failing.export([span]) == (False, 0)


def test_the_emitter_runs_with_instrumentation_suppressed(recorder: SpanRecorder) -> None:
    emitter = ScriptedEmitter(lambda docs: [True] * len(docs))
    send(emitter, recorder, 1)
    assert emitter.instrumentation_enabled == [False]
    assert is_instrumentation_enabled()


def test_stats_carry_the_emitters_counters(recorder: SpanRecorder) -> None:
    assert send(ScriptedEmitter(lambda docs: [True]), recorder, 1)["emitter.custom"] == 7


def test_an_emitter_whose_document_limit_is_too_small_is_refused() -> None:
    emitter = ScriptedEmitter(None)
    emitter.max_document_bytes = 100
    with pytest.raises(ValueError, match="max_document_bytes must be an int of at least"):
        Pipeline(emitter, OPTIONS)


def test_export_sends_the_sampled_spans_and_counts_the_others() -> None:
    emitter = ScriptedEmitter(lambda docs: [True] * len(docs))
    pipeline = Pipeline(emitter, OPTIONS)

    result = pipeline.export([_span("a", 1), _span("b", 2, flags=0), _span("c", 3)])

    assert result == (True, 1)
    assert pipeline.stats()["spans_sent"] == 2


def test_export_packs_the_spans_of_each_trace_together(recorder: SpanRecorder) -> None:
    emitter = ScriptedEmitter(lambda docs: [True] * len(docs))
    pipeline = Pipeline(emitter, OPTIONS)
    tracer = recorder.tracer
    roots = [tracer.start_span(f"root-{n}", kind=SpanKind.SERVER) for n in range(2)]
    for root in roots:  # children of the two traces end interleaved
        with trace.use_span(root, end_on_exit=False):
            tracer.start_span("child").end()
    for root in roots:
        root.end()

    assert pipeline.export(recorder.spans()) == (True, 0)

    documents = [orjson.loads(doc) for doc in emitter.sent]
    assert [(doc["id"], len(doc["subsegments"])) for doc in documents] == [
        (f"{root.get_span_context().span_id:016x}", 1) for root in roots
    ]


def test_by_trace_groups_the_spans_by_trace_id_in_the_order_given() -> None:
    pipeline = Pipeline(ScriptedEmitter(None), OPTIONS)
    a1, b1, a2 = _span("a1", 1), _span("b1", 2), _span("a2", 1)

    traces, unsampled, unreadable = pipeline.by_trace([a1, b1, a2])

    assert traces == {1: [a1, a2], 2: [b1]}
    assert (unsampled, unreadable) == (0, 0)


def test_by_trace_leaves_out_unsampled_spans_only_when_asked() -> None:
    pipeline = Pipeline(ScriptedEmitter(None), OPTIONS)
    spans = [_span("a", 1), _span("b", 2, flags=0)]

    assert pipeline.by_trace(spans)[0] == {1: [spans[0]], 2: [spans[1]]}
    assert pipeline.by_trace(spans, sampled_only=True)[:2] == ({1: [spans[0]]}, 1)


def test_by_trace_reads_the_context_a_span_class_shows_through_its_property() -> None:
    pipeline = Pipeline(ScriptedEmitter(None), OPTIONS)
    sdk, shown = _span("sdk", 1), ContextByProperty("shown", context=None)

    assert pipeline.by_trace([sdk, shown])[0] == {1: [sdk], 99: [shown]}


def test_by_trace_puts_a_span_without_context_under_none_for_translation_to_report() -> None:
    pipeline = Pipeline(ScriptedEmitter(lambda docs: [True] * len(docs)), OPTIONS)
    no_context = ReadableSpan("no-context", context=None, start_time=1, end_time=2)

    assert pipeline.by_trace([no_context])[0] == {None: [no_context]}
    assert pipeline.export([no_context, _span("root", 1)]) == (False, 0)
    assert pipeline.stats()["spans_dropped.translate_error"] == 1
    assert pipeline.stats()["spans_sent"] == 1


def test_by_trace_counts_a_span_whose_context_cannot_be_read() -> None:
    class Broken(ReadableSpan):
        @property
        def context(self) -> SpanContext:
            raise RuntimeError("no context today")

    pipeline = Pipeline(ScriptedEmitter(None), OPTIONS)

    assert pipeline.by_trace([Broken("broken"), _span("a", 1)])[1:] == (0, 1)
    assert pipeline.stats()["spans_dropped.translate_error"] == 1


def test_a_suppressed_block_inside_another_keeps_the_outer_one_suppressed() -> None:
    with suppressed():
        with suppressed():
            assert not is_instrumentation_enabled()
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()
