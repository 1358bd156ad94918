"""XRaySpanExporter: each batch packed by tree over real UDP, behind OTel's BatchSpanProcessor."""

from __future__ import annotations

import logging
import socket
from importlib.metadata import entry_points
from typing import Any, Dict, List

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray.emit.udp import UdpEmitter
from otel_xray.exporter import XRaySpanExporter
from tests.support.helpers import SpanRecorder, remote_context
from tests.support.packing import assert_each_span_once_under_its_parent, span_id
from tests.support.pipeline import OPTIONS, valid_documents
from tests.support.udp import UdpListener


def _tree(recorder: SpanRecorder, children: int = 3) -> List[ReadableSpan]:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(children):
        tracer.start_span(f"child-{index}", context=trace.set_span_in_context(root)).end()
    root.end()
    return recorder.spans()


def _exporter(listener: UdpListener) -> XRaySpanExporter:
    return XRaySpanExporter(UdpEmitter(listener.address), options=OPTIONS)


def _received(listener: UdpListener, count: int) -> List[Dict[str, Any]]:
    listener.wait_for(count)
    return valid_documents(listener)


def test_batch_holding_a_whole_tree_sends_one_document(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    spans = _tree(recorder)
    exporter = _exporter(udp_listener)

    assert exporter.export(spans) is SpanExportResult.SUCCESS

    (document,) = _received(udp_listener, 1)
    assert len(document["subsegments"]) == 3
    assert exporter.stats()["spans_sent"] == 4


def test_spans_whose_parent_is_in_another_batch_go_standalone(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    spans = _tree(recorder, children=2)
    exporter = _exporter(udp_listener)

    assert exporter.export(spans[:1]) is SpanExportResult.SUCCESS
    assert exporter.export(spans[1:]) is SpanExportResult.SUCCESS

    documents = _received(udp_listener, 2)
    assert documents[0]["type"] == "subsegment"  # child-0: its root comes in the next batch
    assert [child["name"] for child in documents[1]["subsegments"]] == ["child-1"]
    assert_each_span_once_under_its_parent(spans, documents)


def test_remote_parent_root_nests_its_children(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    tracer = recorder.tracer
    incoming = trace.set_span_in_context(trace.NonRecordingSpan(remote_context()))
    root = tracer.start_span("incoming", kind=SpanKind.SERVER, context=incoming)
    tracer.start_span("work", context=trace.set_span_in_context(root)).end()
    root.end()

    assert _exporter(udp_listener).export(recorder.spans()) is SpanExportResult.SUCCESS

    (document,) = _received(udp_listener, 1)
    assert document["parent_id"] == f"{remote_context().span_id:016x}"
    assert [child["name"] for child in document["subsegments"]] == ["work"]


def test_behind_batch_span_processor_every_span_arrives_once(udp_listener: UdpListener) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_exporter(udp_listener)))
    tracer = provider.get_tracer("t")
    for _ in range(20):
        with tracer.start_as_current_span("request", kind=SpanKind.SERVER):
            for index in range(4):
                with tracer.start_as_current_span(f"step-{index}"):
                    pass
    assert provider.force_flush(30_000)
    provider.shutdown()

    udp_listener.wait_for(20)
    assert len(udp_listener.span_ids()) == len(set(udp_listener.span_ids())) == 100
    valid_documents(udp_listener)


def test_constructible_without_arguments_from_the_environment(
    udp_listener: UdpListener, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", udp_listener.address)

    exporter = XRaySpanExporter()

    assert exporter.export(_tree(recorder)) is SpanExportResult.SUCCESS
    _received(udp_listener, 1)


def test_is_the_otel_xray_traces_exporter_entry_point() -> None:
    found = entry_points()
    group = (
        found.select(group="opentelemetry_traces_exporter")  # Python 3.10+
        if hasattr(found, "select")
        else found.get("opentelemetry_traces_exporter", [])  # type: ignore[attr-defined]
    )
    # Python 3.9 may list the same distribution twice (site-packages and an egg-info).
    assert {e.load() for e in group if e.name == "otel_xray"} == {XRaySpanExporter}


def test_malformed_daemon_address_is_reported_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "not an address")
    with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS"):
        XRaySpanExporter()


def test_untranslatable_span_fails_the_batch_but_the_rest_is_sent(
    udp_listener: UdpListener, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    weird = ReadableSpan(
        name="weird", context=SpanContext(0, 1, False, TraceFlags(TraceFlags.SAMPLED))
    )
    exporter = _exporter(udp_listener)

    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        result = exporter.export([weird, *_tree(recorder)])

    assert result is SpanExportResult.FAILURE
    (document,) = _received(udp_listener, 1)
    assert len(document["subsegments"]) == 3
    assert exporter.stats()["spans_dropped.translate_error"] == 1
    assert any("weird" in record.getMessage() for record in caplog.records)


def test_unsampled_spans_in_a_batch_are_skipped(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    sampled = recorder.span("sampled")
    unsampled = ReadableSpan(
        name="unsampled", context=SpanContext(1, 2, False, TraceFlags(TraceFlags.DEFAULT))
    )
    exporter = _exporter(udp_listener)

    assert exporter.export([unsampled, sampled]) is SpanExportResult.SUCCESS

    (document,) = _received(udp_listener, 1)
    assert document["id"] == span_id(sampled)
    assert exporter.stats()["spans_unsampled"] == 1


def test_undelivered_documents_fail_the_export_and_are_counted(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    emitter = UdpEmitter(udp_listener.address)
    emitter.close()
    exporter = XRaySpanExporter(emitter, options=OPTIONS)

    assert exporter.export(_tree(recorder)) is SpanExportResult.FAILURE

    stats = exporter.stats()
    assert stats["documents_failed"] == 1
    assert stats["spans_dropped.send_failed"] == 4
    assert stats["emitter.send_errors"] == 1


def test_shutdown_is_idempotent_and_later_exports_fail(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    exporter = _exporter(udp_listener)
    exporter.shutdown()
    exporter.shutdown()

    assert exporter.export(_tree(recorder)) is SpanExportResult.FAILURE
    assert exporter.stats()["spans_dropped.shutdown"] == 4
    assert exporter.force_flush() is True


def test_batch_with_a_huge_span_and_a_thousand_children_arrives_whole(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    parent = trace.set_span_in_context(root)
    tracer.start_span("huge", context=parent,
                      attributes={f"k{i}": "h" * 30_000 for i in range(50)}).end()
    for index in range(1000):
        tracer.start_span(f"child-{index}", context=parent, attributes={"p": "c" * 100}).end()
    root.end()
    spans = recorder.spans()
    exporter = _exporter(udp_listener)

    assert exporter.export(spans) is SpanExportResult.SUCCESS

    sent = exporter.stats()["documents_sent"]
    udp_listener.wait_for(sent)
    assert_each_span_once_under_its_parent(spans, valid_documents(udp_listener))
    assert exporter.stats()["spans_trimmed"] == 1


def test_a_stopped_daemon_is_a_failure_not_a_send(recorder: SpanRecorder) -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now
    exporter = XRaySpanExporter(UdpEmitter(address), options=OPTIONS)
    results = [exporter.export([recorder.span(f"root-{index}")]) for index in range(10)]
    stats = exporter.stats()
    assert results == [SpanExportResult.FAILURE] * 10
    assert (stats["spans_sent"], stats["spans_dropped.send_failed"]) == (0, 10)
    assert stats["emitter.send_errors.ECONNREFUSED"] == 10
    exporter.shutdown()
