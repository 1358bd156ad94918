"""The ``http`` block: request method/url/user agent/client ip, response status/length.

Both semantic-convention generations are read (``http.method`` … and
``http.request.method``/``url.full``/``server.address`` …). When no full URL is recorded
it is rebuilt from its parts. The URL is what X-Ray defines it as, protocol, host and
path, as the X-Ray SDKs send it: neither the query string nor the fragment (they multiply
distinct URLs and carry tokens and pre-signed signatures), nor user-info
(``user:password@``) ever leaves the process. Every request string is cut to X-Ray's 250
characters.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, Optional, Tuple

from opentelemetry.semconv._incubating.attributes.http_attributes import (
    HTTP_CLIENT_IP,
    HTTP_HOST,
    HTTP_METHOD,
    HTTP_RESPONSE_CONTENT_LENGTH,
    HTTP_SCHEME,
    HTTP_SERVER_NAME,
    HTTP_STATUS_CODE,
    HTTP_TARGET,
    HTTP_URL,
    HTTP_USER_AGENT,
)
from opentelemetry.semconv._incubating.attributes.net_attributes import (
    NET_HOST_NAME,
    NET_HOST_PORT,
    NET_PEER_IP,
    NET_PEER_NAME,
    NET_PEER_PORT,
)
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PEER_ADDRESS
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import (
    URL_FULL,
    URL_PATH,
    URL_QUERY,
    URL_SCHEME,
)
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from opentelemetry.trace import SpanKind

from ._attrs import Attributes, as_int, first_str, nonempty_str

#: ``http.response.body.size`` (stable since semconv 1.27, no stable constant yet here).
HTTP_RESPONSE_BODY_SIZE = "http.response.body.size"

#: Attribute keys whose information the ``http`` block carries in full. ``url.full`` and
#: ``http.url`` are here also because they may hold user-info that must not be sent.
MAPPED_KEYS: FrozenSet[str] = frozenset({
    HTTP_METHOD, HTTP_REQUEST_METHOD,
    HTTP_URL, URL_FULL,
    HTTP_STATUS_CODE, HTTP_RESPONSE_STATUS_CODE,
    HTTP_RESPONSE_CONTENT_LENGTH, HTTP_RESPONSE_BODY_SIZE,
})

MAX_REQUEST_STRING = 250
_MAX_STATUS = 999
_MAX_CONTENT_LENGTH = 2**53  # exact in every JSON reader
_OTHER_METHOD = "_OTHER"

#: The ``X-Forwarded-For`` request header as the HTTP server instrumentations capture it
#: (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``, which ``configure()`` and
#: the distro set): a list of header values.
FORWARDED_FOR_HEADER = "http.request.header.x_forwarded_for"

#: Keys an ``http`` block is built from, or that describe the same connection (protocol
#: version, the peer's port) and have no X-Ray field. On a span with an ``http`` request
#: they are not repeated in ``metadata.default``; ``url.query`` is left out on purpose.
BLOCK_KEYS: FrozenSet[str] = frozenset({
    HTTP_TARGET, HTTP_HOST, HTTP_SCHEME, HTTP_SERVER_NAME, HTTP_CLIENT_IP, HTTP_USER_AGENT,
    HTTP_REQUEST_METHOD_ORIGINAL, USER_AGENT_ORIGINAL, URL_PATH, URL_QUERY, URL_SCHEME,
    NET_HOST_NAME, NET_HOST_PORT, NET_PEER_IP, NET_PEER_NAME, NET_PEER_PORT,
    SERVER_ADDRESS, SERVER_PORT, CLIENT_ADDRESS, NETWORK_PEER_ADDRESS, FORWARDED_FOR_HEADER,
    "http.flavor", "network.protocol.version", "network.peer.port", "client.port",
})

#: Keys that only HTTP spans carry; without any of them the span has no ``http`` block.
HTTP_MARKERS: FrozenSet[str] = frozenset({
    HTTP_REQUEST_METHOD, HTTP_METHOD, URL_FULL, HTTP_URL,
    HTTP_RESPONSE_STATUS_CODE, HTTP_STATUS_CODE, USER_AGENT_ORIGINAL, HTTP_USER_AGENT,
    HTTP_TARGET, HTTP_HOST, HTTP_SCHEME, HTTP_SERVER_NAME, HTTP_CLIENT_IP,
})
_STATUS_KEYS = (HTTP_RESPONSE_STATUS_CODE, HTTP_STATUS_CODE)
_LENGTH_KEYS = frozenset({HTTP_RESPONSE_BODY_SIZE, HTTP_RESPONSE_CONTENT_LENGTH})
_SERVER_HOST_KEYS = (HTTP_SERVER_NAME, NET_HOST_NAME, SERVER_ADDRESS)
_URL_KEYS = (URL_FULL, HTTP_URL)
_OLD_METHOD_KEYS = (HTTP_METHOD,)
_ORIGINAL_METHOD_KEYS = (HTTP_REQUEST_METHOD_ORIGINAL,)
_USER_AGENT_KEYS = (USER_AGENT_ORIGINAL, HTTP_USER_AGENT)
_SCHEME_KEYS = (URL_SCHEME, HTTP_SCHEME)
_TARGET_KEYS = (HTTP_TARGET,)
_PEER_ADDRESS_KEYS = (NETWORK_PEER_ADDRESS, NET_PEER_IP)
_ABSOLUTE = ("http://", "https://")
_TARGET_STARTS = ("/", "http://", "https://")
_CLIENT_HOST_KEYS = (NET_PEER_NAME, SERVER_ADDRESS, NET_PEER_IP)
_SERVER_PORT_KEYS = (NET_HOST_PORT, SERVER_PORT)
_CLIENT_PORT_KEYS = (NET_PEER_PORT, SERVER_PORT)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_OUTGOING = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})


def status_code(attrs: Attributes) -> Optional[int]:
    """The HTTP response status of the span, from either convention generation.

    Integers and integral strings (``"200"``) count; anything outside 0-999 is ignored.
    """
    for key in _STATUS_KEYS:
        value = attrs.get(key)
        if value is None:
            continue
        if type(value) is int:  # the usual case
            if 0 <= value <= _MAX_STATUS:
                return value
            continue
        status = as_int(value, _MAX_STATUS)
        if status is not None:
            return status
    return None


def http_block(attrs: Attributes, kind: SpanKind, *, is_segment: bool) -> Optional[Dict[str, Any]]:
    """The ``http`` field, or ``None`` when the span carries no HTTP information.

    ``kind`` decides which side's keys build the URL (server vs. client) and whether the
    span's peer is a *client* (``client_ip`` is only set for incoming requests);
    ``x_forwarded_for`` is only set on segments.
    """
    if not has_http(attrs):
        return None
    return build_http_block(attrs, kind in _OUTGOING, is_segment, status_code(attrs))


def has_http(keys: Iterable[str]) -> bool:
    """Whether the span's attribute ``keys`` (or attributes) include an HTTP key (else it
    gets no ``http`` block)."""
    return not HTTP_MARKERS.isdisjoint(keys)


def build_http_block(
    attrs: Attributes, outgoing: bool, is_segment: bool, status: Optional[int]
) -> Optional[Dict[str, Any]]:
    """:func:`http_block` of a span that :func:`has_http`, its kind given as ``outgoing``
    (CLIENT/PRODUCER) and its :func:`status_code` as ``status``."""
    request: Dict[str, Any] = {}
    method = attrs.get(HTTP_REQUEST_METHOD)
    if not (isinstance(method, str) and method):
        method = first_str(attrs, *_OLD_METHOD_KEYS)
    elif method == _OTHER_METHOD:
        method = first_str(attrs, *_ORIGINAL_METHOD_KEYS) or method
    if method:
        request["method"] = method if len(method) <= MAX_REQUEST_STRING else _cut(method)
    url = request_url(attrs, server_side=not outgoing)
    if url:
        request["url"] = url
    user_agent = first_str(attrs, *_USER_AGENT_KEYS)
    if user_agent:
        request["user_agent"] = _cut(user_agent)
    if not outgoing:
        client_ip, forwarded = _client_ip(attrs)
        if client_ip:
            request["client_ip"] = _cut(client_ip)
            if forwarded and is_segment:
                request["x_forwarded_for"] = True

    response: Dict[str, Any] = {}
    if status is not None:
        response["status"] = status
    if not _LENGTH_KEYS.isdisjoint(attrs):
        length = as_int(attrs.get(HTTP_RESPONSE_BODY_SIZE), _MAX_CONTENT_LENGTH)
        if length is None:
            length = as_int(attrs.get(HTTP_RESPONSE_CONTENT_LENGTH), _MAX_CONTENT_LENGTH)
        if length is not None:
            response["content_length"] = length

    block: Dict[str, Any] = {}
    if request:
        block["request"] = request
    if response:
        block["response"] = response
    return block or None


def request_url(attrs: Attributes, *, server_side: bool) -> Optional[str]:
    """The request URL without user-info, query or fragment, cut to 250 characters;
    ``None`` without a host.

    ``url.full``/``http.url`` win; otherwise the URL is rebuilt as
    scheme + host + port (default ports omitted) + path.
    """
    full = first_str(attrs, *_URL_KEYS)
    if full:
        full = strip_query(full)
        if "@" in full:
            full = strip_userinfo(full)
        return full if len(full) <= MAX_REQUEST_STRING else full[:MAX_REQUEST_STRING]
    target = strip_query(_target(attrs))
    if target.startswith(_ABSOLUTE):  # absolute-form request target
        return _cut(strip_userinfo(target))
    host, port_given = _host(attrs, server_side)
    if not host:
        return None
    scheme = first_str(attrs, *_SCHEME_KEYS)
    port = None
    if not port_given:
        for key in _SERVER_PORT_KEYS if server_side else _CLIENT_PORT_KEYS:
            value = attrs.get(key)
            if value is None:
                continue
            if type(value) is int:  # the usual case
                port = value if 0 <= value <= 65535 else None
            else:
                port = as_int(value, 65535)
            if port:
                break
    if not scheme:
        scheme = "https" if port == 443 else "http"
    url = f"{scheme}://{host}"
    if port and port != _DEFAULT_PORTS.get(scheme.lower()):
        url = f"{url}:{port}"
    return _cut(url + target)


def strip_query(url: str) -> str:
    """``url`` without its query string and fragment (``?…`` and ``#…``)."""
    for delimiter in "?#":
        if delimiter in url:
            url = url.partition(delimiter)[0]
    return url


def strip_userinfo(url: str) -> str:
    """Remove ``user:password@`` from the authority of ``url``; other text is unchanged."""
    if "@" not in url:
        return url
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url
    start = scheme_end + 3
    end = len(url)
    for delimiter in "/?#":
        index = url.find(delimiter, start, end)
        if index >= 0:
            end = index
    at = url.rfind("@", start, end)
    return url if at < 0 else url[:start] + url[at + 1:]


def _target(attrs: Attributes) -> str:
    """The path: ``url.path``, else ``http.target`` (its query is cut later), else ``/``."""
    target = nonempty_str(attrs.get(URL_PATH)) or first_str(attrs, *_TARGET_KEYS) or "/"
    if target.startswith(_TARGET_STARTS):
        return target
    return "/" + target


def _host(attrs: Attributes, server_side: bool) -> Tuple[Optional[str], bool]:
    """The URL host (IPv6 in brackets) and whether the port is already decided.

    ``http.host`` is the Host header: when it has no port, the default port of the
    scheme was meant, so no port key is added to it (the socket port may be a proxy's).
    """
    host = nonempty_str(attrs.get(HTTP_HOST))
    from_host_header = host is not None
    if host is None:
        host = first_str(attrs, *(_SERVER_HOST_KEYS if server_side else _CLIENT_HOST_KEYS))
    if not host:
        return None, False
    if "@" in host:
        host = host.rpartition("@")[2]  # user-info has no place in a host, never send it
        if not host:
            return None, False
    if host.startswith("["):
        return host, "]:" in host or from_host_header
    colons = host.count(":")
    if colons >= 2:  # a bare IPv6 address; a zone id's % must be escaped in a URL
        return "[" + host.replace("%", "%25") + "]", False
    return host, colons == 1 or from_host_header


def _client_ip(attrs: Attributes) -> Tuple[Optional[str], bool]:
    """The client's address and whether it came from a forwarded header.

    ``http.client_ip`` is defined as the forwarded address; next comes the captured
    ``X-Forwarded-For`` header (its first, leftmost address: the original client).
    ``client.address`` counts as forwarded only when a socket peer is recorded and differs
    from it: the Python WSGI/ASGI instrumentations put the socket peer itself into
    ``client.address``.
    """
    forwarded = nonempty_str(attrs.get(HTTP_CLIENT_IP))
    if forwarded:
        return forwarded, True
    header = attrs.get(FORWARDED_FOR_HEADER)
    if header is not None:
        forwarded = forwarded_client(header)
        if forwarded:
            return forwarded, True
    peer = first_str(attrs, *_PEER_ADDRESS_KEYS)
    client = nonempty_str(attrs.get(CLIENT_ADDRESS))
    if client:
        return client, peer is not None and peer != client
    return peer, False


def forwarded_client(header: object) -> Optional[str]:
    """The original client of an ``X-Forwarded-For`` value (text, or a captured list of
    values): the first address of the first value; ``None`` when there is none."""
    if isinstance(header, (list, tuple)):
        header = header[0] if header else None
    if not isinstance(header, str):
        return None
    return header.partition(",")[0].strip() or None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REQUEST_STRING else text[:MAX_REQUEST_STRING]

