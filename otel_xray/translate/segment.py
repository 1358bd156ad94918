"""Build the X-Ray document of one span: the skeleton, and the order the concerns run in.

Each concern (names, http, aws, sql, errors, attributes, resource) lives in its own module
and contributes fields; this module decides *what kind* of document a span becomes and
assembles it. :func:`translate_span` returns the document body without the fields that
only a standalone document carries (``trace_id``, ``type``, ``parent_id``), so that the
packer can nest bodies as subsegments without re-translating.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.semconv._incubating.attributes.db_attributes import DB_SYSTEM
from opentelemetry.semconv._incubating.attributes.http_attributes import HTTP_STATUS_CODE
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from ..config import TranslateOptions
from ..ids import to_xray_trace_id
from . import attributes, aws, errors, http, limits, names, resource, sql, values
from ._cache import BoundedCache

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
#: The keys left out of metadata, by ``2 * is_aws_call + has_sql_block``.
_EXCLUDES_NO_HTTP = (_MAPPED_KEYS, _SQL_MAPPED_KEYS, _AWS_CALL_MAPPED_KEYS, _AWS_SQL_MAPPED_KEYS)
# The same for a span with an http request: http.BLOCK_KEYS (its sources) leave metadata too.
_EXCLUDES = (*_EXCLUDES_NO_HTTP, *(keys | http.BLOCK_KEYS for keys in _EXCLUDES_NO_HTTP))
# Without one of these keys a span has no sql block, or no HTTP status.
_DB_SYSTEM_KEYS = frozenset({sql.DB_SYSTEM_NAME, DB_SYSTEM})
_STATUS_KEYS = frozenset({HTTP_RESPONSE_STATUS_CODE, HTTP_STATUS_CODE})


class Translated(NamedTuple):
    """One span's document, ready to stand alone or to be nested by the packer."""

    body: Document
    """Document fields without ``trace_id``/``type``/``parent_id``; nestable as-is.

    Read-only below its top level: the values (``http``, ``metadata``, ``aws``…) may be
    shared with other spans' bodies (spans that repeat one another, segments of one
    resource). Whoever changes a document changes a copy (packing trims decoded copies).
    """
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


def is_document_root(
    parent: Optional[SpanContext], kind: SpanKind, lambda_mode: Optional[bool]
) -> bool:
    """A span with no ``parent``, a remote parent, or kind SERVER/CONSUMER starts a document.

    In ``lambda_mode`` only the first two count: the function's SERVER/CONSUMER spans nest
    under the handler's subsegment, since Lambda itself records the invocation's segment.
    """
    if parent is None:
        return True
    if type(parent) is SpanContext:  # a tuple: indexing skips the property call
        if parent[2]:
            return True
    elif parent.is_remote:
        return True
    # Identity, not ``kind in (...)``: hashing an Enum member is a Python-level call.
    return not lambda_mode and (kind is _SERVER or kind is _CONSUMER)


