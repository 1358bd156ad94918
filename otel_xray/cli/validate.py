"""Check X-Ray documents the way the X-Ray service would, without jsonschema.

:func:`check_document` parses a document body as strict JSON and sorts what it finds into
three levels:

- ``errors``: what X-Ray rejects the whole document for (it never shows up);
- ``warnings``: what X-Ray accepts but silently ignores or loses (an invalid annotation,
  a document over the 64,000 bytes otel-xray keeps to);
- ``notes``: what lies outside the documented format but X-Ray accepts, most of it sent by
  the native X-Ray SDKs (``"in_progress": false`` next to ``end_time``,
  ``trace_id``/``type``/``parent_id`` in embedded subsegments,
  ``"namespace": "local"``), and unknown fields.

:func:`check_trace` adds the trace-wide limits (annotations per trace, trace size). The
rules follow the project's document schema (``tests/xray-segment.schema.json``), which is
written from the X-Ray documentation; its ``native_*`` definitions are the notes here.

Any JSON value, however deep or odd, is checked without raising.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

import orjson

#: The largest document otel-xray itself sends; bigger ones get a warning.
MAX_DOCUMENT_BYTES = 64_000
#: X-Ray's "64 kB" document limit read generously: bigger documents are rejected.
MAX_ACCEPTED_DOCUMENT_BYTES = 65_536
#: X-Ray indexes at most this many annotations per trace and silently drops the rest.
MAX_ANNOTATIONS_PER_TRACE = 50
#: X-Ray drops a trace that grows past roughly this size when its documents trickle in
#: ("Trace Size Exceeded"; about 500 kB when they arrive batched).
MAX_TRACE_BYTES = 100_000

_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}\Z")
# \w with str patterns matches Unicode letters, digits and '_' (as in the schema).
_NAME = re.compile(r"(?:\w|[\s.:/%&#=+\\\-@])+\Z")
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_.]{1,500}\Z")
_INDEX = re.compile(r"\[\d+\]")
_NESTING = re.compile(r"(?:subsegments\[\]\.)+")

_COMMON_FIELDS = frozenset({
    "name", "id", "start_time", "end_time", "in_progress", "error", "throttle", "fault",
    "cause", "http", "aws", "sql", "annotations", "metadata", "links", "subsegments",
    "precursor_ids",
})
_SEGMENT_FIELDS = _COMMON_FIELDS | {
    "trace_id", "parent_id", "user", "origin", "service", "resource_arn",
}
_STANDALONE_FIELDS = _COMMON_FIELDS | {"type", "trace_id", "parent_id", "namespace"}
_EMBEDDED_FIELDS = _COMMON_FIELDS | {"namespace"}
#: What the native SDKs repeat in every embedded subsegment (X-Ray ignores it there).
_EMBEDDED_NATIVE_FIELDS = ("trace_id", "type", "parent_id")
# Tuples, not sets: membership must not hash the (possibly unhashable) JSON value.
_NAMESPACES = ("aws", "remote")
_ORIGINS = (
    "AWS::EC2::Instance", "AWS::ECS::Container", "AWS::ECS::EC2", "AWS::ECS::Fargate",
    "AWS::EKS::Container", "AWS::ElasticBeanstalk::Environment", "AWS::AppRunner::Service",
    "AWS::Lambda::Function",
)
#: Why a :class:`Note` is only a note.
NATIVE = "outside the documented format, sent by the native X-Ray SDKs (X-Ray accepts it)"
UNKNOWN = "not in the X-Ray document format (X-Ray accepts the document, ignores the field)"

_MAX_SHOWN = 120
_shown = reprlib.Repr()
_shown.maxlevel, _shown.maxstring, _shown.maxother = 3, 80, 80
_shown.maxlist = _shown.maxdict = _shown.maxtuple = 4


def show(value: Any) -> str:
    """``repr`` for messages, bounded in length and depth (any JSON value is safe)."""
    try:
        text = _shown.repr(value)
    except ValueError:  # an integer too long to print (sys.get_int_max_str_digits)
        return f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


@dataclass(frozen=True)
class Note:
    """Something outside the documented format that X-Ray accepts: where, and why it is fine.

    ``field`` has ``[]`` in place of indices (``subsegments[].namespace 'local'``), so the
    notes of many documents add up; ``reason`` is :data:`NATIVE` or :data:`UNKNOWN`.
    """

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class Report:
    """The outcome of checking one document."""

    document: Optional[Dict[str, Any]]
    """The parsed document, ``None`` when the body is not a JSON object."""
    size: int
    """Size of the body in bytes."""
    errors: List[str] = field(default_factory=list)
    """What X-Ray would reject the document for, each as ``"path: message"``."""
    warnings: List[str] = field(default_factory=list)
    """What X-Ray would accept but silently ignore or lose."""
    notes: List[Note] = field(default_factory=list)
    """What is outside the documented format but accepted by X-Ray, each once."""

    @property
    def ok(self) -> bool:
        return not self.errors


def check_document(body: bytes) -> Report:
    """Parse ``body`` as strict JSON and check it against X-Ray's document rules."""
    report = Report(document=None, size=len(body))
    if len(body) > MAX_ACCEPTED_DOCUMENT_BYTES:
        report.errors.append(
            f"document is {len(body):,} bytes, over X-Ray's 64 kB limit "
            f"({MAX_ACCEPTED_DOCUMENT_BYTES:,} bytes)"
        )
    elif len(body) > MAX_DOCUMENT_BYTES:
        report.warnings.append(
            f"document is {len(body):,} bytes, over the {MAX_DOCUMENT_BYTES:,}-byte limit "
            f"otel-xray keeps to: X-Ray may reject it (its limit is 64 kB)"
        )
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        report.errors.append(f"invalid JSON: {exc} (body starts {body[:80]!r})")
        return report
    if not isinstance(parsed, dict):
        report.errors.append(f"a document must be a JSON object, got {_json_type(parsed)}")
        return report
    report.document = parsed
    checker = _Checker()
    checker.document(parsed)
    report.errors.extend(checker.errors)
    report.warnings.extend(checker.warnings)
    report.notes.extend(dict.fromkeys(checker.notes))
    return report


