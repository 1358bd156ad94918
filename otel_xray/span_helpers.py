"""Helpers that act on live OpenTelemetry spans: X-Ray annotations and metadata like the X-Ray
SDK's recorder, and the botocore request hook that records S3 bucket and key.

OpenTelemetry has only attributes. The translator turns the attributes these helpers set
into X-Ray fields::

    from otel_xray import annotate, put_metadata

    with tracer.start_as_current_span("checkout") as span:
        annotate(span, "customer_tier", "gold")               # searchable: annotations
        put_metadata(span, "cart", {"items": 3}, "shop")      # metadata.shop.cart

``annotate`` sets the attribute ``key`` and lists ``key`` in ``aws.xray.annotations``;
``put_metadata`` keeps a JSON object in ``aws.xray.metadata.<namespace>``. Both never
raise: a value they cannot use is logged (rate-limited) and ignored.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Sequence

import orjson
from opentelemetry.semconv._incubating.attributes.aws_attributes import AWS_S3_BUCKET, AWS_S3_KEY
from opentelemetry.trace import Span

from ._diag import RateLimitedLog
from .translate.attributes import ANNOTATIONS_KEY, METADATA_PREFIX
from .translate.limits import DEFAULT_NAMESPACE
from .translate.values import to_json_value

__all__ = ["annotate", "botocore_request_hook", "put_metadata"]

_log = RateLimitedLog(logging.getLogger("otel_xray.span_helpers"))


def annotate(span: Span, key: str, value: Any) -> None:
    """Record an X-Ray annotation (indexed, searchable with filter expressions) on ``span``.

    The counterpart of the X-Ray SDK's ``put_annotation``. ``value`` must be a string,
    a number or a boolean; anything else is ignored with a warning. Keys should use
    letters, digits and ``_`` (the translator replaces other characters with ``_``; dots
    are kept when ``OTEL_EXPORTER_XRAY_ANNOTATION_DOTS`` is on). The span keeps the value
    as an ordinary attribute too, so other backends see it.
    """
    try:
        if not _usable(span) or not _valid_key(key, "annotate"):
            return
        if not isinstance(value, (str, bool, int, float)):
            _log.warning(
                "annotation-value",
                "annotate(%r): annotation values must be str, int, float or bool, got %s; "
                "ignored (use put_metadata for other values)", key, type(value).__name__,
            )
            return
        span.set_attribute(key, value)
        listed = _listed_keys(_attributes(span).get(ANNOTATIONS_KEY))
        if key not in listed:
            span.set_attribute(ANNOTATIONS_KEY, [*listed, key])
    except Exception:  # telemetry must never break the application
        _log.warning("annotate-failed", "annotate(%r) failed", key, exc_info=True)


def put_metadata(span: Span, key: str, value: Any, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Record X-Ray metadata (any JSON-able value, not indexed) on ``span``.

    The counterpart of the X-Ray SDK's ``put_metadata``: the value appears in the
    document as ``metadata.<namespace>.<key>``. Values are converted to strict JSON
    (objects without a JSON form become their ``str()``; NaN becomes ``"NaN"``). The
    namespace prefix ``AWS.`` is reserved by X-Ray; such calls are ignored with a warning.
    """
    try:
        if not _usable(span) or not _valid_key(key, "put_metadata"):
            return
        if not isinstance(namespace, str) or not namespace or namespace[:4].upper() == "AWS.":
            _log.warning(
                "metadata-namespace",
                "put_metadata(%r): namespace %r is empty or reserved ('AWS.' prefix); ignored",
                key, namespace,
            )
            return
        attribute = METADATA_PREFIX + namespace
        merged = _current_object(_attributes(span).get(attribute))
        merged[key] = value
        span.set_attribute(attribute, orjson.dumps(to_json_value(merged)).decode("utf-8"))
    except Exception:  # telemetry must never break the application
        _log.warning("put-metadata-failed", "put_metadata(%r) failed", key, exc_info=True)


def _usable(span: Any) -> bool:
    is_recording = getattr(span, "is_recording", None)
    return bool(callable(is_recording) and is_recording())


def _valid_key(key: Any, caller: str) -> bool:
    if isinstance(key, str) and key:
        return True
    _log.warning("helper-key", "%s: the key must be a non-empty string, got %r", caller, key)
    return False


def _attributes(span: Any) -> Mapping[str, Any]:
    """The span's current attributes (SDK spans expose them; others show nothing)."""
    attributes = getattr(span, "attributes", None)
    return attributes if isinstance(attributes, Mapping) else {}


def _listed_keys(value: Any) -> Sequence[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [k for k in value if isinstance(k, str)]
    return []


def _current_object(text: Optional[Any]) -> Dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def botocore_request_hook(
    span: Span, service_name: str, operation_name: str, api_params: Mapping[str, Any]
) -> None:
    """A ``request_hook`` for ``BotocoreInstrumentor().instrument(...)`` adding S3 keys.

    The Python botocore instrumentation records nothing about S3 requests; this hook adds
    ``aws.s3.bucket`` and ``aws.s3.key`` (as the Java agent does), which become
    ``bucket_name`` and ``key`` in the X-Ray ``aws`` block. Never raises.
    """
    try:
        if service_name != "s3" or not span.is_recording():
            return
        bucket = api_params.get("Bucket")
        if isinstance(bucket, str) and bucket:
            span.set_attribute(AWS_S3_BUCKET, bucket)
        key = api_params.get("Key")
        if isinstance(key, str) and key:
            span.set_attribute(AWS_S3_KEY, key)
    except Exception:  # a hook must never break the AWS call
        return
