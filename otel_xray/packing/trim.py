"""The trimming policy: a span too big for a document on its own loses the least important
content first, and the trim is recorded in ``metadata.otel_xray`` -- a span is never
dropped for size. Also moving annotations over the per-document limit into metadata.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import orjson

from .._diag import Counters
from ..translate.limits import (
    DEFAULT_NAMESPACE,
    EVENTS_DROPPED_KEY,
    EVENTS_KEY,
    LINKS_DROPPED_KEY,
    TRUNCATION_MARKER,
)
from .encode import dumps

#: Metadata namespace that records what was trimmed from a span that was too big.
TRIM_NAMESPACE = "otel_xray"

# Strings in metadata are cut to this many code points before values are dropped, other
# long strings to _SHORT_STRING, and the last resort keeps only _ESSENTIAL_KEYS.
_KEEP_STRING = 1024
_SHORT_STRING = 256
_ESSENTIAL_STRING = 128
_NAME_LIMIT = 200
_MARKER_RESERVE = 200
_ESSENTIAL_KEYS = (
    "name", "id", "start_time", "end_time", "in_progress", "namespace",
    "error", "throttle", "fault", "origin", "http",
)


def trim(body: bytes, budget: int, counters: Optional[Counters]) -> Tuple[bytes, int]:
    """``body`` (encoded, over ``budget`` bytes) cut down to at most ``budget`` bytes, and
    its annotation count afterwards; counted as ``spans_trimmed``.
    """
    doc = orjson.loads(body)
    trimmed = _trim(doc, len(body), budget)
    if counters is not None:
        counters.add("spans_trimmed")
    return trimmed, _annotation_count(doc)


def demote_annotations(body: bytes, keep: int, counters: Optional[Counters]) -> Optional[bytes]:
    """``body`` (encoded) with its first ``keep`` annotations kept and the rest moved into
    ``metadata.default`` (counted as ``annotations_moved``); ``None`` when it has none."""
    doc = orjson.loads(body)
    annotations = doc.get("annotations")
    if not isinstance(annotations, dict):
        return None
    items = list(annotations.items())
    if keep:
        doc["annotations"] = dict(items[:keep])
    else:
        del doc["annotations"]
    default = _metadata_namespace(doc, DEFAULT_NAMESPACE, create=True)
    assert default is not None
    for key, value in items[keep:]:
        default.setdefault(key, value)
    if counters is not None:
        counters.add("annotations_moved", len(items) - keep)
    return dumps(doc)


def _annotation_count(doc: Dict[str, Any]) -> int:
    annotations = doc.get("annotations")
    return len(annotations) if isinstance(annotations, dict) else 0


_Step = Callable[[Dict[str, Any], int], bool]


def _trim(doc: Dict[str, Any], original: int, budget: int) -> bytes:
    """Cut ``doc`` down to ``budget`` encoded bytes, least important content first.

    Each step only runs while the document is still too big; what ran is listed in
    ``metadata.otel_xray.trimmed`` with the original size.
    """
    trimmed: List[str] = []
    body = b""
    size = original
    for name, step in _TRIM_STEPS:
        if step(doc, size - budget + _MARKER_RESERVE):
            trimmed.append(name)
            _mark_trimmed(doc, trimmed, original)
            body = dumps(doc)
            size = len(body)
            if size <= budget:
                return body
    # Unreachable with limit >= MIN_DOCUMENT_BYTES: the last step keeps a few short fields.
    raise ValueError(f"span cannot be trimmed to {budget} bytes")


def _mark_trimmed(doc: Dict[str, Any], trimmed: List[str], original: int) -> None:
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = doc["metadata"] = {}
    metadata[TRIM_NAMESPACE] = {"trimmed": list(trimmed), "original_bytes": original}


def _trim_metadata(doc: Dict[str, Any], over: int) -> bool:
    """Cut the largest metadata strings, then drop the largest values (events kept)."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        return False
    entries: List[Tuple[int, Dict[str, Any], str]] = []
    for namespace, values in metadata.items():
        if namespace == TRIM_NAMESPACE or not isinstance(values, dict):
            continue
        for key, value in values.items():
            if namespace == DEFAULT_NAMESPACE and key in (
                EVENTS_KEY, EVENTS_DROPPED_KEY, LINKS_DROPPED_KEY
            ):
                continue
            entries.append((len(dumps(value)), values, key))
    if not entries:
        return False
    entries.sort(key=lambda entry: entry[0], reverse=True)
    # First cut long strings (largest first), keeping the start of each...
    for index, (size, values, key) in enumerate(entries):
        value = values[key]
        if over <= 0:
            break
        if isinstance(value, str) and len(value) > _KEEP_STRING:
            keep = max(_KEEP_STRING, len(value) - over - len(TRUNCATION_MARKER))
            cut = value[:keep] + TRUNCATION_MARKER
            values[key] = cut
            new_size = len(dumps(cut))
            over -= size - new_size
            entries[index] = (new_size, values, key)
    # ...then drop whole values, largest first.
    if over > 0:
        entries.sort(key=lambda entry: entry[0], reverse=True)
        for size, values, key in entries:
            if over <= 0:
                break
            del values[key]
            over -= size + len(dumps(key)) + 2
    for namespace in [ns for ns, values in metadata.items() if values == {}]:
        del metadata[namespace]
    return True


