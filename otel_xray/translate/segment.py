"""Build the X-Ray document of one span: the skeleton, and the order the concerns run in.

Each concern (names, http, aws, sql, errors, attributes, resource) lives in its own module
and contributes fields; this module decides *what kind* of document a span becomes and
assembles it. :func:`translate_span` returns the document body without the fields that
only a standalone document carries (``trace_id``, ``type``, ``parent_id``), so that the
packer can nest bodies as subsegments without re-translating.
"""

from __future__ import annotations

import collections
from typing import Any, Dict, NamedTuple, Optional, Sequence, Set, Tuple

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.semconv._incubating.attributes.db_attributes import DB_SYSTEM
from opentelemetry.semconv._incubating.attributes.http_attributes import HTTP_STATUS_CODE
from opentelemetry.semconv._incubating.attributes.rpc_attributes import RPC_SYSTEM
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from ..config import TranslateOptions
from ..ids import to_xray_trace_id
from . import attributes, aws, errors, http, names, resource, sql

Document = Dict[str, Any]

_SERVER, _CONSUMER = SpanKind.SERVER, SpanKind.CONSUMER
_CLIENT, _PRODUCER = SpanKind.CLIENT, SpanKind.PRODUCER
_ERROR = StatusCode.ERROR
_MAPPED_KEYS = frozenset().union(
    names.MAPPED_KEYS, http.MAPPED_KEYS, aws.MAPPED_KEYS, sql.MAPPED_KEYS, errors.MAPPED_KEYS,
    attributes.MAPPED_KEYS,
)
# Generic keys (rpc.method, cloud.region, db.statement…) are carried by the aws/sql block
# only on AWS-call/SQL spans: elsewhere they stay in metadata.
_AWS_CALL_MAPPED_KEYS = _MAPPED_KEYS | aws.AWS_CALL_KEYS
_SQL_MAPPED_KEYS = _MAPPED_KEYS | sql.SQL_KEYS
_AWS_SQL_MAPPED_KEYS = _AWS_CALL_MAPPED_KEYS | sql.SQL_KEYS
# Without one of these keys a span has no sql block, or no HTTP status.
_DB_SYSTEM_KEYS = frozenset({sql.DB_SYSTEM_NAME, DB_SYSTEM})
_STATUS_KEYS = frozenset({HTTP_RESPONSE_STATUS_CODE, HTTP_STATUS_CODE})


class Translated(NamedTuple):
    """One span's document, ready to stand alone or to be nested by the packer."""

    body: Document
    """Document fields without ``trace_id``/``type``/``parent_id``; nestable as-is."""
    trace_id: str
    """X-Ray trace id (``1-xxxxxxxx-…``)."""
    span_id: str
    """16-hex span id, the same as ``body["id"]``."""
    parent_id: Optional[str]
    """16-hex parent span id, ``None`` for a span without a parent."""
    is_root: bool
    """A document root: packing nests its local descendants inside it."""
    as_segment: bool
    """Sent standalone, the root is a segment (False: a subsegment, e.g. on Lambda)."""


def is_document_root(span: ReadableSpan, options: TranslateOptions) -> bool:
    """A span with no parent, a remote parent, or kind SERVER/CONSUMER starts a document.

    On Lambda only the first two count: the function's SERVER/CONSUMER spans nest under
    the handler's subsegment, since Lambda itself records the invocation's segment.
    """
    parent = span.parent
    if parent is None or parent.is_remote:
        return True
    kind = span.kind
    return not options.lambda_mode and (kind is _SERVER or kind is _CONSUMER)


