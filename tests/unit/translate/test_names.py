"""Names: which attribute names a document, and how every name is cleaned for X-Ray."""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate.names import FALLBACK_NAME, MAX_NAME_LENGTH, clean_name
from tests.support.helpers import SCHEMA, SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
NAME_PATTERN = re.compile(SCHEMA["$defs"]["name"]["pattern"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("orders-service", "orders-service", id="clean-ascii-unchanged"),
        pytest.param("GET /users/{id}", "GET /users/id", id="braces-removed"),
        pytest.param(r"a_b.c:d/e%f&g#h=i+j\k-l@m", r"a_b.c:d/e%f&g#h=i+j\k-l@m",
                     id="allowed-punctuation-kept"),
        pytest.param("a,b;c!d?e*f(g)", "abcdefg", id="other-punctuation-removed"),
        pytest.param("Bücher Dienst 注文", "Bücher Dienst 注文", id="unicode-letters-kept"),
        pytest.param("v٣ ²", "v٣ ²", id="unicode-numbers-kept"),
        pytest.param("Cafe\u0301", "Caf\u00e9", id="combining-mark-composed"),
        pytest.param("svc🚀", "svc", id="emoji-removed"),
        pytest.param("a\udcffb", "ab", id="lone-surrogate-removed"),
        pytest.param("a\nb\tc\r\nd", "a b c d", id="control-whitespace-becomes-space"),
        pytest.param("  svc  ", "svc", id="ends-stripped"),
        pytest.param("!!!", "", id="nothing-valid-left"),
        pytest.param("", "", id="empty"),
        pytest.param("a" * 250, "a" * MAX_NAME_LENGTH, id="ascii-cut-to-200"),
        pytest.param("é" * 300, "é" * MAX_NAME_LENGTH, id="cut-by-code-point"),
        pytest.param("a" * 199 + " b", "a" * 199, id="cut-leaves-no-trailing-space"),
    ],
)
def test_clean_name(text: str, expected: str) -> None:
    assert clean_name(text) == expected


@given(st.text(max_size=400))
def test_clean_name_is_always_valid_or_empty_and_idempotent(text: str) -> None:
    cleaned = clean_name(text)
    assert len(cleaned) <= MAX_NAME_LENGTH
    assert cleaned == "" or NAME_PATTERN.match(cleaned)
    assert clean_name(cleaned) == cleaned


AWS_CALL = {"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem"}

