"""The ``X-Amzn-Trace-Id`` header: parse, format, and OpenTelemetry propagators for it.

``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1``

Extraction is lenient about layout and strict about values: whitespace around parts and
``=`` is tolerated, keys match case-insensitively, empty and ``=``-less parts are ignored, a
value runs from the first ``=`` to the next ``;``; ``Root``, ``Parent`` and ``Sampled`` must
be exactly right (version 1, hex lengths, not all zero, ``0``/``1``/``?``) or the whole
header is ignored. A malformed header never raises and never yields a half-parsed context.

Two facts travel in the context beside the span context, so that they are not lost:

- "no decision" (``Sampled=?`` or no ``Sampled``): read by
  :class:`~otel_xray.sampling.XRayParentBased`, which then samples as for a new trace;
- ``Lineage`` (Lambda's loop detection): written back unchanged on inject.

A header with ``Root`` but no ``Parent`` (what an Application Load Balancer sends) carries no
parent span; the trace id is kept in the context and :class:`~otel_xray.ids.XRayIdGenerator`
gives it to the next root span, so the request continues the load balancer's trace.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Dict, NamedTuple, Optional, Set

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from ._diag import Counters, RateLimitedLog

__all__ = [
    "LAMBDA_TRACE_ENV",
    "MAX_HEADER_CHARS",
    "TRACE_HEADER",
    "TraceHeader",
    "XRayLambdaPropagator",
    "XRayPropagator",
    "XRayResponsePropagator",
    "continued_trace_id",
    "format_trace_header",
    "link_displaced_parent",
    "parse_trace_header",
    "root_only_decision",
    "sampling_undecided",
]

#: The HTTP header X-Ray services and SDKs read and write.
TRACE_HEADER = "X-Amzn-Trace-Id"
#: Lambda puts the invocation's trace header in this environment variable.
LAMBDA_TRACE_ENV = "_X_AMZN_TRACE_ID"
#: Only this much of a header is read; the (possibly cut) last part beyond it is dropped.
MAX_HEADER_CHARS = 2048
#: The longest ``Lineage`` value carried; a longer one is dropped (the context is kept).
MAX_LINEAGE_CHARS = 256

_logger = logging.getLogger("otel_xray.propagation")
_log = RateLimitedLog(_logger)
_counters = Counters()

_HEADER_NAME = TRACE_HEADER.lower()
_MAX_CARRIER_KEYS = 512
_ROOT = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})\Z")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}\Z")
# Visible ASCII except the separators of this header and of header lists: a Lineage value
# can then never end the header, start a new pair, or smuggle a line break.
_LINEAGE = re.compile(r"[\x21-\x7e]+\Z")
_LINEAGE_FORBIDDEN = frozenset(';,"\\')
_SAMPLED = {"1": True, "0": False, "?": None}

_UNDECIDED_KEY = context_api.create_key("otel_xray.sampling-undecided")
_LINEAGE_KEY = context_api.create_key("otel_xray.lineage")
_ROOT_ONLY_KEY = context_api.create_key("otel_xray.root-only")
_DISPLACED_KEY = context_api.create_key("otel_xray.lambda-event-parent")


class TraceHeader(NamedTuple):
    """The values of one well-formed ``X-Amzn-Trace-Id`` header."""

    trace_id: int
    """The 128-bit trace id (``Root``)."""
    parent_id: Optional[int]
    """The caller's 64-bit (sub)segment id (``Parent``); ``None`` when absent."""
    sampled: Optional[bool]
    """``Sampled=1``/``0``; ``None`` for ``Sampled=?`` or no ``Sampled``: no decision."""
    lineage: Optional[str] = None
    """``Lineage``, opaque, carried on unchanged."""


class _Bad(Exception):
    """A malformed header; never leaves this module."""


def parse_trace_header(header: object) -> Optional[TraceHeader]:
    """Parse an ``X-Amzn-Trace-Id`` value; ``None`` when it is malformed or has no ``Root``.

    Never raises. Reads at most :data:`MAX_HEADER_CHARS` characters. ``Self`` and unknown
    pairs are ignored; when a key repeats, the last occurrence wins (as in the other
    parsers), but every occurrence must be valid.
    """
    if not isinstance(header, str):
        return None
    if len(header) > MAX_HEADER_CHARS:
        _counters.add("header_truncated")
        # The last part may be cut in the middle: keep only complete parts.
        cut = header.rfind(";", 0, MAX_HEADER_CHARS + 1)
        header = header[:cut] if cut >= 0 else ""
    try:
        return _parse(header)
    except _Bad as bad:
        _counters.add("header_malformed")
        _log.debug("malformed", "ignoring malformed %s header: %s", TRACE_HEADER, bad)
        return None


