"""A Lambda handler for the aws-lambda instrumentation tests (``_HANDLER`` points here)."""

from __future__ import annotations

from typing import Any, Dict

from opentelemetry import trace


def handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    with trace.get_tracer(__name__).start_as_current_span("work"):
        pass
    return {"statusCode": 200, "body": "done"}
