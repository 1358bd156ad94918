"""``otel-xray listen``: daemon-like acceptance, X-Ray's document rules, traces, the command."""

from __future__ import annotations

import os
import queue
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
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray import TranslateOptions
from otel_xray.cli import main
from otel_xray.cli.assemble import Trace
from otel_xray.cli.listen import Listener, Received, check_datagram
from otel_xray.cli.validate import check_document, check_trace
from otel_xray.emit.protocol import HEADER
from otel_xray.emit.udp import UdpEmitter
from otel_xray.translate import to_document
from tests.support.helpers import SCHEMA, SpanRecorder, assert_valid_document

SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
ROOT = Path(__file__).resolve().parents[2]


def segment(**fields: Any) -> Dict[str, Any]:
    doc: Dict[str, Any] = {
        "name": "checkout",
        "id": "53995c3f42cd8ad8",
        "trace_id": TRACE_ID,
        "start_time": 1700000000.0,
        "end_time": 1700000000.25,
    }
    doc.update(fields)
    return doc


def subsegment(**fields: Any) -> Dict[str, Any]:
    doc = segment(id="0f910026178b71eb", type="subsegment", parent_id="53995c3f42cd8ad8")
    doc.update(fields)
    return doc


def without(doc: Dict[str, Any], *keys: str) -> Dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def datagram(doc: Any) -> bytes:
    return HEADER + (doc if isinstance(doc, bytes) else orjson.dumps(doc))


# --- X-Ray's document rules: whatever the project's schema rejects, the listener reports ---

REJECTED: Dict[str, Dict[str, Any]] = {
    "name-with-bad-character": segment(name="checkout!"),
    "name-with-brackets": segment(name="GET <id>"),
    "name-empty": segment(name=""),
    "name-too-long": segment(name="n" * 201),
    "name-not-string": segment(name=7),
    "id-uppercase": segment(id="53995C3F42CD8AD8"),
    "id-too-short": segment(id="53995c3f42cd8ad"),
    "id-not-hex": segment(id="53995c3f42cd8adz"),
    "trace-id-wrong-version": segment(trace_id="2-5759e988-bd862e3fe1be46a994272793"),
    "trace-id-without-dashes": segment(trace_id="5759e988bd862e3fe1be46a994272793"),
    "trace-id-uppercase": segment(trace_id="1-5759E988-BD862E3FE1BE46A994272793"),
    "trace-id-short": segment(trace_id="1-5759e988-bd862e3fe1be46a99427279"),
    "parent-id-bad": segment(parent_id="xyz"),
    "missing-name": without(segment(), "name"),
    "missing-id": without(segment(), "id"),
    "missing-trace-id": without(segment(), "trace_id"),
    "missing-start-time": without(segment(), "start_time"),
    "missing-end-time": without(segment(), "end_time"),
    "in-progress-false": without(segment(in_progress=False), "end_time"),
    "end-time-and-in-progress": segment(in_progress=True),
    "start-time-string": segment(start_time="1700000000"),
    "start-time-negative": segment(start_time=-1),
    "end-time-boolean": segment(end_time=True),
    "type-not-subsegment": segment(type="segment"),
    "standalone-without-parent-id": without(subsegment(), "parent_id"),
    "segment-with-namespace": segment(namespace="remote"),
    "namespace-unknown": subsegment(namespace="local"),
    "standalone-with-user": subsegment(user="alice"),
    "unknown-field": segment(color="blue"),
    "fault-not-boolean": segment(fault="true"),
    "error-number": segment(error=1),
    "user-too-long": segment(user="u" * 251),
    "origin-unknown": segment(origin="AWS::EC3::Instance"),
    "service-unknown-field": segment(service={"version": "1", "name": "x"}),
    "http-status-string": segment(http={"response": {"status": "200"}}),
    "http-status-negative": segment(http={"response": {"status": -1}}),
    "http-url-too-long": segment(http={"request": {"url": "http://x/" + "a" * 250}}),
    "http-unknown-field": segment(http={"request": {"verb": "GET"}}),
    "http-traced-string": segment(http={"request": {"traced": "yes"}}),
    "annotation-key-dash": segment(annotations={"order-id": 1}),
    "annotation-key-space": segment(annotations={"order id": 1}),
    "annotation-key-too-long": segment(annotations={"k" * 501: 1}),
    "annotation-key-empty": segment(annotations={"": 1}),
    "annotation-value-null": segment(annotations={"k": None}),
    "annotation-value-object": segment(annotations={"k": {"a": 1}}),
    "annotation-value-list": segment(annotations={"k": [1]}),
    "annotation-value-too-long": segment(annotations={"k": "v" * 1001}),
    "annotations-over-50": segment(annotations={f"k{i}": i for i in range(51)}),
    "annotations-not-object": segment(annotations=[1]),
    "metadata-reserved-namespace": segment(metadata={"AWS.xray": {"a": 1}}),
    "metadata-namespace-not-object": segment(metadata={"default": 5}),
    "cause-id-not-hex": segment(cause="not-an-id"),
    "cause-unknown-field": segment(cause={"exceptions": [], "why": "x"}),
    "exception-without-id": segment(cause={"exceptions": [{"type": "KeyError"}]}),
    "exception-line-string": segment(cause={"exceptions": [
        {"id": "0f910026178b71eb", "stack": [{"path": "a.py", "line": "3"}]}
    ]}),
    "exception-truncated-negative": segment(cause={"exceptions": [
        {"id": "0f910026178b71eb", "truncated": -2}
    ]}),
    "sql-preparation-unknown": segment(sql={"preparation": "prepared"}),
    "sql-user-too-long": segment(sql={"user": "u" * 251}),
    "sql-unknown-field": segment(sql={"query": "SELECT 1"}),
    "aws-retries-negative": segment(aws={"retries": -1}),
    "aws-ec2-unknown-field": segment(aws={"ec2": {"instance": "i-1"}}),
    "aws-table-names-not-list": segment(aws={"table_names": "orders"}),
    "aws-xray-sdk-not-string": segment(aws={"xray": {"sdk": 1}}),
    "link-without-id": segment(links=[{"trace_id": TRACE_ID}]),
    "link-bad-trace-id": segment(links=[{"trace_id": "x", "id": "0f910026178b71eb"}]),
    "precursor-id-bad": segment(precursor_ids=["nope"]),
    "subsegments-not-list": segment(subsegments={"name": "x"}),
    "embedded-missing-id": segment(subsegments=[{"name": "x", "start_time": 1.0,
                                                 "end_time": 2.0}]),
    "embedded-bad-name": segment(subsegments=[{"name": "a|b", "id": "0f910026178b71eb",
                                               "start_time": 1.0, "end_time": 2.0}]),
    "embedded-with-trace-id": segment(subsegments=[{
        "name": "x", "id": "0f910026178b71eb", "trace_id": TRACE_ID, "start_time": 1.0,
        "end_time": 2.0,
    }]),
    "embedded-deep-bad-id": segment(subsegments=[{
        "name": "x", "id": "0f910026178b71eb", "start_time": 1.0, "end_time": 2.0,
        "subsegments": [{"name": "y", "id": "Z", "start_time": 1.0, "end_time": 2.0}],
    }]),
}


