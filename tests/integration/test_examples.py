"""Every example in examples/ runs as its header says and its documents reach the daemon."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT_SECONDS = 30.0


def example_env(listener: UdpListener, **extra: str) -> Dict[str, str]:
    """The test's environment without any OpenTelemetry/AWS settings, pointed at ``listener``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "AWS_", "_X_AMZN")) and k != "_HANDLER"
    }
    env.update(AWS_XRAY_DAEMON_ADDRESS=listener.address, NO_PROXY="127.0.0.1", **extra)
    # The UDP stand-in serves no sampling rules: sample everything, as `otel-xray listen` does.
    env.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    return env


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """An example web service running in a subprocess."""

    def __init__(self, argv: List[str], env: Dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        host, port = self.url[7:].split(":")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"example exited early:\n{self.output()}")
            try:
                socket.create_connection((host, int(port)), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"example did not start listening on {self.url}:\n{self.output()}")

    def get(self, path: str) -> int:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url + path, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        self.stop()
        assert self.process.stdout is not None
        return self.process.stdout.read()


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for server in started:
        server.stop()
        if server.process.stdout is not None:
            server.process.stdout.close()


def run_script(argv: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def documents(listener: UdpListener, count: int) -> List[Dict[str, Any]]:
    docs = listener.wait_for(count, timeout=TIMEOUT_SECONDS)
    assert listener.errors == []
    return [assert_valid_document(doc) for doc in docs]


def find(docs: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    return [node for doc in docs for node in walk(doc) if node["name"] == name]


def segment_with_status(docs: List[Dict[str, Any]], status: int) -> Dict[str, Any]:
    (found,) = [d for d in docs if d.get("http", {}).get("response", {}).get("status") == status]
    return found


# --- flask_app.py ------------------------------------------------------------------------


def test_flask_example_sends_a_segment_per_request(
    udp_listener: UdpListener, servers: List[Server]
) -> None:
    port = free_tcp_port()
    env = example_env(udp_listener, PORT=str(port))
    servers.append(Server([sys.executable, "examples/flask_app.py"], env, port))
    assert servers[0].get("/orders/42") == 200
    assert servers[0].get("/orders/0") == 500

    docs = documents(udp_listener, 2)
    assert {doc["name"] for doc in docs} == {"flask-example"}
    ok = segment_with_status(docs, 200)
    assert ok["annotations"]["order_id"] == 42
    assert ok["metadata"]["shop"]["order"] == {"id": 42, "items": 3}
    assert [child["name"] for child in ok.get("subsegments", [])] == ["load-order"]
    failed = segment_with_status(docs, 500)
    assert failed["fault"] is True
    # The exception is recorded where it was raised; the segment it propagated through
    # names it by id (a string cause).
    causes = [node["cause"] for node in walk(failed) if isinstance(node.get("cause"), dict)]
    exceptions = [e for cause in causes for e in cause.get("exceptions", [])]
    assert any(e.get("type", "").endswith("LookupError") for e in exceptions)


# --- boto3_script.py -------------------------------------------------------------------------


def test_boto3_example_traces_each_aws_call(udp_listener: UdpListener, moto_server: str) -> None:
    env = example_env(
        udp_listener, AWS_ENDPOINT_URL=moto_server, AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    result = run_script([sys.executable, "examples/boto3_script.py"], env)
    trace_id = re.search(r"trace (1-[0-9a-f]{8}-[0-9a-f]{24})", result.stdout)
    assert trace_id, result.stdout

    docs = documents(udp_listener, 1)
    assert {doc["trace_id"] for doc in docs} == {trace_id.group(1)}
    (segment,) = [doc for doc in docs if "type" not in doc]
    assert segment["name"] == "nightly-report"  # a job's segment is named after the job
    assert segment["annotations"]["bucket"].startswith("otel-xray-example-")
    calls = [node for doc in docs for node in walk(doc) if node.get("namespace") == "aws"]
    operations = [node["aws"]["operation"] for node in calls]
    assert operations == ["CreateBucket", "PutObject", "ListObjectsV2", "DeleteObject",
                          "DeleteBucket"]
    assert {node["name"] for node in calls} == {"S3"}


# --- lambda_handler.py (through lambda_local.py) -------------------------------------------


def test_lambda_example_nests_each_invocation_under_lambdas_segment(
    udp_listener: UdpListener,
) -> None:
    result = run_script([sys.executable, "examples/lambda_local.py"], example_env(udp_listener))
    headers = re.findall(r"Root=(1-[0-9a-f-]+);Parent=([0-9a-f]{16});Sampled=1 -> ", result.stdout)
    assert len(headers) == 2, result.stdout

    docs = documents(udp_listener, 2)
    assert all(doc.get("type") == "subsegment" for doc in docs), "Lambda records the segment"
    assert sorted((doc["trace_id"], doc["parent_id"]) for doc in docs) == sorted(headers)
    for doc in docs:
        assert doc["annotations"]["customer"] in ("alice", "bob")
        (child,) = find([doc], "price-order")
        assert child["metadata"]["default"]["total"] == 12.5


# --- zero_code_app.py --------------------------------------------------------------------------


ZERO_CODE_SETUPS = {
    "otel-xray-distro": {
        "OTEL_PYTHON_DISTRO": "otel_xray",
    },
    "environment-only": {
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_TRACES_EXPORTER": "otel_xray",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PROPAGATORS": "tracecontext,baggage,otel_xray",
        "OTEL_PYTHON_ID_GENERATOR": "otel_xray",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    },
}


@pytest.mark.parametrize("setup", list(ZERO_CODE_SETUPS.values()), ids=list(ZERO_CODE_SETUPS))
def test_zero_code_example_is_traced_by_opentelemetry_instrument(
    udp_listener: UdpListener, servers: List[Server], setup: Dict[str, str]
) -> None:
    instrument = _opentelemetry_instrument()
    port = free_tcp_port()
    env = example_env(udp_listener, PORT=str(port), OTEL_SERVICE_NAME="zero-code-example",
                      **setup)
    servers.append(Server([instrument, sys.executable, "examples/zero_code_app.py"], env, port))
    assert servers[0].get("/hello/world") == 200

    (segment,) = documents(udp_listener, 1)
    assert segment["name"] == "zero-code-example"
    assert "type" not in segment
    assert segment["http"]["response"]["status"] == 200
    assert segment["http"]["request"]["method"] == "GET"


def _opentelemetry_instrument() -> str:
    found: Optional[str] = shutil.which("opentelemetry-instrument",
                                        path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("opentelemetry-instrument is not installed")
    return found
