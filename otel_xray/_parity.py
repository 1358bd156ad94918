"""What ``configure()`` and the distro arrange so that users see in X-Ray what the native SDK
(``aws-xray-sdk``) showed them: see docs/migration.md.

- the ``X-Forwarded-For`` request header is captured by the HTTP server instrumentations
  (for ``client_ip`` behind a load balancer), unless the user chose which headers to capture;
- every HTTP response carries ``X-Amzn-Trace-Id: Root=…`` (the response propagator);
- S3 calls carry bucket and key (the botocore instrumentation gets
  :func:`~otel_xray.span_helpers.botocore_request_hook`);
- the resource names the Python runtime (``service.runtime``) and, through the maintained
  AWS resource detectors, the ECS container and the EKS cluster.

Each step is best effort: a missing optional package skips it, a failure is logged and
never stops the application.
"""

from __future__ import annotations

import logging
import os
import platform
from typing import Any, Callable, Dict, Mapping, MutableMapping, Optional

from opentelemetry.semconv._incubating.attributes.process_attributes import (
    PROCESS_RUNTIME_NAME,
    PROCESS_RUNTIME_VERSION,
)
from opentelemetry.util.types import AttributeValue

from .propagation import XRayResponsePropagator
from .span_helpers import botocore_request_hook

_log = logging.getLogger("otel_xray.parity")

#: The variable the WSGI/ASGI instrumentations read for request headers to capture.
ENV_CAPTURE_SERVER_REQUEST = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
#: OpenTelemetry's list of instrumentations ``opentelemetry-instrument`` must not load.
ENV_DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
FORWARDED_FOR = "X-Forwarded-For"
BOTOCORE = "botocore"


def capture_forwarded_for(environ: MutableMapping[str, str]) -> None:
    """Ask the HTTP server instrumentations to capture ``X-Forwarded-For``, unless the
    user already chose which request headers to capture (their choice is kept)."""
    if not environ.get(ENV_CAPTURE_SERVER_REQUEST, "").strip():
        environ[ENV_CAPTURE_SERVER_REQUEST] = FORWARDED_FOR


def install_response_propagator() -> None:
    """Make instrumented HTTP servers answer with ``X-Amzn-Trace-Id: Root=…``, unless a
    response propagator is already installed (or ``opentelemetry-instrumentation`` is not)."""
    try:
        from opentelemetry.instrumentation import propagators
    except ImportError:
        return
    module: Any = propagators  # untyped functions
    if module.get_global_response_propagator() is None:
        module.set_global_response_propagator(XRayResponsePropagator())


def hook_botocore() -> None:
    """Give the botocore instrumentation :func:`botocore_request_hook` (S3 bucket and key).

    Not yet instrumented: instrument it with the hook, so that a later
    ``BotocoreInstrumentor().instrument()`` finds it done. Already instrumented: add the hook
    after the user's own one. Skipped when the instrumentation is not installed or is
    listed in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``.
    """
    disabled = os.environ.get(ENV_DISABLED_INSTRUMENTATIONS, "")
    if BOTOCORE in (name.strip() for name in disabled.split(",")):
        return
    try:
        from opentelemetry.instrumentation import botocore
    except ImportError:
        return
    try:
        module: Any = botocore  # untyped
        instrumentor: Any = module.BotocoreInstrumentor()  # a singleton
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(request_hook=botocore_request_hook)
            return
        current = getattr(instrumentor, "request_hook", None)
        if current is None:
            instrumentor.request_hook = botocore_request_hook
        elif not _calls_ours(current):
            instrumentor.request_hook = _chained(current)
    except Exception:  # never stop the application over S3 keys
        _log.warning("could not give the botocore instrumentation its S3 hook", exc_info=True)


def botocore_kwargs(name: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The distro's ``instrument()`` arguments for the instrumentation ``name``: botocore
    gets :func:`botocore_request_hook` (after any hook given)."""
    if name != BOTOCORE:
        return kwargs
    hook = kwargs.get("request_hook")
    return {**kwargs, "request_hook": _chained(hook) if hook else botocore_request_hook}


def _calls_ours(hook: Callable[..., Any]) -> bool:
    return hook is botocore_request_hook or getattr(hook, "_otel_xray_chained", False)


def _chained(hook: Callable[..., None]) -> Callable[..., None]:
    def request_hook(span: Any, service_name: str, operation_name: str, params: Any) -> None:
        try:
            hook(span, service_name, operation_name, params)
        finally:
            botocore_request_hook(span, service_name, operation_name, params)

    request_hook._otel_xray_chained = True  # type: ignore[attr-defined]
    return request_hook


def runtime_attributes() -> Dict[str, AttributeValue]:
    """``process.runtime.name``/``version`` as the native SDK reports them (``CPython``,
    ``3.12.1``): they become ``service.runtime``/``runtime_version``."""
    return {
        PROCESS_RUNTIME_NAME: platform.python_implementation(),
        PROCESS_RUNTIME_VERSION: platform.python_version(),
    }


def detected_container(environ: Mapping[str, str]) -> Dict[str, AttributeValue]:
    """ECS or EKS attributes from the maintained detectors of
    ``opentelemetry-sdk-extension-aws`` (container name and id, task and cluster ARNs,
    launch type, cluster name), or ``{}`` when not on either or the package is missing.

    ECS is detected only when its metadata endpoint variable is set, EKS only when the
    Kubernetes service account files exist: elsewhere no request is made. (EC2 needs
    the instance metadata service: add ``aws_ec2`` to
    ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` to detect it.)
    """
    try:
        from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector
        from opentelemetry.sdk.extension.aws.resource.eks import AwsEksResourceDetector
    except ImportError:
        return {}
    detector: Optional[Any] = None
    if environ.get("ECS_CONTAINER_METADATA_URI_V4") or environ.get("ECS_CONTAINER_METADATA_URI"):
        detector = AwsEcsResourceDetector()
    else:
        detector = AwsEksResourceDetector()
    try:
        attributes = detector.detect().attributes
    except Exception:  # the detectors log and return nothing, but be sure
        _log.warning("%s failed", type(detector).__name__, exc_info=True)
        return {}
    return {key: value for key, value in attributes.items() if value not in ("", None)}