def translate_span(span: ReadableSpan, options: TranslateOptions) -> Translated:
    """Translate one finished span. Raises only on a span without a valid context."""
    # Translation runs for every span in the export path: it reads each part of the span
    # once, and decides from the attribute keys (once per key set, see _Shape) which
    # concerns apply, skipping the others.
    events: Sequence[Any]
    links: Sequence[Any]
    start_time: Any
    end_time: Any
    if reads_fields(type(span)):
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
    lambda_mode = options.lambda_mode
    is_root = is_document_root(parent, kind, lambda_mode)
    as_segment = is_root and not (lambda_mode and parent is not None)
    # printf-style: the fastest way to format an int as hex (f-strings take twice as long).
    span_hex = "%016x" % span_id  # noqa: UP031
    keys = tuple(attrs)
    shape = _shapes.get(keys)
    if shape is None:
        shape = _shapes.put(keys, _Shape(keys))

    if type(status) is Status:  # the SDK's own: its field, without the property call
        failed = status._status_code is _ERROR
    else:
        failed = status is not None and status.status_code is _ERROR
    timed = (
        type(start_time) is int is type(end_time) and 0 <= start_time <= end_time <= _MAX_TIME_NS
    )
    memo_key = None
    if timed and not (failed or events or links or dropped_events or dropped_links):
        memo_key = _memo_key(shape, attrs, span_name, kind, is_root, as_segment,
                             span_resource, options)
    memo = _memos.get(memo_key) if memo_key is not None else None
    if memo is not None and memo[0] is span_resource and memo[1] is options:
        shape.memo_hits += 1
        body: Document = {
            "name": memo[2], "id": span_hex,
            "start_time": start_time / 1e9, "end_time": end_time / 1e9, **memo[3],
        }
    else:
        body = _body(
            span_hex, span_name, kind, start_time, end_time, timed, status, failed,
            span_resource, attrs, keys, shape, events, dropped_events, links, dropped_links,
            options, is_root, as_segment,
        )
        if memo_key is not None:
            _remember(shape, memo_key, body, span_resource, options)

    if parent is None:
        parent_id = None
    elif type(parent) is SpanContext:
        parent_id = "%016x" % parent[1]  # noqa: UP031
    else:
        parent_id = "%016x" % parent.span_id  # noqa: UP031
    xray_trace_id = _trace_ids.get(trace_id) or _trace_ids.put(
        trace_id, to_xray_trace_id(trace_id)
    )
    return _new_translated(
        Translated, (body, xray_trace_id, span_hex, parent_id, is_root, as_segment)
    )


def _body(
    span_hex: str, span_name: str, kind: SpanKind, start_time: Any, end_time: Any,
    timed: bool, status: Optional[Status], failed: bool, span_resource: Optional[Resource],
    attrs: Dict[str, Any], keys: Tuple[str, ...], shape: _Shape, events: Sequence[Any],
    dropped_events: int, links: Sequence[Any], dropped_links: int,
    options: TranslateOptions, is_root: bool, as_segment: bool,
) -> Document:
    """The document body of a span, from its parts as :func:`translate_span` read them."""
    outgoing = kind is _CLIENT or kind is _PRODUCER
    operation = None
    if is_root:
        if as_segment and names.is_operation_root(kind, attrs):
            operation = names.operation_name(span_name)
        if operation is not None and options.internal_root_name == "span":
            name = operation
            operation = None
        else:
            name = names.root_name(span_name, kind, attrs, _resource_names(span_resource))
    else:
        # Keyed by the kind's id: hashing an Enum member is a Python-level call.
        steps = shape.name_steps.get(id(kind))
        if steps is None:
            steps = names.call_name_steps(kind, shape.key_set)
            if type(kind) is SpanKind:  # its five members live forever: their ids stay theirs
                shape.name_steps[id(kind)] = steps
        service = (
            _resource_names(span_resource)[0]
            if kind is _SERVER and span_resource is not None else ""
        )
        name = names.call_name(span_name, kind, attrs, service, steps)
    body: Document = {"name": name, "id": span_hex}
    if timed:
        body["start_time"] = start_time / 1e9
        body["end_time"] = end_time / 1e9
        clamped = None
    else:  # also a span still running (no end time)
        clamped = _clamp_times(body, start_time, end_time)

    is_aws = shape.maybe_aws and aws.is_aws_call(attrs)
    if not as_segment:
        if is_aws:
            body["namespace"] = "aws"
        elif outgoing:
            body["namespace"] = "remote"

    code = http.status_code(attrs) if shape.has_status else None
    has_request = False
    if shape.has_http:
        http_block = http.build_http_block(attrs, outgoing, as_segment, code)
        if http_block:
            body["http"] = http_block
            has_request = "request" in http_block
    if code is not None or failed:
        body.update(errors.error_flags(code, status))
    if events or failed:
        cause = errors.cause_of(events, status, remote=outgoing, options=options)
        if cause:
            body["cause"] = cause

    res_metadata = None
    if as_segment:
        # Shared by every segment of the resource: merged, never changed.
        res_fields = resource.segment_fields(span_resource, options)
        aws_block: Dict[str, Any] = res_fields.get("aws") or {}
        for field, value in res_fields.items():
            if field == "metadata":
                res_metadata = value
            elif field != "aws":
                body[field] = value
        if is_aws:
            aws_block = {**aws_block, **aws.aws_block(attrs)}
        rule = attrs.get(attributes.SAMPLING_RULE_KEY)
        if type(rule) is str and rule:
            aws_block = {
                **aws_block, "xray": {**aws_block.get("xray", {}), "sampling_rule_name": rule}
            }
        if aws_block:
            body["aws"] = aws_block
    elif is_aws:
        aws_block = aws.aws_block(attrs)  # a new dict: the body keeps it
        if aws_block:
            body["aws"] = aws_block
    sql_block = _sql_block(keys, attrs) if shape.maybe_sql else None
    if sql_block:
        body["sql"] = sql_block
    variant = (2 if is_aws else 0) + (1 if sql_block else 0)
    if has_request:
        variant += 4  # the keys the http request is built from leave metadata too
    plan = shape.key_plans[variant]
    if plan is None:
        plan = shape.key_plans[variant] = attributes.key_plan(keys, _EXCLUDES[variant])
    attributes.apply(
        body, attrs, events, dropped_events, links, dropped_links, options, as_segment, plan
    )
    if operation is not None:
        annotations = body.setdefault("annotations", {})
        if len(annotations) < limits.MAX_ANNOTATIONS:
            annotations.setdefault(names.OPERATION_ANNOTATION, operation)
    if res_metadata:
        metadata = body.setdefault("metadata", {})
        for namespace, values in res_metadata.items():
            metadata.setdefault(namespace, {}).update(values)
    if clamped:
        body.setdefault("metadata", {}).setdefault(limits.DEFAULT_NAMESPACE, {}).update(
            clamped
        )

    return body