@pytest.mark.parametrize("doc", list(REJECTED.values()), ids=list(REJECTED))
def test_listener_reports_what_the_schema_rejects(doc: Dict[str, Any]) -> None:
    assert list(SCHEMA_VALIDATOR.iter_errors(doc)), "the case must be invalid per the schema"
    report = check_document(orjson.dumps(doc))
    assert report.errors


ACCEPTED: Dict[str, Dict[str, Any]] = {
    "minimal-segment": segment(),
    "in-progress-segment": without(segment(in_progress=True), "end_time"),
    "standalone-subsegment": subsegment(namespace="aws"),
    "unicode-name": segment(name="Bestellung äöü 注文 _.:/%&#=+\\-@"),
    "annotations-of-every-type": segment(annotations={
        "s": "v" * 1000, "i": 1, "f": 1.5, "b": False, "dotted.key": "x",
    }),
    "full-segment": segment(
        parent_id="0f910026178b71eb", user="alice", origin="AWS::EC2::Instance",
        service={"version": "1.2"}, error=True, throttle=True, fault=False,
        http={"request": {"method": "GET", "url": "http://x/", "client_ip": "10.0.0.1",
                          "x_forwarded_for": True},
              "response": {"status": 429, "content_length": 12}},
        aws={"account_id": "123", "ec2": {"instance_id": "i-1"}, "xray": {"sdk": "otel"},
             "cloudwatch_logs": [{"log_group": "g"}], "custom": {"any": "thing"}},
        metadata={"default": {"a": [1, {"b": None}]}, "ns": {}},
        links=[{"trace_id": TRACE_ID, "id": "0f910026178b71eb", "attributes": {"k": 1}}],
        cause={"working_directory": "/app", "paths": [], "exceptions": [{
            "id": "0f910026178b71eb", "type": "KeyError", "message": "x", "remote": False,
            "truncated": 2, "skipped": 0, "cause": "53995c3f42cd8ad8",
            "stack": [{"path": "a.py", "line": 3, "label": "f"}],
        }]},
        subsegments=[{
            "name": "DynamoDB", "id": "0f910026178b71eb", "namespace": "aws",
            "start_time": 1.0, "end_time": 2.0, "precursor_ids": ["53995c3f42cd8ad8"],
            "aws": {"operation": "GetItem", "table_names": ["a", "b"], "retries": 0},
            "sql": {"database_type": "sqlite", "preparation": "statement"},
        }],
    ),
    "cause-as-exception-id": segment(cause="0f910026178b71eb"),
}


