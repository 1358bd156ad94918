"""XRayRemoteSampler against a real HTTP server playing the daemon's TCP side.

Polls are driven directly (``poll_rules``/``poll_targets``) with a fake clock wherever the
thread's timing does not matter; the thread itself is shown to poll at start-up, after a
fork, and never to hold up a decision.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_xray.sampling import XRayRemoteSampler
from otel_xray.sampling.client import ApiClient, DaemonClient
from otel_xray.sampling.remote import Poller, RulesSampler
from tests.support.daemon_tcp import FakeDaemonTcp, default_rule, rule, target

T0 = 1_700_000_000.0
HIGH = (0x5759E988 << 96) | ((1 << 64) - 1)
RESOURCE = Resource.create({"service.name": "checkout"})
API = {"http.request.method": "GET", "url.path": "/api/orders", "server.address": "shop"}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def poller_for(
    daemon: FakeDaemonTcp, clock: Optional[Clock] = None, timeout: float = 2.0
) -> Poller:
    sampler = RulesSampler(RESOURCE, clock=clock or Clock())
    return Poller(sampler, DaemonClient(daemon.endpoint, timeout=timeout))


def sampled(sampler: RulesSampler, attributes: Optional[Dict[str, Any]] = API) -> bool:
    return sampler.should_sample(None, HIGH, "span", attributes=attributes).decision.is_sampled()


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- rules --------------------------------------------------------------------------------


def test_rules_polled_from_the_daemon_decide(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = [rule("api", url_path="/api/*", fixed_rate=1.0), default_rule(0.0, 0)]
    poller = poller_for(daemon_tcp)
    assert poller.poll_rules()
    assert daemon_tcp.bodies("/GetSamplingRules") == [{}]
    assert sampled(poller.sampler) and not sampled(poller.sampler, {"url.path": "/x"})


def test_every_page_of_rules_is_read(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = [rule(f"r{i}", priority=i, url_path=f"/r{i}") for i in range(1, 6)]
    daemon_tcp.rules.append(default_rule())
    daemon_tcp.page_size = 2
    poller = poller_for(daemon_tcp)
    assert poller.poll_rules()
    assert len(poller.sampler.rule_names) == 6
    assert daemon_tcp.bodies("/GetSamplingRules") == [{}, {"NextToken": "2"}, {"NextToken": "4"}]


def test_the_first_rules_poll_runs_at_start_up_without_blocking_it(
    daemon_tcp: FakeDaemonTcp,
) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    daemon_tcp.released.clear()  # the daemon holds its answer
    sampler = XRayRemoteSampler(RESOURCE, daemon_tcp.endpoint)
    try:
        daemon_tcp.wait_for("/GetSamplingRules")
        # Constructed and deciding (by the local default) while the poll is pending.
        assert sampler.rules.fetched_at is None
        assert sampler.should_sample(None, HIGH, "x").decision.is_sampled()
        daemon_tcp.released.set()
        wait_until(lambda: sampler.rules.fetched_at is not None)
        assert all(sampler.should_sample(None, HIGH, "x").decision.is_sampled()
                   for _ in range(5))
    finally:
        sampler.close()


def test_the_endpoint_defaults_to_the_daemon_addresses_tcp_part(
    daemon_tcp: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"tcp:{daemon_tcp.address} udp:127.0.0.1:9")
    sampler = XRayRemoteSampler(RESOURCE)
    try:
        daemon_tcp.wait_for("/GetSamplingRules")
    finally:
        sampler.close()


# -- targets and statistics ------------------------------------------------------------------


def test_statistics_are_reported_and_targets_applied(daemon_tcp: FakeDaemonTcp) -> None:
    clock = Clock()
    daemon_tcp.rules = [rule("api", url_path="/api/*", reservoir_size=10), default_rule(0.0, 0)]
    daemon_tcp.targets = {"api": target("api", quota=2, ttl=T0 + 60, interval=3)}
    poller = poller_for(daemon_tcp, clock)
    poller.poll_rules()
    assert [sampled(poller.sampler) for _ in range(3)] == [True, False, False]  # borrowed
    assert poller.poll_targets()
    (body,) = daemon_tcp.bodies("/SamplingTargets")
    assert body == {"SamplingStatisticsDocuments": [{
        "RuleName": "api", "ClientID": poller.client_id, "RequestCount": 3, "SampledCount": 1,
        "BorrowCount": 1, "Timestamp": int(T0),
    }]}
    assert len(poller.client_id) == 24 and int(poller.client_id, 16) >= 0
    clock.now += 1
    assert [sampled(poller.sampler) for _ in range(3)] == [True, True, False]  # the quota
    assert poller.targets_interval == 3.0


def test_no_call_is_made_when_no_rule_was_used(daemon_tcp: FakeDaemonTcp) -> None:
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    assert poller.poll_targets()
    assert daemon_tcp.bodies("/SamplingTargets") == []


def test_at_most_25_statistics_documents_go_in_one_call(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = [rule(f"r{i:02}", priority=i, url_path=f"/r{i:02}") for i in range(30)]
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    for i in range(30):
        sampled(poller.sampler, {"url.path": f"/r{i:02}"})
    assert poller.poll_targets()
    sizes = [len(body["SamplingStatisticsDocuments"])
             for body in daemon_tcp.bodies("/SamplingTargets")]
    assert sizes == [25, 5]


def test_rules_modified_after_they_were_fetched_are_fetched_again(
    daemon_tcp: FakeDaemonTcp,
) -> None:
    clock = Clock()
    poller = poller_for(daemon_tcp, clock)
    poller.poll_rules()
    sampled(poller.sampler)
    daemon_tcp.last_rule_modification = T0 + 5
    daemon_tcp.rules = [rule("new", fixed_rate=1.0), default_rule()]
    clock.now += 10
    poller.poll_targets()
    assert len(daemon_tcp.bodies("/GetSamplingRules")) == 2
    assert poller.sampler.rule_names == ["new", "Default"]


def test_rules_not_modified_since_are_not_fetched_again(daemon_tcp: FakeDaemonTcp) -> None:
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    sampled(poller.sampler)
    daemon_tcp.last_rule_modification = T0 - 100
    poller.poll_targets()
    assert len(daemon_tcp.bodies("/GetSamplingRules")) == 1


def test_the_targets_poll_follows_the_interval_the_service_returns(
    daemon_tcp: FakeDaemonTcp,
) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    daemon_tcp.targets = {"Default": target("Default", fixed_rate=1.0, interval=1)}
    sampler = XRayRemoteSampler(RESOURCE, daemon_tcp.endpoint)
    try:
        wait_until(lambda: sampler.rules.fetched_at is not None)
        sampler.should_sample(None, HIGH, "x")
        # The first report comes after the default 10 s; force it, then the 1 s interval
        # the service asked for brings the next one.
        assert sampler.poller.poll_targets()
        assert sampler.poller.targets_interval == 1.0
    finally:
        sampler.close()


# -- the daemon down, slow, or answering garbage ----------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_daemon_that_is_down_leaves_the_local_default_in_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = RulesSampler(RESOURCE, clock=Clock())
    poller = Poller(sampler, DaemonClient(f"http://127.0.0.1:{closed_port()}"))
    assert not poller.poll_rules()
    assert not poller.poll_rules()
    assert poller.stats()["rules_poll_errors.ConnectionRefusedError"] == 2
    assert [sampled(sampler) for _ in range(2)] == [True, False]
    warnings = [r for r in caplog.records if r.name == "otel_xray.sampling"]
    assert len(warnings) == 1  # rate-limited
    assert "local default" in warnings[0].getMessage()
    assert "AWS_XRAY_DAEMON_ADDRESS" in warnings[0].getMessage()


def test_the_last_rules_keep_applying_when_the_daemon_goes_away(
    daemon_tcp: FakeDaemonTcp,
) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    daemon_tcp.close()
    assert not poller.poll_rules()
    sampled(poller.sampler)
    assert not poller.poll_targets()
    assert all(sampled(poller.sampler) for _ in range(5))


def test_a_slow_daemon_times_out(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.released.clear()
    poller = poller_for(daemon_tcp, timeout=0.2)
    assert not poller.poll_rules()
    assert poller.stats()["rules_poll_errors.TimeoutError"] == 1


def test_a_hanging_poll_never_holds_up_a_decision(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    sampled(poller.sampler)
    daemon_tcp.released.clear()
    polling = threading.Thread(target=poller.poll_targets, daemon=True)
    polling.start()
    daemon_tcp.wait_for("/SamplingTargets")
    assert all(sampled(poller.sampler) for _ in range(100))  # while the poll hangs
    daemon_tcp.released.set()
    polling.join(10)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, b"<html>proxy error</html>", {}), "JSONDecodeError"),
        ((200, b"[1, 2]", {}), "ValueError"),
        ((200, b'"text"', {}), "ValueError"),
        ((500, b'{"message": "boom"}', {}), "HttpError"),
        ((400, b"{}", {"x-amzn-ErrorType": "ThrottledException:http://x"}), "HttpError"),
    ],
)
def test_garbage_from_the_daemon_is_counted_and_the_rules_stay(
    daemon_tcp: FakeDaemonTcp, answer: Tuple[int, bytes, Dict[str, str]], reason: str
) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    daemon_tcp.override = answer
    assert not poller.poll_rules()
    sampled(poller.sampler)
    assert not poller.poll_targets()
    stats = poller.stats()
    assert stats[f"rules_poll_errors.{reason}"] == 1
    assert stats[f"targets_poll_errors.{reason}"] == 1
    assert all(sampled(poller.sampler) for _ in range(5))


def test_invalid_rules_in_an_answer_are_skipped_and_logged(
    daemon_tcp: FakeDaemonTcp, caplog: pytest.LogCaptureFixture
) -> None:
    daemon_tcp.rules = [rule("v2", version=2), rule("ok", fixed_rate=1.0), default_rule()]
    poller = poller_for(daemon_tcp)
    assert poller.poll_rules()
    assert poller.sampler.rule_names == ["ok", "Default"]
    assert any("version 2" in r.getMessage() for r in caplog.records)


# -- no spans of our own, fork safety -------------------------------------------------------


@pytest.fixture
def instrumented() -> Iterator[InMemorySpanExporter]:
    """urllib, requests and botocore instrumented on a recording global provider."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentors = [URLLibInstrumentor(), RequestsInstrumentor(), BotocoreInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def test_the_instrumentations_do_record_spans_here(
    instrumented: InMemorySpanExporter, daemon_tcp: FakeDaemonTcp
) -> None:
    """The control for the next tests: these instrumentations see urllib calls."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(daemon_tcp.endpoint + "/GetSamplingRules",
                                                  data=b"{}"), timeout=5).read()
    assert len(instrumented.get_finished_spans()) == 1


def test_polling_through_the_daemon_creates_no_spans(
    instrumented: InMemorySpanExporter, daemon_tcp: FakeDaemonTcp
) -> None:
    poller = poller_for(daemon_tcp)
    with trace.get_tracer("app", tracer_provider=TracerProvider()).start_as_current_span("req"):
        poller.poll_rules()
        sampled(poller.sampler)
        poller.poll_targets()
    assert instrumented.get_finished_spans() == ()


def test_polling_the_api_with_botocore_creates_no_spans(
    instrumented: InMemorySpanExporter, daemon_tcp: FakeDaemonTcp
) -> None:
    import botocore.session

    daemon_tcp.rules = [rule("api", url_path="/api/*", fixed_rate=1.0), default_rule(0.0, 0)]
    daemon_tcp.targets = {"api": target("api", fixed_rate=1.0, quota=1, ttl=T0 + 60, interval=9)}
    client = botocore.session.get_session().create_client(
        "xray", region_name="us-east-1", endpoint_url=daemon_tcp.endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    poller = Poller(RulesSampler(RESOURCE, clock=Clock()), ApiClient(client))
    assert poller.poll_rules()
    sampled(poller.sampler)
    assert poller.poll_targets()
    assert poller.sampler.rule_names == ["api", "Default"]
    assert poller.targets_interval == 9.0
    (body,) = daemon_tcp.bodies("/SamplingTargets")
    assert body["SamplingStatisticsDocuments"][0]["Timestamp"] == int(T0)
    assert instrumented.get_finished_spans() == ()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_polls_for_itself_with_its_own_client_id(
    daemon_tcp: FakeDaemonTcp,
) -> None:
    daemon_tcp.rules = [default_rule(1.0, 0)]
    sampler = XRayRemoteSampler(RESOURCE, daemon_tcp.endpoint)
    try:
        wait_until(lambda: sampler.rules.fetched_at is not None)
        parent_id = sampler.poller.client_id
        pid = os.fork()
        if pid == 0:  # the child: its first decision restarts the poller
            code = 1
            try:
                sampler.should_sample(None, HIGH, "x")
                deadline = time.monotonic() + 10
                while sampler.poller.stats()["rules_polls"] == 0:
                    if time.monotonic() > deadline:
                        raise AssertionError("the child did not poll")
                    time.sleep(0.01)
                sampler.poller.poll_targets()
                code = 0 if sampler.poller.client_id != parent_id else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        reported = daemon_tcp.wait_for("/SamplingTargets")
        assert reported[0]["SamplingStatisticsDocuments"][0]["ClientID"] != parent_id
        assert len(daemon_tcp.bodies("/GetSamplingRules")) >= 2
    finally:
        sampler.close()


# -- the same decisions as aws-xray-sdk's sampler ----------------------------------------------

#: Deterministic rules: rate 0 or 1, no reservoir.
SAME_RULES = [
    rule("orders-get", priority=1, fixed_rate=1.0, http_method="GET", url_path="/orders/*"),
    rule("orders-any", priority=2, fixed_rate=0.0, url_path="/orders/*"),
    rule("admin-host", priority=3, fixed_rate=1.0, host="admin.*"),
    rule("other-service", priority=4, fixed_rate=1.0, service_name="billing"),
    rule("health", priority=5, fixed_rate=0.0, url_path="/health?"),
    default_rule(1.0, 0),
]
#: (host, method, path)
REQUESTS = [
    ("shop.example.com", "GET", "/orders/7"),
    ("shop.example.com", "POST", "/orders/7"),
    ("shop.example.com", "get", "/ORDERS/8"),
    ("admin.example.com", "POST", "/users"),
    ("shop.example.com", "GET", "/healthz"),
    ("shop.example.com", "GET", "/health"),
    ("shop.example.com", "DELETE", "/cart"),
]


def native_sampler(daemon: FakeDaemonTcp) -> Any:
    from aws_xray_sdk.core.sampling.sampler import DefaultSampler

    native = DefaultSampler()
    native._connector.setup_xray_client(ip="127.0.0.1", port=daemon.port, client=None)
    native._rule_poller._refresh_cache()
    native._started = True  # decide without starting its poller threads
    return native


def test_the_same_rules_give_the_native_sdks_decisions(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = SAME_RULES
    native = native_sampler(daemon_tcp)
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    ours: List[Any] = []
    theirs: List[Any] = []
    for host, method, path in REQUESTS:
        native_decision = native.should_trace(
            {"host": host, "method": method, "path": path, "service": "checkout"}
        )
        theirs.append(native_decision)
        result = poller.sampler.should_sample(None, HIGH, "span", attributes={
            "server.address": host, "http.request.method": method, "url.path": path})
        decision = result.decision.is_sampled()
        ours.append((result.attributes or {}).get("aws.xray.sampling_rule_name")
                    if decision else False)
    assert ours == theirs
    assert ours == ["orders-get", False, "orders-get", "admin-host", False, "Default",
                    "Default"]


def test_statistics_have_the_native_sdks_shape(daemon_tcp: FakeDaemonTcp) -> None:
    daemon_tcp.rules = SAME_RULES
    native = native_sampler(daemon_tcp)
    poller = poller_for(daemon_tcp)
    poller.poll_rules()
    for host, method, path in REQUESTS:
        native.should_trace({"host": host, "method": method, "path": path,
                             "service": "checkout"})
        poller.sampler.should_sample(None, HIGH, "span", attributes={
            "server.address": host, "http.request.method": method, "url.path": path})
    native._target_poller._do_work()
    poller.poll_targets()
    theirs, ours = daemon_tcp.bodies("/SamplingTargets")

    def shape(body: Dict[str, Any]) -> Dict[str, Any]:
        docs = body["SamplingStatisticsDocuments"]
        return {
            "keys": {tuple(sorted(doc)) for doc in docs},
            "types": {(key, type(value)) for doc in docs for key, value in doc.items()},
            "counts": {doc["RuleName"]: (doc["RequestCount"], doc["SampledCount"],
                                         doc["BorrowCount"]) for doc in docs},
        }

    assert shape(ours) == shape(theirs)


# -- the defaults: configure(), the entry point, the distro ---------------------------------


@pytest.fixture
def daemon_env(
    fresh_otel: None, daemon_tcp: FakeDaemonTcp, udp_listener: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> FakeDaemonTcp:
    """AWS_XRAY_DAEMON_ADDRESS: TCP to the fake daemon, UDP to the test listener."""
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS",
                       f"tcp:{daemon_tcp.address} udp:{udp_listener.address}")
    return daemon_tcp


def installed_sampler() -> Any:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider.sampler


def test_configure_applies_the_consoles_rules_by_default(
    daemon_env: FakeDaemonTcp, udp_listener: Any
) -> None:
    from otel_xray import configure
    from tests.support.helpers import assert_valid_document

    daemon_env.rules = [rule("api", url_path="/api/*", fixed_rate=1.0), default_rule(0.0, 0)]
    configure("checkout")
    sampler = installed_sampler()
    assert isinstance(sampler, XRayRemoteSampler)
    wait_until(lambda: sampler.rules.fetched_at is not None)
    tracer = trace.get_tracer("test")
    for path in ("/api/orders", "/health"):
        tracer.start_span(f"GET {path}", kind=SpanKind.SERVER, attributes={
            "http.request.method": "GET", "url.path": path}).end()
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    (document,) = udp_listener.wait_for(1)
    assert_valid_document(document)
    assert document["name"] == "checkout"
    assert document["aws"]["xray"]["sampling_rule_name"] == "api"
    sampler.close()


@pytest.mark.parametrize(
    ("env", "description"),
    [
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
         "XRayParentBased{root:ParentBased{root:AlwaysOnSampler,"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, "XRayParentBased{root:AlwaysOnSampler}"),
    ],
)
def test_the_environment_or_lambda_overrides_the_default(
    daemon_env: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch, env: Dict[str, str],
    description: str,
) -> None:
    from otel_xray import configure

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    configure("svc")
    assert installed_sampler().get_description().startswith(description)
    assert daemon_env.bodies("/GetSamplingRules") == []


def test_a_sampler_given_to_configure_overrides_the_default(daemon_env: FakeDaemonTcp) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from otel_xray import configure

    configure("svc", sampler=ALWAYS_OFF)
    assert not isinstance(installed_sampler(), XRayRemoteSampler)


def test_otel_traces_sampler_names_the_remote_sampler_with_adots_arguments(
    fresh_otel: None, daemon_tcp: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk._configuration import _import_sampler

    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG",
                       f"endpoint={daemon_tcp.endpoint},polling_interval=60")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    sampler = _import_sampler("otel_xray")
    assert isinstance(sampler, XRayRemoteSampler)
    try:
        assert sampler.poller.rules_interval == 60.0
        assert sampler.rules.facts.service_name == "from-env"
        daemon_tcp.wait_for("/GetSamplingRules")
    finally:
        sampler.close()


def test_the_distro_applies_the_consoles_rules_by_default(daemon_tcp: FakeDaemonTcp) -> None:
    import subprocess
    import sys
    from pathlib import Path

    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env.update(OTEL_PYTHON_DISTRO="otel_xray", OTEL_PYTHON_CONFIGURATOR="otel_xray",
               OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
               OTEL_SERVICE_NAME="zero-code",
               AWS_XRAY_DAEMON_ADDRESS=f"tcp:{daemon_tcp.address} udp:127.0.0.1:9")
    code = ("from opentelemetry import trace; "
            "print(trace.get_tracer_provider().sampler.get_description())")
    result = subprocess.run([str(instrument), sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("XRayRemoteSampler{DaemonClient("), result.stdout
    assert daemon_tcp.address in result.stdout


# -- otel-xray listen's sampling endpoint -------------------------------------------------------


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1, just now."""
    import socket

    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
        return port