def _parse(header: str) -> Optional[TraceHeader]:
    trace_id: Optional[int] = None
    parent_id: Optional[int] = None
    sampled: Optional[bool] = None
    lineage: Optional[str] = None
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            continue  # empty or `=`-less part
        # Any whitespace, as the contrib propagator strips it: values are validated after.
        key = key.strip().lower()
        value = value.strip()
        if key == "root":
            trace_id = _parse_root(value)
        elif key == "parent":
            parent_id = _parse_span_id(value)
        elif key == "sampled":
            if value not in _SAMPLED:
                raise _Bad(f"Sampled must be 0, 1 or ?, got {value[:20]!r}")
            sampled = _SAMPLED[value]
        elif key == "lineage":
            lineage = value if _valid_lineage(value) else None
    if trace_id is None:
        if parent_id is not None:
            raise _Bad("Parent without Root")
        return None
    return TraceHeader(trace_id, parent_id, sampled, lineage)


def _parse_root(value: str) -> int:
    match = _ROOT.match(value)
    if match is None:
        raise _Bad(f"Root is not '1-' + 8 hex + '-' + 24 hex: {value[:40]!r}")
    trace_id = int(match.group(1) + match.group(2), 16)
    if trace_id == 0:
        raise _Bad("Root is all zeros")
    return trace_id


def _parse_span_id(value: str) -> int:
    if _SPAN_ID.match(value) is None:
        raise _Bad(f"Parent is not 16 hex digits: {value[:20]!r}")
    span_id = int(value, 16)
    if span_id == 0:
        raise _Bad("Parent is all zeros")
    return span_id


def _valid_lineage(value: str) -> bool:
    return (
        len(value) <= MAX_LINEAGE_CHARS
        and _LINEAGE.match(value) is not None
        and not _LINEAGE_FORBIDDEN.intersection(value)
    )


def format_trace_header(
    trace_id: int,
    parent_id: int,
    sampled: Optional[bool],
    lineage: Optional[str] = None,
) -> str:
    """``Root=…;Parent=…;Sampled=1|0|?`` (``?`` for ``sampled=None``) and ``;Lineage=…``.

    Raises ``ValueError`` for ids outside their ranges or a ``Lineage`` that could break the
    header (separators, controls, non-ASCII, over :data:`MAX_LINEAGE_CHARS`).
    """
    if not 0 < trace_id < 1 << 128:
        raise ValueError(f"trace id must be a non-zero 128-bit integer, got {trace_id!r}")
    if not 0 < parent_id < 1 << 64:
        raise ValueError(f"parent id must be a non-zero 64-bit integer, got {parent_id!r}")
    hex32 = f"{trace_id:032x}"
    flag = "?" if sampled is None else "1" if sampled else "0"
    header = f"Root=1-{hex32[:8]}-{hex32[8:]};Parent={parent_id:016x};Sampled={flag}"
    if lineage is not None:
        if not _valid_lineage(lineage):
            raise ValueError(f"Lineage {lineage[:40]!r} is not a safe header value")
        header += f";Lineage={lineage}"
    return header


def sampling_undecided(context: Optional[Context] = None) -> bool:
    """Whether the parent span in ``context`` came from a header without a sampling decision.

    True only for the remote span context that :class:`XRayPropagator` extracted from
    ``Sampled=?`` or a header without ``Sampled``; the sampler then decides as for a new trace.
    """
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid or not span_context.is_remote:
        return False
    return context_api.get_value(_UNDECIDED_KEY, context) == (
        span_context.trace_id,
        span_context.span_id,
    )


def root_only_decision(context: Optional[Context] = None) -> Optional[TraceHeader]:
    """The header of a ``Root`` without ``Parent`` extracted into ``context``, if any."""
    value = context_api.get_value(_ROOT_ONLY_KEY, context)
    return value if isinstance(value, TraceHeader) else None


