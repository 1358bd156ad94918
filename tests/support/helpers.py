"""Test helpers: the X-Ray document schema check, and real OTel SDK spans on demand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import jsonschema
import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "xray-segment.schema.json"
#: The published schema: the documented format plus what the native SDKs send (``native_*``).
SCHEMA = json.loads(SCHEMA_PATH.read_text())
#: What otel-xray's own documents must meet: the documented format only (no ``native_*``).
STRICT_SCHEMA = {
    **SCHEMA,
    "$defs": {name: False if name.startswith("native_") else definition
              for name, definition in SCHEMA["$defs"].items()},
}
jsonschema.Draft202012Validator.check_schema(SCHEMA)
jsonschema.Draft202012Validator.check_schema(STRICT_SCHEMA)
_VALIDATOR = jsonschema.Draft202012Validator(STRICT_SCHEMA)

#: The document size limit the project promises (64 kB, under the UDP payload limit too).
MAX_DOCUMENT_BYTES = 64_000

REMOTE_TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
REMOTE_SPAN_ID = 0x53995C3F42CD8AD8


def assert_valid_document(doc: Union[Dict[str, Any], bytes]) -> Dict[str, Any]:
    """Assert a document is strict JSON, within the size limit and valid against the strict
    schema (:data:`STRICT_SCHEMA`: nothing outside the documented format, not even what the
    native SDKs add).

    Accepts the dict the translator made or the encoded bytes the pipeline sends; returns
    the parsed document.
    """
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    assert len(raw) <= MAX_DOCUMENT_BYTES, f"document of {len(raw)} bytes over the limit"
    # Python's json refuses NaN/Infinity with this hook: strict JSON only.
    parsed = json.loads(raw, parse_constant=reject_json_constant)
    assert orjson.loads(raw) == parsed
    errors = sorted(_VALIDATOR.iter_errors(parsed), key=lambda e: list(e.absolute_path))
    assert not errors, "schema violations:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]
    )
    return parsed


def reject_json_constant(name: str) -> Any:
    """``json.loads`` hook that fails on NaN/Infinity: strict JSON only."""
    raise AssertionError(f"non-standard JSON constant {name} in document")


def walk(doc: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """The document and every nested subsegment, depth first."""
    yield doc
    for child in doc.get("subsegments", ()):
        yield from walk(child)


class SpanRecorder:
    """A real SDK TracerProvider that keeps finished spans in memory."""

    def __init__(self, resource: Optional[Resource] = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=resource or Resource.create({"service.name": "test-service"})
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("otel-xray-tests")

    def spans(self) -> List[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    def span(
        self,
        name: str = "span",
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Optional[Dict[str, Any]] = None,
        parent: Union[str, SpanContext, None] = None,
        events: Sequence[tuple] = (),
        status: Optional[trace.Status] = None,
        exception: Optional[BaseException] = None,
        links: Sequence[trace.Link] = (),
    ) -> ReadableSpan:
        """Make one finished span.

        ``parent``: ``None`` for a root span, ``"remote"`` for a remote parent
        (:data:`REMOTE_TRACE_ID`/:data:`REMOTE_SPAN_ID`), ``"local"`` for a local parent
        span, or a ``SpanContext``.
        """
        ctx = None
        if parent == "remote":
            parent = remote_context()
        if parent == "local":
            local_parent = self.tracer.start_span("local-parent")
            ctx = trace.set_span_in_context(local_parent)
        elif isinstance(parent, SpanContext):
            ctx = trace.set_span_in_context(NonRecordingSpan(parent))
        token = otel_context.attach(ctx) if ctx is not None else None
        try:
            span = self.tracer.start_span(
                name, kind=kind, attributes=attributes, links=list(links)
            )
            for event in events:
                span.add_event(*event)
            if exception is not None:
                span.record_exception(exception)
            if status is not None:
                span.set_status(status)
            span.end()
        finally:
            if token is not None:
                otel_context.detach(token)
        finished = [s for s in self.spans() if s.context.span_id == span.get_span_context().span_id]
        return finished[0]


def remote_context(
    trace_id: int = REMOTE_TRACE_ID, span_id: int = REMOTE_SPAN_ID, sampled: bool = True
) -> SpanContext:
    return SpanContext(
        trace_id, span_id, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
    )


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def make_documents(recorder: SpanRecorder, count: int) -> List[bytes]:
    """``count`` encoded documents translated from real spans, each checked for validity."""
    from otel_xray import TranslateOptions
    from otel_xray.translate import to_document

    options = TranslateOptions(lambda_mode=False)
    documents = []
    for index in range(count):
        encoded = orjson.dumps(to_document(recorder.span(f"span-{index}"), options))
        assert_valid_document(encoded)
        documents.append(encoded)
    return documents
