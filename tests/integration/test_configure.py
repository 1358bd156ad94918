"""otel_xray.configure(): the one call that sends a service's traces to X-Ray."""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind

import otel_xray
from otel_xray.bootstrap import configure
from otel_xray.emit.udp import UdpEmitter
from otel_xray.exporter import XRaySpanExporter
from otel_xray.ids import XRayIdGenerator
from otel_xray.propagation import TRACE_HEADER
from otel_xray.sampling import XRayParentBased
from tests.support.ecs import ecs_metadata as ecs_metadata_answer
from tests.support.ecs import loopback_http
from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener

pytestmark = pytest.mark.usefixtures("fresh_otel")

ENV_CAPTURE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


def send_span(name: str = "request", headers: Dict[str, str] | None = None) -> trace.Span:
    """A server span for a request carrying ``headers``, through the global propagator."""
    ctx = propagate.extract(headers or {})
    span = trace.get_tracer("test").start_span(name, ctx, kind=SpanKind.SERVER)
    span.end()
    return span


def flush() -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.force_flush(10_000)


def documents_for(listener: UdpListener, span: trace.Span) -> List[Dict[str, Any]]:
    span_id = f"{span.get_span_context().span_id:016x}"
    return [doc for doc in listener.documents if any(d["id"] == span_id for d in walk(doc))]


def test_configure_sends_spans_to_the_daemon_as_segments(udp_listener: UdpListener) -> None:
    configure("checkout", daemon_address=udp_listener.address)
    span = send_span()
    flush()
    (document,) = udp_listener.wait_for(1)
    assert_valid_document(document)
    assert document["name"] == "checkout"
    assert document["id"] == f"{span.get_span_context().span_id:016x}"


def test_configure_installs_the_returned_provider_globally(udp_listener: UdpListener) -> None:
    provider = configure("svc", daemon_address=udp_listener.address)
    assert trace.get_tracer_provider() is provider
    assert isinstance(provider.id_generator, XRayIdGenerator)
    assert isinstance(provider.sampler, XRayParentBased)


def test_configure_gives_trace_ids_starting_with_the_epoch_second(
    udp_listener: UdpListener,
) -> None:
    configure("svc", daemon_address=udp_listener.address)
    before = int(time.time())
    span = send_span()
    assert before <= span.get_span_context().trace_id >> 96 <= int(time.time())