# (id, kind, attributes, expected name) for spans with a local parent: subsegments.
CALL_CASES = [
    ("aws-remote-service", SpanKind.CLIENT,
     {"aws.remote.service": "payments", "peer.service": "other"}, "payments"),
    ("aws-remote-service-prefix-stripped-for-aws-call", SpanKind.CLIENT,
     {**AWS_CALL, "aws.remote.service": "AWS::DynamoDB"}, "DynamoDB"),
    ("aws-remote-service-prefix-kept-otherwise", SpanKind.CLIENT,
     {"aws.remote.service": "AWS::Thing"}, "AWS::Thing"),
    ("aws-remote-service-for-producer", SpanKind.PRODUCER,
     {"aws.remote.service": "queue-svc"}, "queue-svc"),
    ("aws-remote-service-ignored-on-internal", SpanKind.INTERNAL,
     {"aws.remote.service": "payments"}, "span-name"),
    ("peer-service", SpanKind.CLIENT,
     {"peer.service": "inventory", "db.name": "db", "http.host": "h"}, "inventory"),
    ("aws-service", SpanKind.CLIENT, {"aws.service": "S3", "rpc.service": "x"}, "S3"),
    ("db-name-at-connection-string-host", SpanKind.CLIENT,
     {"db.name": "orders", "db.connection_string": "postgresql://u:secret@db.local:5432/orders",
      "server.address": "other"}, "orders@db.local"),
    ("db-namespace-at-server-address", SpanKind.CLIENT,
     {"db.namespace": "orders", "server.address": "db.local"}, "orders@db.local"),
    ("db-name-at-net-peer-name", SpanKind.CLIENT,
     {"db.name": "orders", "net.peer.name": "db.local"}, "orders@db.local"),
    ("db-name-without-host", SpanKind.CLIENT, {"db.name": "/tmp/app.db"}, "/tmp/app.db"),
    ("db-name-with-broken-connection-string", SpanKind.CLIENT,
     {"db.name": "orders", "db.connection_string": "mysql://[::1/orders"}, "orders"),
    ("rpc-service-of-aws-call", SpanKind.CLIENT, AWS_CALL, "DynamoDB"),
    ("http-host-without-port", SpanKind.CLIENT, {"http.host": "api.example.com:8443"},
     "api.example.com"),
    ("http-host-ipv6", SpanKind.CLIENT, {"http.host": "[::1]:8080"}, "::1"),
    ("net-peer-name", SpanKind.CLIENT, {"net.peer.name": "api.example.com"}, "api.example.com"),
    ("server-address", SpanKind.CLIENT, {"server.address": "api.example.com"},
     "api.example.com"),
    ("url-host-of-client", SpanKind.CLIENT,
     {"http.method": "GET", "http.url": "https://u:p@api.example.com:8443/x"},
     "api.example.com"),
    ("url-host-of-client-stable", SpanKind.CLIENT, {"url.full": "http://[::1]:80/"}, "::1"),
    ("url-host-ignored-for-internal", SpanKind.INTERNAL, {"url.full": "http://h/"},
     "span-name"),
    ("relative-url-ignored", SpanKind.CLIENT, {"http.url": "/x"}, "span-name"),
    ("span-name-fallback", SpanKind.CLIENT, {}, "span-name"),
    ("non-string-source-skipped", SpanKind.CLIENT, {"peer.service": 42}, "span-name"),
    ("source-cleaned", SpanKind.CLIENT, {"peer.service": "orders {v2}"}, "orders v2"),
    ("source-invalid-only-falls-through", SpanKind.CLIENT,
     {"peer.service": "***", "net.peer.name": "db.local"}, "db.local"),
    ("source-cut-to-200", SpanKind.CLIENT, {"peer.service": "p" * 300}, "p" * 200),
]


@pytest.mark.parametrize(
    ("kind", "attributes", "expected"),
    [pytest.param(kind, attrs, name, id=case) for case, kind, attrs, name in CALL_CASES],
)
def test_subsegment_name(
    recorder: SpanRecorder, kind: SpanKind, attributes: Dict[str, Any], expected: str
) -> None:
    span = recorder.span("span-name", kind=kind, parent="local", attributes=attributes)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["name"] == expected


def test_span_name_without_valid_characters_gets_fallback(recorder: SpanRecorder) -> None:
    doc = assert_valid_document(to_document(recorder.span("{}", parent="local"), OPTIONS))
    assert doc["name"] == FALLBACK_NAME


#: What the Python SDK sets when no service name is configured.
SDK_DEFAULT = {"service.name": "unknown_service:python"}

# (id, resource attributes, kind, attributes, expected)
ROOT_CASES = [
    ("aws-local-service", {"service.name": "svc"}, SpanKind.SERVER,
     {"aws.local.service": "local-svc", "peer.service": "other"}, "local-svc"),
    ("resource-service-name", {"service.name": "checkout"}, SpanKind.SERVER,
     {"peer.service": "other", "http.host": "h"}, "checkout"),
    ("resource-service-name-for-consumer", {"service.name": "worker"}, SpanKind.CONSUMER,
     {}, "worker"),
    ("resource-service-name-cleaned", {"service.name": "check<out>"}, SpanKind.SERVER,
     {}, "checkout"),
    ("default-service-falls-back-to-faas-name",
     {"service.name": "unknown_service", "faas.name": "my-function"}, SpanKind.SERVER,
     {"http.host": "h"}, "my-function"),
    ("default-service-server-falls-back-to-host-header", SDK_DEFAULT, SpanKind.SERVER,
     {"http.host": "shop.example.com:8080"}, "shop.example.com"),
    ("default-service-server-falls-back-to-server-address", SDK_DEFAULT, SpanKind.SERVER,
     {"server.address": "shop.example.com"}, "shop.example.com"),
    ("default-service-kept-without-better-source", SDK_DEFAULT, SpanKind.CONSUMER,
     {"server.address": "x"}, "unknown_service:python"),
    ("bare-default-service-kept", {"service.name": "unknown_service"}, SpanKind.SERVER,
     {}, "unknown_service"),
    ("span-name-without-service-name", {}, SpanKind.SERVER, {}, "GET /items"),
]


