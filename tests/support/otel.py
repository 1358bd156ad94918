"""Fresh OpenTelemetry globals for tests that install a global provider or propagator.

OpenTelemetry lets a process set its global ``TracerProvider`` once; ``otel_xray.configure``
and the instrumentations use the globals. Import the fixture into a test module:
``from tests.support.otel import fresh_otel``.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.instrumentation import propagators
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util._once import Once

import otel_xray.bootstrap

#: Environment variables that change what configure() and the propagators do.
_ENV = (
    "AWS_XRAY_DAEMON_ADDRESS",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "_X_AMZN_TRACE_ID",
    "_HANDLER",
    "ORIG_HANDLER",
    "ECS_CONTAINER_METADATA_URI",
    "ECS_CONTAINER_METADATA_URI_V4",
    "AWS_EXECUTION_ENV",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_XRAY_LAMBDA_MODE",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
)


@pytest.fixture
def fresh_otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No global TracerProvider yet, the default propagator, no response propagator, a
    clean AWS/OTel environment; botocore as instrumented (or not) before.

    Afterwards the provider the test installed is shut down (its processor flushed) and
    the globals are put back as they were.
    """
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    saved_textmap = propagate.get_global_textmap()
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    monkeypatch.setattr(otel_xray.bootstrap, "_installed", None)
    saved_response = propagators.get_global_response_propagator()
    propagators.set_global_response_propagator(None)
    botocore = BotocoreInstrumentor()
    botocore_was_instrumented = botocore.is_instrumented_by_opentelemetry
    saved_hook = getattr(botocore, "request_hook", None)
    try:
        yield
    finally:
        propagators.set_global_response_propagator(saved_response)
        if botocore.is_instrumented_by_opentelemetry and not botocore_was_instrumented:
            botocore.uninstrument()
        if botocore_was_instrumented:
            botocore.request_hook = saved_hook
        installed = trace._TRACER_PROVIDER
        if isinstance(installed, TracerProvider):
            installed.shutdown()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved
        propagate.set_global_textmap(saved_textmap)