def test_configure_sets_tracecontext_baggage_and_xray_propagation(
    udp_listener: UdpListener,
) -> None:
    configure("svc", daemon_address=udp_listener.address)
    assert {"traceparent", "baggage", TRACE_HEADER} <= set(propagate.get_global_textmap().fields)
    span = send_span(headers={TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=1"})
    carrier: Dict[str, str] = {}
    propagate.inject(carrier, trace.set_span_in_context(span))
    assert carrier[TRACE_HEADER] == (
        f"Root={ROOT};Parent={span.get_span_context().span_id:016x};Sampled=1"
    )
    assert carrier["traceparent"].split("-")[1] == ROOT[2:].replace("-", "")


def test_configure_continues_the_callers_trace(udp_listener: UdpListener) -> None:
    configure("svc", daemon_address=udp_listener.address)
    send_span(headers={TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=1"})
    flush()
    (document,) = udp_listener.wait_for(1)
    assert (document["trace_id"], document["parent_id"]) == (ROOT, PARENT)


def test_configure_samples_requests_whose_caller_left_the_decision_open(
    udp_listener: UdpListener,
) -> None:
    configure("svc", daemon_address=udp_listener.address)
    span = send_span(headers={TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=?"})
    assert span.get_span_context().trace_flags.sampled
    flush()
    assert udp_listener.wait_for(1)[0]["parent_id"] == PARENT


def test_configure_sampler_decides_new_traces_but_not_decided_ones(
    udp_listener: UdpListener,
) -> None:
    configure("svc", daemon_address=udp_listener.address, sampler=ALWAYS_OFF)
    assert not send_span().get_span_context().trace_flags.sampled
    decided = send_span(headers={TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=1"})
    assert decided.get_span_context().trace_flags.sampled


def test_configure_reads_otel_traces_sampler(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = configure("svc", daemon_address=udp_listener.address)
    assert provider.sampler.get_description() == "XRayParentBased{root:AlwaysOffSampler}"


def test_configure_twice_returns_the_same_provider_and_exports_once(
    udp_listener: UdpListener,
) -> None:
    # Two traces in one second: sample both (the default rules' local fallback would not).
    first = configure("svc", daemon_address=udp_listener.address, sampler=ALWAYS_ON)
    second = configure("svc", daemon_address=udp_listener.address)
    assert second is first
    span = send_span()
    flush()
    udp_listener.wait_for(1)
    another = send_span()  # a second span, so the first one's duplicate would have arrived
    flush()
    udp_listener.wait_for(2)
    assert len(documents_for(udp_listener, span)) == 1
    assert len(documents_for(udp_listener, another)) == 1


def test_configure_again_sends_to_the_new_address(udp_listener: UdpListener) -> None:
    other = UdpListener()
    try:
        configure("svc", daemon_address=other.address)
        configure("svc", daemon_address=udp_listener.address)
        send_span()
        flush()
        udp_listener.wait_for(1)
        assert other.documents == []
    finally:
        other.close()


def test_configure_joins_a_provider_that_was_installed_before(udp_listener: UdpListener) -> None:
    existing = TracerProvider()
    trace.set_tracer_provider(existing)
    assert configure("svc", daemon_address=udp_listener.address) is existing
    assert configure("svc", daemon_address=udp_listener.address) is existing
    span = send_span()
    flush()
    udp_listener.wait_for(1)
    assert len(documents_for(udp_listener, span)) == 1


def test_configure_adds_nothing_to_a_provider_already_exporting_to_xray(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", udp_listener.address)
    existing = TracerProvider()
    existing.add_span_processor(BatchSpanProcessor(XRaySpanExporter()))
    trace.set_tracer_provider(existing)
    assert configure("svc") is existing
    span = send_span()
    flush()
    udp_listener.wait_for(1)
    assert len(documents_for(udp_listener, span)) == 1


def test_daemon_address_environment_variable_wins_like_the_native_sdks(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", udp_listener.address)
    configure("svc", daemon_address="127.0.0.1:9")
    send_span()
    flush()
    udp_listener.wait_for(1)


def test_configure_sends_through_a_given_emitter(udp_listener: UdpListener) -> None:
    emitter = UdpEmitter(udp_listener.address)
    configure("svc", emitter=emitter)
    send_span()
    flush()
    assert emitter.stats()["documents_sent"] == 1


def test_configure_rejects_a_malformed_daemon_address() -> None:
    with pytest.raises(ValueError, match="daemon address"):
        configure("svc", daemon_address="not an address at all")


# --- resource -------------------------------------------------------------------------------

def resource_of(**kwargs: Any) -> Dict[str, Any]:
    provider = configure(daemon_address="127.0.0.1:2000", **kwargs)
    return dict(provider.resource.attributes)


def test_service_name_argument_names_the_service() -> None:
    assert resource_of(service_name="orders")["service.name"] == "orders"


def test_service_name_defaults_to_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    assert resource_of()["service.name"] == "from-env"


def test_lambda_environment_is_detected_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "resize-images")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    monkeypatch.setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/resize-images")
    monkeypatch.setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]abc")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    attrs = resource_of()
    assert attrs["service.name"] == "resize-images"
    assert attrs["cloud.provider"] == "aws" and attrs["cloud.platform"] == "aws_lambda"
    assert attrs["cloud.region"] == "eu-west-1"
    assert attrs["faas.name"] == "resize-images" and attrs["faas.version"] == "$LATEST"
    assert attrs["faas.instance"] == "2026/01/01/[$LATEST]abc"
    assert attrs["faas.max_memory"] == 128 * 1024 * 1024
    assert attrs["aws.log.group.names"] == ("/aws/lambda/resize-images",)


@pytest.fixture
def ecs_metadata() -> Iterator[str]:
    """A task metadata endpoint (v4) on loopback, answering as ECS does for a Fargate task."""
    with loopback_http(ecs_metadata_answer) as url:
        yield f"{url}/v4/abc"


def test_ecs_task_is_detected_with_the_aws_resource_detector(
    monkeypatch: pytest.MonkeyPatch, ecs_metadata: str
) -> None:
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata)
    attrs = resource_of(service_name="api")
    assert attrs["cloud.platform"] == "aws_ecs"
    assert attrs["container.name"] == socket.gethostname()
    assert attrs["aws.ecs.launchtype"] == "fargate"
    assert attrs["aws.ecs.task.family"] == "api"


@pytest.mark.parametrize(
    ("execution_env", "launch_type"),
    [("AWS_ECS_FARGATE", "fargate"), ("AWS_ECS_EC2", "ec2"), (None, None)],
)
def test_ecs_v3_environment_is_detected_without_network(
    monkeypatch: pytest.MonkeyPatch, execution_env: str | None, launch_type: str | None
) -> None:
    # Only the v3 variable: the detector then asks no endpoint.
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI", "http://127.0.0.1:9/v3")
    if execution_env:
        monkeypatch.setenv("AWS_EXECUTION_ENV", execution_env)
    attrs = resource_of(service_name="api")
    assert attrs["cloud.platform"] == "aws_ecs"
    assert attrs["container.name"] == socket.gethostname()
    assert attrs.get("aws.ecs.launchtype") == launch_type


def test_ecs_segment_is_an_ecs_container_with_its_name(
    monkeypatch: pytest.MonkeyPatch, ecs_metadata: str, udp_listener: UdpListener
) -> None:
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata)
    configure("api", daemon_address=udp_listener.address)
    send_span()
    flush()
    (document,) = udp_listener.wait_for(1)
    assert document["origin"] == "AWS::ECS::Container"
    assert document["aws"]["ecs"]["container"] == socket.gethostname()


def test_configure_names_the_python_runtime(udp_listener: UdpListener) -> None:
    configure("api", daemon_address=udp_listener.address)
    send_span()
    flush()
    (document,) = udp_listener.wait_for(1)
    assert document["service"] == {
        "runtime": platform.python_implementation(),
        "runtime_version": platform.python_version(),
    }


def test_no_platform_attributes_off_aws() -> None:
    attrs = resource_of(service_name="api")
    assert "cloud.provider" not in attrs and "cloud.platform" not in attrs


def test_environment_resource_attributes_win_over_detected_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "cloud.region=ap-south-1,service.name=named")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    attrs = resource_of()
    assert attrs["cloud.region"] == "ap-south-1"
    assert attrs["service.name"] == "named"


def test_resource_attributes_argument_wins_over_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=env")
    attrs = resource_of(resource_attributes={"deployment.environment": "arg", "team": "a"})
    assert attrs["deployment.environment"] == "arg" and attrs["team"] == "a"


# --- Lambda ---------------------------------------------------------------------------------

def test_configure_on_lambda_reads_the_invocation_header_from_the_environment(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    configure(daemon_address=udp_listener.address)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    span = send_span("handler")
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT  # type: ignore[attr-defined]
    flush()
    (document,) = udp_listener.wait_for(1)
    assert_valid_document(document)
    assert document["type"] == "subsegment" and document["parent_id"] == PARENT


def test_configure_continues_a_load_balancers_trace_as_a_new_segment(
    udp_listener: UdpListener,
) -> None:
    """An ALB sends ``Root`` without ``Parent``: the segment joins that trace, no parent."""
    configure("svc", daemon_address=udp_listener.address)
    alb_header = f"Self=1-67891233-abcdef012345678912345678;Root={ROOT}"
    token = context.attach(propagate.extract({TRACE_HEADER: alb_header}))
    try:  # as server instrumentations do: the extracted context is current
        send_span()
    finally:
        context.detach(token)
    flush()
    (document,) = udp_listener.wait_for(1)
    assert document["trace_id"] == ROOT
    assert "parent_id" not in document


# --- what the native SDK did unasked ---------------------------------------------------------


def test_configure_answers_http_requests_with_the_trace_header(
    udp_listener: UdpListener,
) -> None:
    import flask
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    configure("api", daemon_address=udp_listener.address)
    app = flask.Flask("answers")
    app.route("/")(lambda: "ok")
    FlaskInstrumentor().instrument_app(app)
    try:
        response = app.test_client().get(
            "/", headers={TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=1"}
        )
    finally:
        FlaskInstrumentor().uninstrument_app(app)
    assert response.headers[TRACE_HEADER] == f"Root={ROOT}"


def test_configure_keeps_a_response_propagator_already_installed(
    udp_listener: UdpListener,
) -> None:
    from opentelemetry.instrumentation.propagators import (
        TraceResponsePropagator,
        get_global_response_propagator,
        set_global_response_propagator,
    )

    mine = TraceResponsePropagator()
    set_global_response_propagator(mine)
    configure("api", daemon_address=udp_listener.address)
    assert get_global_response_propagator() is mine


def test_configure_asks_servers_to_capture_forwarded_for(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure("api", daemon_address=udp_listener.address)
    assert os.environ[ENV_CAPTURE] == "X-Forwarded-For"


def test_configure_keeps_the_users_header_capture(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CAPTURE, "X-Request-Id")
    configure("api", daemon_address=udp_listener.address)
    assert os.environ[ENV_CAPTURE] == "X-Request-Id"


def s3_subsegment(moto_server: str, udp_listener: UdpListener) -> Dict[str, Any]:
    import boto3
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument()  # as the docs show: no hook passed
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    with trace.get_tracer("test").start_as_current_span("upload"):
        s3.create_bucket(Bucket="photos")
        s3.put_object(Bucket="photos", Key="cats/1.jpg", Body=b"x")
    flush()
    (document,) = udp_listener.wait_for(1)
    return next(d for d in walk(document) if d.get("aws", {}).get("operation") == "PutObject")


def test_configure_gives_s3_calls_bucket_and_key(
    udp_listener: UdpListener, moto_server: str
) -> None:
    configure("api", daemon_address=udp_listener.address)
    aws = s3_subsegment(moto_server, udp_listener)["aws"]
    assert (aws["bucket_name"], aws["key"]) == ("photos", "cats/1.jpg")


def test_configure_chains_the_s3_hook_after_the_users_own(
    udp_listener: UdpListener, moto_server: str
) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    seen: List[str] = []
    BotocoreInstrumentor().instrument(request_hook=lambda _s, _svc, op, _p: seen.append(op))
    configure("api", daemon_address=udp_listener.address)
    aws = s3_subsegment(moto_server, udp_listener)["aws"]
    assert (aws["bucket_name"], aws["key"]) == ("photos", "cats/1.jpg")
    assert seen == ["CreateBucket", "PutObject"]


def test_configure_twice_with_the_same_emitter_keeps_exporting(udp_listener: UdpListener) -> None:
    emitter = UdpEmitter(udp_listener.address)
    configure("svc", emitter=emitter)
    configure("svc", emitter=emitter)
    span = send_span()
    flush()
    (document,) = udp_listener.wait_for(1)
    assert document["id"] == f"{span.get_span_context().span_id:016x}"
    assert emitter.stats().get("send_errors.closed", 0) == 0


def test_stats_are_the_installed_processors_counters(udp_listener: UdpListener) -> None:
    configure("svc", daemon_address=udp_listener.address)
    send_span()
    flush()
    udp_listener.wait_for(1)
    counters = otel_xray.stats()
    assert counters["spans_received"] == 1 and counters["spans_sent"] == 1
    assert counters["emitter.documents_sent"] == 1


def test_stats_are_empty_before_configure() -> None:
    assert otel_xray.stats() == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
def test_configure_in_a_forked_child_while_a_parent_thread_holds_its_lock(
    udp_listener: UdpListener,
) -> None:
    import otel_xray.bootstrap as bootstrap

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with bootstrap._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: configure must not wait for the parent's thread
            status = 1
            try:
                configure("child", daemon_address=udp_listener.address)
                status = 0
            finally:
                os._exit(status)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("configure() in the forked child hung on the parent's lock")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join()