@pytest.fixture
def run_listen() -> Iterator[Any]:
    """Start ``otel-xray listen`` on free ports; return it and its TCP address."""
    import subprocess
    import sys

    processes: List[subprocess.Popen[str]] = []

    def start(*args: str, expect_running: bool = True) -> Tuple[subprocess.Popen[str], str]:
        for _ in range(5):  # another process may take the free port first: try another
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "otel_xray", "listen", "--address",
                 f"127.0.0.1:{port}", *args],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            processes.append(process)
            if not expect_running:
                return process, ""
            first = process.stdout.readline()  # type: ignore[union-attr]
            if "listening on udp" in first:
                second = process.stdout.readline()  # type: ignore[union-attr]
                assert f"on tcp 127.0.0.1:{port}" in second, second
                return process, f"127.0.0.1:{port}"
        raise AssertionError(f"otel-xray listen did not start: {process.communicate()}")

    yield start
    for process in processes:
        process.terminate()
        process.communicate(timeout=30)


def test_listen_answers_with_a_sample_everything_rule(run_listen: Any) -> None:
    _, address = run_listen()
    sampler = RulesSampler(RESOURCE, clock=Clock())
    poller = Poller(sampler, DaemonClient(address))
    assert poller.poll_rules()
    assert all(sampled(sampler, {"url.path": f"/{i}"}) for i in range(20))
    assert poller.poll_targets()
    assert poller.targets_interval == 10.0


