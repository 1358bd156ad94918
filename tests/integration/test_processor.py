"""XRaySpanProcessor over real UDP: whole trees as one document, late and orphaned spans,
bounded memory, flush/shutdown, fork, and never raising into the application."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import Attributes

from otel_xray.emit.udp import UdpEmitter
from otel_xray.processor import XRaySpanProcessor
from tests.support.faults import wait_until
from tests.support.helpers import REMOTE_SPAN_ID, remote_context
from tests.support.packing import assert_each_span_once_under_its_parent, span_id
from tests.support.pipeline import OPTIONS, Pipeline, valid_documents
from tests.support.process import run_forked
from tests.support.udp import UdpListener

MakePipeline = Callable[..., Pipeline]
ENV_MAX_QUEUE_SIZE = "OTEL_EXPORTER_XRAY_MAX_QUEUE_SIZE"
ENV_SCHEDULE_DELAY_MILLIS = "OTEL_EXPORTER_XRAY_SCHEDULE_DELAY_MILLIS"
ENV_MAX_EXPORT_BATCH_SIZE = "OTEL_EXPORTER_XRAY_MAX_EXPORT_BATCH_SIZE"
ENV_ORPHAN_TIMEOUT_MILLIS = "OTEL_EXPORTER_XRAY_ORPHAN_TIMEOUT_MILLIS"
# The worker sleeps this long between rounds: no round starts while a test sets up. (The
# longest delay there is: out of range, the 500 ms default would wake it mid-test.)
ASLEEP = {"schedule_delay_millis": 60_000, "max_export_batch_size": 100_000}


def _names(pipe: Pipeline, documents: Sequence[Dict[str, Any]]) -> List[str]:
    """The span name of each document's top (a segment is named after the service)."""
    names = {span_id(span): span.name for span in pipe.finished()}
    return [names[document["id"]] for document in documents]


def _trace(pipe: Pipeline, children: int) -> trace.Span:
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(children):
        pipe.child(f"child-{index}", root).end()
    root.end()
    return root


# --- whole trees --------------------------------------------------------------------------


