"""Document names: which attribute names a (sub)segment, and cleaning it for X-Ray.

A segment is named after the service that did the work; a subsegment after what it
called (``DynamoDB``, ``api.example.com``, ``orders@db.local``) or, for local work, after
the span. Every source is cleaned to the characters X-Ray accepts and cut to 200 code
points, so the name is always valid and never empty.
"""

from __future__ import annotations

import re
import unicodedata
from typing import AbstractSet, Any, Callable, FrozenSet, List, Optional, Tuple
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv._incubating.attributes.db_attributes import (
    DB_CONNECTION_STRING,
    DB_NAME,
    DB_SYSTEM,
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

from ._attrs import Attributes, nonempty_str
from ._cache import BoundedCache
from .http import HTTP_MARKERS as _HTTP_MARKERS

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
# A SERVER root without a service name is named after the host it was addressed by.
_SERVER_NAME_KEYS = (SERVER_ADDRESS, HTTP_SERVER_NAME, NET_HOST_NAME)
_SERVER_HOST_KEYS = frozenset({HTTP_HOST, *_SERVER_NAME_KEYS})
# Subsegment name sources, in priority order around the special ones.
_SERVICE_KEYS = (PEER_SERVICE, AWS_SERVICE)
_PEER_KEYS = (NET_PEER_NAME, SERVER_ADDRESS)
#: Every attribute key a subsegment name may come from: without any of them (local work)
#: the span name is used.
#: Stable name of ``db.system``; spelled out: semantic conventions before 0.52 lack it.
DB_SYSTEM_NAME = "db.system.name"

_CALL_KEYS = frozenset({
    AWS_REMOTE_SERVICE, AWS_LOCAL_SERVICE, PEER_SERVICE, AWS_SERVICE, DB_NAME, DB_NAMESPACE,
    RPC_SERVICE, HTTP_HOST, NET_PEER_NAME, SERVER_ADDRESS, URL_FULL, HTTP_URL, DB_SYSTEM,
    DB_SYSTEM_NAME,
})
_CACHED_TEXT_LENGTH = 256
_clean_names: BoundedCache[str, str] = BoundedCache(1024)


def clean_name(text: str) -> str:
    """Return ``text`` as a valid X-Ray name, or ``""`` when nothing valid is left.

    Characters X-Ray rejects are removed (after NFC normalization, so accented letters
    written as letter + combining mark survive), other whitespace becomes a space, the
    ends are stripped and the result cut to 200 code points.
    """
    # Names repeat (span names, hosts, services): remember the recent ones.
    name = _clean_names.get(text)
    if name is None:
        name = _clean_name(text)
        if len(text) <= _CACHED_TEXT_LENGTH:
            _clean_names.put(text, name)
    return name


def _clean_name(text: str) -> str:
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


def resource_names(resource: Optional[Resource]) -> Tuple[str, str, str]:
    """The name sources a resource offers, cleaned (``""`` for none): the configured
    ``service.name``, the Lambda function's name, and the SDK's placeholder service name.

    Resources never change, so callers may cache the result per resource.
    """
    attrs: Any = resource.attributes if resource is not None else {}
    service = nonempty_str(attrs.get(SERVICE_NAME))
    is_default = service is not None and service.startswith(DEFAULT_SERVICE_PREFIX)
    configured = _clean(service) if not is_default else ""
    placeholder = _clean(service) if is_default else ""
    return configured, _clean(nonempty_str(attrs.get(FAAS_NAME))), placeholder


def root_name(
    span_name: str, kind: SpanKind, attrs: Attributes, service_names: Tuple[str, str, str]
) -> str:
    """A document root's name: the local service, then sensible stand-ins.

    ``service_names`` is :func:`resource_names` of the span's resource.
    """
    configured, function, placeholder = service_names
    name = ""
    if AWS_LOCAL_SERVICE in attrs:
        name = _clean(nonempty_str(attrs[AWS_LOCAL_SERVICE]))
    name = name or configured or function
    if name:
        return name
    # No service name was configured: the Lambda function (above), then the host a server
    # was addressed by (what the X-Ray SDKs' dynamic naming uses), then the placeholder.
    if kind is SpanKind.SERVER and not _SERVER_HOST_KEYS.isdisjoint(attrs):
        get = attrs.get
        name = _clean(_host_only(nonempty_str(get(HTTP_HOST))))
        if name:
            return name
        name = _first_clean(get, _SERVER_NAME_KEYS)
        if name:
            return name
    return placeholder or _span_name(span_name)


#: The annotation holding a non-HTTP root's span name when its segment is named after the
#: service (``TranslateOptions.internal_root_name="service"``).
OPERATION_ANNOTATION = "operation"


def is_operation_root(kind: SpanKind, attrs: Attributes) -> bool:
    """Whether a document root is an operation rather than a request: kind INTERNAL and
    no HTTP keys (a job, a worker loop; the native SDK's ``begin_segment("name")``)."""
    return kind is SpanKind.INTERNAL and _HTTP_MARKERS.isdisjoint(attrs)


def operation_name(span_name: str) -> str:
    """The name of an operation root's segment when named after the span: the cleaned
    span name (never empty)."""
    return _span_name(span_name)


NameStep = Callable[[Attributes, str], str]
"""One source of a subsegment's name: ``(attrs, server_service)`` → the cleaned name, or
``""`` to try the next source."""


def call_name(
    span_name: str,
    kind: SpanKind,
    attrs: Attributes,
    server_service: str,
    steps: Optional[Tuple[NameStep, ...]] = None,
) -> str:
    """A subsegment's name: the Collector's priority list plus the stable keys, then the
    host of an outgoing call's URL, then the span name.

    ``server_service``: the resource's configured service name (cleaned), which names a
    SERVER span nested under another (Lambda mode) when no attribute does. ``steps``:
    :func:`call_name_steps` of the span's kind and attribute keys (callers remember them
    for the spans of one instrumentation, which repeat their keys).
    """
    if steps is None:
        steps = call_name_steps(kind, frozenset(attrs))
    for step in steps:
        name = step(attrs, server_service)
        if name:
            return name
    return _span_name(span_name)


def call_name_steps(kind: SpanKind, keys: AbstractSet[str]) -> Tuple[NameStep, ...]:
    """The name sources :func:`call_name` tries, in order, for a span of ``kind`` whose
    attribute keys are ``keys``: the sources whose keys are absent are left out."""
    # Identity, not ``kind in _OUTGOING``: hashing an Enum member is a Python-level call.
    outgoing = kind is SpanKind.CLIENT or kind is SpanKind.PRODUCER or kind is SpanKind.CONSUMER
    server = kind is SpanKind.SERVER
    if _CALL_KEYS.isdisjoint(keys):  # local work: no attribute names anything
        return (_server_service,) if server else ()
    steps: List[NameStep] = []
    if outgoing and AWS_REMOTE_SERVICE in keys:
        steps.append(_remote_service)
    elif server and AWS_LOCAL_SERVICE in keys:
        # A SERVER span nested under another (Lambda mode): it still is the local service.
        steps.append(_local_service)
    steps.extend(_first_clean_step(key) for key in _SERVICE_KEYS if key in keys)
    if DB_NAME in keys or DB_NAMESPACE in keys:
        steps.append(_database_step)
    if server:
        steps.append(_server_service)
    if RPC_SERVICE in keys:
        steps.append(_first_clean_step(RPC_SERVICE))
    if HTTP_HOST in keys:
        steps.append(_http_host)
    steps.extend(_first_clean_step(key) for key in _PEER_KEYS if key in keys)
    if outgoing and (URL_FULL in keys or HTTP_URL in keys):
        # Old-convention HTTP clients (e.g. requests) record only the URL.
        steps.append(_url_step)
    if DB_SYSTEM_NAME in keys or DB_SYSTEM in keys:
        # A database call with neither a database name nor a host (SQLite, an embedded
        # store): named after the system, so that every statement shares one node.
        steps.append(_db_system_step)
    return tuple(steps)


def _remote_service(attrs: Attributes, server_service: str) -> str:
    remote = nonempty_str(attrs.get(AWS_REMOTE_SERVICE))
    if remote and remote.startswith(_AWS_PREFIX) and attrs.get(RPC_SYSTEM) == _AWS_API:
        remote = remote[len(_AWS_PREFIX):]
    return _clean(remote)


def _local_service(attrs: Attributes, server_service: str) -> str:
    return _clean(nonempty_str(attrs.get(AWS_LOCAL_SERVICE)))


def _first_clean_step(key: str) -> NameStep:
    """The step naming a span after the value of ``key``, cleaned."""

    def step(attrs: Attributes, server_service: str) -> str:
        value = attrs.get(key)
        return clean_name(value) if isinstance(value, str) and value else ""

    return step


def _database_step(attrs: Attributes, server_service: str) -> str:
    return _clean(_database_name(attrs))


def _server_service(attrs: Attributes, server_service: str) -> str:
    return server_service


def _http_host(attrs: Attributes, server_service: str) -> str:
    return _clean(_host_only(nonempty_str(attrs.get(HTTP_HOST))))


def _url_step(attrs: Attributes, server_service: str) -> str:
    return _clean(_url_host(nonempty_str(attrs.get(URL_FULL)) or nonempty_str(attrs.get(HTTP_URL))))


def _db_system_step(attrs: Attributes, server_service: str) -> str:
    return _clean(nonempty_str(attrs.get(DB_SYSTEM_NAME)) or nonempty_str(attrs.get(DB_SYSTEM)))


def _first_clean(get: Callable[[str], Any], keys: Tuple[str, ...]) -> str:
    """The first of ``keys`` whose string value is still non-empty once cleaned, else ``""``."""
    for key in keys:
        value = get(key)
        if isinstance(value, str) and value:
            name = clean_name(value)
            if name:
                return name
    return ""


def _span_name(span_name: str) -> str:
    if span_name:
        name = clean_name(span_name)
        if name:
            return name
    return FALLBACK_NAME


def _clean(source: Optional[str]) -> str:
    return clean_name(source) if source else ""


def _database_name(attrs: Attributes) -> Optional[str]:
    """``<db.name or db.namespace>@<host>`` (host from the connection string or server keys)."""
    database = nonempty_str(attrs.get(DB_NAME)) or nonempty_str(attrs.get(DB_NAMESPACE))
    if not database:
        return None
    host = _connection_host(nonempty_str(attrs.get(DB_CONNECTION_STRING)))
    if not host:
        host = nonempty_str(attrs.get(SERVER_ADDRESS)) or nonempty_str(attrs.get(NET_PEER_NAME))
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

