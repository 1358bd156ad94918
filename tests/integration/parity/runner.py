"""Run the parity application (apps/service.py) under one SDK and collect what it sent.

Each run is a subprocess of its own (the two SDKs never share a process) with its own UDP
listener standing in for the daemon; requests carry a fixed ``X-Amzn-Trace-Id`` per
scenario, so the documents of a scenario are those of its trace.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from tests.support.udp import UdpListener

REPO = Path(__file__).resolve().parents[3]
APP = "tests.integration.parity.apps.service"
FORWARDED_FOR = "203.0.113.7"

#: Scenario -> (path, trace id). Every request comes through a load balancer
#: (X-Forwarded-For) with a sampled X-Ray header from a caller.
REQUESTS: Dict[str, Tuple[str, str]] = {
    "request": ("/items/7?token=secret", "1-5759e988-bd862e3fe1be46a994272701"),
    "downstream-error": ("/fail", "1-5759e988-bd862e3fe1be46a994272702"),
    "thread-fanout": ("/fanout", "1-5759e988-bd862e3fe1be46a994272703"),
    "async-route": ("/async", "1-5759e988-bd862e3fe1be46a994272704"),
}
CALLER = "53995c3f42cd8ad8"
LAMBDA_ROOT = "1-5759e988-bd862e3fe1be46a9942727aa"
LAMBDA_PARENT = "1aaaaaaaaaaaaaaa"
#: Where the runs' own ports appear, they are replaced by this (the runs differ in port).
PORT = "<port>"


class Run(NamedTuple):
    """What one SDK sent."""

    documents: Dict[str, List[Dict[str, Any]]]
    """By scenario, the run's own port replaced by :data:`PORT`."""
    raw: List[Dict[str, Any]]
    """Every document as received."""
    rejected: List[str]
    """Datagrams the listener could not parse."""


class _Process:
    def __init__(self, sdk: str, mode: str, env: Dict[str, str], port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", APP, sdk, mode, str(port)], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != word:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise AssertionError(f"the app said {line!r}, not {word!r}:\n{err[-3000:]}")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self) -> None:
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.returncode != 0:
            raise AssertionError(f"the app exited with {self.process.returncode}:\n{err[-3000:]}")


def environment(daemon: str, moto: str, downstream: str, **extra: str) -> Dict[str, str]:
    """A clean environment: no OTEL_/AWS_ settings of the caller leak into the app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_"))}
    env.update({
        "AWS_XRAY_DAEMON_ADDRESS": daemon, "MOTO_ENDPOINT": moto, "DOWNSTREAM_URL": downstream,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "PYTHONPATH": str(REPO),
    })
    env.update(extra)
    return env


def start_server(sdk: str, env: Dict[str, str]) -> Tuple[_Process, int]:
    port = _free_port()
    process = _Process(sdk, "server", env, port)
    process.expect("READY")
    return process, port


def drive_server(process: _Process, port: int) -> Dict[str, Dict[str, str]]:
    """Send every scenario's request, then run the worker job; return response headers."""
    headers: Dict[str, Dict[str, str]] = {}
    for scenario, (path, root) in REQUESTS.items():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path, headers={
                "X-Amzn-Trace-Id": f"Root={root};Parent={CALLER};Sampled=1",
                "X-Forwarded-For": FORWARDED_FOR,
                "User-Agent": "parity-client/1.0",
            })
            response = connection.getresponse()
            response.read()
            headers[scenario] = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
    process.send("job")
    process.expect("DONE")
    process.finish()
    return headers


def run_lambda(sdk: str, env: Dict[str, str]) -> None:
    process = _Process(sdk, "lambda", env, 0)
    process.finish()


def collect(listener: UdpListener, port: Optional[int]) -> Run:
    """Wait until the listener has been quiet for a moment; group documents by scenario."""
    seen = -1
    while seen != len(listener.datagrams):
        seen = len(listener.datagrams)
        time.sleep(0.3)
    by_trace = {root: scenario for scenario, (_, root) in REQUESTS.items()}
    by_trace[LAMBDA_ROOT] = "lambda"
    documents: Dict[str, List[Dict[str, Any]]] = {}
    for document in listener.documents:
        if port is not None:
            document = _without_port(document, str(port))
        scenario = by_trace.get(document.get("trace_id", ""), "worker-job")
        documents.setdefault(scenario, []).append(document)
    return Run(documents, list(listener.documents), list(listener.errors))


def _without_port(value: Any, port: str) -> Any:
    if isinstance(value, dict):
        return {key: _without_port(item, port) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_port(item, port) for item in value]
    if isinstance(value, str) and f":{port}" in value:
        return value.replace(f":{port}", f":{PORT}")
    if value == int(port):
        return PORT
    return value


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
