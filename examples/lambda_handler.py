"""An AWS Lambda function traced with otel-xray; its work nests under Lambda's own segment.

On Lambda, the service records the invocation's segment itself; ``configure()`` sees
``AWS_LAMBDA_FUNCTION_NAME`` and sends the function's spans as subsegments under it (no
duplicate node on the service map), reading the trace header from ``_X_AMZN_TRACE_ID``.
The aws-lambda instrumentation flushes before each invocation returns.

Deploy: package this file with ``otel-xray`` and ``opentelemetry-instrumentation-aws-lambda``,
set the handler to ``lambda_handler.handler`` and enable active tracing (X-Ray).

Try it locally (simulates the Lambda runtime: its environment, then two invocations)::

    otel-xray listen &
    python examples/lambda_local.py
"""

from __future__ import annotations

from typing import Any, Dict

from opentelemetry import trace
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

import otel_xray

provider = otel_xray.configure("lambda-example")
tracer = trace.get_tracer(__name__)


def handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    span = trace.get_current_span()
    otel_xray.annotate(span, "customer", str(event.get("customer", "anonymous")))
    with tracer.start_as_current_span("price-order") as child:
        total = sum(float(item.get("price", 0)) for item in event.get("items", []))
        otel_xray.put_metadata(child, "total", total)
    return {"statusCode": 200, "body": f"total {total:.2f}"}


# Wraps the function named by the runtime's _HANDLER variable ("lambda_handler.handler").
AwsLambdaInstrumentor().instrument(tracer_provider=provider)
