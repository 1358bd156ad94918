"""A parent-based sampler that understands X-Ray's "no decision" (``Sampled=?``).

OpenTelemetry's ``ParentBased`` sees every remote parent as either sampled or not. An
``X-Amzn-Trace-Id`` with ``Sampled=?`` or without ``Sampled`` asks the receiver to decide;
read as "not sampled" it would silently drop the whole request. :class:`XRayParentBased`
decides such requests with its root sampler, exactly as for a new trace (but keeping the
incoming trace id, so ratio samplers agree across services), and honours a ``Sampled=0/1``
that came with a ``Root`` but no ``Parent``.
"""

from __future__ import annotations

from typing import Optional, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context import get_current as _current_context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from ..propagation import root_only_decision, sampling_undecided

__all__ = ["XRayParentBased"]


class XRayParentBased(ParentBased):
    """``ParentBased(root)``, plus: a remote parent without a decision is decided by ``root``.

    Args:
        root: decides new traces, and requests whose ``X-Amzn-Trace-Id`` carried
            ``Sampled=?`` or no ``Sampled``. Defaults to always on. Pass the sampler you
            would give ``ParentBased``, e.g. ``TraceIdRatioBased(0.1)``.

    A parent with ``Sampled=0`` or ``1`` is followed as ``ParentBased`` follows it. A
    ``Root`` without ``Parent`` (a load balancer's header) that carries ``Sampled=0/1``
    decides the span that continues its trace.
    """

    def __init__(self, root: Optional[Sampler] = None) -> None:
        self._xray_root = ALWAYS_ON if root is None else root
        super().__init__(self._xray_root)

    def should_sample(
        self,
        parent_context: Optional[Context],
        trace_id: int,
        name: str,
        kind: Optional[SpanKind] = None,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        trace_state: Optional[TraceState] = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            if not sampling_undecided(parent_context):
                return super().should_sample(
                    parent_context, trace_id, name, kind, attributes, links, trace_state
                )
            # As for a new trace: the root sampler must not see the undecided parent.
            fresh = trace.set_span_in_context(
                trace.INVALID_SPAN,
                _current_context() if parent_context is None else parent_context,
            )
            result = self._xray_root.should_sample(
                fresh, trace_id, name, kind, attributes, links, trace_state
            )
            # Keep the W3C trace state that came with the request.
            kept = result.trace_state if result.trace_state is not None else parent.trace_state
            return SamplingResult(result.decision, result.attributes, kept)
        header = root_only_decision(parent_context)
        if header is not None and header.trace_id == trace_id and header.sampled is not None:
            sampler = ALWAYS_ON if header.sampled else ALWAYS_OFF
            return sampler.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return self._xray_root.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"XRayParentBased{{root:{self._xray_root.get_description()}}}"
