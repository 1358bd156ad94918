"""TcpEmitter against a real HTTP server playing the daemon's TCP proxy (``/TraceSegments``)."""

from __future__ import annotations

import json
import socket
from typing import Dict, List, Tuple

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_xray import configure
from otel_xray.cli.listen import Listener
from otel_xray.cli.sampling_server import SamplingServer
from otel_xray.emit import Emitter
from otel_xray.emit.tcp import TcpEmitter
from otel_xray.processor import XRaySpanProcessor
from tests.support.daemon_tcp import FakeDaemonTcp
from tests.support.helpers import SpanRecorder, assert_valid_document, make_documents


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_tcp_emitter_is_an_emitter() -> None:
    assert isinstance(TcpEmitter("127.0.0.1:2000"), Emitter)


def test_documents_go_in_batches_of_50(
    daemon_tcp: FakeDaemonTcp, recorder: SpanRecorder
) -> None:
    documents = make_documents(recorder, 120)
    emitter = TcpEmitter(daemon_tcp.address)
    assert emitter.send(documents) == [True] * 120
    bodies = daemon_tcp.bodies("/TraceSegments")
    assert [len(body["TraceSegmentDocuments"]) for body in bodies] == [50, 50, 20]
    sent = [doc for body in bodies for doc in body["TraceSegmentDocuments"]]
    assert [doc.encode() for doc in sent] == documents
    for doc in sent:
        assert_valid_document(json.loads(doc))
    stats = emitter.stats()
    assert (stats["documents_sent"], stats["api_calls"], stats["send_errors"]) == (120, 3, 0)
    assert stats["bytes_sent"] == sum(map(len, documents))


def test_the_address_is_the_tcp_part_of_the_daemon_address(daemon_tcp: FakeDaemonTcp) -> None:
    emitter = TcpEmitter(f"udp:127.0.0.1:9 tcp:{daemon_tcp.address}")
    assert emitter.address == daemon_tcp.address
    assert emitter.send([b'{"x":1}']) == [True]


def test_documents_x_ray_rejects_are_counted_by_error_code(
    daemon_tcp: FakeDaemonTcp, recorder: SpanRecorder
) -> None:
    daemon_tcp.unprocessed_segments = [{"Id": "a", "ErrorCode": "InvalidDocument"}]
    emitter = TcpEmitter(daemon_tcp.address)
    assert sum(emitter.send(make_documents(recorder, 3))) == 2
    stats = emitter.stats()
    assert stats["send_errors.unprocessed"] == 1
    assert stats["unprocessed.InvalidDocument"] == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((400, b"{}", {"x-amzn-ErrorType": "ThrottledException:http://internal"}),
         "ThrottledException"),
        ((502, b"bad gateway", {}), "http_502"),
        ((200, b"<html>", {}), "bad_response"),
    ],
)
def test_error_answers_are_counted_with_their_reason(
    daemon_tcp: FakeDaemonTcp, answer: Tuple[int, bytes, Dict[str, str]], reason: str
) -> None:
    daemon_tcp.override = answer
    emitter = TcpEmitter(daemon_tcp.address)
    assert emitter.send([b'{"a":1}', b'{"b":2}']) == [False, False]
    assert emitter.stats()[f"send_errors.{reason}"] == 2


def test_a_daemon_that_is_down_is_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    emitter = TcpEmitter(f"127.0.0.1:{closed_port()}")
    assert emitter.send([b"{}"]) == [False]
    assert emitter.send([b"{}"]) == [False]
    assert emitter.stats()["send_errors.ECONNREFUSED"] == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "otel_xray.emit.tcp"]
    assert len(messages) == 1 and "is the daemon running" in messages[0]


def test_a_slow_daemon_times_out(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.released.clear()
    emitter = TcpEmitter(daemon_tcp.address, timeout=0.2)
    assert emitter.send([b"{}"]) == [False]
    assert emitter.stats()["send_errors.timeout"] == 1


def test_oversize_documents_are_dropped_and_counted(daemon_tcp: FakeDaemonTcp) -> None:
    emitter = TcpEmitter(daemon_tcp.address)
    assert emitter.send([b'{"a":"' + b"x" * 70_000 + b'"}', b"{}"]) == [False, True]
    assert emitter.stats()["oversize_dropped"] == 1


def test_sends_after_close_are_counted(daemon_tcp: FakeDaemonTcp) -> None:
    emitter = TcpEmitter(daemon_tcp.address)
    emitter.close()
    emitter.close()
    assert emitter.send([b"{}"]) == [False]
    assert emitter.stats()["send_errors.closed"] == 1
    assert daemon_tcp.bodies("/TraceSegments") == []


def test_spans_reach_otel_xray_listen_over_tcp() -> None:
    """The processor, the TCP transport, and listen's TCP side feeding its UDP listener."""
    received: List[Dict[str, object]] = []
    listener = Listener(("127.0.0.1", 0), quiet_after=3600,
                        on_datagram=lambda r: received.append(r.document or {}))
    listener.start()
    server = SamplingServer(("127.0.0.1", 0), forward_to=(listener.host, listener.port))
    server.start()
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "over-tcp"}))
        processor = XRaySpanProcessor(TcpEmitter(server.address))
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("root", kind=SpanKind.SERVER):
            for index in range(3):
                tracer.start_span(f"child-{index}").end()
        provider.shutdown()
        assert processor.stats()["documents_sent"] == 1
        listener.wait_idle(idle=0.2, timeout=10)
    finally:
        server.close()
        listener.close()
    assert listener.stats.problems == 0 and listener.stats.documents == 1
    assert [doc["name"] for doc in received] == ["over-tcp"]
    assert_valid_document(received[0])


def test_configure_uses_the_transport_from_the_environment(
    fresh_otel: None, daemon_tcp: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_TRANSPORT", "tcp")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon_tcp.address)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    provider = configure("tcp-service")
    provider.get_tracer("t").start_span("request", kind=SpanKind.SERVER).end()
    provider.force_flush()
    (body,) = daemon_tcp.wait_for("/TraceSegments")
    (document,) = body["TraceSegmentDocuments"]
    assert json.loads(document)["name"] == "tcp-service"


def test_an_unknown_transport_is_logged_and_udp_used(
    fresh_otel: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_xray.emit.transport import transport_emitter
    from otel_xray.emit.udp import UdpEmitter

    monkeypatch.setenv("OTEL_EXPORTER_XRAY_TRANSPORT", "carrier-pigeon")
    assert isinstance(transport_emitter("127.0.0.1:2000"), UdpEmitter)
    assert "not udp, tcp or api" in caplog.text


def test_the_exporter_entry_point_uses_the_transport_from_the_environment(
    daemon_tcp: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch, recorder: SpanRecorder
) -> None:
    """``OTEL_TRACES_EXPORTER=otel_xray`` under another distro: no code either."""
    from otel_xray.exporter import XRaySpanExporter

    monkeypatch.setenv("OTEL_EXPORTER_XRAY_TRANSPORT", "tcp")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon_tcp.address)
    exporter = XRaySpanExporter()
    exporter.export([recorder.span("request")])
    exporter.shutdown()
    (body,) = daemon_tcp.bodies("/TraceSegments")
    assert len(body["TraceSegmentDocuments"]) == 1
