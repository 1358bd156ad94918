"""otel-xray: send OpenTelemetry traces to AWS X-Ray without a collector."""

from .config import TranslateOptions
from .ids import XRayIdGenerator, from_xray_trace_id, to_xray_trace_id
from .translate import translate

__all__ = [
    "TranslateOptions",
    "XRayIdGenerator",
    "from_xray_trace_id",
    "to_xray_trace_id",
    "translate",
]