def translate_span(span: ReadableSpan, options: TranslateOptions) -> Translated:
    """Translate one finished span. Raises only on a span without a valid context."""
    # Translation runs for every span in the export path: it reads each part of the span
    # once, decides from the attribute keys which concerns apply, and skips the others.
    events: Sequence[Any]
    links: Sequence[Any]
    cls = type(span)
    if cls in _FIELD_CLASSES or _reads_fields(cls):
        # The SDK's own properties over these fields copy (events, links) or wrap
        # (attributes) on every access; read the fields once instead.
        context = span._context
        parent = span._parent
        kind = span._kind
        span_name = span._name
        start_time = span._start_time
        end_time = span._end_time
        status = span._status
        span_resource = span._resource
        raw: Any = span._attributes
        if type(raw) is BoundedAttributes and _FAST_ATTRIBUTES:
            # An ended span's attributes can no longer change: read them in place.
            fields: Any = raw._dict
            attrs = fields if raw._immutable is True else dict(fields)
        else:
            attrs = _attributes(span)
        events, dropped_events = _sequence(span._events, span, "events")
        links, dropped_links = _sequence(span._links, span, "links")
    else:
        context = span.context
        parent = span.parent
        kind = span.kind
        span_name = span.name
        start_time = span.start_time
        end_time = span.end_time
        status = span.status
        span_resource = span.resource
        attrs = _copied_attributes(span)
        events, dropped_events = span.events, span.dropped_events
        links, dropped_links = span.links, span.dropped_links
    if context is None:
        raise ValueError("span has no context")
    if type(context) is SpanContext:  # a tuple: indexing skips the property calls
        trace_id, span_id = context[0], context[1]
    else:
        trace_id, span_id = context.trace_id, context.span_id
    if parent is None:
        parent_remote = False
    elif type(parent) is SpanContext:
        parent_remote = parent[2]
    else:
        parent_remote = parent.is_remote
    lambda_mode = options.lambda_mode
    is_root = (
        parent is None
        or parent_remote
        or (not lambda_mode and (kind is _SERVER or kind is _CONSUMER))
    )
    as_segment = is_root and not (lambda_mode and parent is not None)
    outgoing = kind is _CLIENT or kind is _PRODUCER
    # printf-style: the fastest way to format an int as hex (f-strings take twice as long).
    span_hex = "%016x" % span_id  # noqa: UP031

    operation = None
    if is_root:
        if as_segment and names.is_operation_root(kind, attrs):
            operation = names.operation_name(span_name)
        if operation is not None and options.internal_root_name == "span":
            name = operation
            operation = None
        else:
            name = names.root_name(span_name, kind, attrs, _resource_names(span_resource))
    elif kind is _SERVER and span_resource is not None:
        name = names.call_name(span_name, kind, attrs, _resource_names(span_resource)[0])
    else:
        name = names.call_name(span_name, kind, attrs, "")
    body: Document = {
        "name": name,
        "id": span_hex,
        "start_time": (start_time or 0) / 1e9,
    }
    if end_time is None:
        body["in_progress"] = True
    else:
        body["end_time"] = end_time / 1e9

    # aws.is_aws_call, inlined.
    if attrs.get(RPC_SYSTEM) == aws.AWS_API:
        is_aws = True
    else:
        service = attrs.get(aws.AWS_SERVICE)
        is_aws = isinstance(service, str) and bool(service)
    if not as_segment:
        if is_aws:
            body["namespace"] = "aws"
        elif outgoing:
            body["namespace"] = "remote"

    code = None if _STATUS_KEYS.isdisjoint(attrs) else http.status_code(attrs)
    if not http.HTTP_MARKERS.isdisjoint(attrs):  # http.has_http
        http_block = http.build_http_block(attrs, outgoing, as_segment, code)
        if http_block:
            body["http"] = http_block
    # The error flags (errors.error_flags, inlined).
    failed = status is not None and status.status_code is _ERROR
    if code is not None and 400 <= code <= 599:
        if code == 429:
            body["error"] = True
            body["throttle"] = True
        elif code <= 499:
            body["error"] = True
        else:
            body["fault"] = True
    elif failed:
        body["fault"] = True
    if events or failed:
        cause = errors.cause_of(events, status, remote=outgoing, options=options)
        if cause:
            body["cause"] = cause

    res_metadata = None
    if as_segment:
        res_fields = resource.segment_fields(span_resource, options)
        aws_block: Dict[str, Any] = res_fields.pop("aws", None) or {}
        res_metadata = res_fields.pop("metadata", None)
        body.update(res_fields)
    else:
        aws_block = {}
    if is_aws:
        aws_block.update(aws.aws_block(attrs))
    if aws_block:
        body["aws"] = aws_block
    sql_block = sql.sql_block(attrs) if not _DB_SYSTEM_KEYS.isdisjoint(attrs) else None
    if sql_block:
        body["sql"] = sql_block
        exclude = _AWS_SQL_MAPPED_KEYS if is_aws else _SQL_MAPPED_KEYS
    else:
        exclude = _AWS_CALL_MAPPED_KEYS if is_aws else _MAPPED_KEYS
    if "request" in body.get("http", ()):
        exclude = http.with_block_keys(exclude)
    attributes.apply_parts(
        body, attrs, events, dropped_events, links, dropped_links, options, exclude, as_segment
    )
    if operation is not None:
        annotations = body.setdefault("annotations", {})
        if len(annotations) < attributes.MAX_ANNOTATIONS:
            annotations.setdefault(names.OPERATION_ANNOTATION, operation)
    if res_metadata:
        metadata = body.setdefault("metadata", {})
        for namespace, values in res_metadata.items():
            metadata.setdefault(namespace, {}).update(values)

    if parent is None:
        parent_id = None
    elif type(parent) is SpanContext:
        parent_id = "%016x" % parent[1]  # noqa: UP031
    else:
        parent_id = "%016x" % parent.span_id  # noqa: UP031
    xray_trace_id = _trace_id_cache.get(trace_id) or _trace_id(trace_id)
    return _new_translated(
        Translated, (body, xray_trace_id, span_hex, parent_id, is_root, as_segment)
    )


_new_translated = tuple.__new__

# --- reading spans fast -----------------------------------------------------------------

