"""Zero-code setup: ``opentelemetry-instrument`` with ``OTEL_PYTHON_DISTRO=otel_xray``.

:class:`XRayDistro` sets the environment defaults (X-Ray propagator, id generator, this
package's configurator) before instrumentation starts; :class:`XRayConfigurator` builds the
SDK as OpenTelemetry's own configurator does (metrics and logs exporters included), with
the X-Ray span processor sending to the daemon, X-Ray trace ids, AWS platform resource
attributes and :class:`~otel_xray.sampling.XRayParentBased`. Every default can be
overridden by setting the variable.
"""

from __future__ import annotations

import logging
import os
from typing import Any, List, Optional

from opentelemetry import trace
from opentelemetry.environment_variables import (
    OTEL_PROPAGATORS,
    OTEL_PYTHON_ID_GENERATOR,
    OTEL_TRACES_EXPORTER,
)

# mypy may not see BaseDistro in some versions of the package: hence the ignores.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined, unused-ignore]
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util._importlib_metadata import entry_points

from . import _parity
from .bootstrap import (
    ReplaceableProcessor,
    adopt,
    resource_attributes,
    xray_sampler,
)
from .config import TranslateOptions, on_lambda
from .emit.transport import transport_emitter
from .ids import XRayIdGenerator
from .processor import XRaySpanProcessor

__all__ = ["XRayConfigurator", "XRayDistro"]

_log = logging.getLogger("otel_xray.distro")

#: The name of this package's entry points (exporter, propagator, id generator, distro…).
ENTRY_POINT_NAME = "otel_xray"
ENV_CONFIGURATOR = "OTEL_PYTHON_CONFIGURATOR"


class XRayDistro(BaseDistro):  # type: ignore[misc, unused-ignore]
    """Defaults for ``opentelemetry-instrument`` when ``OTEL_PYTHON_DISTRO=otel_xray``.

    Sets, unless already set: ``OTEL_PYTHON_CONFIGURATOR=otel_xray``,
    ``OTEL_PROPAGATORS=tracecontext,baggage,otel_xray`` (``otel_xray_lambda`` on Lambda),
    ``OTEL_PYTHON_ID_GENERATOR=otel_xray`` and ``OTEL_TRACES_EXPORTER=otel_xray`` (which
    :class:`XRayConfigurator` turns into the X-Ray span processor; another configurator
    uses the exporter), and ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=
    X-Forwarded-For`` (``client_ip`` behind a load balancer). The botocore instrumentation
    gets :func:`~otel_xray.span_helpers.botocore_request_hook` (S3 bucket and key).
    """

    def _configure(self, **kwargs: Any) -> None:
        xray = "otel_xray_lambda" if on_lambda() else ENTRY_POINT_NAME
        os.environ.setdefault(ENV_CONFIGURATOR, ENTRY_POINT_NAME)
        os.environ.setdefault(OTEL_PROPAGATORS, f"tracecontext,baggage,{xray}")
        os.environ.setdefault(OTEL_PYTHON_ID_GENERATOR, ENTRY_POINT_NAME)
        os.environ.setdefault(OTEL_TRACES_EXPORTER, ENTRY_POINT_NAME)
        _parity.capture_forwarded_for(os.environ)

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Activate an instrumentation; botocore gets the S3 bucket-and-key hook."""
        super().load_instrumentor(entry_point, **_parity.botocore_kwargs(entry_point.name, kwargs))


class XRayConfigurator(_OTelSDKConfigurator):
    """OpenTelemetry's SDK configurator, sending traces through ``XRaySpanProcessor``.

    Selected by ``OTEL_PYTHON_CONFIGURATOR=otel_xray`` (the distro sets it). The daemon
    address comes from ``AWS_XRAY_DAEMON_ADDRESS``, translation options from
    ``OTEL_EXPORTER_XRAY_*``. An ``otel_xray`` entry in ``OTEL_TRACES_EXPORTER`` is served
    by the processor (never both); other exporters listed there are kept.
    """

    def _configure(self, **kwargs: Any) -> None:
        slot = ReplaceableProcessor(
            XRaySpanProcessor(transport_emitter(), options=TranslateOptions.from_env())
        )
        _remove_xray_exporter_from_env()
        kwargs["span_processors"] = [*(kwargs.get("span_processors") or ()), slot]
        if not os.environ.get(OTEL_PYTHON_ID_GENERATOR):
            kwargs.setdefault("id_generator", XRayIdGenerator())
        kwargs["resource_attributes"] = resource_attributes(
            None, kwargs.get("resource_attributes")
        )
        if kwargs.get("sampler") is None:
            kwargs["sampler"] = xray_sampler(None, Resource.create(kwargs["resource_attributes"]))
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            adopt(provider, slot)
        propagator = _propagator_from_env()
        if propagator is not None:
            set_global_textmap(propagator)
        _parity.install_response_propagator()


def _remove_xray_exporter_from_env() -> None:
    names = [name.strip() for name in os.environ.get(OTEL_TRACES_EXPORTER, "").split(",")]
    kept = [name for name in names if name and name != ENTRY_POINT_NAME]
    if len(kept) != len([name for name in names if name]):
        os.environ[OTEL_TRACES_EXPORTER] = ",".join(kept) or "none"


def _propagator_from_env() -> Optional[TextMapPropagator]:
    """``OTEL_PROPAGATORS`` again, in case ``opentelemetry.propagate`` was imported (and
    read it) before the distro set its default."""
    value = os.environ.get(OTEL_PROPAGATORS)
    if not value:
        return None
    propagators: List[TextMapPropagator] = []
    for name in (part.strip() for part in value.split(",")):
        if not name or name.lower() == "none":
            continue
        found = next(iter(entry_points(group="opentelemetry_propagator", name=name)), None)
        if found is None:
            _log.warning("%s: no propagator named %r is installed", OTEL_PROPAGATORS, name)
            continue
        propagators.append(found.load()())
    return CompositePropagator(propagators)
