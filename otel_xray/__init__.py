"""otel-xray: send OpenTelemetry traces to AWS X-Ray without a collector.

One call sets everything up::

    import otel_xray
    otel_xray.configure("checkout")

or compose the parts with the OpenTelemetry SDK::

    provider.add_span_processor(XRaySpanProcessor(UdpEmitter("127.0.0.1:2000")))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import TranslateOptions
from .ids import XRayIdGenerator, from_xray_trace_id, to_xray_trace_id

# Imported eagerly: the function must shadow the subpackage of the same name.
from .translate import translate

# The rest is imported on first use: OpenTelemetry loads our entry points (propagator, id
# generator, exporter) while its own modules are still initialising, so importing the
# package must not pull in modules (bootstrap, processor) that import those modules back.
_LAZY = {
    "ApiEmitter": "otel_xray.emit.api",
    "Emitter": "otel_xray.emit",
    "UdpEmitter": "otel_xray.emit.udp",
    "XRayLambdaPropagator": "otel_xray.propagation",
    "XRayParentBased": "otel_xray.sampling",
    "XRayRemoteSampler": "otel_xray.sampling",
    "TcpEmitter": "otel_xray.emit.tcp",
    "XRayPropagator": "otel_xray.propagation",
    "format_trace_header": "otel_xray.propagation",
    "parse_trace_header": "otel_xray.propagation",
    "XRaySpanExporter": "otel_xray.exporter",
    "XRaySpanProcessor": "otel_xray.processor",
    "annotate": "otel_xray.span_helpers",
    "botocore_request_hook": "otel_xray.span_helpers",
    "configure": "otel_xray.bootstrap",
    "put_metadata": "otel_xray.span_helpers",
}

__all__ = [
    "ApiEmitter",
    "Emitter",
    "TcpEmitter",
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
    "format_trace_header",
    "from_xray_trace_id",
    "parse_trace_header",
    "put_metadata",
    "to_xray_trace_id",
    "translate",
]

if TYPE_CHECKING:
    from .bootstrap import configure
    from .emit import Emitter
    from .emit.api import ApiEmitter
    from .emit.tcp import TcpEmitter
    from .emit.udp import UdpEmitter
    from .exporter import XRaySpanExporter
    from .processor import XRaySpanProcessor
    from .propagation import (
        XRayLambdaPropagator,
        XRayPropagator,
        format_trace_header,
        parse_trace_header,
    )
    from .sampling import XRayParentBased, XRayRemoteSampler
    from .span_helpers import annotate, botocore_request_hook, put_metadata


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_xray' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
