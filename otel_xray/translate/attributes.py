"""Annotations, metadata, ``user``, span events and links; making any value JSON-safe.

Every span attribute that no other concern mapped lands in ``metadata.default`` under its
own key. Some become *annotations* (indexed, searchable): the keys configured in
:class:`~otel_xray.TranslateOptions`, the keys a span lists in ``aws.xray.annotations``,
or all of them with ``index_all_attributes``. At most :data:`MAX_ANNOTATIONS` per document,
chosen in a fixed priority (configured keys in configured order, then the span's list in
its order, then index-all in sorted key order); whatever does not fit, or cannot be an
annotation, stays in metadata, so nothing is silently lost.

Everything emitted goes through :func:`to_json_value`: strict JSON, bounded sizes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import (
    AbstractSet,
    Any,
    Dict,
    FrozenSet,
    List,
    Optional,
    Set,
    Tuple,
    Union,
)

import orjson
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID
from opentelemetry.trace import Link

from ..config import TranslateOptions
from ..ids import format_span_id, to_xray_trace_id
from ._attrs import Attributes
from .limits import (
    DEFAULT_NAMESPACE,
    EVENTS_DROPPED_KEY,
    EVENTS_KEY,
    LINKS_DROPPED_KEY,
    MAX_ANNOTATIONS,
    MAX_KEY_LENGTH,
    MAX_STRING_LENGTH,
)
from .limits import INT_MAX as _INT_MAX
from .limits import INT_MIN as _INT_MIN
from .values import clean_text as _clean_text
from .values import metadata_key, to_json_value

#: Span attribute listing the keys to index as annotations for this span (a list, or one key).
ANNOTATIONS_KEY = "aws.xray.annotations"
#: ``aws.xray.metadata.<ns>`` holds JSON text that becomes ``metadata.<ns>``.
METADATA_PREFIX = "aws.xray.metadata."
#: The event name the errors concern turns into ``cause``; not repeated here.
EXCEPTION_EVENT = "exception"

MAX_ANNOTATION_KEY_LENGTH = 500
MAX_ANNOTATION_STRING_LENGTH = 1000
MAX_USER_LENGTH = 250
MAX_EVENTS = 32
MAX_LINKS = 32
#: ``aws.xray.metadata.*`` text longer than this is not parsed (kept as a cut string).
MAX_METADATA_JSON_LENGTH = 256 * 1024

#: Consumed here, never repeated in ``metadata.default``. The ``aws.xray.metadata.*``
#: family is recognised by prefix; ``enduser.id``/``user.id`` only on segments (see apply).
MAPPED_KEYS: FrozenSet[str] = frozenset({ANNOTATIONS_KEY})

#: ``user`` comes from the first of these holding a usable value.
_USER_KEYS = (ENDUSER_ID, USER_ID)
_USER_KEY_SET = frozenset(_USER_KEYS)

_KEY_INVALID = re.compile(r"[^A-Za-z0-9_]")
_KEY_INVALID_KEEP_DOTS = re.compile(r"[^A-Za-z0-9_.]")

AnnotationValue = Union[str, int, float, bool]
_NOTHING: FrozenSet[str] = frozenset()


def apply(
    body: Dict[str, Any],
    span: ReadableSpan,
    attrs: Attributes,
    options: TranslateOptions,
    *,
    exclude: FrozenSet[str],
    is_segment: bool,
) -> None:
    """Add ``annotations``, ``metadata``, ``user`` and ``links`` to ``body``.

    ``is_segment``: the span is sent as a segment (``user`` is a segment-only field; on a
    subsegment ``enduser.id``/``user.id`` stay in metadata). ``exclude`` holds the keys
    other concerns already mapped; they are not repeated in ``metadata.default``, but a
    key that is explicitly indexed is still annotated.
    """
    if type(attrs) is not dict:
        # The SDK's BoundedAttributes is a Python-level Mapping: a lookup of a missing key
        # raises and catches KeyError. One copy makes every later lookup a dict lookup.
        attrs = dict(attrs)
    apply_parts(
        body, attrs, span.events, span.dropped_events, span.links, span.dropped_links,
        options, exclude, is_segment,
    )


def apply_parts(
    body: Dict[str, Any],
    attrs: Dict[str, Any],
    events: Sequence[Event],
    dropped_events: int,
    links: Sequence[Link],
    dropped_links: int,
    options: TranslateOptions,
    exclude: FrozenSet[str],
    is_segment: bool,
) -> None:
    """:func:`apply` from the parts of a span: its attributes as a plain dict, its events
    and links and how many of each the SDK dropped."""
    if is_segment and not _USER_KEY_SET.isdisjoint(attrs):
        user_key, user = _user(attrs)
    else:
        user_key, user = None, None
    if (
        options.index_all_attributes
        or ANNOTATIONS_KEY in attrs
        or not options.indexed_set.isdisjoint(attrs)
    ):
        consumed = {ANNOTATIONS_KEY, user_key} if user_key is not None else {ANNOTATIONS_KEY}
        annotations, annotated = _annotations(attrs, options, exclude, consumed)
        skip: AbstractSet[str] = consumed.union(annotated)
    else:  # the common case: nothing to index
        annotations = {}
        # ANNOTATIONS_KEY is absent here: only the user key may need skipping.
        skip = _NOTHING if user_key is None else {user_key}

    default: Dict[str, Any] = {}
    namespaces: Dict[str, Dict[str, Any]] = {}
    kinds = _key_kinds(exclude)
    for key, value in attrs.items():
        kind = kinds.get(key)
        if kind is None:
            kind = _remember_key_kind(kinds, key, exclude)
        if kind:  # excluded, a namespace or an odd key
            if kind == _EXCLUDED or value is None or key in skip:
                continue
            if kind == _NAMESPACE:
                _add_namespace(namespaces, default, key, value)
                continue
            key = metadata_key(key)
        elif value is None or key in skip:
            continue
        # Inlined fast paths for the common values (short ASCII text, bool, int, finite
        # float): no calls.
        cls = type(value)
        if cls is str:
            if len(value) > MAX_STRING_LENGTH or not value.isascii():
                value = to_json_value(value)
        elif cls is int:
            if not _INT_MIN <= value <= _INT_MAX:
                value = to_json_value(value)
        elif cls is float:
            if value - value != 0.0:  # NaN or an infinity
                value = to_json_value(value)
        elif cls is not bool:
            value = to_json_value(value)
        default[key] = value
    if events or dropped_events:
        _add_events(default, events, dropped_events)
    links_block = _links(links, dropped_links, default) if links or dropped_links else None

    if namespaces:
        for extra in namespaces.pop(DEFAULT_NAMESPACE, {}).items():
            default.setdefault(*extra)  # a real attribute wins over the JSON blob's key
    if annotations:
        body["annotations"] = annotations
    if default:
        metadata = {DEFAULT_NAMESPACE: default}
        if namespaces:
            metadata.update((ns, values) for ns, values in namespaces.items() if values)
        body["metadata"] = metadata
    elif namespaces:
        metadata = {ns: values for ns, values in namespaces.items() if values}
        if metadata:
            body["metadata"] = metadata
    if user is not None:
        body["user"] = user
    if links_block:
        body["links"] = links_block


# How an attribute key lands in ``metadata.default``, remembered per ``exclude`` set: keys
# repeat from span to span, and classifying one takes several string operations.
_PLAIN_KEY, _ODD_KEY, _NAMESPACE, _EXCLUDED = 0, 1, 2, 3
_KEY_KINDS_SIZE = 4096
_key_kinds_by_exclude: Dict[FrozenSet[str], Dict[str, int]] = {}


def _key_kinds(exclude: FrozenSet[str]) -> Dict[str, int]:
    kinds = _key_kinds_by_exclude.get(exclude)
    if kinds is None:
        if len(_key_kinds_by_exclude) >= 64:
            _key_kinds_by_exclude.clear()
        kinds = _key_kinds_by_exclude[exclude] = {}
    return kinds


def _remember_key_kind(kinds: Dict[str, int], key: str, exclude: FrozenSet[str]) -> int:
    if key in exclude:
        kind = _EXCLUDED
    elif key.startswith(METADATA_PREFIX):
        kind = _NAMESPACE
    elif len(key) > MAX_KEY_LENGTH or not key.isascii():
        kind = _ODD_KEY
    else:
        kind = _PLAIN_KEY
    if len(kinds) >= _KEY_KINDS_SIZE:
        kinds.clear()
    if len(key) <= MAX_KEY_LENGTH:  # a huge key is not worth keeping
        kinds[key] = kind
    return kind


def annotation_key(key: str, *, dots: bool) -> str:
    """``key`` as X-Ray accepts it in annotations: ASCII letters, digits, ``_`` (and ``.``
    when ``dots``), every other character replaced by ``_``, cut to 500 code points."""
    cache = _dotted_annotation_keys if dots else _annotation_keys
    name = cache.get(key)
    if name is None:
        name = _annotation_key(key[:MAX_ANNOTATION_KEY_LENGTH], dots)
        if len(cache) >= _KEY_KINDS_SIZE:
            cache.clear()
        if len(key) <= MAX_ANNOTATION_KEY_LENGTH:
            cache[key] = name
    return name


def annotation_value(value: Any) -> Optional[AnnotationValue]:
    """``value`` as an annotation value (text cut to 1000), or ``None`` if it cannot be one.

    Only strings, booleans, integers within 64 bits and finite floats qualify.
    """
    if isinstance(value, str):
        return _clean_text(value, MAX_ANNOTATION_STRING_LENGTH, marker="")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value) if _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    return None


# --- annotations ----------------------------------------------------------------------


def _annotations(
    attrs: Attributes, options: TranslateOptions, exclude: FrozenSet[str], consumed: Set[str]
) -> Tuple[Dict[str, AnnotationValue], Set[str]]:
    """The annotations and the attribute keys they fully represent (so not in metadata).

    A string cut to 1000 code points does not fully represent its attribute: the whole
    value stays in metadata too.
    """
    annotations: Dict[str, AnnotationValue] = {}
    annotated: Set[str] = set()
    if not (
        options.indexed_attributes or options.index_all_attributes or ANNOTATIONS_KEY in attrs
    ):
        return annotations, annotated  # the common case: nothing to index
    seen: Set[str] = set()
    dots = options.annotation_dots
    for key in _candidates(attrs, options, exclude, consumed):
        if len(annotations) >= MAX_ANNOTATIONS:
            break
        if key in seen:
            continue
        seen.add(key)
        value = attrs.get(key)
        if (
            type(value) is str
            and len(value) <= MAX_ANNOTATION_STRING_LENGTH
            and value.isascii()
        ):
            clean_value: Optional[AnnotationValue] = value  # annotation_value, inlined
        else:
            clean_value = annotation_value(value)
        name = annotation_key(key, dots=dots)
        # On a collision after cleaning, the key earlier in priority keeps the name.
        if clean_value is None or not name or name in annotations:
            continue
        annotations[name] = clean_value
        if not (isinstance(value, str) and len(value) > MAX_ANNOTATION_STRING_LENGTH):
            annotated.add(key)
    return annotations, annotated


def _candidates(
    attrs: Attributes, options: TranslateOptions, exclude: FrozenSet[str], consumed: Set[str]
) -> List[str]:
    """Keys to annotate, in priority order (duplicates possible; the caller skips them)."""
    keys = [key for key in options.indexed_attributes if key in attrs]
    listed = attrs.get(ANNOTATIONS_KEY)
    if listed is not None:
        if isinstance(listed, str):
            listed = (listed,)
        if isinstance(listed, Sequence):
            keys.extend(key for key in listed if isinstance(key, str) and key in attrs)
    if options.index_all_attributes:
        keys.extend(sorted(
            key for key, value in attrs.items()
            if value is not None and _is_default_metadata(key, exclude, consumed)
        ))
    return keys


def _is_default_metadata(key: str, exclude: FrozenSet[str], consumed: Set[str]) -> bool:
    """The key would land in ``metadata.default`` (what index-all may annotate)."""
    return not (key in exclude or key in consumed or key.startswith(METADATA_PREFIX))


def _annotation_key(key: str, dots: bool) -> str:
    return (_KEY_INVALID_KEEP_DOTS if dots else _KEY_INVALID).sub("_", key)


# Cleaned annotation keys, one cache per ``dots`` setting: the same keys recur in every span.
_annotation_keys: Dict[str, str] = {}
_dotted_annotation_keys: Dict[str, str] = {}


# --- user, metadata namespaces, events, links ----------------------------------------


def _user(attrs: Attributes) -> Tuple[Optional[str], Optional[str]]:
    """``(key consumed, user)`` from ``enduser.id`` or else ``user.id``.

    The key is reported as consumed (not repeated in metadata) only when the value fits
    the 250-character ``user`` field whole.
    """
    for key in _USER_KEYS:
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(int(value)) if _INT_MIN <= value <= _INT_MAX else None
        if isinstance(value, str) and value.strip():
            user = _clean_text(value, MAX_USER_LENGTH, marker="")
            return (key if len(value) <= MAX_USER_LENGTH else None), user
    return None, None


def _add_namespace(
    namespaces: Dict[str, Dict[str, Any]], default: Dict[str, Any], key: str, value: Any
) -> None:
    """``aws.xray.metadata.<ns>`` = JSON text → ``metadata.<ns>``.

    A JSON object becomes the namespace (merged with other keys of the same namespace); any
    other JSON value is wrapped as ``{"value": ...}``. Invalid JSON, a non-string value, an
    empty namespace or the reserved ``AWS.`` prefix: the attribute stays in
    ``metadata.default`` under its own key (parsed when it was valid JSON).
    """
    namespace = metadata_key(key[len(METADATA_PREFIX):])
    parsed = _parse_json(value) if isinstance(value, str) else _INVALID
    if parsed is _INVALID:
        default[metadata_key(key)] = to_json_value(value)
        return
    if namespace.lower() == DEFAULT_NAMESPACE:
        namespace = DEFAULT_NAMESPACE
    elif not namespace or namespace[:4].upper() == "AWS.":
        default[metadata_key(key)] = parsed
        return
    values = parsed if isinstance(parsed, dict) else {"value": parsed}
    namespaces.setdefault(namespace, {}).update(values)


_INVALID = object()


def _parse_json(text: str) -> Any:
    if len(text) > MAX_METADATA_JSON_LENGTH:
        return _INVALID
    try:
        parsed = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return _INVALID
    # Bounded like any value (orjson already refused NaN, surrogates and deep nesting).
    return to_json_value(parsed)


def _add_events(default: Dict[str, Any], events: Sequence[Event], dropped: int) -> None:
    """Non-exception span events → ``metadata.default["otel.events"]``, first 32 kept."""
    kept: List[Dict[str, Any]] = []
    for event in events:
        if event.name == EXCEPTION_EVENT:
            continue
        if len(kept) >= MAX_EVENTS:
            dropped += 1
            continue
        entry: Dict[str, Any] = {
            "name": to_json_value(event.name),
            "time": (event.timestamp or 0) / 1e9,
        }
        attributes = _json_attributes(event.attributes)
        if attributes:
            entry["attributes"] = attributes
        kept.append(entry)
    if kept:
        default[EVENTS_KEY] = kept
    if dropped:
        default[EVENTS_DROPPED_KEY] = dropped


def _links(
    links: Sequence[Link], dropped: int, default: Dict[str, Any]
) -> List[Dict[str, Any]]:
    """Span links as X-Ray ``links``; the first 32 valid ones, the rest counted in metadata.

    A link without a valid trace or span id (the SDK keeps those if they carry attributes)
    cannot be expressed and is counted as dropped.
    """
    block: List[Dict[str, Any]] = []
    for link in links:
        context = link.context
        if len(block) >= MAX_LINKS or not context.is_valid:
            dropped += 1
            continue
        entry: Dict[str, Any] = {
            "trace_id": to_xray_trace_id(context.trace_id),
            "id": format_span_id(context.span_id),
        }
        attributes = _json_attributes(link.attributes)
        if attributes:
            entry["attributes"] = attributes
        block.append(entry)
    if dropped:
        default[LINKS_DROPPED_KEY] = dropped
    return block


def _json_attributes(attrs: Optional[Attributes]) -> Dict[str, Any]:
    if not attrs:
        return {}
    return {
        metadata_key(key): to_json_value(value)
        for key, value in attrs.items()
        if value is not None
    }
