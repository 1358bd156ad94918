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
    NamedTuple,
    Optional,
    Set,
    Tuple,
    Union,
)

import orjson
from opentelemetry.sdk.trace import Event
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID
from opentelemetry.trace import Link

from ..config import TranslateOptions
from ..ids import format_span_id, to_xray_trace_id
from ._attrs import Attributes
from ._cache import BoundedCache
from .limits import (
    DEFAULT_NAMESPACE,
    EVENTS_DROPPED_KEY,
    EVENTS_KEY,
    LINKS_DROPPED_KEY,
    MAX_ANNOTATIONS,
)
from .limits import INT_MAX as _INT_MAX
from .limits import INT_MIN as _INT_MIN
from .values import clean_text as _clean_text
from .values import metadata_key, to_json_value

#: Span attribute listing the keys to index as annotations for this span (a list, or one key).
ANNOTATIONS_KEY = "aws.xray.annotations"
#: The X-Ray sampling rule that sampled a span (set by ``XRayRemoteSampler``); a segment
#: carries it as ``aws.xray.sampling_rule_name``, where the native SDKs put it.
SAMPLING_RULE_KEY = "aws.xray.sampling_rule_name"
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
MAPPED_KEYS: FrozenSet[str] = frozenset({ANNOTATIONS_KEY, SAMPLING_RULE_KEY})

#: ``user`` comes from the first of these holding a usable value.
_USER_KEYS = (ENDUSER_ID, USER_ID)
_USER_KEY_SET = frozenset(_USER_KEYS)

_KEY_INVALID = re.compile(r"[^A-Za-z0-9_]")
_KEY_INVALID_KEEP_DOTS = re.compile(r"[^A-Za-z0-9_.]")

AnnotationValue = Union[str, int, float, bool]
_NOTHING: FrozenSet[str] = frozenset()


def apply(
    body: Dict[str, Any],
    attrs: Dict[str, Any],
    events: Sequence[Event],
    dropped_events: int,
    links: Sequence[Link],
    dropped_links: int,
    options: TranslateOptions,
    is_segment: bool,
    plan: KeyPlan,
) -> None:
    """Add ``annotations``, ``metadata``, ``user`` and ``links`` to ``body``.

    From the parts of a span: its attributes as a plain dict, its events and links and how
    many of each the SDK dropped. ``is_segment``: the span is sent as a segment (``user``
    is a segment-only field; on a subsegment ``enduser.id``/``user.id`` stay in metadata).
    ``plan`` is :func:`key_plan` of the attribute keys and of the keys other concerns
    already mapped (``exclude``): those are not repeated in ``metadata.default``, but a key
    that is explicitly indexed is still annotated. A plan depends on the keys alone: callers
    remember it for the spans of one instrumentation, which repeat their keys.
    """
    if is_segment and plan.has_user:
        user_key, user = _user(attrs)
    else:
        user_key, user = None, None
    if (
        options.index_all_attributes
        or plan.has_annotations_key
        or not options.indexed_set.isdisjoint(plan.key_set)
    ):
        consumed = {ANNOTATIONS_KEY, user_key} if user_key is not None else {ANNOTATIONS_KEY}
        annotations, annotated = _annotations(attrs, options, plan, consumed)
        skip: AbstractSet[str] = consumed.union(annotated)
    else:  # the common case: nothing to index
        annotations = {}
        # ANNOTATIONS_KEY is absent here: only the user key may need skipping.
        skip = _NOTHING if user_key is None else {user_key}

    default: Dict[str, Any] = {}
    namespaces: Dict[str, Dict[str, Any]] = {}
    for key, out_key in plan.entries:
        value = attrs[key]
        if value is None or key in skip:
            continue
        if out_key is _NAMESPACE:
            _add_namespace(namespaces, default, key, value)
            continue
        default[out_key] = to_json_value(value)
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


_NAMESPACE: Any = object()