class _Shape:
    """What translation decides from a span's attribute keys alone (not their values).

    Spans of one instrumentation carry the same keys in the same order, so this is worked
    out once per key tuple and remembered in :data:`_shapes`.
    """

    __slots__ = (
        "has_http", "has_status", "key_plans", "key_set", "maybe_aws", "maybe_sql",
        "memo_hits", "memo_misses", "memo_skip", "name_steps",
    )

    def __init__(self, keys: Tuple[str, ...]) -> None:
        self.key_set = frozenset(keys)
        self.has_http = http.has_http(keys)
        """The span may get an ``http`` block."""
        self.has_status = not _STATUS_KEYS.isdisjoint(keys)
        """An HTTP status key is present (else there is no status to read)."""
        self.maybe_aws = not aws.AWS_CALL_MARKERS.isdisjoint(keys)
        """A key :func:`aws.is_aws_call` reads is present (else it is false)."""
        self.maybe_sql = not _DB_SYSTEM_KEYS.isdisjoint(keys)
        """A ``db.system`` key is present (else there is no ``sql`` block)."""
        self.key_plans: List[Optional[attributes.KeyPlan]] = [None] * len(_EXCLUDES)
        """:func:`attributes.key_plan` per :data:`_EXCLUDES` entry, made when first used."""
        self.name_steps: Dict[int, Tuple[names.NameStep, ...]] = {}
        """:func:`names.call_name_steps` by ``id`` of the :class:`SpanKind` member."""
        self.memo_hits = self.memo_misses = 0
        """Lookups in :data:`_memos` since the last look at the hit rate (see _remember)."""
        self.memo_skip = 0
        """Spans of this shape still to translate without a lookup (too few repeated)."""



# --- spans that repeat ----------------------------------------------------------------
#
# Most spans of a service repeat an earlier one in everything but their ids and times: the
# same query, the same downstream call, the same internal step. Such a span gets the
# remembered fields of the first one instead of being translated again. The key holds
# everything the fields are made of -- the attribute keys (via the shape) and values with
# their types, the name, the kind, where the span stands (root, segment), the resource and
# the options -- and only spans whose fields depend on nothing else qualify: no events or
# links, no error status (a cause carries fresh exception ids), times in range.

