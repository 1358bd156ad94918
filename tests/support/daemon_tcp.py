"""A test X-Ray daemon's TCP side: a real HTTP server on 127.0.0.1 with scripted answers.

It implements what the daemon proxies to X-Ray: ``POST /GetSamplingRules``,
``POST /SamplingTargets`` and ``POST /TraceSegments``. Tests script the rules, the targets
and misbehaviour (an error status, garbage, a slow answer) and read every request back::

    daemon.rules = [rule("api", priority=1, fixed_rate=1.0, url_path="/api/*")]
    daemon.targets = {"api": target("api", quota=5, ttl=now + 60, interval=3)}
    ...
    daemon.bodies("/SamplingTargets")   # the statistics documents that were reported
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest


def rule(
    name: str,
    *,
    priority: int = 1,
    fixed_rate: float = 0.0,
    reservoir_size: int = 0,
    service_name: str = "*",
    service_type: str = "*",
    host: str = "*",
    http_method: str = "*",
    url_path: str = "*",
    resource_arn: str = "*",
    attributes: Optional[Dict[str, str]] = None,
    version: int = 1,
) -> Dict[str, Any]:
    """One ``SamplingRuleRecord`` as X-Ray returns it."""
    return {
        "SamplingRule": {
            "RuleName": name,
            "RuleARN": f"arn:aws:xray:us-east-1:123456789012:sampling-rule/{name}",
            "ResourceARN": resource_arn, "Priority": priority, "FixedRate": fixed_rate,
            "ReservoirSize": reservoir_size, "ServiceName": service_name,
            "ServiceType": service_type, "Host": host, "HTTPMethod": http_method,
            "URLPath": url_path, "Version": version, "Attributes": attributes or {},
        },
        "CreatedAt": 1.7e9,
        "ModifiedAt": 1.7e9,
    }


def default_rule(fixed_rate: float = 0.05, reservoir_size: int = 1) -> Dict[str, Any]:
    return rule("Default", priority=10000, fixed_rate=fixed_rate, reservoir_size=reservoir_size)


class FakeDaemonTcp:
    """The daemon's TCP endpoints on a free loopback port, answering from ``rules``,
    ``targets`` (by rule name) and ``segment_errors``; every request is recorded."""

    def __init__(self) -> None:
        self.rules: List[Dict[str, Any]] = [default_rule()]
        self.targets: Dict[str, Dict[str, Any]] = {}
        self.last_rule_modification: float = 0.0
        self.unprocessed_segments: List[Dict[str, Any]] = []
        #: ``(status, body, headers)`` answered instead, for every path.
        self.override: Optional[Tuple[int, bytes, Dict[str, str]]] = None
        #: Cleared, every answer waits until it is set again (a hanging daemon).
        self.released = threading.Event()
        self.released.set()
        self.page_size: Optional[int] = None
        self._requests: List[Tuple[str, Dict[str, Any]]] = []
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self, path: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [body for seen, body in self._requests if seen == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([1 for seen, _ in self._requests if seen == path]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {count} POST {path}: {self._requests}"
                self._lock.wait(left)
        return self.bodies(path)

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: Dict[str, Any]) -> Tuple[int, bytes, Dict[str, str]]:
        with self._lock:
            self._requests.append((path, body))
            self._lock.notify_all()
        if not self.released.is_set():
            self.released.wait(30)
        if self.override is not None:
            return self.override
        if path == "/GetSamplingRules":
            answer = self._rules_page(body.get("NextToken"))
        elif path == "/SamplingTargets":
            reported = [doc["RuleName"] for doc in body.get("SamplingStatisticsDocuments", [])]
            answer = {
                "SamplingTargetDocuments": [
                    self.targets[name] for name in reported if name in self.targets
                ],
                "LastRuleModification": self.last_rule_modification,
                "UnprocessedStatistics": [],
            }
        elif path == "/TraceSegments":
            answer = {"UnprocessedTraceSegments": self.unprocessed_segments}
        else:
            return 404, b'{"message":"not found"}', {}
        return 200, json.dumps(answer).encode(), {}

    def _rules_page(self, token: Optional[str]) -> Dict[str, Any]:
        if self.page_size is None:
            return {"SamplingRuleRecords": self.rules}
        start = int(token or 0)
        end = start + self.page_size
        page: Dict[str, Any] = {"SamplingRuleRecords": self.rules[start:end]}
        if end < len(self.rules):
            page["NextToken"] = str(end)
        return page


def target(
    name: str, *, fixed_rate: float = 0.0, quota: Optional[int] = None,
    ttl: Optional[float] = None, interval: Optional[int] = None,
) -> Dict[str, Any]:
    """One ``SamplingTargetDocument``."""
    doc: Dict[str, Any] = {"RuleName": name, "FixedRate": fixed_rate}
    if quota is not None:
        doc["ReservoirQuota"] = quota
    if ttl is not None:
        doc["ReservoirQuotaTTL"] = ttl
    if interval is not None:
        doc["Interval"] = interval
    return doc


def _handler(daemon: FakeDaemonTcp) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"unparsable": raw.decode("latin-1")}
            status, data, headers = daemon.answer(self.path, body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def daemon_tcp() -> Iterator[FakeDaemonTcp]:
    """A fresh :class:`FakeDaemonTcp` on 127.0.0.1."""
    daemon = FakeDaemonTcp()
    try:
        yield daemon
    finally:
        daemon.close()
