"""Two real services in two processes, one trace: A's client call is B's parent.

Each service is ``tests.integration.apps.http_service`` (Flask + requests, instrumented by their
OpenTelemetry instrumentations, set up with ``otel_xray.configure``) sending to one UDP
listener, as two services on one host share the X-Ray daemon.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener

REPO = Path(__file__).resolve().parents[2]
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


class Service:
    def __init__(self, name: str, daemon: str, downstream: str = "") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.apps.http_service", name, daemon]
            + ([downstream] if downstream else []),
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{name} did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/work"

    def stop(self) -> None:
        """Close stdin: the service shuts its provider down (flushing) and exits."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def services(udp_listener: UdpListener) -> Iterator[Dict[str, Service]]:
    started: List[Service] = []
    try:
        started.append(Service("service-b", udp_listener.address))
        started.append(Service("service-a", udp_listener.address, started[0].url))
        yield {"a": started[1], "b": started[0]}
    finally:
        for service in reversed(started):
            service.stop()


def get(service: Service, headers: Dict[str, str]) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request("GET", "/work", headers=headers)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def named(documents: List[Dict[str, Any]], name: str) -> Dict[str, Any]:
    (document,) = [doc for doc in documents if doc["name"] == name and "type" not in doc]
    return document


def test_downstream_segment_is_a_child_of_the_upstream_client_subsegment(
    services: Dict[str, Service], udp_listener: UdpListener
) -> None:
    # The caller in front of A (a load balancer, API Gateway) leaves sampling to A.
    answer = get(services["a"], {"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=?"})
    assert answer == "service-a>service-b"
    services["a"].stop()
    services["b"].stop()
    documents = [assert_valid_document(doc) for doc in udp_listener.wait_for(2)]

    a = named(documents, "service-a")
    b = named(documents, "service-b")
    assert (a["trace_id"], a["parent_id"]) == (ROOT, PARENT)
    clients = [
        sub for doc in documents if doc["trace_id"] == ROOT for sub in walk(doc)
        if sub.get("namespace") == "remote"
    ]
    assert len(clients) == 1
    assert b["trace_id"] == ROOT
    assert b["parent_id"] == clients[0]["id"]
    assert clients[0] in list(walk(a)) or clients[0].get("parent_id") == a["id"]