#: Remembered fields: key -> (resource, options, name, the fields after the times).
_memos: BoundedCache[Tuple[Any, ...], Tuple[Any, Any, str, Document]] = BoundedCache(1024)
#: Text (code points, all values together) beyond which a span is not remembered: the
#: entry keeps its values alive.
_MEMO_MAX_TEXT = 2048
#: Every this many misses of one shape, its hit rate is looked at: below one hit in four,
#: its spans skip the lookup for the next _MEMO_PAUSE spans (their values rarely repeat:
#: request paths, ids), then try again.
_MEMO_WINDOW = 32
_MEMO_PAUSE = 2048


def _memo_key(
    shape: _Shape, attrs: Dict[str, Any], span_name: str, kind: SpanKind, is_root: bool,
    as_segment: bool, span_resource: Optional[Resource], options: TranslateOptions,
) -> Optional[Tuple[Any, ...]]:
    """The :data:`_memos` key of a span that qualifies, or ``None``."""
    if shape.memo_skip:
        shape.memo_skip -= 1
        return None
    if type(kind) is not SpanKind or type(span_name) is not str:
        return None
    values = tuple(attrs.values())
    types = _comparable_types(values)
    if types is None:
        return None
    # The shape, resource and options by identity (the entry holds the resource and the
    # options, so their ids stay theirs); a SpanKind member's id is its own for good.
    return (
        shape, values, types, span_name, id(kind), is_root, as_segment,
        id(span_resource), id(options),
    )


def _remember(
    shape: _Shape, key: Tuple[Any, ...], body: Document, span_resource: Optional[Resource],
    options: TranslateOptions,
) -> None:
    """Keep the fields of ``body`` after its times for the spans that repeat it."""
    shape.memo_misses += 1
    if shape.memo_misses >= _MEMO_WINDOW:
        if shape.memo_hits * 3 < shape.memo_misses:
            shape.memo_skip = _MEMO_PAUSE
        shape.memo_hits = shape.memo_misses = 0
    text = 0
    for value in key[1]:
        if type(value) is str:
            text += len(value)
        elif type(value) is tuple:
            text += sum(map(len, value))
    if text > _MEMO_MAX_TEXT:
        return
    # The body starts with name, id, start_time, end_time (a timed span): the rest is shared.
    # Nothing changes a body's values after translation (packing trims copies), so the
    # spans that repeat this one may share them.
    _memos.put(key, (span_resource, options, body["name"], dict(_after_times(body))))


def _after_times(body: Document) -> Any:
    return itertools.islice(body.items(), 4, None)


# --- times --------------------------------------------------------------------------------

#: Latest time sent, in nanoseconds since the epoch: 2**53 microseconds (the year 2255), so
#: that every time sent keeps microsecond precision in a JSON reader's double.
_MAX_TIME_NS = 2**53 * 1000
#: Keys in ``metadata.default`` that keep a span's own times when they had to be clamped.
ORIGINAL_START_KEY = "otel.original_start_time_unix_nano"
ORIGINAL_END_KEY = "otel.original_end_time_unix_nano"


def _clamp_times(body: Document, start_time: Any, end_time: Any) -> Dict[str, Any]:
    """Put times X-Ray accepts into ``body`` for times that are not (negative, absurdly far
    in the future, not integers, end before start); returns the originals it replaced.

    A time is clamped to 0..2**53 µs; an end before the start is moved to the start. A
    missing start stays 0 (as always) without being reported.
    """
    originals: Dict[str, Any] = {}
    start = _clamp_time(start_time)
    if start != start_time and start_time is not None:
        originals[ORIGINAL_START_KEY] = values.to_json_value(start_time)
    body["start_time"] = start / 1e9
    if end_time is None:
        body["in_progress"] = True
    else:
        end = max(_clamp_time(end_time), start)
        if end != end_time:
            originals[ORIGINAL_END_KEY] = values.to_json_value(end_time)
        body["end_time"] = end / 1e9
    return originals


def _clamp_time(nanoseconds: Any) -> Union[int, float]:
    """``nanoseconds`` within 0.._MAX_TIME_NS (0 for what is not a number)."""
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, (int, float)):
        return 0
    if nanoseconds != nanoseconds:  # NaN
        return 0
    if nanoseconds >= _MAX_TIME_NS:
        return _MAX_TIME_NS
    return nanoseconds if nanoseconds > 0 else 0


