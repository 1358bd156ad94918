"""Document names: which attribute names a (sub)segment, and cleaning it for X-Ray.

A segment is named after the service that did the work; a subsegment after what it
called (``DynamoDB``, ``api.example.com``, ``orders@db.local``) or, for local work, after
the span. Every source is cleaned to the characters X-Ray accepts and cut to 200 code
points, so the name is always valid and never empty.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, FrozenSet, Iterator, Optional
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.semconv._incubating.attributes.db_attributes import (
    DB_CONNECTION_STRING,
    DB_NAME,
)
from opentelemetry.semconv._incubating.attributes.faas_attributes import FAAS_NAME
from opentelemetry.semconv._incubating.attributes.http_attributes import (
    HTTP_HOST,
    HTTP_SERVER_NAME,
    HTTP_URL,
)
from opentelemetry.semconv._incubating.attributes.net_attributes import (
    NET_HOST_NAME,
    NET_PEER_NAME,
)
from opentelemetry.semconv._incubating.attributes.peer_attributes import PEER_SERVICE
from opentelemetry.semconv._incubating.attributes.rpc_attributes import RPC_SERVICE, RPC_SYSTEM
from opentelemetry.semconv.attributes.db_attributes import DB_NAMESPACE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME
from opentelemetry.semconv.attributes.url_attributes import URL_FULL
from opentelemetry.trace import SpanKind

from ._attrs import Attributes

#: X-Ray-specific keys (set by the AWS distro / Application Signals), no semconv constant.
AWS_LOCAL_SERVICE = "aws.local.service"
AWS_REMOTE_SERVICE = "aws.remote.service"
#: Legacy X-Ray key naming the AWS service of a call (the Collector reads it too).
AWS_SERVICE = "aws.service"

#: Attribute keys consumed by naming (not repeated in metadata). Empty on purpose: every
#: naming key is used only for some span kinds and is cleaned/cut when it is, so none is
#: *fully* carried by the name; they stay in metadata.
MAPPED_KEYS: FrozenSet[str] = frozenset()

MAX_NAME_LENGTH = 200
#: The name used when no source yields a single valid character.
FALLBACK_NAME = "span"
#: Prefix of the SDK's default ``service.name`` (``unknown_service`` or
#: ``unknown_service:<executable>``): a placeholder, not a name someone chose.
DEFAULT_SERVICE_PREFIX = "unknown_service"

# X-Ray allows Unicode letters and numbers (``\w`` also matches ``_``), whitespace and
# ``_ . : / % & # = + \ - @``. Whitespace other than a plain space (tabs, newlines …)
# is replaced by a space so a name stays on one line.
_VALID = re.compile(r"[\w .:/%&#=+\\\-@]+")
_INVALID = re.compile(r"[^\w\s.:/%&#=+\\\-@]+")
_OTHER_SPACE = re.compile(r"[^\S ]+")
_AWS_PREFIX = "AWS::"
_AWS_API = "aws-api"
_OUTGOING = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER})


def clean_name(text: str) -> str:
    """Return ``text`` as a valid X-Ray name, or ``""`` when nothing valid is left.

    Characters X-Ray rejects are removed (after NFC normalization, so accented letters
    written as letter + combining mark survive), other whitespace becomes a space, the
    ends are stripped and the result cut to 200 code points.
    """
    # Fast path: most names (span names, host names) are already clean.
    if (
        len(text) <= MAX_NAME_LENGTH
        and _VALID.fullmatch(text) is not None
        and text[0] != " "
        and text[-1] != " "
    ):
        return text
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    text = _INVALID.sub("", text)
    text = _OTHER_SPACE.sub(" ", text).strip()
    if len(text) > MAX_NAME_LENGTH:
        text = text[:MAX_NAME_LENGTH].rstrip()
    return text


def document_name(span: ReadableSpan, attrs: Attributes, is_root: bool) -> str:
    """The name of the span's (sub)segment: the first source that is non-empty once cleaned.

    A document root is named after the local service; any other span after the service
    or resource it calls, else after the span itself. Never empty (:data:`FALLBACK_NAME`).
    """
    sources = _root_sources(span, attrs) if is_root else _call_sources(span, attrs)
    for source in sources:
        if source:
            name = clean_name(source)
            if name:
                return name
    return FALLBACK_NAME


def _root_sources(span: ReadableSpan, attrs: Attributes) -> Iterator[Optional[str]]:
    """Segment name sources: the local service, then sensible stand-ins."""
    yield _str(attrs.get(AWS_LOCAL_SERVICE))
    resource_attrs: Any = span.resource.attributes if span.resource is not None else {}
    service = _str(resource_attrs.get(SERVICE_NAME))
    is_default = service is not None and service.startswith(DEFAULT_SERVICE_PREFIX)
    if not is_default:
        yield service
    # No service name was configured: the Lambda function, then the host a server was
    # addressed by (what the X-Ray SDKs' dynamic naming uses), then the placeholder.
    yield _str(resource_attrs.get(FAAS_NAME))
    if span.kind is SpanKind.SERVER:
        yield _host_only(_str(attrs.get(HTTP_HOST)))
        yield _str(attrs.get(SERVER_ADDRESS))
        yield _str(attrs.get(HTTP_SERVER_NAME))
        yield _str(attrs.get(NET_HOST_NAME))
    if is_default:
        yield service
    yield span.name


def _call_sources(span: ReadableSpan, attrs: Attributes) -> Iterator[Optional[str]]:
    """Subsegment name sources: the Collector's priority list plus the stable keys, then
    the host of an outgoing call's URL."""
    kind = span.kind
    if kind in _OUTGOING:
        remote = _str(attrs.get(AWS_REMOTE_SERVICE))
        if remote and remote.startswith(_AWS_PREFIX) and attrs.get(RPC_SYSTEM) == _AWS_API:
            remote = remote[len(_AWS_PREFIX):]
        yield remote
    elif kind is SpanKind.SERVER:
        # A SERVER span nested under another (Lambda mode): it still is the local service.
        yield _str(attrs.get(AWS_LOCAL_SERVICE))
    yield _str(attrs.get(PEER_SERVICE))
    yield _str(attrs.get(AWS_SERVICE))
    yield _database_name(attrs)
    if kind is SpanKind.SERVER and span.resource is not None:
        service = _str(span.resource.attributes.get(SERVICE_NAME))
        if service and not service.startswith(DEFAULT_SERVICE_PREFIX):
            yield service
    yield _str(attrs.get(RPC_SERVICE))
    yield _host_only(_str(attrs.get(HTTP_HOST)))
    yield _str(attrs.get(NET_PEER_NAME))
    yield _str(attrs.get(SERVER_ADDRESS))
    if kind in _OUTGOING:
        # Old-convention HTTP clients (e.g. requests) record only the URL.
        yield _url_host(_str(attrs.get(URL_FULL)) or _str(attrs.get(HTTP_URL)))
    yield span.name


def _database_name(attrs: Attributes) -> Optional[str]:
    """``<db.name or db.namespace>@<host>`` (host from the connection string or server keys)."""
    database = _str(attrs.get(DB_NAME)) or _str(attrs.get(DB_NAMESPACE))
    if not database:
        return None
    host = _connection_host(_str(attrs.get(DB_CONNECTION_STRING)))
    if not host:
        host = _str(attrs.get(SERVER_ADDRESS)) or _str(attrs.get(NET_PEER_NAME))
    return f"{database}@{host}" if host else database


def _connection_host(connection_string: Optional[str]) -> Optional[str]:
    """The host of a URL-style connection string (``scheme://user:pw@host:port/db``)."""
    return _url_host(connection_string)


def _url_host(url: Optional[str]) -> Optional[str]:
    """The host of an absolute URL, or ``None``."""
    if not url or "://" not in url:
        return None
    try:
        return urlsplit(url[:2000]).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None


def _host_only(host: Optional[str]) -> Optional[str]:
    """``http.host`` is the Host header: drop a ``:port`` so it names the host."""
    if not host:
        return host
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _str(value: object) -> Optional[str]:
    return value if isinstance(value, str) and value else None
