"""``otel-xray listen`` over real UDP: the Listener, real native SDK documents, the command.

The document rules themselves are unit-tested in ``tests/unit/cli/test_validate.py``.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import jsonschema
import orjson
import pytest
from aws_xray_sdk.core.context import Context
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
from aws_xray_sdk.core.recorder import AWSXRayRecorder
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray import TranslateOptions
from otel_xray.cli import main
from otel_xray.cli.assemble import Trace
from otel_xray.cli.listen import Listener, Received
from otel_xray.cli.validate import NATIVE, Note
from otel_xray.cli.waterfall import Style, render
from otel_xray.emit.protocol import HEADER
from otel_xray.emit.udp import UdpEmitter
from otel_xray.translate import to_document
from tests.support.documents import TRACE_ID, datagram, segment, subsegment
from tests.support.helpers import (
    SCHEMA,
    STRICT_SCHEMA,
    SpanRecorder,
    assert_valid_document,
    walk,
)

PUBLISHED_SCHEMA = jsonschema.Draft202012Validator(SCHEMA)
STRICT = jsonschema.Draft202012Validator(STRICT_SCHEMA)
ROOT = Path(__file__).resolve().parents[2]


# --- the Listener class over real UDP ------------------------------------------------------


class Collected:
    """What a Listener reported, for assertions."""

    def __init__(self) -> None:
        self.received: List[Received] = []
        self.traces: List[Tuple[Trace, List[str]]] = []
        self.rendered: List[str] = []
        """Each reported trace as its waterfall, drawn when it was reported."""
        self.lock = threading.Lock()

    def datagram(self, received: Received) -> None:
        with self.lock:
            self.received.append(received)

    def trace(self, trace: Trace, warnings: List[str]) -> None:
        with self.lock:
            self.traces.append((trace, warnings))
            self.rendered.append(render(trace, Style(), warnings=warnings))

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the listener"
            time.sleep(0.01)


@pytest.fixture
def collected() -> Collected:
    return Collected()


@pytest.fixture
def listener(collected: Collected) -> Iterator[Listener]:
    with Listener(quiet_after=0.2, on_datagram=collected.datagram,
                  on_trace=collected.trace) as running:
        yield running


def send(address: Tuple[str, int], *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in datagrams:
            sock.sendto(data, address)


def test_listener_binds_a_free_loopback_port_by_default(listener: Listener) -> None:
    assert listener.host == "127.0.0.1" and listener.port > 0
    assert listener.address == f"127.0.0.1:{listener.port}"


def test_listener_reports_a_trace_once_it_is_quiet(
    listener: Listener, collected: Collected
) -> None:
    child = subsegment(name="child", start_time=1700000000.1, end_time=1700000000.2)
    send((listener.host, listener.port), datagram(segment()), datagram(child))
    collected.wait(lambda: len(collected.traces) == 1)
    trace, warnings = collected.traces[0]
    assert warnings == []
    assert [node.name for _, node in trace.walk()] == ["checkout", "child"]
    assert listener.stats.documents == 2 and listener.stats.traces == 1
    assert listener.stats.problems == 0


def test_listener_counts_problems_and_keeps_rejected_documents_out_of_traces(
    listener: Listener, collected: Collected
) -> None:
    send((listener.host, listener.port),
         datagram(segment(name="bad!")), b"no header", datagram(segment(id="1111111111111111")))
    collected.wait(lambda: len(collected.traces) == 1)
    stats = listener.stats
    assert stats.datagrams == 3 and stats.documents == 1 and stats.rejected == 2
    assert stats.problems == 2
    assert [node.id for _, node in collected.traces[0][0].walk()] == ["1111111111111111"]


def test_listener_close_reports_pending_traces(collected: Collected) -> None:
    listener = Listener(quiet_after=60, on_trace=collected.trace).start()
    send((listener.host, listener.port), datagram(segment()))
    assert listener.wait_for_documents(1)
    listener.close()
    assert len(collected.traces) == 1


def test_listener_close_counts_datagrams_not_read_yet(collected: Collected) -> None:
    listener = Listener(quiet_after=60, on_trace=collected.trace)  # not started: nothing read
    send((listener.host, listener.port), datagram(segment()), datagram(subsegment()))
    time.sleep(0.1)  # let loopback deliver
    listener.close()
    assert listener.stats.documents == 2 and len(collected.traces) == 1


def test_listener_accepts_real_spans_sent_by_the_udp_emitter(
    listener: Listener, collected: Collected, recorder: SpanRecorder
) -> None:
    options = TranslateOptions(lambda_mode=False)
    spans = [
        recorder.span("GET /orders", kind=SpanKind.SERVER,
                      attributes={"http.request.method": "GET", "http.response.status_code": 500},
                      exception=KeyError("order 7"), status=Status(StatusCode.ERROR)),
        recorder.span("query", parent="local", kind=SpanKind.CLIENT,
                      attributes={"db.system": "sqlite", "db.statement": "SELECT 1"}),
    ]
    documents = [orjson.dumps(assert_valid_document(to_document(s, options))) for s in spans]
    emitter = UdpEmitter(listener.address)
    try:
        assert sum(emitter.send(documents)) == 2
    finally:
        emitter.close()
    collected.wait(lambda: listener.stats.datagrams == 2)
    assert listener.stats.problems == 0 and listener.stats.documents == 2


class FakeClock:
    """The listener's clock, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_late_caller_segment_reprints_the_complete_trace_counted_once(
    collected: Collected,
) -> None:
    # Issue 10.12: the downstream segment arrives, its trace goes quiet and is printed
    # with "(parent … not received)"; seconds later the caller's segment arrives.
    clock = FakeClock()
    downstream = segment(name="orders", id="0f910026178b71eb", parent_id="1f910026178b71eb",
                         start_time=1700000000.1, end_time=1700000000.2)
    caller = segment(name="frontend", subsegments=[{
        "name": "orders", "id": "1f910026178b71eb", "namespace": "remote",
        "start_time": 1700000000.05, "end_time": 1700000000.22,
    }])
    with Listener(quiet_after=1.0, clock=clock, on_trace=collected.trace) as listener:
        send((listener.host, listener.port), datagram(downstream))
        assert listener.wait_for_documents(1)
        clock.now += 1.0
        collected.wait(lambda: len(collected.traces) == 1)
        send((listener.host, listener.port), datagram(caller))
        assert listener.wait_for_documents(2)
        clock.now += 1.0
        collected.wait(lambda: len(collected.traces) == 2)
    assert "(parent 1f910026178b71eb not received)" in collected.rendered[0]
    trace = collected.traces[1][0]
    assert [f"{'  ' * d}{n.name}" for d, n in trace.walk()] == [
        "frontend", "  orders", "    orders"]
    assert "(again: 1 more document arrived after it was printed)" in collected.rendered[1]
    assert listener.stats.traces == 1