@pytest.mark.parametrize("doc", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_listener_accepts_what_the_schema_accepts(doc: Dict[str, Any]) -> None:
    assert not list(SCHEMA_VALIDATOR.iter_errors(doc))
    assert check_document(orjson.dumps(doc)).errors == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"name":"a","start_time":NaN}',
        b'{"name":"a","start_time":Infinity}',
        b'{"name":"a","start_time":-Infinity}',
        b'{"name":"\\ud800"}',
        b'{"name":"a"} trailing',
        b'{"name":"a",}',
        b'{"name":\'a\'}',
        b"\xff\xfe{}",
        b"",
    ],
    ids=["nan", "infinity", "minus-infinity", "lone-surrogate", "trailing-data",
         "trailing-comma", "single-quotes", "not-utf8", "empty"],
)
def test_listener_reports_invalid_json(body: bytes) -> None:
    report = check_document(body)
    assert report.document is None
    assert any(e.startswith("invalid JSON") for e in report.errors)


@pytest.mark.parametrize("body", [b"[]", b'"segment"', b"1", b"null"],
                         ids=["array", "string", "number", "null"])
def test_listener_reports_a_body_that_is_not_an_object(body: bytes) -> None:
    assert check_document(body).errors


def test_listener_reports_a_document_over_64_kb() -> None:
    body = orjson.dumps(segment(metadata={"default": {"blob": "x" * 64_000}}))
    report = check_document(body)
    assert any("over the 64,000-byte limit" in e for e in report.errors)


@pytest.mark.parametrize(
    "data, reason",
    [
        (orjson.dumps(segment()), "no newline"),
        (b"format json\n" + orjson.dumps(segment()), "not valid JSON"),
        (b'["json",1]\n' + orjson.dumps(segment()), "not a JSON object"),
        (b'{"format":"xml","version":1}\n{}', "format"),
        (b'{"version":1}\n{}', "format"),
        (b'{"format":"json","version":2}\n{}', "version"),
        (b'{"format":"json","version":"1"}\n{}', "version"),
        (b'{"format":"json"}\n{}', "version"),
    ],
    ids=["no-header", "header-not-json", "header-not-object", "wrong-format",
         "missing-format", "wrong-version", "version-as-string", "missing-version"],
)
def test_listener_rejects_datagrams_the_daemon_rejects(data: bytes, reason: str) -> None:
    received = check_datagram(data)
    assert received.document is None
    assert len(received.errors) == 1 and reason in received.errors[0]


@pytest.mark.parametrize(
    "header",
    [b'{"format":"json","version":1}', b'{"format":"JSON","version":1}',
     b'{ "version": 1, "format": "json" }'],
    ids=["canonical", "format-uppercase", "spaced-and-reordered"],
)
def test_listener_accepts_headers_the_daemon_accepts(header: bytes) -> None:
    received = check_datagram(header + b"\n" + orjson.dumps(segment()))
    assert received.errors == [] and received.document == segment()


def test_listener_accepts_a_body_with_newlines_as_the_daemon_does() -> None:
    body = b'{\n  "name": "checkout",\n' + orjson.dumps(without(segment(), "name"))[1:]
    assert check_datagram(HEADER + body).errors == []


def test_trace_with_more_than_50_annotations_is_warned_about() -> None:
    docs = [segment(annotations={f"a{i}": i for i in range(30)}),
            subsegment(annotations={f"b{i}": i for i in range(21)})]
    warnings = check_trace(docs, 1000)
    assert len(warnings) == 1 and "51 annotations" in warnings[0]


def test_trace_over_the_size_limit_is_warned_about() -> None:
    warnings = check_trace([segment()], 150_000)
    assert len(warnings) == 1 and "Trace Size Exceeded" in warnings[0]


def test_trace_within_limits_has_no_warnings() -> None:
    assert check_trace([segment(annotations={f"a{i}": i for i in range(50)})], 99_000) == []


# --- the Listener class over real UDP ------------------------------------------------------


class Collected:
    """What a Listener reported, for assertions."""

    def __init__(self) -> None:
        self.received: List[Received] = []
        self.traces: List[Tuple[Trace, List[str]]] = []
        self.lock = threading.Lock()

    def datagram(self, received: Received) -> None:
        with self.lock:
            self.received.append(received)

    def trace(self, trace: Trace, warnings: List[str]) -> None:
        with self.lock:
            self.traces.append((trace, warnings))

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
    assert "annotations.k: annotation values must be" in out
    assert code == 0 and "0 traces, 0 documents, 2 problems" in out


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

