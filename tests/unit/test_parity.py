"""What configure() and the distro arrange for parity with the native SDK (otel_xray._parity)."""

from __future__ import annotations

import platform
from typing import Any, Dict, List

import pytest
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context

from otel_xray import _parity
from otel_xray.propagation import TRACE_HEADER, XRayResponsePropagator
from otel_xray.span_helpers import botocore_request_hook

CAPTURE = _parity.ENV_CAPTURE_SERVER_REQUEST


@pytest.mark.parametrize(("environ", "expected"), [
    pytest.param({}, "X-Forwarded-For", id="unset"),
    pytest.param({CAPTURE: " "}, "X-Forwarded-For", id="blank"),
    pytest.param({CAPTURE: "X-Request-Id"}, "X-Request-Id", id="users-choice-kept"),
])
def test_capture_forwarded_for(environ: Dict[str, str], expected: str) -> None:
    _parity.capture_forwarded_for(environ)
    assert environ[CAPTURE] == expected


def test_distro_gives_botocore_the_s3_hook() -> None:
    assert _parity.botocore_kwargs("botocore", {})["request_hook"] is botocore_request_hook


def test_distro_chains_the_s3_hook_after_a_given_one() -> None:
    calls: List[str] = []
    kwargs = _parity.botocore_kwargs("botocore", {"request_hook": lambda *a: calls.append(a[2])})
    kwargs["request_hook"](NonRecordingSpan(SpanContext(1, 1, False)), "s3", "PutObject", {})
    assert calls == ["PutObject"]


def test_distro_leaves_other_instrumentations_alone() -> None:
    kwargs: Dict[str, Any] = {"x": 1}
    assert _parity.botocore_kwargs("flask", kwargs) is kwargs


def test_runtime_attributes_as_the_native_sdk_names_them() -> None:
    assert _parity.runtime_attributes() == {
        "process.runtime.name": platform.python_implementation(),
        "process.runtime.version": platform.python_version(),
    }


def test_no_container_detected_off_ecs_and_eks() -> None:
    assert _parity.detected_container({}) == {}


def test_response_propagator_writes_the_root() -> None:
    context = set_span_in_context(NonRecordingSpan(SpanContext(
        0x5759E988BD862E3FE1BE46A994272793, 0x53995C3F42CD8AD8, is_remote=False
    )))
    carrier: Dict[str, str] = {}
    XRayResponsePropagator().inject(carrier, context)
    assert carrier == {TRACE_HEADER: "Root=1-5759e988-bd862e3fe1be46a994272793"}


def test_response_propagator_writes_nothing_without_a_span() -> None:
    carrier: Dict[str, str] = {}
    XRayResponsePropagator().inject(carrier)
    assert carrier == {}


def test_distro_loads_botocore_with_the_s3_hook() -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.util._importlib_metadata import entry_points

    from otel_xray.distro import XRayDistro

    (entry_point,) = entry_points(group="opentelemetry_instrumentor", name="botocore")
    instrumentor = BotocoreInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry
    XRayDistro().load_instrumentor(entry_point)
    try:
        assert instrumentor.request_hook is botocore_request_hook
    finally:
        instrumentor.uninstrument()