def _trim_strings(doc: Dict[str, Any], over: int) -> bool:
    """Cut every string longer than 256 code points outside metadata and annotations."""
    changed = False
    stack: List[Any] = [
        value for key, value in doc.items()
        if key not in ("metadata", "annotations", "name", "id")
    ]
    if isinstance(doc.get("name"), str) and len(doc["name"]) > _NAME_LIMIT:
        doc["name"] = doc["name"][:_NAME_LIMIT]
        changed = True
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            items: Iterable[Tuple[Any, Any]] = list(container.items())
        elif isinstance(container, list):
            items = list(enumerate(container))
        else:
            continue
        for key, value in items:
            if isinstance(value, str):
                if len(value) > _SHORT_STRING:
                    container[key] = value[:_SHORT_STRING] + TRUNCATION_MARKER
                    changed = True
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return changed


def _trim_events(doc: Dict[str, Any], over: int) -> bool:
    """Drop span events kept in metadata, last first, and count them as dropped."""
    default = _metadata_namespace(doc, DEFAULT_NAMESPACE)
    events = default.get(EVENTS_KEY) if default is not None else None
    if default is None or not isinstance(events, list) or not events:
        return False
    dropped = _drop_last(events, over)
    if len(events) == 0:
        del default[EVENTS_KEY]
    previous = default.get(EVENTS_DROPPED_KEY)
    default[EVENTS_DROPPED_KEY] = dropped + (previous if isinstance(previous, int) else 0)
    return True


def _trim_links(doc: Dict[str, Any], over: int) -> bool:
    """Drop span links, last first, and count them in ``metadata.default``."""
    links = doc.get("links")
    if not isinstance(links, list) or not links:
        return False
    dropped = _drop_last(links, over)
    if len(links) == 0:
        del doc["links"]
    default = _metadata_namespace(doc, DEFAULT_NAMESPACE, create=True)
    assert default is not None
    previous = default.get(LINKS_DROPPED_KEY)
    default[LINKS_DROPPED_KEY] = dropped + (previous if isinstance(previous, int) else 0)
    return True


def _trim_stack_frames(doc: Dict[str, Any], over: int) -> bool:
    """Halve every exception's stack (outermost frames go) until it fits, counting the
    frames left out in ``truncated``; then drop all but the first exception."""
    cause = doc.get("cause")
    exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
    if not isinstance(exceptions, list) or not exceptions:
        return False
    assert isinstance(cause, dict)
    stacks = [
        (exc, [len(dumps(frame)) + 1 for frame in exc["stack"]])
        for exc in exceptions
        if isinstance(exc, dict) and isinstance(exc.get("stack"), list) and exc["stack"]
    ]
    keep = max((len(sizes) for _, sizes in stacks), default=0)
    while over > 0 and keep > 0:
        keep //= 2
        for exc, sizes in stacks:
            removed = len(exc["stack"]) - keep
            if removed <= 0:
                continue
            over -= sum(sizes[keep : len(exc["stack"])])
            del exc["stack"][keep:]
            previous = exc.get("truncated")
            exc["truncated"] = removed + (previous if isinstance(previous, int) else 0)
    for exc, _ in stacks:
        if not exc["stack"]:
            del exc["stack"]
    if over > 0:
        del exceptions[1:]
        paths = cause.get("paths")
        if isinstance(paths, list):
            del paths[16:]
    return True


def _trim_annotations(doc: Dict[str, Any], over: int) -> bool:
    """Drop the largest annotations until the document fits."""
    annotations = doc.get("annotations")
    if not isinstance(annotations, dict) or not annotations:
        return False
    sizes = sorted(
        ((len(dumps(key)) + len(dumps(value)) + 2, key) for key, value in annotations.items()),
        reverse=True,
    )
    for size, key in sizes:
        if over <= 0:
            break
        del annotations[key]
        over -= size
    if len(annotations) == 0:
        del doc["annotations"]
    return True


def _trim_to_essentials(doc: Dict[str, Any], over: int) -> bool:
    """Last resort: the identity, times, flags and a short ``http`` block only."""
    kept = {key: doc[key] for key in _ESSENTIAL_KEYS if key in doc}
    name = kept.get("name")
    if isinstance(name, str):
        kept["name"] = name[:_NAME_LIMIT]
    http = kept.get("http")
    if isinstance(http, dict):
        kept["http"] = {
            part: {
                key: value[:_ESSENTIAL_STRING] if isinstance(value, str) else value
                for key, value in fields.items()
                if not isinstance(value, (dict, list))
            }
            for part, fields in http.items()
            if isinstance(fields, dict)
        }
    else:
        kept.pop("http", None)
    for key in ("origin", "namespace"):
        if isinstance(kept.get(key), str):
            kept[key] = kept[key][:_ESSENTIAL_STRING]
    doc.clear()
    doc.update(kept)
    return True


_TRIM_STEPS: Tuple[Tuple[str, _Step], ...] = (
    ("metadata", _trim_metadata),
    ("strings", _trim_strings),
    ("events", _trim_events),
    ("links", _trim_links),
    ("stack_frames", _trim_stack_frames),
    ("annotations", _trim_annotations),
    ("all", _trim_to_essentials),
)


def _drop_last(items: List[Any], over: int) -> int:
    """Remove items from the end until ``over`` bytes are saved; return how many."""
    dropped = 0
    while items and over > 0:
        over -= len(dumps(items.pop())) + 1
        dropped += 1
    return dropped


def _metadata_namespace(
    doc: Dict[str, Any], namespace: str, *, create: bool = False
) -> Optional[Dict[str, Any]]:
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        if not create:
            return None
        metadata = doc["metadata"] = {}
    values = metadata.get(namespace)
    if not isinstance(values, dict):
        if not create:
            return None
        values = metadata[namespace] = {}
    return values


