"""Build the X-Ray document of one span: the skeleton, and the order the concerns run in.

Each concern (names, http, aws, sql, errors, attributes, resource) lives in its own module
and contributes fields; this module decides *what kind* of document a span becomes and
assembles it. :func:`translate_span` returns the document body without the fields that
only a standalone document carries (``trace_id``, ``type``, ``parent_id``), so that the
packer can nest bodies as subsegments without re-translating.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from ..config import TranslateOptions
from ..ids import to_xray_trace_id
from . import attributes, aws, errors, http, names, resource, sql

Document = Dict[str, Any]

_ROOT_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
_OUTGOING_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
_MAPPED_KEYS = frozenset().union(
    names.MAPPED_KEYS, http.MAPPED_KEYS, aws.MAPPED_KEYS, sql.MAPPED_KEYS, errors.MAPPED_KEYS,
    attributes.MAPPED_KEYS,
)
# Generic keys (rpc.method, cloud.region, db.statement…) are carried by the aws/sql block
# only on AWS-call/SQL spans: elsewhere they stay in metadata.
_AWS_CALL_MAPPED_KEYS = _MAPPED_KEYS | aws.AWS_CALL_KEYS
_SQL_MAPPED_KEYS = _MAPPED_KEYS | sql.SQL_KEYS
_AWS_SQL_MAPPED_KEYS = _AWS_CALL_MAPPED_KEYS | sql.SQL_KEYS


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
    return not options.lambda_mode and span.kind in _ROOT_KINDS


def translate_span(span: ReadableSpan, options: TranslateOptions) -> Translated:
    """Translate one finished span. Raises only on a span without a valid context."""
    context = span.context
    if context is None:
        raise ValueError("span has no context")
    parent = span.parent
    is_root = is_document_root(span, options)
    as_segment = is_root and not (options.lambda_mode and parent is not None)
    # A plain dict: span.attributes is a mappingproxy over BoundedAttributes, whose lookups
    # of absent keys (most of them, across the concerns) cost several times a dict's.
    attrs = dict(span.attributes) if span.attributes else {}
    kind = span.kind
    span_id = f"{context.span_id:016x}"

    body: Document = {
        "name": names.document_name(span, attrs, is_root),
        "id": span_id,
        "start_time": (span.start_time or 0) / 1e9,
    }
    if span.end_time is None:
        body["in_progress"] = True
    else:
        body["end_time"] = span.end_time / 1e9

    is_aws = aws.is_aws_call(attrs)
    if not is_root or not as_segment:
        if is_aws:
            body["namespace"] = "aws"
        elif kind in _OUTGOING_KINDS:
            body["namespace"] = "remote"

    status = http.status_code(attrs)
    http_block = http.http_block(attrs, kind, is_segment=as_segment)
    if http_block:
        body["http"] = http_block
    body.update(errors.error_flags(status, span.status))
    cause = errors.cause_block(span, remote=kind in _OUTGOING_KINDS, options=options)
    if cause:
        body["cause"] = cause

    aws_block: Dict[str, Any] = {}
    if as_segment:
        res_fields = resource.segment_fields(span.resource, options)
        aws_block.update(res_fields.pop("aws", {}))
        res_metadata = res_fields.pop("metadata", None)
        body.update(res_fields)
    else:
        res_metadata = None
    if is_aws:
        aws_block.update(aws.aws_block(attrs))
    if aws_block:
        body["aws"] = aws_block
    sql_block = sql.sql_block(attrs)
    if sql_block:
        body["sql"] = sql_block

    if sql_block:
        exclude = _AWS_SQL_MAPPED_KEYS if is_aws else _SQL_MAPPED_KEYS
    else:
        exclude = _AWS_CALL_MAPPED_KEYS if is_aws else _MAPPED_KEYS
    attributes.apply(body, span, attrs, options, exclude=exclude, is_segment=as_segment)
    if res_metadata:
        metadata = body.setdefault("metadata", {})
        for namespace, values in res_metadata.items():
            metadata.setdefault(namespace, {}).update(values)

    parent_id = f"{parent.span_id:016x}" if parent is not None else None
    return Translated(
        body, to_xray_trace_id(context.trace_id), span_id, parent_id, is_root, as_segment
    )


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