def continued_trace_id(context: Optional[Context] = None) -> Optional[int]:
    """The trace id a new root span should take: a ``Root`` that came without ``Parent``.

    Called by the id generator with the current context: when the request's context holds
    no valid span but a load balancer's ``Root``, the request continues that trace as a new
    segment instead of starting another.
    """
    if trace.get_current_span(context).get_span_context().is_valid:
        return None
    header = root_only_decision(context)
    return header.trace_id if header is not None else None


def _lineage(context: Optional[Context], trace_id: int) -> Optional[str]:
    value = context_api.get_value(_LINEAGE_KEY, context)
    if isinstance(value, tuple) and len(value) == 2 and value[0] == trace_id:
        return str(value[1])
    return None


class XRayPropagator(TextMapPropagator):
    """Extract and inject the ``X-Amzn-Trace-Id`` header.

    Use it beside W3C trace context: ``OTEL_PROPAGATORS=tracecontext,baggage,otel_xray``,
    or ``set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(),
    W3CBaggagePropagator(), XRayPropagator()]))``. :func:`otel_xray.configure` does this.

    Install :class:`~otel_xray.sampling.XRayParentBased` as the sampler too, or requests
    arriving with ``Sampled=?`` (or without ``Sampled``) are treated as not sampled.
    """

    def extract(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        """The context with the header's remote parent; ``context`` unchanged if none."""
        if context is None:
            context = Context()
        return _extract_header(_read_header(carrier, getter), context)

    def inject(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        """Write ``Root=…;Parent=<current span id>;Sampled=0|1`` (+ ``Lineage``).

        Nothing is written for a context without a valid span. ``Sampled=?`` is written back
        only when the current span is the undecided remote parent itself (a pass-through).
        """
        try:
            header = _header_for(context)
        except Exception:  # telemetry must not break the request being sent
            _counters.add("inject_failed")
            _log.warning("inject", "could not build the %s header", TRACE_HEADER, exc_info=True)
            return
        if header is not None:
            setter.set(carrier, TRACE_HEADER, header)

    @property
    def fields(self) -> Set[str]:
        return {TRACE_HEADER}

    @staticmethod
    def stats() -> Dict[str, int]:
        """Counters of every X-Ray propagator in the process: malformed, truncated headers…"""
        return _counters.snapshot()


class XRayLambdaPropagator(XRayPropagator):
    """:class:`XRayPropagator` for AWS Lambda: the invocation's ``_X_AMZN_TRACE_ID`` wins.

    With active tracing, Lambda records the invocation's segment itself and hands its id
    to the function in the environment variable; the function's spans must nest under it,
    whatever the event carried (as the X-Ray SDK's Lambda facade, OpenTelemetry's Lambda
    conventions and the contrib ``xray-lambda`` propagator do). A parent of *another*
    trace that the carrier (the event's headers) or an earlier propagator (``tracecontext``)
    found is kept in the context: :func:`link_displaced_parent` (called by
    :class:`~otel_xray.XRaySpanProcessor` on Lambda) adds it to the handler's span as a
    span link. Without the variable (or with a malformed one) this is the plain
    :class:`XRayPropagator`. The variable is read on every call: it changes per invocation.
    """

    def extract(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        extracted = super().extract(carrier, context, getter)
        env_header = os.environ.get(LAMBDA_TRACE_ENV)
        if not env_header:
            return extracted
        base = Context() if context is None else context
        from_env = _extract_header(env_header, base)
        env_parent = trace.get_current_span(from_env).get_span_context()
        if not env_parent.is_valid:
            return extracted
        found = trace.get_current_span(extracted).get_span_context()
        if found.is_valid and found.trace_id != env_parent.trace_id:
            _counters.add("lambda_event_parent_linked")
            return context_api.set_value(
                _DISPLACED_KEY, ((env_parent.trace_id, env_parent.span_id), found), from_env
            )
        return from_env


def link_displaced_parent(span: Any, parent_context: Optional[Context] = None) -> None:
    """Link a Lambda handler's span to the event's parent that
    :class:`XRayLambdaPropagator` set aside for Lambda's own.

    ``span`` is a span just started with ``parent_context`` (the current context when
    ``None``); only the span whose parent is Lambda's segment gets the link. Never raises.
    """
    try:
        context = parent_context if parent_context is not None else context_api.get_current()
        displaced: Any = context_api.get_value(_DISPLACED_KEY, context)
        if displaced is None:
            return
        parent = span.parent
        if parent is None or not parent.is_remote:
            return
        if (parent.trace_id, parent.span_id) == displaced[0]:
            span.add_link(displaced[1])
    except Exception:  # telemetry must not break the handler
        _counters.add("link_failed")


def _read_header(carrier: Any, getter: Getter[Any]) -> Optional[str]:
    """The header's single value, found case-insensitively; ``None`` if absent or repeated."""
    try:
        values: Any = getter.get(carrier, TRACE_HEADER)
        if values is None:
            values = _get_case_insensitive(carrier, getter)
    except Exception:  # a carrier or getter we do not know: no context, no exception
        _counters.add("carrier_unreadable")
        _log.log(
            logging.DEBUG, "carrier", "could not read %s from the carrier", TRACE_HEADER,
            exc_info=True,
        )
        return None
    if not values:
        return None
    if isinstance(values, str):  # a getter that does not wrap single values in a list
        return values
    if not isinstance(values, (list, tuple)) or len(values) != 1:
        _counters.add("header_repeated")
        _log.debug("repeated", "ignoring a %s header that is not exactly one value", TRACE_HEADER)
        return None
    value = values[0]
    return value if isinstance(value, str) and value else None


def _get_case_insensitive(carrier: Any, getter: Getter[Any]) -> Optional[Any]:
    keys = getter.keys(carrier)
    for index, key in enumerate(keys):
        if index >= _MAX_CARRIER_KEYS:
            break
        if isinstance(key, str) and key.lower() == _HEADER_NAME:
            return getter.get(carrier, key)
    return None


def _extract_header(header: Optional[str], context: Context) -> Context:
    parsed = parse_trace_header(header) if header else None
    if parsed is None:
        return context
    if parsed.parent_id is None:
        # Root only (a load balancer): no parent span, the trace id waits for the id generator.
        return context_api.set_value(_ROOT_ONLY_KEY, parsed, context)
    flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if parsed.sampled else 0)
    # Keep a trace state an earlier propagator (W3C tracecontext) found.
    trace_state = trace.get_current_span(context).get_span_context().trace_state
    span_context = trace.SpanContext(
        parsed.trace_id, parsed.parent_id, is_remote=True, trace_flags=flags,
        trace_state=trace_state,
    )
    undecided = (parsed.trace_id, parsed.parent_id) if parsed.sampled is None else None
    context = context_api.set_value(_UNDECIDED_KEY, undecided, context)
    context = context_api.set_value(
        _LINEAGE_KEY, (parsed.trace_id, parsed.lineage) if parsed.lineage else None, context
    )
    context = context_api.set_value(_ROOT_ONLY_KEY, None, context)
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), context)