def check_trace(documents: Iterable[Mapping[str, Any]], total_bytes: int) -> List[str]:
    """Warnings for limits X-Ray applies to a whole trace (it drops the excess silently)."""
    warnings: List[str] = []
    annotations = sum(_count_annotations(doc) for doc in documents)
    if annotations > MAX_ANNOTATIONS_PER_TRACE:
        warnings.append(
            f"{annotations} annotations in the trace: X-Ray indexes at most "
            f"{MAX_ANNOTATIONS_PER_TRACE} per trace and ignores the rest"
        )
    if total_bytes > MAX_TRACE_BYTES:
        warnings.append(
            f"trace is {total_bytes:,} bytes: X-Ray may drop it as 'Trace Size Exceeded' "
            f"(about {MAX_TRACE_BYTES // 1000} kB when documents trickle in, 500 kB batched)"
        )
    return warnings


def _count_annotations(doc: Mapping[str, Any]) -> int:
    count = 0
    pending: List[Any] = [doc]
    while pending:
        current = pending.pop()
        if not isinstance(current, dict):
            continue
        annotations = current.get("annotations")
        count += len(annotations) if isinstance(annotations, dict) else 0
        children = current.get("subsegments")
        if isinstance(children, list):
            pending.extend(children)
    return count


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _is_integer(value: Any) -> bool:
    # JSON Schema counts 3.0 as an integer too.
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


Rule = Callable[[Any, str], None]