def test_listen_serves_the_rules_of_a_file(run_listen: Any, tmp_path: Any) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"version": 2, "rules": [
        {"description": "no health checks", "host": "*", "http_method": "*",
         "url_path": "/health", "fixed_target": 0, "rate": 0.0}],
        "default": {"fixed_target": 0, "rate": 1.0}}))
    _, address = run_listen("--sampling-rules", str(rules_file))
    sampler = RulesSampler(RESOURCE, clock=Clock())
    assert Poller(sampler, DaemonClient(address)).poll_rules()
    assert sampler.rule_names == ["local-1", "Default"]
    assert not sampled(sampler, {"url.path": "/health"})
    assert sampled(sampler, {"url.path": "/orders"})


def test_listen_refuses_an_unusable_rules_file(run_listen: Any, tmp_path: Any) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text('{"rules": []}')
    process, _ = run_listen("--sampling-rules", str(rules_file), expect_running=False)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "get-sampling-rules" in err


def test_configure_with_otel_traces_sampler_otel_xray_installs_it_unwrapped(
    daemon_env: FakeDaemonTcp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_xray import configure

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "otel_xray")
    configure("svc")
    sampler = installed_sampler()
    assert isinstance(sampler, XRayRemoteSampler)
    sampler.close()


def test_the_sampling_benchmark_runs_and_reports_ratios() -> None:
    """benchmarks/sampling_decision.py in a tiny mode, so that it cannot rot (no timing)."""
    from benchmarks import sampling_decision

    rows = sampling_decision.run(spans=200, repeats=1)
    names = [name for name, _, _ in rows]
    assert names == ["ParentBased(ALWAYS_ON)", "otel-xray XRayRemoteSampler",
                     "ADOT AwsXRayRemoteSampler"]
    assert all(share == 1.0 for _, cost, share in rows if cost is not None)
    assert "vs ParentBased" in sampling_decision.report(rows)
