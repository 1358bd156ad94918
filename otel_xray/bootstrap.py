"""``configure()``: the one line a service adds to send its traces to AWS X-Ray.

It builds what the native SDK's ``xray_recorder.configure()`` gives: X-Ray trace ids, a
resource describing the service and the AWS platform, the X-Ray span processor sending to
the daemon over UDP, the ``X-Amzn-Trace-Id`` propagator, and a sampler that honours the
header's decisions. The zero-code distro (:mod:`otel_xray.distro`) shares these parts.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Dict, Mapping, Optional

from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler
from opentelemetry.semconv._incubating.attributes.aws_attributes import (
    AWS_ECS_LAUNCHTYPE,
    AWS_LOG_GROUP_NAMES,
)
from opentelemetry.semconv._incubating.attributes.cloud_attributes import (
    CLOUD_PLATFORM,
    CLOUD_PROVIDER,
    CLOUD_REGION,
    CloudPlatformValues,
    CloudProviderValues,
)
from opentelemetry.semconv._incubating.attributes.faas_attributes import (
    FAAS_INSTANCE,
    FAAS_MAX_MEMORY,
    FAAS_NAME,
    FAAS_VERSION,
)
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from . import _parity
from .config import ENV_LAMBDA_FUNCTION_NAME, TranslateOptions, on_lambda
from .emit import Emitter
from .emit.address import ENV_DAEMON_ADDRESS
from .emit.transport import transport_emitter, transport_name
from .ids import XRayIdGenerator
from .processor import XRaySpanProcessor
from .propagation import XRayLambdaPropagator, XRayPropagator
from .sampling import XRayParentBased, XRayRemoteSampler

__all__ = ["configure", "stats"]

_log = logging.getLogger("otel_xray.bootstrap")

ENV_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
ENV_AWS_REGION = "AWS_REGION"
ENV_AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
ENV_AWS_EXECUTION = "AWS_EXECUTION_ENV"
ENV_ECS_METADATA = ("ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI")
_ECS_LAUNCH_TYPES = {"AWS_ECS_FARGATE": "fargate", "AWS_ECS_EC2": "ec2"}

_lock = threading.Lock()
# The provider configure() (or the distro) installed, and the processor slot in it.
_installed: Optional[_Installation] = None


def _new_lock_in_child() -> None:
    # A thread of the parent may have held the lock at fork(): the child's would stay
    # locked for ever, and configure() in the child would hang.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def configure(
    service_name: Optional[str] = None,
    *,
    daemon_address: Optional[str] = None,
    options: Optional[TranslateOptions] = None,
    sampler: Optional[Sampler] = None,
    resource_attributes: Optional[Mapping[str, AttributeValue]] = None,
    emitter: Optional[Emitter] = None,
    flush_on_exit_signals: bool = False,
) -> TracerProvider:
    """Send this process's traces to AWS X-Ray; return the global ``TracerProvider``.

    Args:
        service_name: the segment name in X-Ray (``service.name``). Default:
            ``OTEL_SERVICE_NAME``, else the Lambda function name, else ``unknown_service``.
        daemon_address: the X-Ray daemon, ``host:port`` or ``tcp:h:p udp:h:p``. As with the
            native SDKs, ``AWS_XRAY_DAEMON_ADDRESS`` wins when set (Lambda and ECS set it);
            default ``127.0.0.1:2000``.
        options: how spans become documents; default ``TranslateOptions.from_env()``.
        sampler: decides new traces and requests whose header asks for a decision
            (``Sampled=?``). Wrapped in :class:`~otel_xray.sampling.XRayParentBased`, so a
            ``Sampled=0/1`` from the caller always wins. Default: ``OTEL_TRACES_SAMPLER``,
            else the X-Ray console's sampling rules (:class:`~otel_xray.XRayRemoteSampler`,
            as the native SDK), else on Lambda sample everything (Lambda decides).
        resource_attributes: extra resource attributes (they win over the detected ones).
        emitter: where documents go instead of UDP, e.g. ``ApiEmitter()``. Default:
            ``OTEL_EXPORTER_XRAY_TRANSPORT`` (``udp``, ``tcp`` or ``api``), else UDP.
        flush_on_exit_signals: on ``SIGTERM`` (and ``SIGHUP``), send what is finished
            before the process ends: flush (at most 5 s), then run the handler the
            application had installed, or the signal's default action. Off by default:
            without it a signal that kills the process loses the traces of its last
            moments (see docs/guarantees.md). Needs the main thread.

    The provider gets X-Ray trace ids, the Python runtime and AWS platform attributes
    detected from the environment (Lambda; ECS and EKS through the AWS resource detectors,
    which ask the ECS metadata endpoint or the Kubernetes API only when on ECS or EKS).
    As the native SDK did, HTTP servers capture ``X-Forwarded-For`` (for ``client_ip``;
    unless ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`` is set), answer
    with ``X-Amzn-Trace-Id: Root=…`` (unless another response propagator is installed),
    and botocore, when its instrumentation is installed, is instrumented with
    :func:`~otel_xray.span_helpers.botocore_request_hook` (S3 bucket and key; a later
    ``BotocoreInstrumentor().instrument()`` finds it done; listing ``botocore`` in
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` skips it). The global propagator becomes
    ``tracecontext,baggage,otel_xray`` (``otel_xray_lambda`` on Lambda).

    Calling it again does not add a second exporter: the same provider is returned and its
    X-Ray processor is replaced by one with the new emitter/options (service name, sampler
    and resource stay those of the first call). When another SDK ``TracerProvider`` is
    already global (OpenTelemetry refuses to replace it), the X-Ray processor is added to
    that provider, unless it already exports to X-Ray.
    """
    if options is None:
        options = TranslateOptions.from_env()
    processor = XRaySpanProcessor(emitter or _emitter(daemon_address), options=options)
    provider = _install(processor, service_name, sampler, resource_attributes)
    set_global_textmap(default_propagator(bool(options.lambda_mode)))
    if flush_on_exit_signals:
        from .exit_signals import flush_on_signals

        flush_on_signals(provider)
    _native_parity()
    return provider


def _native_parity() -> None:
    """What the native SDK did unasked (docs/migration.md): ``client_ip`` from
    ``X-Forwarded-For``, ``X-Amzn-Trace-Id`` on responses, S3 bucket and key."""
    _parity.capture_forwarded_for(os.environ)
    _parity.install_response_propagator()
    _parity.hook_botocore()


def stats() -> Dict[str, int]:
    """The counters of the X-Ray processor that :func:`configure` (or the ``otel_xray``
    distro) installed -- spans received, sent, dropped by reason, the emitter's... (see
    :meth:`XRaySpanProcessor.stats <otel_xray.processor.XRaySpanProcessor.stats>`); an
    empty mapping when nothing is installed."""
    installed = _installed
    if installed is None:
        return {}
    processor = installed.processor.processor
    collect = getattr(processor, "stats", None)
    if collect is None:
        return {}
    try:
        return dict(collect())
    except Exception:
        _log.debug("stats() of %r failed", processor, exc_info=True)
        return {}


def default_propagator(on_lambda: bool) -> TextMapPropagator:
    """``tracecontext,baggage,otel_xray`` (``otel_xray_lambda`` when ``on_lambda``)."""
    xray = XRayLambdaPropagator() if on_lambda else XRayPropagator()
    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator(), xray])


def _emitter(daemon_address: Optional[str]) -> Emitter:
    from_env = os.environ.get(ENV_DAEMON_ADDRESS, "").strip()
    if from_env and daemon_address is not None and daemon_address != from_env:
        _log.info("%s=%s overrides daemon_address=%r", ENV_DAEMON_ADDRESS, from_env, daemon_address)
    return transport_emitter(None if from_env else daemon_address)


# -- the provider -------------------------------------------------------------------------


class _Installation:
    __slots__ = ("processor", "provider")

    def __init__(self, provider: TracerProvider, processor: ReplaceableProcessor) -> None:
        self.provider = provider
        self.processor = processor


def _install(
    processor: SpanProcessor,
    service_name: Optional[str],
    sampler: Optional[Sampler],
    resource_attributes: Optional[Mapping[str, AttributeValue]],
) -> TracerProvider:
    global _installed
    with _lock:
        current = trace.get_tracer_provider()
        if _installed is not None and _installed.provider is current:
            _log.info("configure() called again: replacing the X-Ray span processor")
            _installed.processor.replace(processor)
            return _installed.provider
        if isinstance(current, TracerProvider):
            return _join_existing(current, processor)
        resource = build_resource(service_name, resource_attributes)
        provider = TracerProvider(
            sampler=xray_sampler(sampler, resource),
            resource=resource,
            id_generator=XRayIdGenerator(),
        )
        slot = ReplaceableProcessor(processor)
        provider.add_span_processor(slot)
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:  # someone won a race to set one
            slot.shutdown()
            winner = trace.get_tracer_provider()
            if isinstance(winner, TracerProvider):
                return _join_existing(winner, processor)
            return provider
        _installed = _Installation(provider, slot)
        return provider


def _join_existing(provider: TracerProvider, processor: SpanProcessor) -> TracerProvider:
    global _installed
    if _exports_to_xray(provider):
        _log.warning(
            "the global TracerProvider already exports to X-Ray; configure() adds nothing"
        )
        processor.shutdown()
        return provider
    _log.warning(
        "a TracerProvider was already installed and OpenTelemetry cannot replace it: adding "
        "the X-Ray span processor to it; its sampler, id generator and resource are kept"
    )
    slot = ReplaceableProcessor(processor)
    provider.add_span_processor(slot)
    _installed = _Installation(provider, slot)
    return provider


def _exports_to_xray(provider: TracerProvider) -> bool:
    """Whether ``provider`` already has an X-Ray processor or exporter (best effort)."""
    from .exporter import XRaySpanExporter

    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()):
        if isinstance(processor, (XRaySpanProcessor, ReplaceableProcessor)):
            return True
        if isinstance(getattr(processor, "span_exporter", None), XRaySpanExporter):
            return True
    return False


def adopt(provider: TracerProvider, processor: ReplaceableProcessor) -> None:
    """Record a provider the distro built, so a later ``configure()`` replaces, not adds."""
    global _installed
    with _lock:
        _installed = _Installation(provider, processor)


class ReplaceableProcessor(SpanProcessor):
    """A slot in the provider whose X-Ray processor ``configure()`` can swap.

    The SDK cannot remove a span processor; replacing the one inside this slot is how a
    second ``configure()`` avoids exporting every span twice.
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor

    @property
    def processor(self) -> SpanProcessor:
        return self._processor

    def replace(self, processor: SpanProcessor) -> None:
        old, self._processor = self._processor, processor
        # Flush what the old one holds; an emitter the new one reuses must stay open.
        if (
            isinstance(old, XRaySpanProcessor)
            and isinstance(processor, XRaySpanProcessor)
            and old.emitter is processor.emitter
        ):
            old.stop(close_emitter=False)
        else:
            old.shutdown()

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        self._processor.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        self._processor._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        self._processor.on_end(span)

    def shutdown(self) -> None:
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis)


# -- sampler and resource -------------------------------------------------------------------


def xray_sampler(
    sampler: Optional[Sampler] = None, resource: Optional[Resource] = None
) -> XRayParentBased:
    """``sampler`` as X-Ray parent-based. Default: ``OTEL_TRACES_SAMPLER``, else the X-Ray
    console's rules for ``resource`` (always on under Lambda, which decides itself)."""
    if sampler is None and not os.environ.get(ENV_TRACES_SAMPLER, "").strip():
        return _default_sampler(resource)
    root = sampler if sampler is not None else _sampler_from_env()
    return root if isinstance(root, XRayParentBased) else XRayParentBased(root)


def _default_sampler(resource: Optional[Resource]) -> XRayParentBased:
    """The native SDK's default: the console's rules, through the daemon (or the API when
    that is the transport). On Lambda the function's trace header decides."""
    if on_lambda():
        return XRayParentBased(ALWAYS_ON)
    if transport_name() == "api":
        from .emit.api import make_xray_client

        try:
            return XRayRemoteSampler(resource, xray_client=make_xray_client(None, None))
        except (ImportError, ValueError) as exc:
            _log.warning("cannot poll the X-Ray API for sampling rules (%s); sampling "
                         "everything", exc)
            return XRayParentBased(ALWAYS_ON)
    return XRayRemoteSampler(resource)


def _sampler_from_env() -> Sampler:
    name = os.environ.get(ENV_TRACES_SAMPLER, "").strip()
    if not name:
        return ALWAYS_ON
    try:
        from opentelemetry.sdk._configuration import _import_sampler

        sampler = _import_sampler(name)
    except Exception:  # an unknown name must not stop the application
        sampler = None
    if sampler is None:
        _log.warning("%s=%r is not a known sampler; sampling everything", ENV_TRACES_SAMPLER, name)
        return ALWAYS_ON
    return sampler


def build_resource(
    service_name: Optional[str] = None,
    attributes: Optional[Mapping[str, AttributeValue]] = None,
) -> Resource:
    """The service's resource: detected AWS attributes < environment < ``attributes``."""
    return Resource.create(resource_attributes(service_name, attributes))


def resource_attributes(
    service_name: Optional[str] = None,
    attributes: Optional[Mapping[str, AttributeValue]] = None,
) -> Dict[str, AttributeValue]:
    """Attributes to pass to ``Resource.create``: the detected ones that the environment
    (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``) does not set, then ``attributes``.
    """
    from_env = OTELResourceDetector().detect().attributes
    detected = {
        **_parity.runtime_attributes(),
        **platform_attributes(os.environ),
        **_parity.detected_container(os.environ),
    }
    merged: Dict[str, AttributeValue] = {
        key: value for key, value in detected.items() if key not in from_env
    }
    merged.update(attributes or {})
    if service_name:
        merged[SERVICE_NAME] = service_name
    return merged


def platform_attributes(environ: Mapping[str, str]) -> Dict[str, AttributeValue]:
    """AWS platform resource attributes read from environment variables only (no network).

    Lambda: provider, platform, region, function name/version/instance/memory, log group,
    and the function name as ``service.name``. ECS: provider, platform, region, launch type.
    """
    function = environ.get(ENV_LAMBDA_FUNCTION_NAME, "").strip()
    if function:
        return _lambda_attributes(environ, function)
    if any(environ.get(name, "").strip() for name in ENV_ECS_METADATA):
        return _ecs_attributes(environ)
    return {}


def _aws(environ: Mapping[str, str], platform: str) -> Dict[str, AttributeValue]:
    attrs: Dict[str, AttributeValue] = {
        CLOUD_PROVIDER: CloudProviderValues.AWS.value,
        CLOUD_PLATFORM: platform,
    }
    region = environ.get(ENV_AWS_REGION) or environ.get(ENV_AWS_DEFAULT_REGION)
    if region:
        attrs[CLOUD_REGION] = region
    return attrs


def _lambda_attributes(environ: Mapping[str, str], function: str) -> Dict[str, AttributeValue]:
    attrs = _aws(environ, CloudPlatformValues.AWS_LAMBDA.value)
    attrs[SERVICE_NAME] = function
    attrs[FAAS_NAME] = function
    optional = {
        FAAS_VERSION: "AWS_LAMBDA_FUNCTION_VERSION",
        FAAS_INSTANCE: "AWS_LAMBDA_LOG_STREAM_NAME",
    }
    for key, name in optional.items():
        if environ.get(name):
            attrs[key] = environ[name]
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        attrs[FAAS_MAX_MEMORY] = int(memory) * 1024 * 1024  # semconv: bytes
    log_group = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
    if log_group:
        attrs[AWS_LOG_GROUP_NAMES] = (log_group,)
    return attrs


def _ecs_attributes(environ: Mapping[str, str]) -> Dict[str, AttributeValue]:
    attrs = _aws(environ, CloudPlatformValues.AWS_ECS.value)
    launch_type = _ECS_LAUNCH_TYPES.get(environ.get(ENV_AWS_EXECUTION, ""))
    if launch_type:
        attrs[AWS_ECS_LAUNCHTYPE] = launch_type
    return attrs