@pytest.mark.parametrize(
    ("resource_attrs", "kind", "attributes", "expected"),
    [pytest.param(res, kind, attrs, name, id=case) for case, res, kind, attrs, name in ROOT_CASES],
)
def test_segment_name(
    resource_attrs: Dict[str, Any], kind: SpanKind, attributes: Dict[str, Any], expected: str
) -> None:
    recorder = SpanRecorder(resource=Resource(resource_attrs))
    span = recorder.span("GET /items", kind=kind, attributes=attributes)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert "type" not in doc
    assert doc["name"] == expected


def test_root_with_remote_parent_is_named_after_service(recorder: SpanRecorder) -> None:
    span = recorder.span("GET /", kind=SpanKind.CLIENT, parent="remote",
                         attributes={"peer.service": "other"})
    assert to_document(span, OPTIONS)["name"] == "test-service"


def test_server_span_nested_in_lambda_is_named_after_service(recorder: SpanRecorder) -> None:
    span = recorder.span("GET /", kind=SpanKind.SERVER, parent="local",
                         attributes={"http.host": "h"})
    doc = assert_valid_document(to_document(span, TranslateOptions(lambda_mode=True)))
    assert doc["type"] == "subsegment"
    assert doc["name"] == "test-service"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({"db.system": "sqlite", "db.statement": "SELECT 1"}, "sqlite", id="old-key"),
        pytest.param({"db.system.name": "sqlite", "db.query.text": "SELECT 1"}, "sqlite",
                     id="stable-key"),
        pytest.param({"db.system": "sqlite", "db.name": "orders"}, "orders", id="name-wins"),
    ],
)
def test_database_call_without_name_or_host_is_named_after_the_system(
    recorder: SpanRecorder, attributes: Dict[str, Any], expected: str
) -> None:
    span = recorder.span("SELECT", kind=SpanKind.CLIENT, parent="local", attributes=attributes)
    assert assert_valid_document(to_document(span, OPTIONS))["name"] == expected


@pytest.mark.parametrize(("kind", "parent", "attributes", "expected"), [
    pytest.param(SpanKind.INTERNAL, None, {}, "hourly-sync", id="internal-root"),
    pytest.param(SpanKind.INTERNAL, "remote", {}, "hourly-sync", id="internal-remote-parent"),
    pytest.param(SpanKind.INTERNAL, None, {"http.method": "GET"}, "test-service",
                 id="internal-with-http-is-a-request"),
    pytest.param(SpanKind.SERVER, None, {}, "test-service", id="server"),
    pytest.param(SpanKind.CONSUMER, None, {}, "test-service", id="consumer"),
])
def test_operation_root_named_after_span(
    recorder: SpanRecorder, kind: SpanKind, parent: Optional[str],
    attributes: Dict[str, Any], expected: str,
) -> None:
    span = recorder.span("hourly-sync", kind=kind, parent=parent, attributes=attributes)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["name"] == expected
    assert "annotations" not in doc


def test_operation_root_named_after_service_keeps_span_name_as_annotation(
    recorder: SpanRecorder,
) -> None:
    span = recorder.span("hourly-sync")
    options = TranslateOptions(lambda_mode=False, internal_root_name="service")
    doc = assert_valid_document(to_document(span, options))
    assert doc["name"] == "test-service"
    assert doc["annotations"] == {"operation": "hourly-sync"}


def test_operation_child_span_is_not_renamed(recorder: SpanRecorder) -> None:
    span = recorder.span("step", parent="local")
    assert to_document(span, OPTIONS)["name"] == "step"


def test_internal_root_name_from_env() -> None:
    env = {"OTEL_EXPORTER_XRAY_INTERNAL_ROOT_NAME": "Service"}
    assert TranslateOptions.from_env(env).internal_root_name == "service"
    bad = {"OTEL_EXPORTER_XRAY_INTERNAL_ROOT_NAME": "job"}
    assert TranslateOptions.from_env(bad).internal_root_name == "span"


def test_invalid_internal_root_name_argument_falls_back_to_span() -> None:
    assert TranslateOptions(internal_root_name="job").internal_root_name == "span"