def test_listener_survives_an_exception_in_a_callback_and_counts_it(
    collected: Collected, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 9.7: nothing guarded the receiving thread; one exception ended it silently.
    def explode_once(received: Received) -> None:
        if not collected.received:
            collected.received.append(received)
            raise RuntimeError("callback bug")
        collected.datagram(received)

    with Listener(quiet_after=60, on_datagram=explode_once) as listener:
        send((listener.host, listener.port), datagram(segment()))
        assert listener.wait_for_documents(1)
        send((listener.host, listener.port), datagram(subsegment()))
        collected.wait(lambda: len(collected.received) == 2)
    assert listener.stats.errors == 1 and listener.stats.documents == 2
    assert "callback bug" in caplog.text and "counted in stats.errors" in caplog.text


@pytest.mark.parametrize(
    "data",
    [datagram(b'{"name":"a","origin":[1]}'), datagram(b'{"type":"subsegment","namespace":{}}'),
     b"[" * 60_000 + b"\n{}", b"\xff" * 100, HEADER + b"[" * 50_000],
    ids=["origin-array", "namespace-object", "header-nested-deep", "binary", "body-nested-deep"],
)
def test_listener_keeps_receiving_after_any_datagram(
    listener: Listener, collected: Collected, data: bytes
) -> None:
    send((listener.host, listener.port), data, datagram(segment()))
    collected.wait(lambda: len(collected.traces) == 1)
    assert listener.stats.errors == 0 and listener.stats.rejected == 1


# --- what the native aws-xray-sdk sends: accepted, shown, noted -----------------------------


class CountingEmitter(UDPEmitter):
    """The SDK's own UDP emitter, counting what it sends."""

    sent = 0

    def send_entity(self, entity: Any) -> None:
        self.sent += 1
        super().send_entity(entity)


class NativeSdkRun:
    """The real aws-xray-sdk recording one request, sent over UDP to a Listener."""

    def __init__(self) -> None:
        self.collected = Collected()
        self.listener = Listener(quiet_after=3600, on_datagram=self.collected.datagram,
                                 on_trace=self.collected.trace).start()
        recorder = AWSXRayRecorder()
        emitter = CountingEmitter()
        # streaming_threshold=1: finished subsegments are sent on their own (streaming).
        recorder.configure(daemon_address=self.listener.address, emitter=emitter,
                           sampling=False, context_missing="LOG_ERROR", streaming_threshold=1,
                           plugins=(), context=Context())
        self.ids: List[str] = []
        segment = recorder.begin_segment("native-service")
        recorder.emitter.send_entity(segment)  # an in-progress segment, as sent while open
        self.ids.append(segment.id)
        segment.put_annotation("order_id", 7)
        segment.put_metadata("cart", {"items": 2}, "shop")
        segment.set_user("alice")
        segment.put_http_meta("method", "GET")
        segment.put_http_meta("status", 500)
        try:
            with recorder.in_subsegment("outer") as outer:
                self.ids.append(outer.id)
                with recorder.in_subsegment("DynamoDB", namespace="aws") as call:
                    self.ids.append(call.id)
                    call.set_aws({"operation": "GetItem", "table_name": "orders"})
                    raise LookupError("no order 7")  # recorded here, then as an id above
        except LookupError:
            pass
        with recorder.in_subsegment("payments", namespace="remote") as remote:
            self.ids.append(remote.id)
            with recorder.in_subsegment("local-step", namespace="local") as local:
                self.ids.append(local.id)
        recorder.end_segment()
        self.sent = emitter.sent
        assert self.listener.wait_for_documents(self.sent)
        self.listener.close()
        self.documents = [r.document for r in self.collected.received]
        (self.trace, _), = self.collected.traces


@pytest.fixture(scope="module")
def native() -> NativeSdkRun:
    return NativeSdkRun()


def test_listen_accepts_every_document_the_native_sdk_sends(native: NativeSdkRun) -> None:
    stats = native.listener.stats
    assert stats.datagrams == native.sent and stats.documents == native.sent
    assert stats.rejected == 0 and stats.warnings == 0 and stats.errors == 0


def test_listen_shows_every_native_segment_and_subsegment_once(native: NativeSdkRun) -> None:
    shown = [node.id for _, node in native.trace.walk()]
    assert sorted(shown) == sorted(native.ids)
    assert not any(node.orphan for _, node in native.trace.walk())


@pytest.mark.parametrize(
    "feature",
    [
        lambda d: d.get("in_progress") is True and "end_time" not in d,
        lambda d: d.get("in_progress") is False and "end_time" in d,
        lambda d: isinstance(d.get("service", {}).get("runtime"), str),
        lambda d: d.get("aws", {}).get("xray", {}).get("sdk") == "X-Ray for Python",
        lambda d: isinstance(d.get("cause"), str),
        lambda d: d.get("type") == "subsegment" and "parent_id" in d and "trace_id" in d,
        lambda d: any("trace_id" in s and "type" in s and "parent_id" in s
                      for s in d.get("subsegments", ())),
        lambda d: d.get("namespace") == "local",
        lambda d: d.get("namespace") == "remote",
        lambda d: d.get("namespace") == "aws",
    ],
    ids=["in-progress-segment", "in-progress-false-with-end-time", "service-runtime",
         "aws-xray-sdk", "cause-as-exception-id", "streamed-subsegment",
         "embedded-with-trace-id-type-parent-id", "namespace-local", "namespace-remote",
         "namespace-aws"],
)
def test_the_native_run_covers(native: NativeSdkRun, feature: Callable[[Any], bool]) -> None:
    assert any(feature(node) for doc in native.documents for node in walk(doc))


def test_published_schema_accepts_every_native_document(native: NativeSdkRun) -> None:
    for document in native.documents:
        errors = [e.message for e in PUBLISHED_SCHEMA.iter_errors(document)]
        assert errors == [], (document, errors)


def test_strict_schema_for_our_own_output_still_rejects_native_documents(
    native: NativeSdkRun,
) -> None:
    # service.runtime is documented for our output too; the other native forms are not.
    native_only = [
        document for document in native.documents
        if any(node.get("in_progress") is False or node.get("namespace") == "local"
               or (node is not document and "trace_id" in node) for node in walk(document))
    ]
    assert native_only
    assert all(list(STRICT.iter_errors(document)) for document in native_only)


def test_native_forms_are_noted_under_the_waterfall(native: NativeSdkRun) -> None:
    notes = set(native.trace.notes)
    for field in ("in_progress false next to end_time", "subsegments[].trace_id",
                  "namespace 'local'"):
        assert Note(field, NATIVE) in notes
    text = render(native.trace, Style())
    assert "~ outside the documented format, sent by the native X-Ray SDKs" in text


def test_the_complete_native_segment_replaces_its_in_progress_one(native: NativeSdkRun) -> None:
    (root,) = native.trace.roots()
    assert root.name == "native-service" and root.end is not None


def test_native_annotations_metadata_and_user_are_shown(native: NativeSdkRun) -> None:
    lines = render(native.trace, Style()).splitlines()
    assert lines[2] == "    ↳ user alice · annotations order_id=7 · metadata shop: cart"


# --- the command --------------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ListenProcess:
    """``python -m otel_xray listen`` in a subprocess, its output read line by line."""

    def __init__(self, *args: str, env: Optional[Dict[str, str]] = None) -> None:
        self.port = free_udp_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_xray", "listen", "--address",
             f"127.0.0.1:{self.port}", "--quiet-after", "0.2", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        for stream, lines in ((self.process.stdout, self.stdout),
                              (self.process.stderr, self.stderr)):
            threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()

    def wait_line(self, text: str, stream: str = "stdout", timeout: float = 15.0) -> str:
        lines = self.stdout if stream == "stdout" else self.stderr
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed on {stream}; got {seen!r}")

    def send(self, *datagrams: bytes) -> None:
        send(("127.0.0.1", self.port), *datagrams)

    def stop(self, signum: int = signal.SIGINT) -> Tuple[int, str, str]:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=15)
        rest_out = _drain(self.stdout)
        return code, rest_out, _drain(self.stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pump(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _drain(lines: queue.Queue[str]) -> str:
    time.sleep(0.2)  # let the pump threads read to the end of the pipes
    out = []
    while not lines.empty():
        out.append(lines.get())
    return "\n".join(out)


@pytest.fixture
def run_listen() -> Iterator[Callable[..., ListenProcess]]:
    started: List[ListenProcess] = []

    def start(*args: str, env: Optional[Dict[str, str]] = None) -> ListenProcess:
        started.append(ListenProcess(*args, env=env))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def two_document_trace() -> List[bytes]:
    child = subsegment(name="DynamoDB", namespace="aws", start_time=1700000000.1,
                       end_time=1700000000.2, fault=True,
                       http={"response": {"status": 500}})
    return [datagram(segment(http={"response": {"status": 200}})), datagram(child)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_listen_command_prints_waterfall_and_summary_and_exits_0(
    run_listen: Callable[..., ListenProcess], signum: int
) -> None:
    listen = run_listen()
    listen.wait_line("listening on udp 127.0.0.1:")
    listen.send(*two_document_trace())
    header = listen.wait_line(f"Trace {TRACE_ID}")
    assert "1 segment, 1 subsegment, 250.0 ms" in header
    assert "checkout" in listen.wait_line("checkout")
    child = listen.wait_line("DynamoDB")
    assert "aws" in child and "500" in child and "fault" in child
    code, out, _ = listen.stop(signum)
    assert code == 0
    assert "1 trace, 2 documents, 0 problems, 0 warnings" in out
    assert "\033[" not in out  # stdout is a pipe: no colour


def test_listen_command_prints_each_problem(run_listen: Callable[..., ListenProcess]) -> None:
    listen = run_listen()
    listen.wait_line("listening")
    listen.send(datagram(segment(name="bad!", annotations={"k": None})))
    assert "name='bad!'" in listen.wait_line("REJECTED")
    code, out, _ = listen.stop()
    assert "characters not allowed in a name: '!'" in out
    assert "WARNING document name='bad!'" in out
    assert "annotations.k: annotation values must be" in out
    assert code == 0 and "0 traces, 0 documents, 1 problem, 1 warning" in out


def test_listen_command_shows_a_native_sdk_trace_with_its_notes(
    run_listen: Callable[..., ListenProcess]
) -> None:
    listen = run_listen()
    listen.wait_line("listening")
    recorder = AWSXRayRecorder()
    recorder.configure(daemon_address=f"127.0.0.1:{listen.port}", sampling=False,
                       context_missing="LOG_ERROR", plugins=(), context=Context())
    recorder.begin_segment("native-service").put_annotation("order_id", 7)
    with recorder.in_subsegment("local-step", namespace="local"):
        pass
    recorder.end_segment()
    assert "1 segment, 1 subsegment" in listen.wait_line("Trace 1-")
    assert "annotations order_id=7" in listen.wait_line("annotations")
    assert "namespace 'local'" in listen.wait_line("~ outside the documented format")
    code, out, _ = listen.stop()
    assert code == 0 and "REJECTED" not in out
    assert re.search(r"1 trace, 1 document, 0 problems, 0 warnings, \d+ notes \(outside", out)


def test_listen_command_json_prints_raw_documents(
    run_listen: Callable[..., ListenProcess]
) -> None:
    listen = run_listen("--json")
    listen.wait_line("listening", stream="stderr")
    documents = two_document_trace()
    listen.send(*documents)
    first = listen.wait_line("{")
    assert first.encode() == documents[0][len(HEADER):]
    listen.wait_line('"DynamoDB"')
    code, out, err = listen.stop()
    assert code == 0 and "Trace " not in out
    assert "1 trace, 2 documents, 0 problems" in err


def test_listen_command_out_appends_json_lines(
    run_listen: Callable[..., ListenProcess], tmp_path: Path
) -> None:
    out_file = tmp_path / "documents.jsonl"
    out_file.write_text('{"earlier":true}\n')
    listen = run_listen("--out", str(out_file))
    listen.wait_line("listening")
    listen.send(*two_document_trace())
    listen.wait_line("Trace ")
    assert listen.stop()[0] == 0
    lines = out_file.read_text().splitlines()
    assert [orjson.loads(line).get("name") for line in lines] == [None, "checkout", "DynamoDB"]


def test_listen_command_uses_aws_xray_daemon_address() -> None:
    port = free_udp_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_xray", "listen"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AWS_XRAY_DAEMON_ADDRESS": f"tcp:127.0.0.1:1 udp:127.0.0.1:{port}"},
    )
    try:
        assert process.stdout is not None
        assert f"listening on udp 127.0.0.1:{port}" in process.stdout.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["listen", "--address", "localhost"], "has no port"),
        (["listen", "--address", "127.0.0.1:99999"], "port"),
    ],
    ids=["no-port", "port-out-of-range"],
)
def test_listen_command_rejects_a_malformed_address(
    argv: List[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_listen_command_reports_an_address_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert main(["listen", "--address", f"127.0.0.1:{port}"]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_command_without_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "listen" in capsys.readouterr().out