def test_ten_span_trace_goes_out_as_one_datagram(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    _trace(pipe, 9)
    pipe.flush()

    (document,) = pipe.documents(1)

    assert len(pipe.listener.datagrams) == 1
    assert len(document["subsegments"]) == 9
    assert pipe.stats()["documents_sent"] == 1


def test_local_tree_nests_grandchildren_under_their_parents(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    for branch in range(3):
        child = pipe.child(f"branch-{branch}", root, kind=SpanKind.CLIENT)
        for leaf in range(2):
            pipe.child(f"leaf-{branch}-{leaf}", child).end()
        child.end()
    root.end()
    pipe.flush()

    documents = pipe.documents(1)

    assert len(documents) == 1
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


def test_root_with_remote_parent_nests_its_children(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    incoming = trace.set_span_in_context(trace.NonRecordingSpan(remote_context()))
    root = pipe.tracer.start_span("incoming", kind=SpanKind.SERVER, context=incoming)
    pipe.child("work", root).end()
    root.end()
    pipe.flush()

    (document,) = pipe.documents(1)

    assert "type" not in document
    assert document["parent_id"] == f"{REMOTE_SPAN_ID:016x}"
    assert [child["name"] for child in document["subsegments"]] == ["work"]


def test_server_span_under_a_local_client_span_is_its_own_segment(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    client = pipe.child("call", root, kind=SpanKind.CLIENT)
    server = pipe.child("serve", client, kind=SpanKind.SERVER)
    pipe.child("handle", server).end()
    server.end()  # its document goes out without waiting for the outer root
    client.end()
    root.end()
    pipe.flush()

    documents = pipe.documents(2)

    assert len(documents) == 2
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


# --- late and orphaned spans --------------------------------------------------------------


def test_child_that_ends_after_its_root_was_sent_goes_standalone_under_its_parent(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    late = pipe.child("late", root)
    root.end()
    pipe.flush()
    pipe.documents(1)

    late.end()
    pipe.flush()
    late_document = pipe.documents(2)[1]

    assert late_document["type"] == "subsegment"
    assert late_document["parent_id"] == span_id(pipe.finished()[0])
    assert late_document["id"] == span_id(pipe.finished()[1])


def test_late_child_carries_its_buffered_descendants_nested(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    late = pipe.child("late", root)
    root.end()
    pipe.flush()
    pipe.documents(1)

    pipe.child("late-child", late).end()  # buffered: its parent is still running
    late.end()
    pipe.flush()

    documents = pipe.documents(2)
    assert [child["name"] for child in documents[1]["subsegments"]] == ["late-child"]
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


def test_child_that_ends_after_its_nested_parent_was_sent_goes_standalone_under_it(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    middle = pipe.child("middle", root)
    late = pipe.child("late", middle)
    middle.end()  # buffered, then sent nested in the root's document
    root.end()
    pipe.flush()
    (tree,) = pipe.documents(1)
    assert [child["name"] for child in tree["subsegments"]] == ["middle"]

    late.end()
    pipe.flush()
    late_document = pipe.documents(2)[1]

    assert late_document["type"] == "subsegment"
    assert late_document["name"] == "late"
    assert late_document["parent_id"] == f"{middle.get_span_context().span_id:016x}"
    assert_each_span_once_under_its_parent(pipe.finished(), pipe.documents(2))


def test_span_whose_root_never_ends_is_sent_standalone_after_the_orphan_timeout(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline(orphan_timeout_millis=50, schedule_delay_millis=20)
    root = pipe.tracer.start_span("never-ends", kind=SpanKind.SERVER)
    child = pipe.child("child", root)
    pipe.child("grandchild", child).end()
    child.end()

    (document,) = pipe.documents(1)  # no flush: the timeout alone sends it

    assert document["type"] == "subsegment" and document["name"] == "child"
    assert document["parent_id"] == f"{root.get_span_context().span_id:016x}"
    assert [sub["name"] for sub in document["subsegments"]] == ["grandchild"]
    assert pipe.stats()["spans_sent_early.orphan_timeout"] == 2


def test_force_flush_sends_buffered_spans_whose_root_is_still_running(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("running", kind=SpanKind.SERVER)
    for index in range(3):
        pipe.child(f"done-{index}", root).end()
    pipe.flush()

    documents = pipe.documents(3)

    root_id = f"{root.get_span_context().span_id:016x}"
    assert all(doc["type"] == "subsegment" and doc["parent_id"] == root_id for doc in documents)
    assert pipe.stats()["spans_sent_early.flush"] == 3


def test_root_that_ends_after_its_children_were_flushed_goes_out_alone(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline()
    root = pipe.tracer.start_span("slow", kind=SpanKind.SERVER)
    pipe.child("early", root).end()
    pipe.flush()
    root.end()
    pipe.flush()

    documents = pipe.documents(2)

    assert "subsegments" not in documents[1]
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


def test_too_many_buffered_spans_sends_the_oldest_early_instead_of_dropping(
    pipeline: MakePipeline,
) -> None:
    pipe = pipeline(max_buffered_spans=5, schedule_delay_millis=10)
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(8):
        pipe.child(f"child-{index}", root).end()

    early = pipe.documents(3)  # no flush: the buffer limit alone sends them
    root.end()
    pipe.flush()
    documents = pipe.documents(4)

    assert [doc["name"] for doc in early] == ["child-0", "child-1", "child-2"]
    assert all(doc["type"] == "subsegment" for doc in early)
    assert len(documents[3]["subsegments"]) == 5
    assert pipe.stats()["spans_sent_early.buffer_full"] == 3
    assert pipe.stats()["spans_dropped"] == 0
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


def test_a_queue_longer_than_one_take_is_sent_whole_trace_by_trace(
    pipeline: MakePipeline,
) -> None:
    # 250 ten-span traces (2,500 spans) queued before the worker's round: it takes them in
    # several steps (one by one from a long queue, then the rest at once) and still sends
    # each trace as one document.
    pipe = pipeline(max_queue_size=5000, **ASLEEP)
    for _ in range(250):
        _trace(pipe, 9)
    pipe.flush()

    documents = pipe.documents(250)

    assert all(len(document["subsegments"]) == 9 for document in documents)
    assert pipe.stats()["spans_sent"] == 2500
    assert pipe.stats()["spans_dropped"] == 0
    assert_each_span_once_under_its_parent(pipe.finished(), documents)


class _ParentShownByProperty(ReadableSpan):
    """A span class that shows its parent through its own property (its field holds none)."""

    def __init__(self, shown_parent: SpanContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown_parent = shown_parent

    @property
    def parent(self) -> Optional[SpanContext]:
        return self._shown_parent


def test_a_span_class_showing_its_parent_by_a_property_is_held_under_that_parent(
    pipeline: MakePipeline,
) -> None:
    # An SDK span, then one of another class, in one round (two queued spans wake the
    # worker): the worker reads each class's spans its own way. The fields of the second
    # hold no parent: read from them, it would be a root, sent at once.
    pipe = pipeline(schedule_delay_millis=60_000, max_export_batch_size=2)
    root = pipe.tracer.start_span("root", kind=SpanKind.SERVER)
    pipe.child("sdk-child", root).end()
    root_context = root.get_span_context()
    now = time.time_ns()
    pipe.processor.on_end(_ParentShownByProperty(
        root_context, name="own-class",
        context=SpanContext(root_context.trace_id, 0xABC, False, TraceFlags(TraceFlags.SAMPLED)),
        start_time=now, end_time=now + 1000,
    ))
    assert wait_until(lambda: pipe.stats()["spans_queued"] == 0)

    assert pipe.stats()["spans_buffered"] == 2  # both wait for the root
    root.end()
    pipe.flush()
    (document,) = pipe.documents(1)
    assert sorted(sub["name"] for sub in document["subsegments"]) == ["own-class", "sdk-child"]


# --- what is not sent ---------------------------------------------------------------------


class _RecordOnlyUnlessNamedSampled(Sampler):
    """Records every span; samples only spans whose name starts with ``sampled``."""

    def should_sample(
        self,
        parent_context: Optional[Context],
        trace_id: int,
        name: str,
        kind: Optional[SpanKind] = None,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if name.startswith("sampled"):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return SamplingResult(Decision.RECORD_ONLY, attributes)

    def get_description(self) -> str:
        return "record-only unless named sampled*"


def test_unsampled_spans_are_counted_not_sent(pipeline: MakePipeline) -> None:
    pipe = pipeline(sampler=_RecordOnlyUnlessNamedSampled())
    for index in range(4):
        pipe.tracer.start_span(f"unsampled-{index}").end()
    pipe.tracer.start_span("sampled").end()
    pipe.flush()

    (document,) = pipe.documents(1)

    assert _names(pipe, [document]) == ["sampled"]
    assert pipe.stats()["spans_unsampled"] == 4
    assert pipe.stats()["spans_received"] == 5


def test_full_queue_drops_the_oldest_spans_counts_them_and_logs_once(
    pipeline: MakePipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipe = pipeline(max_queue_size=10, **ASLEEP)
    with caplog.at_level(logging.WARNING, logger="otel_xray.processor"):
        for index in range(15):
            pipe.tracer.start_span(f"span-{index}").end()
    pipe.flush()

    documents = pipe.documents(10)

    assert sorted(_names(pipe, documents)) == sorted(f"span-{i}" for i in range(5, 15))
    stats = pipe.stats()
    assert stats["spans_dropped.queue_full"] == 5 and stats["spans_dropped"] == 5
    assert stats["spans_received"] == 15
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [(ENV_MAX_QUEUE_SIZE, "3"), (ENV_SCHEDULE_DELAY_MILLIS, "600000"),
     (ENV_MAX_EXPORT_BATCH_SIZE, "100000")],
    ids=["queue", "delay", "batch"],
)
def test_limits_come_from_the_environment(
    pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    settings = {ENV_MAX_QUEUE_SIZE: "3", ENV_SCHEDULE_DELAY_MILLIS: "600000",
                ENV_MAX_EXPORT_BATCH_SIZE: "100000"}
    for name, setting in settings.items():
        monkeypatch.setenv(name, setting)
    monkeypatch.setenv(variable, value)
    pipe = pipeline()
    for index in range(5):
        pipe.tracer.start_span(f"span-{index}").end()
    pipe.flush()
    pipe.documents(3)
    assert pipe.stats()["spans_dropped.queue_full"] == 2


def test_orphan_timeout_comes_from_the_environment(
    pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_ORPHAN_TIMEOUT_MILLIS, "10")
    monkeypatch.setenv(ENV_SCHEDULE_DELAY_MILLIS, "20")
    pipe = pipeline()
    root = pipe.tracer.start_span("never-ends", kind=SpanKind.SERVER)
    pipe.child("orphan", root).end()
    (document,) = pipe.documents(1)
    assert document["name"] == "orphan"


def test_invalid_explicit_limit_is_logged_and_the_default_used(
    udp_listener: UdpListener, caplog: pytest.LogCaptureFixture
) -> None:
    processor = XRaySpanProcessor(
        UdpEmitter(udp_listener.address), options=OPTIONS, max_queue_size=0
    )
    try:
        assert processor._max_queue_size == 2048
        assert "max_queue_size=0 is not an integer from 1 to 1000000" in caplog.text
    finally:
        processor.shutdown()


# --- flush and shutdown -------------------------------------------------------------------


class _GatedEmitter(UdpEmitter):
    """The real UDP emitter, held back until the test opens the gate."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.gate = threading.Event()

    def send(self, documents: Sequence[bytes]) -> int:
        self.gate.wait(30)
        return super().send(documents)


def test_force_flush_honours_its_timeout_and_reports_it(udp_listener: UdpListener) -> None:
    emitter = _GatedEmitter(udp_listener.address)
    processor = XRaySpanProcessor(emitter, options=OPTIONS)
    pipe_tracer = _provider_with(processor).get_tracer("t")
    pipe_tracer.start_span("held").end()
    try:
        assert processor.force_flush(timeout_millis=50) is False
        emitter.gate.set()
        assert processor.force_flush(timeout_millis=30_000) is True
        (document,) = udp_listener.wait_for(1)
        assert "subsegments" not in document
    finally:
        emitter.gate.set()
        processor.shutdown()


def _provider_with(processor: XRaySpanProcessor) -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def test_shutdown_sends_what_is_pending(pipeline: MakePipeline) -> None:
    pipe = pipeline(**ASLEEP)
    _trace(pipe, 2)
    root = pipe.tracer.start_span("unfinished-root", kind=SpanKind.SERVER)
    pipe.child("finished-child", root).end()

    pipe.processor.shutdown()

    documents = pipe.documents(2)
    assert sorted(_names(pipe, documents)) == ["finished-child", "root"]


def test_shutdown_is_idempotent_and_later_spans_are_counted(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    pipe.processor.shutdown()
    pipe.processor.shutdown()

    pipe.tracer.start_span("too-late").end()

    assert pipe.processor.force_flush(1000) is True
    assert pipe.stats()["spans_dropped.shutdown"] == 1
    assert pipe.stats()["spans_received"] == 1


def test_no_daemon_listening_does_not_raise(udp_listener: UdpListener) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        silent = f"127.0.0.1:{probe.getsockname()[1]}"
    processor = XRaySpanProcessor(UdpEmitter(silent), options=OPTIONS, schedule_delay_millis=10)
    tracer = _provider_with(processor).get_tracer("t")
    for round_ in range(3):  # later sends see the ICMP refusals of earlier ones
        tracer.start_span(f"into-the-void-{round_}").end()
        assert processor.force_flush(10_000)
    stats = processor.stats()
    assert stats["spans_received"] == 3
    assert stats["emitter.documents_sent"] + stats["emitter.send_errors"] >= 3
    processor.shutdown()


# --- weird spans, fork ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weird",
    [
        ReadableSpan(name="weird-no-context", context=None),
        ReadableSpan(
            name="weird-zero-trace-id",
            context=SpanContext(0, 1, False, TraceFlags(TraceFlags.SAMPLED)),
        ),
    ],
    ids=["no-context", "zero-trace-id"],
)
def test_span_that_cannot_be_translated_is_counted_and_logged_not_raised(
    pipeline: MakePipeline, caplog: pytest.LogCaptureFixture, weird: ReadableSpan
) -> None:
    pipe = pipeline()
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        pipe.processor.on_end(weird)
        pipe.tracer.start_span("normal").end()
        pipe.flush()

    (document,) = pipe.documents(1)

    assert _names(pipe, [document]) == ["normal"]
    assert pipe.stats()["spans_dropped.translate_error"] == 1
    assert any(weird.name in record.getMessage() for record in caplog.records)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_exports_with_its_own_worker(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    pipe.tracer.start_span("parent-before-fork").end()
    pipe.flush()
    pipe.documents(1)

    def child() -> bool:  # export through the inherited processor
        pipe.tracer.start_span("from-the-child").end()
        return pipe.processor.force_flush(10_000)

    assert run_forked(child, 30.0) == 0

    pipe.tracer.start_span("parent-after-fork").end()
    pipe.flush()
    documents = pipe.documents(3)
    names = {span_id(span): span.name for span in pipe.finished()}
    assert sorted(names.get(doc["id"], "child's") for doc in documents) == [
        "child's", "parent-after-fork", "parent-before-fork"
    ]
    assert len(set(pipe.listener.sources)) == 2  # the child sent from its own socket


def test_documents_are_valid_and_counted(pipeline: MakePipeline) -> None:
    pipe = pipeline()
    for _ in range(5):
        _trace(pipe, 3)
    pipe.flush()

    documents = pipe.documents(5)

    assert valid_documents(pipe.listener) == documents
    stats = pipe.stats()
    assert stats["spans_received"] == stats["spans_sent"] == 20
    assert stats["documents_sent"] == 5
    assert stats["bytes_sent"] == sum(len(d) for d in pipe.listener.datagrams) - 5 * 30


# --- settings and accounting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [(ENV_MAX_QUEUE_SIZE, "99999999999999999999999"),
     (ENV_SCHEDULE_DELAY_MILLIS, "9223372036854775"),
     (ENV_MAX_EXPORT_BATCH_SIZE, "-5"),
     (ENV_ORPHAN_TIMEOUT_MILLIS, "soon")],
    ids=["queue-overflow", "delay-overflow", "batch-negative", "orphan-text"],
)
def test_out_of_range_settings_are_logged_once_and_the_default_used(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, variable: str, value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    processors = [XRaySpanProcessor(UdpEmitter(udp_listener.address), options=OPTIONS)
                  for _ in range(2)]
    try:
        assert len([r for r in caplog.records if variable in r.getMessage()]) == 1
        provider = TracerProvider()
        provider.add_span_processor(processors[0])
        provider.get_tracer("t").start_span("after-bad-settings").end()
        assert processors[0].force_flush(10_000)
        assert udp_listener.wait_for(1)[0]["name"]
    finally:
        for processor in processors:
            processor.shutdown()


def test_queue_full_counts_are_exact_under_concurrency(udp_listener: UdpListener) -> None:
    processor = XRaySpanProcessor(
        UdpEmitter(udp_listener.address), options=OPTIONS, max_queue_size=64, **ASLEEP
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")

    def work() -> None:
        for index in range(500):
            tracer.start_span(f"s{index}").end()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = processor.stats()
    assert stats["spans_received"] == 4000
    assert stats["spans_queued"] == 64
    assert stats["spans_dropped.queue_full"] == 4000 - 64
    processor.shutdown()
    stats = processor.stats()
    assert stats["spans_sent"] + stats["spans_dropped"] == 4000