_new_translated = tuple.__new__

# --- reading spans fast -----------------------------------------------------------------

_SPAN_PROPERTIES = (
    "context", "parent", "kind", "name", "start_time", "end_time", "status", "resource",
    "attributes", "events", "links", "dropped_events", "dropped_links",
)
#: Span class -> whether its spans may be read from the SDK's private fields.
_span_classes: BoundedCache[type, bool] = BoundedCache(64)


def reads_fields(cls: type) -> bool:
    """Whether spans of ``cls`` may be read from the SDK's fields (``_context``,
    ``_parent``, ``_kind``, ``_attributes``…) instead of its properties: they show them
    through the SDK's own properties (ReadableSpan, the SDK's Span, subclasses that
    override none of them). Worked out once per class."""
    known = _span_classes.get(cls)
    if known is None:
        known = _span_classes.put(cls, issubclass(cls, ReadableSpan) and all(
            getattr(cls, name, None) is getattr(ReadableSpan, name)
            for name in _SPAN_PROPERTIES
        ))
    return known


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


# Per-key-set, per-resource and per-trace values, computed once: a process has few
# instrumentations and resources, and the spans of one trace usually arrive together.
_shapes: BoundedCache[Tuple[str, ...], _Shape] = BoundedCache(512)
_resource_names_cache: BoundedCache[int, Tuple[Resource, Tuple[str, str, str]]] = BoundedCache(32)
_trace_ids: BoundedCache[int, str] = BoundedCache(1024)
# Small: each entry holds a span's attribute values (statements may be long).
_sql_blocks: BoundedCache[
    Tuple[Tuple[str, ...], Tuple[Any, ...], Tuple[type, ...]], Dict[str, Any]
] = BoundedCache(128)
_NO_NAMES = ("", "", "")


def _resource_names(span_resource: Optional[Resource]) -> Tuple[str, str, str]:
    if span_resource is None:
        return _NO_NAMES
    entry = _resource_names_cache.get(id(span_resource))
    # The entry holds the resource, so its id cannot be reused while cached.
    if entry is not None and entry[0] is span_resource:
        return entry[1]
    found = names.resource_names(span_resource)
    _resource_names_cache.put(id(span_resource), (span_resource, found))
    return found


def _sql_block(keys: Tuple[str, ...], attrs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """:func:`sql.sql_block`, remembered per attribute values.

    The spans of one query repeat every attribute (parameterised statement, database,
    server), so the block is looked up by all of them: whatever :func:`sql.sql_block`
    reads, equal keys and equal values of the same type give an equal block (only values
    :func:`_comparable_types` accepts). Shared, like every value of a body.
    """
    values = tuple(attrs.values())
    types = _comparable_types(values)
    if types is None:
        return sql.sql_block(attrs)
    key = (keys, values, types)
    block = _sql_blocks.get(key)
    if block is None:
        block = _sql_blocks.put(key, sql.sql_block(attrs) or {})
    return block or None  # {}: not a SQL system


#: Value types whose equal values translate alike (floats and tuples with exceptions, see
#: _comparable_types).
_COMPARABLE_TYPES = frozenset({str, int, bool, float, tuple})
_TEXT = frozenset({str})


def _comparable_types(values: Tuple[Any, ...]) -> Optional[Tuple[type, ...]]:
    """The types of ``values`` when equal values of these types always translate alike, so
    that the values and their types can key a remembered result; else ``None``.

    Equal values of different types translate apart (``True == 1``), hence the types. Not
    comparable: floats where any value is zero (``0.0 == -0.0 == 0``), sequences other than
    tuples of text (``(1,) == (True,)``), and every other type.
    """
    types = tuple(map(type, values))
    if not _COMPARABLE_TYPES.issuperset(types):
        return None
    if float in types and 0 in values:
        return None
    if tuple in types and not all(
        _TEXT.issuperset(map(type, value)) for value in values if type(value) is tuple
    ):
        return None
    return types


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
