"""X-Ray's document rules as ``otel-xray listen`` applies them, at three levels.

Rejected (``errors``: X-Ray refuses the document), ignored (``warnings``: X-Ray accepts it
and loses a part), outside the documented format (``notes``: X-Ray accepts it; much of it
the native SDKs send). Each table also pins what the published schema and the strict
schema (otel-xray's own output) say about the same document.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import jsonschema
import orjson
import pytest

from otel_xray.cli.listen import check_datagram
from otel_xray.cli.validate import NATIVE, UNKNOWN, Note, check_document, check_trace
from otel_xray.emit.protocol import HEADER
from tests.support.documents import TRACE_ID, nested, segment, subsegment, without
from tests.support.helpers import SCHEMA, STRICT_SCHEMA

PUBLISHED = jsonschema.Draft202012Validator(SCHEMA)
STRICT = jsonschema.Draft202012Validator(STRICT_SCHEMA)


def is_valid(validator: jsonschema.Draft202012Validator, doc: Dict[str, Any]) -> bool:
    return not list(validator.iter_errors(doc))


# --- rejected: X-Ray refuses the whole document ------------------------------------------

REJECTED: Dict[str, Dict[str, Any]] = {
    "name-with-bad-character": segment(name="checkout!"),
    "name-with-brackets": segment(name="GET <id>"),
    "name-empty": segment(name=""),
    "name-too-long": segment(name="n" * 201),
    "name-not-string": segment(name=7),
    "id-uppercase": segment(id="53995C3F42CD8AD8"),
    "id-too-short": segment(id="53995c3f42cd8ad"),
    "id-not-hex": segment(id="53995c3f42cd8adz"),
    "trace-id-wrong-version": segment(trace_id="2-5759e988-bd862e3fe1be46a994272793"),
    "trace-id-without-dashes": segment(trace_id="5759e988bd862e3fe1be46a994272793"),
    "trace-id-uppercase": segment(trace_id="1-5759E988-BD862E3FE1BE46A994272793"),
    "trace-id-short": segment(trace_id="1-5759e988-bd862e3fe1be46a99427279"),
    "parent-id-bad": segment(parent_id="xyz"),
    "missing-name": without(segment(), "name"),
    "missing-id": without(segment(), "id"),
    "missing-trace-id": without(segment(), "trace_id"),
    "missing-start-time": without(segment(), "start_time"),
    "missing-end-time": without(segment(), "end_time"),
    "in-progress-false": without(segment(in_progress=False), "end_time"),
    "end-time-and-in-progress": segment(in_progress=True),
    "start-time-string": segment(start_time="1700000000"),
    "start-time-negative": segment(start_time=-1),
    "end-time-boolean": segment(end_time=True),
    "type-not-subsegment": segment(type="segment"),
    "standalone-without-parent-id": without(subsegment(), "parent_id"),
    "fault-not-boolean": segment(fault="true"),
    "error-number": segment(error=1),
    "user-too-long": segment(user="u" * 251),
    "origin-unknown": segment(origin="AWS::EC3::Instance"),
    "http-status-string": segment(http={"response": {"status": "200"}}),
    "http-status-negative": segment(http={"response": {"status": -1}}),
    "http-url-too-long": segment(http={"request": {"url": "http://x/" + "a" * 250}}),
    "http-traced-string": segment(http={"request": {"traced": "yes"}}),
    "annotations-not-object": segment(annotations=[1]),
    "metadata-reserved-namespace": segment(metadata={"AWS.xray": {"a": 1}}),
    "metadata-namespace-not-object": segment(metadata={"default": 5}),
    "cause-id-not-hex": segment(cause="not-an-id"),
    "exception-without-id": segment(cause={"exceptions": [{"type": "KeyError"}]}),
    "exception-line-string": segment(cause={"exceptions": [
        {"id": "0f910026178b71eb", "stack": [{"path": "a.py", "line": "3"}]}
    ]}),
    "exception-truncated-negative": segment(cause={"exceptions": [
        {"id": "0f910026178b71eb", "truncated": -2}
    ]}),
    "sql-preparation-unknown": segment(sql={"preparation": "prepared"}),
    "sql-user-too-long": segment(sql={"user": "u" * 251}),
    "aws-retries-negative": segment(aws={"retries": -1}),
    "aws-table-names-not-list": segment(aws={"table_names": "orders"}),
    "aws-xray-sdk-not-string": segment(aws={"xray": {"sdk": 1}}),
    "link-without-id": segment(links=[{"trace_id": TRACE_ID}]),
    "link-bad-trace-id": segment(links=[{"trace_id": "x", "id": "0f910026178b71eb"}]),
    "precursor-id-bad": segment(precursor_ids=["nope"]),
    "subsegments-not-list": segment(subsegments={"name": "x"}),
    "embedded-missing-id": segment(subsegments=[{"name": "x", "start_time": 1.0,
                                                 "end_time": 2.0}]),
    "embedded-bad-name": segment(subsegments=[{"name": "a|b", "id": "0f910026178b71eb",
                                               "start_time": 1.0, "end_time": 2.0}]),
    "embedded-deep-bad-id": segment(subsegments=[{
        "name": "x", "id": "0f910026178b71eb", "start_time": 1.0, "end_time": 2.0,
        "subsegments": [{"name": "y", "id": "Z", "start_time": 1.0, "end_time": 2.0}],
    }]),
    "namespace-unknown": subsegment(namespace="database"),
}


@pytest.mark.parametrize("doc", list(REJECTED.values()), ids=list(REJECTED))
def test_what_x_ray_rejects_is_an_error(doc: Dict[str, Any]) -> None:
    assert not is_valid(PUBLISHED, doc), "the published schema must reject it too"
    assert check_document(orjson.dumps(doc)).errors


@pytest.mark.parametrize(
    "doc",
    [segment(origin=[1]), subsegment(namespace={}), subsegment(namespace=[1]),
     segment(subsegments=[{"name": "x", "id": "0f910026178b71eb", "start_time": 1.0,
                           "end_time": 2.0, "namespace": {"a": 1}}]),
     segment(sql={"preparation": {}})],
    ids=["origin-array", "namespace-object", "namespace-array", "embedded-namespace-object",
         "sql-preparation-object"],
)
def test_unhashable_values_are_reported_not_raised(doc: Dict[str, Any]) -> None:
    # Issue 9.7: membership tests against sets raised TypeError and killed `listen`.
    assert check_document(orjson.dumps(doc)).errors


def test_subsegments_nested_500_deep_are_checked_without_recursion_error() -> None:
    # Issue 9.7: the checker recursed three frames per level and raised RecursionError.
    report = check_document(nested(500))
    assert report.errors == [] and report.warnings == [] and report.notes == []


def test_deeper_nesting_than_json_allows_is_invalid_json_not_a_crash() -> None:
    assert any("invalid JSON" in e for e in check_document(nested(2000)).errors)


def test_long_values_are_shortened_in_messages() -> None:
    (error,) = check_document(orjson.dumps(segment(id=["x" * 1000] * 10))).errors
    assert len(error) < 200 and error.startswith("id: must be 16 lowercase hex digits")


# --- ignored: X-Ray accepts the document and silently loses a part ------------------------

IGNORED: Dict[str, Dict[str, Any]] = {
    "annotation-key-dash": segment(annotations={"order-id": 1}),
    "annotation-key-space": segment(annotations={"order id": 1}),
    "annotation-key-too-long": segment(annotations={"k" * 501: 1}),
    "annotation-key-empty": segment(annotations={"": 1}),
    "annotation-value-null": segment(annotations={"k": None}),
    "annotation-value-object": segment(annotations={"k": {"a": 1}}),
    "annotation-value-list": segment(annotations={"k": [1]}),
    "annotation-value-too-long": segment(annotations={"k": "v" * 1001}),
    "annotations-over-50": segment(annotations={f"k{i}": i for i in range(51)}),
    "embedded-annotation-key-dash": segment(subsegments=[{
        "name": "x", "id": "0f910026178b71eb", "start_time": 1.0, "end_time": 2.0,
        "annotations": {"a-b": 1},
    }]),
}


@pytest.mark.parametrize("doc", list(IGNORED.values()), ids=list(IGNORED))
def test_what_x_ray_ignores_is_a_warning(doc: Dict[str, Any]) -> None:
    report = check_document(orjson.dumps(doc))
    assert report.errors == [] and len(report.warnings) == 1
    assert "ignores" in report.warnings[0]
    assert not is_valid(PUBLISHED, doc), "the schema describes what X-Ray keeps"


def test_document_over_64000_bytes_is_a_warning_up_to_64_kib() -> None:
    body = orjson.dumps(segment(metadata={"default": {"blob": "x" * 64_500}}))
    assert 64_000 < len(body) <= 65_536
    report = check_document(body)
    assert report.errors == []
    assert any("over the 64,000-byte limit otel-xray keeps to" in w for w in report.warnings)


def test_document_over_64_kib_is_rejected() -> None:
    body = orjson.dumps(segment(metadata={"default": {"blob": "x" * 66_000}}))
    assert any("over X-Ray's 64 kB limit" in e for e in check_document(body).errors)


# --- outside the documented format: X-Ray accepts it, mostly the native SDKs send it ------

OUTSIDE: Dict[str, Tuple[Dict[str, Any], Note]] = {
    "in-progress-false-next-to-end-time": (
        segment(in_progress=False), Note("in_progress false next to end_time", NATIVE)),
    "namespace-local": (subsegment(namespace="local"), Note("namespace 'local'", NATIVE)),
    "embedded-namespace-local": (
        segment(subsegments=[{"name": "x", "id": "0f910026178b71eb", "start_time": 1.0,
                              "end_time": 2.0, "namespace": "local"}]),
        Note("subsegments[].namespace 'local'", NATIVE)),
    "embedded-trace-id-type-parent-id": (
        segment(subsegments=[{
            "name": "x", "id": "0f910026178b71eb", "start_time": 1.0, "end_time": 2.0,
            "trace_id": TRACE_ID, "type": "subsegment", "parent_id": "53995c3f42cd8ad8",
            "subsegments": [{"name": "y", "id": "1f910026178b71eb", "start_time": 1.0,
                             "end_time": 2.0, "trace_id": TRACE_ID}],
        }]),
        Note("subsegments[].trace_id", NATIVE)),
    "ec2-instance-type": (
        segment(aws={"ec2": {"instance_id": "i-1", "instance_type": "t3.micro"}}),
        Note("aws.ec2.instance_type", NATIVE)),
    "unknown-field": (segment(color="blue"), Note("color", UNKNOWN)),
    "segment-with-namespace": (segment(namespace="remote"), Note("namespace", UNKNOWN)),
    "standalone-with-user": (subsegment(user="alice"), Note("user", UNKNOWN)),
    "service-unknown-field": (segment(service={"version": "1", "compiler": "x"}),
                              Note("service.compiler", UNKNOWN)),
    "http-unknown-field": (segment(http={"request": {"verb": "GET"}}),
                           Note("http.request.verb", UNKNOWN)),
    "cause-unknown-field": (segment(cause={"exceptions": [], "why": "x"}),
                            Note("cause.why", UNKNOWN)),
    "sql-unknown-field": (segment(sql={"query": "SELECT 1"}), Note("sql.query", UNKNOWN)),
    "aws-ec2-unknown-field": (segment(aws={"ec2": {"instance": "i-1"}}),
                              Note("aws.ec2.instance", UNKNOWN)),
}


@pytest.mark.parametrize("doc, note", list(OUTSIDE.values()), ids=list(OUTSIDE))
def test_what_x_ray_accepts_outside_the_documented_format_is_a_note(
    doc: Dict[str, Any], note: Note
) -> None:
    report = check_document(orjson.dumps(doc))
    assert report.errors == [] and report.warnings == []
    assert note in report.notes


@pytest.mark.parametrize("doc, note", list(OUTSIDE.values()), ids=list(OUTSIDE))
def test_published_schema_accepts_what_the_native_sdks_send_and_strict_schema_does_not(
    doc: Dict[str, Any], note: Note
) -> None:
    assert is_valid(PUBLISHED, doc) is (note.reason == NATIVE)
    assert not is_valid(STRICT, doc)


def test_a_note_repeated_in_one_document_is_listed_once() -> None:
    children = [{"name": "x", "id": f"{i:016x}", "start_time": 1.0, "end_time": 2.0,
                 "namespace": "local"} for i in range(5)]
    assert check_document(orjson.dumps(segment(subsegments=children))).notes == [
        Note("subsegments[].namespace 'local'", NATIVE)
    ]


# --- accepted as documented -----------------------------------------------------------------

ACCEPTED: Dict[str, Dict[str, Any]] = {
    "minimal-segment": segment(),
    "in-progress-segment": without(segment(in_progress=True), "end_time"),
    "standalone-subsegment": subsegment(namespace="aws"),
    "unicode-name": segment(name="Bestellung äöü 注文 _.:/%&#=+\\-@"),
    "annotations-of-every-type": segment(annotations={
        "s": "v" * 1000, "i": 1, "f": 1.5, "b": False, "dotted.key": "x",
    }),
    "full-segment": segment(
        parent_id="0f910026178b71eb", user="alice", origin="AWS::EC2::Instance",
        service={"version": "1.2"}, error=True, throttle=True, fault=False,
        http={"request": {"method": "GET", "url": "http://x/", "client_ip": "10.0.0.1",
                          "x_forwarded_for": True},
              "response": {"status": 429, "content_length": 12}},
        aws={"account_id": "123", "ec2": {"instance_id": "i-1"}, "xray": {"sdk": "otel"},
             "cloudwatch_logs": [{"log_group": "g"}], "custom": {"any": "thing"}},
        metadata={"default": {"a": [1, {"b": None}]}, "ns": {}},
        links=[{"trace_id": TRACE_ID, "id": "0f910026178b71eb", "attributes": {"k": 1}}],
        cause={"working_directory": "/app", "paths": [], "exceptions": [{
            "id": "0f910026178b71eb", "type": "KeyError", "message": "x", "remote": False,
            "truncated": 2, "skipped": 0, "cause": "53995c3f42cd8ad8",
            "stack": [{"path": "a.py", "line": 3, "label": "f"}],
        }]},
        subsegments=[{
            "name": "DynamoDB", "id": "0f910026178b71eb", "namespace": "aws",
            "start_time": 1.0, "end_time": 2.0, "precursor_ids": ["53995c3f42cd8ad8"],
            "aws": {"operation": "GetItem", "table_names": ["a", "b"], "retries": 0},
            "sql": {"database_type": "sqlite", "preparation": "statement"},
        }],
    ),
    "cause-as-exception-id": segment(cause="0f910026178b71eb"),
    "sampling-rule-name": segment(aws={"xray": {"sdk": "otel", "sampling_rule_name": "r"}}),
}


@pytest.mark.parametrize("doc", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_what_the_strict_schema_accepts_is_clean(doc: Dict[str, Any]) -> None:
    assert is_valid(STRICT, doc) and is_valid(PUBLISHED, doc)
    report = check_document(orjson.dumps(doc))
    assert report.errors == [] and report.warnings == [] and report.notes == []


# --- not a document at all ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name":"a","start_time":NaN}',
        b'{"name":"a","start_time":Infinity}',
        b'{"name":"a","start_time":-Infinity}',
        b'{"name":"\\ud800"}',
        b'{"name":"a"} trailing',
        b'{"name":"a",}',
        b'{"name":\'a\'}',
        b"\xff\xfe{}",
        b"",
    ],
    ids=["nan", "infinity", "minus-infinity", "lone-surrogate", "trailing-data",
         "trailing-comma", "single-quotes", "not-utf8", "empty"],
)
def test_invalid_json_is_rejected(body: bytes) -> None:
    report = check_document(body)
    assert report.document is None
    assert any(e.startswith("invalid JSON") for e in report.errors)


@pytest.mark.parametrize("body", [b"[]", b'"segment"', b"1", b"null"],
                         ids=["array", "string", "number", "null"])
def test_a_body_that_is_not_an_object_is_rejected(body: bytes) -> None:
    assert check_document(body).errors


@pytest.mark.parametrize(
    "data, reason",
    [
        (orjson.dumps(segment()), "no newline"),
        (b"format json\n" + orjson.dumps(segment()), "not valid JSON"),
        (b'["json",1]\n' + orjson.dumps(segment()), "not a JSON object"),
        (b'{"format":"xml","version":1}\n{}', "format"),
        (b'{"version":1}\n{}', "format"),
        (b'{"format":"json","version":2}\n{}', "version"),
        (b'{"format":"json","version":"1"}\n{}', "version"),
        (b'{"format":"json"}\n{}', "version"),
    ],
    ids=["no-header", "header-not-json", "header-not-object", "wrong-format",
         "missing-format", "wrong-version", "version-as-string", "missing-version"],
)
def test_listener_rejects_datagrams_the_daemon_rejects(data: bytes, reason: str) -> None:
    received = check_datagram(data)
    assert received.document is None
    assert len(received.errors) == 1 and reason in received.errors[0]


@pytest.mark.parametrize(
    "header",
    [b'{"format":"json","version":1}', b'{"format":"JSON","version":1}',
     b'{ "version": 1, "format": "json" }'],
    ids=["canonical", "format-uppercase", "spaced-and-reordered"],
)
def test_listener_accepts_headers_the_daemon_accepts(header: bytes) -> None:
    received = check_datagram(header + b"\n" + orjson.dumps(segment()))
    assert received.errors == [] and received.document == segment()


def test_listener_accepts_a_body_with_newlines_as_the_daemon_does() -> None:
    body = b'{\n  "name": "checkout",\n' + orjson.dumps(without(segment(), "name"))[1:]
    assert check_datagram(HEADER + body).errors == []


def test_trace_with_more_than_50_annotations_is_warned_about() -> None:
    docs = [segment(annotations={f"a{i}": i for i in range(30)}),
            subsegment(annotations={f"b{i}": i for i in range(21)})]
    warnings = check_trace(docs, 1000)
    assert len(warnings) == 1 and "51 annotations" in warnings[0]


def test_trace_over_the_size_limit_is_warned_about() -> None:
    warnings = check_trace([segment()], 150_000)
    assert len(warnings) == 1 and "Trace Size Exceeded" in warnings[0]


def test_trace_within_limits_has_no_warnings() -> None:
    assert check_trace([segment(annotations={f"a{i}": i for i in range(50)})], 99_000) == []