def _header_for(context: Optional[Context]) -> Optional[str]:
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    sampled: Optional[bool] = span_context.trace_flags.sampled
    if sampling_undecided(context):
        sampled = None
    return format_trace_header(
        span_context.trace_id, span_context.span_id, sampled,
        _lineage(context, span_context.trace_id),
    )


class XRayResponsePropagator:
    """Adds ``X-Amzn-Trace-Id: Root=<trace id>`` to HTTP responses, as the X-Ray SDKs'
    middleware does: clients and load balancer logs find the trace by it.

    An OpenTelemetry *response* propagator (the interface of
    ``opentelemetry.instrumentation.propagators.ResponsePropagator``): install it with
    ``set_global_response_propagator(XRayResponsePropagator())``; :func:`otel_xray.configure`
    and the distro do. The WSGI, Flask, Django, ASGI and FastAPI instrumentations call it.
    """

    def inject(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        """Write ``Root=…`` of the current span's trace; nothing without a valid span."""
        try:
            span_context = trace.get_current_span(context).get_span_context()
            if not span_context.is_valid:
                return
            hex32 = f"{span_context.trace_id:032x}"
            setter.set(carrier, TRACE_HEADER, f"Root=1-{hex32[:8]}-{hex32[8:]}")
        except Exception:  # a response must never fail over its trace header
            _counters.add("inject_failed")
            _log.warning("response", "could not add %s to a response", TRACE_HEADER,
                         exc_info=True)