class KeyPlan(NamedTuple):
    """What :func:`apply` decides from a span's attribute keys alone (see :func:`key_plan`)."""

    entries: Tuple[Tuple[str, Any], ...]
    """``(key, where it lands)`` of each attribute key not mapped elsewhere, in the
    attributes' order: ``_NAMESPACE`` (``aws.xray.metadata.*``) or its :func:`metadata_key`
    in ``metadata.default``."""
    key_set: FrozenSet[str]
    exclude: FrozenSet[str]
    has_user: bool
    """A ``user`` key (``enduser.id``, ``user.id``) is present."""
    has_annotations_key: bool
    """``aws.xray.annotations`` is present."""
    annotation_candidates: BoundedCache[Tuple[Tuple[str, ...], bool], Tuple[Tuple[str, str], ...]]
    """Per ``(indexed_attributes, annotation_dots)`` without index-all: the keys to annotate
    in priority order and their annotation keys (filled by :func:`_annotations`)."""


def key_plan(keys: Tuple[str, ...], exclude: FrozenSet[str]) -> KeyPlan:
    """Where each of ``keys`` (a span's attribute keys, in order) lands, ``exclude`` holding
    the keys other concerns mapped. Depends on nothing else: remember it per key tuple."""
    key_set = frozenset(keys)
    return KeyPlan(
        tuple(
            (key, _NAMESPACE if key.startswith(METADATA_PREFIX) else metadata_key(key))
            for key in keys
            if key not in exclude
        ),
        key_set,
        exclude,
        not _USER_KEY_SET.isdisjoint(key_set),
        ANNOTATIONS_KEY in key_set,
        BoundedCache(8),
    )


def annotation_key(key: str, *, dots: bool) -> str:
    """``key`` as X-Ray accepts it in annotations: ASCII letters, digits, ``_`` (and ``.``
    when ``dots``), every other character replaced by ``_``, cut to 500 code points."""
    name = _annotation_keys.get((key, dots))
    if name is None:
        name = _annotation_key(key[:MAX_ANNOTATION_KEY_LENGTH], dots)
        if len(key) <= MAX_ANNOTATION_KEY_LENGTH:
            _annotation_keys.put((key, dots), name)
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
    attrs: Attributes, options: TranslateOptions, plan: KeyPlan, consumed: Set[str]
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
    dots = options.annotation_dots
    if options.index_all_attributes or plan.has_annotations_key:
        candidates = _named(_candidates(attrs, options, plan.exclude, consumed), dots)
    else:  # configured keys only: the same candidates for every span with these keys
        cache_key = (options.indexed_attributes, dots)
        found = plan.annotation_candidates.get(cache_key)
        if found is None:
            found = plan.annotation_candidates.put(
                cache_key, _named(_candidates(attrs, options, plan.exclude, consumed), dots)
            )
        candidates = found
    for key, name in candidates:
        if len(annotations) >= MAX_ANNOTATIONS:
            break
        value = attrs.get(key)
        if (
            type(value) is str
            and len(value) <= MAX_ANNOTATION_STRING_LENGTH
            and value.isascii()
        ):
            clean_value: Optional[AnnotationValue] = value  # annotation_value, inlined
        else:
            clean_value = annotation_value(value)
        # On a collision after cleaning, the key earlier in priority keeps the name.
        if clean_value is None or not name or name in annotations:
            continue
        annotations[name] = clean_value
        if not (isinstance(value, str) and len(value) > MAX_ANNOTATION_STRING_LENGTH):
            annotated.add(key)
    return annotations, annotated


def _named(keys: List[str], dots: bool) -> Tuple[Tuple[str, str], ...]:
    """``(key, annotation_key(key))`` of each of ``keys``, in order, each key once."""
    return tuple((key, annotation_key(key, dots=dots)) for key in dict.fromkeys(keys))


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


# Cleaned annotation keys, per ``dots`` setting: the same keys recur in every span.
_annotation_keys: BoundedCache[Tuple[str, bool], str] = BoundedCache(4096)


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