_SPAN_PROPERTIES = (
    "context", "parent", "kind", "name", "start_time", "end_time", "status", "resource",
    "attributes", "events", "links", "dropped_events", "dropped_links",
)
#: Span classes whose parts translation reads from the SDK's private fields.
_FIELD_CLASSES: Set[type] = set()
_OTHER_CLASSES: Set[type] = set()


def _reads_fields(cls: type) -> bool:
    """Whether spans of ``cls`` show the SDK's fields through the SDK's own properties
    (ReadableSpan, the SDK's Span, subclasses that override none of them)."""
    if cls in _OTHER_CLASSES:
        return False
    plain = issubclass(cls, ReadableSpan) and all(
        getattr(cls, name, None) is getattr(ReadableSpan, name) for name in _SPAN_PROPERTIES
    )
    known = _FIELD_CLASSES if plain else _OTHER_CLASSES
    if len(known) < 64:  # bounded, should classes be made on the fly
        known.add(cls)
    return plain


def _has_fields() -> Tuple[bool, bool]:
    """Whether this SDK version keeps attributes in ``_dict`` (with an ``_immutable`` flag)
    and sequences in ``_dq`` (with a ``dropped`` count)."""
    try:
        attributes = BoundedAttributes(immutable=True)
        bounded_list: Any = BoundedList(1)
        return (
            type(attributes._dict) is dict and attributes._immutable is True,
            type(bounded_list._dq) is collections.deque and type(bounded_list.dropped) is int,
        )
    except Exception:
        return False, False


_FAST_ATTRIBUTES, _FAST_LISTS = _has_fields()


def _attributes(span: ReadableSpan) -> Dict[str, Any]:
    """``dict(span.attributes)``, without the SDK's Python-level lookups for a plain dict."""
    raw: Any = span._attributes
    if type(raw) is dict:
        return raw.copy()
    return _copied_attributes(span)


def _copied_attributes(span: ReadableSpan) -> Dict[str, Any]:
    return dict(span.attributes) if span.attributes else {}


def _sequence(raw: Any, span: ReadableSpan, name: str) -> Tuple[Sequence[Any], int]:
    """``(span.events, span.dropped_events)`` (or links), from the span's own field ``raw``
    where its type is known, without the copy the SDK's properties make."""
    if type(raw) is BoundedList and _FAST_LISTS:
        deque: Any = raw._dq  # type: ignore[attr-defined]
        return (tuple(deque) if deque else ()), raw.dropped
    if type(raw) is tuple:
        return raw, 0
    return getattr(span, name), getattr(span, "dropped_" + name)


# Per-resource and per-trace values, computed once: a process has few resources, and the
# spans of one trace usually arrive together. Plain dicts: a lookup is atomic.
_CACHE_SIZE = 1024
_resource_name_cache: Dict[int, Tuple[Resource, Tuple[str, str, str]]] = {}
_trace_id_cache: Dict[int, str] = {}


def _resource_names(span_resource: Optional[Resource]) -> Tuple[str, str, str]:
    if span_resource is None:
        return _NO_NAMES
    entry = _resource_name_cache.get(id(span_resource))
    # The entry holds the resource, so its id cannot be reused while cached.
    if entry is not None and entry[0] is span_resource:
        return entry[1]
    found = names.resource_names(span_resource)
    if len(_resource_name_cache) >= 32:
        _resource_name_cache.clear()
    _resource_name_cache[id(span_resource)] = (span_resource, found)
    return found


_NO_NAMES = ("", "", "")


def _trace_id(trace_id: int) -> str:
    text = _trace_id_cache.get(trace_id)
    if text is None:
        text = to_xray_trace_id(trace_id)
        if len(_trace_id_cache) >= _CACHE_SIZE:
            _trace_id_cache.clear()
        _trace_id_cache[trace_id] = text
    return text


def standalone(item: Translated) -> Document:
    """The document to send when ``item`` is not nested inside another document."""
    body = item.body
    doc: Document = {"name": body["name"], "id": item.span_id, "trace_id": item.trace_id}
    if item.as_segment:
        if item.parent_id is not None:
            doc["parent_id"] = item.parent_id
    else:
        doc["type"] = "subsegment"
        doc["parent_id"] = item.parent_id
    doc.update(body)
    return doc


def translate(span: ReadableSpan, options: Optional[TranslateOptions] = None) -> Document:
    """Translate one span into the X-Ray document it would be sent as on its own.

    A document root (no parent, a remote parent, or kind SERVER/CONSUMER) becomes a
    segment; any other span a standalone subsegment carrying ``type``, ``trace_id`` and
    ``parent_id``. Use :class:`~otel_xray.XRaySpanProcessor` to nest whole span trees.
    """
    return standalone(translate_span(span, options or _default_options()))


_DEFAULT: Optional[TranslateOptions] = None


def _default_options() -> TranslateOptions:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TranslateOptions.from_env()
    return _DEFAULT