class _Checker:
    """Collects ``"path: message"`` strings at three levels; one method per schema definition.

    ``fail`` (X-Ray rejects the document), ``ignored`` (X-Ray loses that part), ``outside``
    (outside the documented format, accepted). Embedded subsegments are walked with an
    explicit stack, so any nesting depth is fine.
    """

    def __init__(self) -> None:
        self.errors: List[str] = []
        self.warnings: List[str] = []
        self.notes: List[Note] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '(document)'}: {message}")

    def ignored(self, path: str, message: str) -> None:
        self.warnings.append(f"{path or '(document)'}: {message}")

    def outside(self, path: str, reason: str, detail: str = "") -> None:
        generic = _NESTING.sub("subsegments[].", _INDEX.sub("[]", path))
        self.notes.append(Note(f"{generic} {detail}".strip(), reason))

    # -- documents ----------------------------------------------------------------------

    def document(self, doc: Dict[str, Any]) -> None:
        if "type" in doc:
            if doc["type"] != "subsegment":
                self.fail("type", f"must be 'subsegment', got {show(doc['type'])}")
            self.fields(doc, "", _STANDALONE_FIELDS, ("name", "id", "trace_id", "start_time",
                                                      "parent_id"))
            self.check(doc, "namespace", self.namespace)
        else:
            self.fields(doc, "", _SEGMENT_FIELDS, ("name", "id", "trace_id", "start_time"))
            self.segment_only(doc)
        self.check(doc, "trace_id", self.trace_id)
        self.check(doc, "parent_id", self.hex16)
        pending = self.body(doc, "")
        while pending:
            child, path = pending.pop()
            pending.extend(reversed(self.embedded(child, path)))

    def embedded(self, doc: Any, path: str) -> List[Tuple[Any, str]]:
        """Check one embedded subsegment; return its own subsegments to check next."""
        if not isinstance(doc, dict):
            self.fail(path, f"a subsegment must be an object, got {_json_type(doc)}")
            return []
        self.fields(doc, path, _EMBEDDED_FIELDS, ("name", "id", "start_time"),
                    native=_EMBEDDED_NATIVE_FIELDS)
        self.check(doc, "namespace", self.namespace, path)
        return self.body(doc, path)

    def fields(
        self,
        doc: Dict[str, Any],
        path: str,
        allowed: FrozenSet[str],
        required: Iterable[str],
        native: Iterable[str] = (),
    ) -> None:
        for name in required:
            if name not in doc:
                self.fail(path, f"required field '{name}' is missing")
        for name in doc:
            if name in native:
                self.outside(_join(path, name), NATIVE)
            elif name not in allowed:
                self.outside(_join(path, name), UNKNOWN)
        has_end, in_progress = "end_time" in doc, doc.get("in_progress")
        if not has_end and in_progress is not True:
            self.fail(path, "needs 'end_time' or 'in_progress': true")
        elif has_end and in_progress is True:
            self.fail(path, "has both 'end_time' and 'in_progress': true")
        elif has_end and in_progress is False:
            self.outside(_join(path, "in_progress"), NATIVE, "false next to end_time")

    def segment_only(self, doc: Dict[str, Any]) -> None:
        self.check(doc, "user", self.str250)
        if "origin" in doc:
            origin = doc["origin"]
            if not (isinstance(origin, str) and origin in _ORIGINS):
                self.fail("origin", f"unknown origin {show(origin)}")
        service = doc.get("service")
        if service is not None:
            self.closed_object(service, "service", {
                "version": self.string,
                # Sent by the X-Ray SDKs (and otel-xray) though the format documents only version.
                "runtime": self.string, "runtime_version": self.string,
            })
        self.check(doc, "resource_arn", self.string)

    def body(self, doc: Dict[str, Any], path: str) -> List[Tuple[Any, str]]:
        """Check the fields every (sub)segment has; return its subsegments to check next."""
        self.check(doc, "name", self.name, path)
        self.check(doc, "id", self.hex16, path)
        for key in ("start_time", "end_time"):
            self.check(doc, key, self.time, path)
        for key in ("in_progress", "error", "throttle", "fault"):
            self.check(doc, key, self.boolean, path)
        self.check(doc, "cause", self.cause, path)
        self.check(doc, "http", self.http, path)
        self.check(doc, "aws", self.aws, path)
        self.check(doc, "sql", self.sql, path)
        self.check(doc, "annotations", self.annotations, path)
        self.check(doc, "metadata", self.metadata, path)
        self.check(doc, "links", self.links, path)
        self.check(doc, "precursor_ids", lambda v, p: self.array(v, p, self.hex16), path)
        if "subsegments" not in doc:
            return []
        children, where = doc["subsegments"], _join(path, "subsegments")
        if not isinstance(children, list):
            self.fail(where, f"must be an array, got {_json_type(children)}")
            return []
        return [(child, f"{where}[{index}]") for index, child in enumerate(children)]

    def check(self, doc: Mapping[str, Any], key: str, rule: Rule, path: str = "") -> None:
        if key in doc:
            rule(doc[key], _join(path, key))

    # -- values -------------------------------------------------------------------------

    def name(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_json_type(value)}")
        elif not 1 <= len(value) <= 200:
            self.fail(path, f"must be 1 to 200 characters, got {len(value)}")
        elif not _NAME.match(value):
            bad = sorted({c for c in value if not _NAME.match(c)})
            self.fail(path, f"characters not allowed in a name: {''.join(bad)!r}")

    def hex16(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and _HEX16.match(value)):
            self.fail(path, f"must be 16 lowercase hex digits, got {show(value)}")

    def trace_id(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and _TRACE_ID.match(value)):
            self.fail(path, "must look like '1-5759e988-bd862e3fe1be46a994272793', "
                            f"got {show(value)}")

    def namespace(self, value: Any, path: str) -> None:
        if value == "local":
            self.outside(path, NATIVE, "'local'")
        elif value not in _NAMESPACES:
            self.fail(path, f"must be 'aws' or 'remote', got {show(value)}")

    def time(self, value: Any, path: str) -> None:
        if not _is_number(value) or value < 0:
            self.fail(path, f"must be epoch seconds (a non-negative number), got {show(value)}")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {show(value)}")

    def string(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_json_type(value)}")

    def str250(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_json_type(value)}")
        elif len(value) > 250:
            self.fail(path, f"must be at most 250 characters, got {len(value)}")

    def non_negative_int(self, value: Any, path: str) -> None:
        if not _is_integer(value) or value < 0:
            self.fail(path, f"must be a non-negative integer, got {show(value)}")

    def integer(self, value: Any, path: str) -> None:
        if not _is_integer(value):
            self.fail(path, f"must be an integer, got {show(value)}")

    def array(self, value: Any, path: str, item: Rule) -> None:
        if not isinstance(value, list):
            self.fail(path, f"must be an array, got {_json_type(value)}")
            return
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")

    def object(self, value: Any, path: str) -> bool:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_json_type(value)}")
            return False
        return True

    def _any_object(self, value: Any, path: str) -> None:
        self.object(value, path)

    def closed_object(
        self,
        value: Any,
        path: str,
        rules: Mapping[str, Rule],
        native: Optional[Mapping[str, Rule]] = None,
    ) -> None:
        """An object of the listed keys, each checked by its rule.

        ``native`` keys are outside the documented format but sent by the native SDKs;
        any other key is an unknown field. Both are notes: X-Ray accepts them.
        """
        if not self.object(value, path):
            return
        for key, element in value.items():
            where = _join(path, key)
            rule = rules.get(key)
            if rule is not None:
                rule(element, where)
            elif native is not None and key in native:
                native[key](element, where)
                self.outside(where, NATIVE)
            else:
                self.outside(where, UNKNOWN)

    def open_object(self, value: Any, path: str, rules: Mapping[str, Rule]) -> None:
        """An object whose listed keys are checked; other keys are allowed."""
        if not self.object(value, path):
            return
        for key, rule in rules.items():
            self.check(value, key, rule, path)

    # -- blocks -------------------------------------------------------------------------

    def http(self, value: Any, path: str) -> None:
        request = {
            "method": self.str250, "url": self.str250, "user_agent": self.str250,
            "client_ip": self.str250, "x_forwarded_for": self.boolean, "traced": self.boolean,
        }
        response = {"status": self.non_negative_int, "content_length": self.non_negative_int}
        self.closed_object(value, path, {
            "request": lambda v, p: self.closed_object(v, p, request),
            "response": lambda v, p: self.closed_object(v, p, response),
        })

    def aws(self, value: Any, path: str) -> None:
        s = self.string
        rules: Dict[str, Rule] = {
            key: s for key in ("operation", "account_id", "region", "request_id", "queue_url",
                               "table_name", "bucket_name", "key")
        }
        rules["table_names"] = lambda v, p: self.array(v, p, s)
        rules["retries"] = self.non_negative_int
        rules["ec2"] = lambda v, p: self.closed_object(v, p, {
            key: s for key in ("instance_id", "availability_zone", "instance_size", "ami_id")
        }, native={"instance_type": s})
        rules["ecs"] = self._closed_strings("container", "container_id", "container_arn",
                                            "cluster_arn", "task_arn", "task_family",
                                            "launch_type", "availability_zone")
        rules["eks"] = self._closed_strings("cluster_name", "pod", "container_id")
        rules["elastic_beanstalk"] = lambda v, p: self.closed_object(v, p, {
            "environment_name": s, "version_label": s, "deployment_id": self.integer,
        })
        rules["xray"] = lambda v, p: self.closed_object(v, p, {
            "sdk": s, "sdk_version": s, "auto_instrumentation": self.boolean,
            "sampling_rule_name": s,
        })
        logs = self._closed_strings("log_group", "arn")
        rules["cloudwatch_logs"] = lambda v, p: self.array(v, p, logs)
        self.open_object(value, path, rules)

    def _closed_strings(self, *keys: str) -> Rule:
        rules = {key: self.string for key in keys}
        return lambda v, p: self.closed_object(v, p, rules)

    def sql(self, value: Any, path: str) -> None:
        rules: Dict[str, Rule] = {
            key: self.string for key in ("url", "connection_string", "sanitized_query",
                                         "database_type", "database_version",
                                         "driver_version")
        }
        rules["user"] = self.str250
        rules["preparation"] = self._preparation
        self.closed_object(value, path, rules)

    def _preparation(self, value: Any, path: str) -> None:
        if value not in ("call", "statement"):
            self.fail(path, f"must be 'call' or 'statement', got {show(value)}")

    def cause(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            self.hex16(value, path)
            return
        self.closed_object(value, path, {
            "working_directory": self.string,
            "paths": lambda v, p: self.array(v, p, self.string),
            "exceptions": lambda v, p: self.array(v, p, self.exception),
        })

    def exception(self, value: Any, path: str) -> None:
        frame = {"path": self.string, "line": self.integer, "label": self.string}
        self.closed_object(value, path, {
            "id": self.hex16, "message": self.string, "type": self.string,
            "remote": self.boolean, "truncated": self.non_negative_int,
            "skipped": self.non_negative_int, "cause": self.hex16,
            "stack": lambda v, p: self.array(v, p, lambda f, q: self.closed_object(f, q, frame)),
        })
        if isinstance(value, dict) and "id" not in value:
            self.fail(path, "required field 'id' is missing")

    def annotations(self, value: Any, path: str) -> None:
        """Annotations X-Ray cannot index are dropped silently, not rejected: warnings."""
        if not self.object(value, path):
            return
        if len(value) > MAX_ANNOTATIONS_PER_TRACE:
            self.ignored(path, f"{len(value)} annotations, X-Ray indexes at most "
                               f"{MAX_ANNOTATIONS_PER_TRACE} and ignores the rest")
        for key, element in value.items():
            where = _join(path, key)
            if not _ANNOTATION_KEY.match(key):
                self.ignored(where, "annotation keys may hold only letters, digits, '_' and "
                                    "'.' (1 to 500 characters): X-Ray ignores this one")
            if isinstance(element, str):
                if len(element) > 1000:
                    self.ignored(where, f"string annotations are at most 1000 characters, "
                                        f"got {len(element)}: X-Ray ignores this one")
            elif not (isinstance(element, bool) or _is_number(element)):
                self.ignored(where, f"annotation values must be a string, number or boolean, "
                                    f"got {_json_type(element)}: X-Ray ignores this one")

    def metadata(self, value: Any, path: str) -> None:
        if not self.object(value, path):
            return
        for namespace, element in value.items():
            where = _join(path, namespace)
            if namespace.startswith("AWS."):
                self.fail(where, "the metadata namespace prefix 'AWS.' is reserved")
            self.object(element, where)

    def links(self, value: Any, path: str) -> None:
        self.array(value, path, self.link)

    def link(self, value: Any, path: str) -> None:
        self.closed_object(value, path, {
            "trace_id": self.trace_id, "id": self.hex16, "attributes": self._any_object,
        })
        if isinstance(value, dict):
            for key in ("trace_id", "id"):
                if key not in value:
                    self.fail(path, f"required field '{key}' is missing")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


__all__ = [
    "MAX_ANNOTATIONS_PER_TRACE",
    "MAX_DOCUMENT_BYTES",
    "MAX_ACCEPTED_DOCUMENT_BYTES",
    "MAX_TRACE_BYTES",
    "NATIVE",
    "UNKNOWN",
    "Note",
    "Report",
    "check_document",
    "check_trace",
    "show",
]
