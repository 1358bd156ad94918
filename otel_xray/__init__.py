"""otel-xray: send OpenTelemetry traces to AWS X-Ray without a collector.

One call sets everything up::

    import otel_xray
    otel_xray.configure("checkout")

or compose the parts with the OpenTelemetry SDK::

    provider.add_span_processor(XRaySpanProcessor(UdpEmitter("127.0.0.1:2000")))

Every name here is imported on first use: OpenTelemetry loads this package's entry points
(propagator, id generator, exporter) while its own modules are still initialising, and a
Lambda cold start should not pay for parts it does not use.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any, Dict, Tuple

__all__ = [
    "ApiEmitter",
    "TranslateOptions",
    "UdpEmitter",
    "XRayIdGenerator",
    "XRayLambdaPropagator",
    "XRayParentBased",
    "XRayPropagator",
    "XRayRemoteSampler",
    "XRaySpanExporter",
    "XRaySpanProcessor",
    "annotate",
    "botocore_request_hook",
    "configure",
    "put_metadata",
    "stats",
]

# Where each public name lives.
_PUBLIC: Dict[str, str] = {
    "ApiEmitter": "otel_xray.emit.api",
    "TranslateOptions": "otel_xray.config",
    "UdpEmitter": "otel_xray.emit.udp",
    "XRayIdGenerator": "otel_xray.ids",
    "XRayLambdaPropagator": "otel_xray.propagation",
    "XRayParentBased": "otel_xray.sampling",
    "XRayPropagator": "otel_xray.propagation",
    "XRayRemoteSampler": "otel_xray.sampling",
    "XRaySpanExporter": "otel_xray.exporter",
    "XRaySpanProcessor": "otel_xray.processor",
    "annotate": "otel_xray.span_helpers",
    "botocore_request_hook": "otel_xray.span_helpers",
    "configure": "otel_xray.bootstrap",
    "put_metadata": "otel_xray.span_helpers",
    "stats": "otel_xray.bootstrap",
}

# Names that were public in 0.1 and still work, with a DeprecationWarning, until 0.3:
# (module, what to import instead).
_DEPRECATED: Dict[str, Tuple[str, str]] = {
    "Emitter": ("otel_xray.emit", "otel_xray.emit.Emitter"),
    "format_trace_header": ("otel_xray.propagation", "otel_xray.propagation.format_trace_header"),
    "parse_trace_header": ("otel_xray.propagation", "otel_xray.propagation.parse_trace_header"),
    "from_xray_trace_id": ("otel_xray.ids", "otel_xray.ids.from_xray_trace_id"),
    "to_xray_trace_id": ("otel_xray.ids", "otel_xray.ids.to_xray_trace_id"),
}

if TYPE_CHECKING:
    from .bootstrap import configure, stats
    from .config import TranslateOptions
    from .emit.api import ApiEmitter
    from .emit.udp import UdpEmitter
    from .exporter import XRaySpanExporter
    from .ids import XRayIdGenerator
    from .processor import XRaySpanProcessor
    from .propagation import XRayLambdaPropagator, XRayPropagator
    from .sampling import XRayParentBased, XRayRemoteSampler
    from .span_helpers import annotate, botocore_request_hook, put_metadata


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    deprecated = _DEPRECATED.get(name)
    if deprecated is not None:
        module, instead = deprecated
        warnings.warn(
            f"otel_xray.{name} is deprecated and will be removed in 0.3; use {instead}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'otel_xray' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
