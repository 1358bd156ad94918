"""Field-by-field comparison of what ``aws-xray-sdk`` and otel-xray sent, and the allow-list of
every deliberate difference (each one also explained in docs/migration.md).

Documents are flattened to ``path -> value``. A path names each document and subsegment by
its name (case-folded, so ``dynamodb`` and ``DynamoDB`` are compared as the same call)
and its position among same-named siblings; values that differ by nature between two runs
(ids, times, request ids) are replaced by placeholders before comparing. Every remaining
difference must match an entry of :data:`ALLOWED`; an entry that matches no difference is
stale and fails the suite too, so the list only ever describes real differences.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Dict, Iterable, List, NamedTuple, Tuple

MISSING = "<absent>"
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
#: Fixed ids the test itself sends (callers' parents): compared as they are.
FIXED_IDS = frozenset({"53995c3f42cd8ad8", "1aaaaaaaaaaaaaaa"})
#: The traces the test's requests carry (every other trace is new in each run).
FIXED_TRACES = "1-5759e988-"
_VOLATILE = frozenset({"start_time", "end_time", "request_id", "id"})


class Allowed(NamedTuple):
    scenario: str
    """fnmatch pattern of the scenario (``[`` is literal)."""
    path: str
    """fnmatch pattern of the flattened path (``[`` is literal)."""
    field: str
    """The field as docs/migration.md's table names it (the suite checks it is there)."""
    reason: str
    """Why the difference is deliberate (docs/migration.md says it for users)."""


_SQL = ("SQLite calls are named after the database system with the statement as "
        "sanitized_query; the native SDK named them after the database (:memory:) and sent "
        "the driver's version but no statement")

# Every deliberate difference, narrow as the difference it describes. ``*`` also matches
# across ``.``; ``[`` is literal.
ALLOWED: Tuple[Allowed, ...] = (
    # --- who sent it ------------------------------------------------------------------------
    Allowed("*", "*.aws.xray.sdk", "aws.xray.sdk",
            "the sender is OpenTelemetry (opentelemetry for python), not X-Ray for Python"),
    Allowed("*", "*.aws.xray.sdk_version", "aws.xray.sdk_version",
            "the version of the OpenTelemetry SDK"),
    Allowed("*", "*.aws.xray.auto_instrumentation", "aws.xray.auto_instrumentation",
            "OpenTelemetry says whether the app was instrumented without code changes"),
    # --- fields the native SDK wrote that carry no information ---------------------------
    Allowed("*", "*.in_progress", "in_progress",
            "the native SDK wrote in_progress: false on finished documents; absent means "
            "the same"),
    Allowed("*", "*.subsegments[*].trace_id", "subsegments[].trace_id/type/parent_id",
            "the native SDK repeated trace_id, type and parent_id inside nested subsegments; "
            "X-Ray takes them from the enclosing document"),
    Allowed("*", "*.subsegments[*].type", "subsegments[].trace_id/type/parent_id", "(as above)"),
    Allowed("*", "*.subsegments[*].parent_id", "subsegments[].trace_id/type/parent_id",
            "(as above)"),
    Allowed("*", "*.cause.exceptions[*].remote", "cause.exceptions[].remote",
            "the native SDK wrote remote: false on local exceptions; absent means the same"),
    # --- more than the native SDK sent ------------------------------------------------------
    Allowed("*", "*.aws.ecs.*", "aws.ecs",
            "the ECS resource detector adds container, task and cluster ARNs, task family "
            "and launch type to the container name"),
    Allowed("*", "*.aws.retries", "aws.retries", "the AWS SDK's retry count"),
    Allowed("*", "*.metadata.default.http.route", "metadata.default[\"http.route\"]",
            "the route template (/items/<int:item>)"),
    Allowed("*", "*.metadata.default.rpc.service", "metadata.default (AWS calls)",
            "attributes of the AWS SDK instrumentation the aws block has no field for "
            "(rpc.service, db.system, db.operation)"),
    Allowed("*", "*.metadata.default.db.system", "metadata.default (AWS calls)", "(as above)"),
    Allowed("*", "*.metadata.default.db.operation", "metadata.default (AWS calls)",
            "(as above)"),
    Allowed("*", "*.subsegments[127.0.0.1#0].http.request.user_agent",
            "http.request.user_agent (outgoing)", "the outgoing call's User-Agent"),
    Allowed("*", "*.subsegments[dynamodb#*].http.request.url", "http.request.url (AWS calls)",
            "AWS SDK subsegments carry the endpoint the call went to"),
    Allowed("*", "*.subsegments[s3#*].http.request.url", "http.request.url (AWS calls)",
            "(as above)"),
    # --- recorded differently ----------------------------------------------------------------
    Allowed("*", "*.subsegments[dynamodb#*].name", "name (AWS calls)",
            "AWS subsegments are named after the service id (DynamoDB, S3), as the Collector "
            "and the other X-Ray SDKs name them, not the endpoint prefix (dynamodb, s3)"),
    Allowed("*", "*.subsegments[s3#*].name", "name (AWS calls)", "(as above)"),
    Allowed("*", "*.subsegments[127.0.0.1#0].http.request.method",
            "http.request.method (outgoing)",
            "upper case (GET): the native SDK wrote the method as requests was given it"),
    Allowed("*", "segment:parity-app#0.http.response.content_length",
            "http.response.content_length",
            "the Flask/WSGI instrumentations do not record the response length"),
    Allowed("request", "*.subsegments[:memory:#*].*", "name, sql (SQLite)", _SQL),
    Allowed("request", "*.subsegments[sqlite#*].*", "name, sql (SQLite)", _SQL),
    Allowed("downstream-error", "*.cause.exceptions[*].stack", "cause.exceptions[].stack",
            "each SDK records the frames it sees: the native SDK the stack at capture time "
            "with file names only, OpenTelemetry the exception's traceback with paths"),
    Allowed("downstream-error", "*.subsegments[dynamodb#0].cause.exceptions[0].type",
            "cause.exceptions[].type",
            "the qualified type (botocore.errorfactory.ResourceNotFoundException)"),
    Allowed("downstream-error", "segment:parity-app#0.cause.exceptions[0].cause",
            "cause.exceptions[].cause",
            "raise … from …: the exception points at the one the DynamoDB call recorded, "
            "which the native SDK left unconnected"),
    Allowed("downstream-error", "*.subsegments[dynamodb#0].fault", "fault (AWS 4xx)",
            "a 4xx answer is the caller's error, not a fault (X-Ray's definition); the native "
            "SDK set both"),
    Allowed("worker-job", "*.subsegments[dynamodb#0].aws.count", "aws.count, aws.scanned_count",
            "DynamoDB Scan/Query counts stay in metadata (aws.dynamodb.count, "
            "aws.dynamodb.scanned_count)"),
    Allowed("worker-job", "*.subsegments[dynamodb#0].aws.scanned_count",
            "aws.count, aws.scanned_count", "(as above)"),
    Allowed("worker-job", "*.metadata.default.aws.dynamodb.*", "aws.count, aws.scanned_count",
            "(as above)"),
    # --- where the trees differ -----------------------------------------------------------
    Allowed("async-route", "*.subsegments[s3#0].*", "async views",
            "in an async Flask view the native SDK loses its thread-local context and "
            "records no S3 call (context missing); OpenTelemetry's context follows it"),
    Allowed("lambda", "subsegment:dynamodb#0.*", "Lambda",
            "the native SDK sent each call as a standalone subsegment of Lambda's segment; "
            "otel-xray sends the handler's subsegment, linked to the event's trace, with the "
            "calls nested in it"),
    Allowed("lambda", "subsegment:parity-function#0.*", "Lambda", "(as above)"),
)


class Difference(NamedTuple):
    scenario: str
    path: str
    native: Any
    otel: Any


def flatten_documents(documents: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """``path -> value`` of every field of every document (see the module docstring)."""
    flat: Dict[str, Any] = {}
    for key, document in _keyed(documents, top=True):
        _flatten(document, key, flat)
    return flat


def differences(
    scenario: str, native: Iterable[Dict[str, Any]], otel: Iterable[Dict[str, Any]]
) -> List[Difference]:
    ours, theirs = flatten_documents(otel), flatten_documents(native)
    found = []
    for path in sorted(set(ours) | set(theirs)):
        before, after = theirs.get(path, MISSING), ours.get(path, MISSING)
        if before != after:
            found.append(Difference(scenario, path, before, after))
    return found


def allowed_by(difference: Difference) -> List[Allowed]:
    return [
        entry for entry in ALLOWED
        if _matches(difference.scenario, entry.scenario) and _matches(difference.path, entry.path)
    ]


def _matches(text: str, pattern: str) -> bool:
    """fnmatch with ``[`` literal (paths index lists and subsegments with brackets)."""
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def _keyed(
    documents: Iterable[Dict[str, Any]], top: bool = False
) -> List[Tuple[str, Dict[str, Any]]]:
    """Each document with its path key: ``segment:<name>#<n>``, ``subsegments[<name>#<n>]``."""
    ordered = sorted(documents, key=lambda doc: (doc.get("start_time") or 0))
    counts: Dict[str, int] = {}
    keyed = []
    for document in ordered:
        name = str(document.get("name", "")).casefold()
        base = f"{document.get('type', 'segment')}:{name}" if top else f"subsegments[{name}"
        index = counts.get(base, 0)
        counts[base] = index + 1
        keyed.append((f"{base}#{index}" + ("" if top else "]"), document))
    return keyed


def _flatten(value: Any, path: str, flat: Dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "subsegments" and isinstance(item, list):
                for child_key, child in _keyed(item):
                    _flatten(child, f"{path}.{child_key}", flat)
                continue
            if key == "stack" and isinstance(item, list):
                flat[f"{path}.stack"] = [
                    (frame.get("path"), frame.get("line"), frame.get("label")) for frame in item
                ]
                continue
            _flatten(item, f"{path}.{key}", flat)
        return
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", flat)
        return
    flat[path] = _normalized(path, value)


def _normalized(path: str, value: Any) -> Any:
    field = path.rsplit(".", 1)[-1]
    if field in _VOLATILE:
        return "<volatile>"
    if field == "trace_id" and isinstance(value, str) and not value.startswith(FIXED_TRACES):
        return "<new trace>"  # a trace the application started (the worker job)
    if isinstance(value, str) and _HEX16.match(value) and value not in FIXED_IDS:
        return "<id>"  # parent ids, cause references to exception ids
    if field == "working_directory":
        return "<cwd>"
    if isinstance(value, list):
        return tuple(value)
    return value
