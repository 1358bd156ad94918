r"""A plain script that calls AWS with boto3, traced to AWS X-Ray with otel-xray.

The whole run is one trace: a segment named after the job (``nightly-report``, as the X-Ray
SDK's ``begin_segment`` named it) with one ``aws`` subsegment per call.

Run it against AWS (needs credentials) or, with no AWS account, against moto::

    pip install -e . boto3 opentelemetry-instrumentation-botocore 'moto[server]'
    otel-xray listen &                          # a local X-Ray daemon stand-in
    moto_server -p 5000 &                       # a local AWS stand-in
    AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing \
        AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
        python examples/boto3_script.py

Environment: the usual AWS variables; ``AWS_XRAY_DAEMON_ADDRESS`` (default 127.0.0.1:2000).
"""

from __future__ import annotations

import uuid

import boto3
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

import otel_xray
from otel_xray.ids import to_xray_trace_id

provider = otel_xray.configure("boto3-example")
BotocoreInstrumentor().instrument()
tracer = trace.get_tracer(__name__)


def main() -> None:
    with tracer.start_as_current_span("nightly-report") as span:
        bucket = f"otel-xray-example-{uuid.uuid4().hex[:12]}"
        otel_xray.annotate(span, "bucket", bucket)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="report.txt", Body=b"all good")
        listed = s3.list_objects_v2(Bucket=bucket)
        otel_xray.put_metadata(span, "keys", [o["Key"] for o in listed.get("Contents", [])])
        s3.delete_object(Bucket=bucket, Key="report.txt")
        s3.delete_bucket(Bucket=bucket)
    print(f"done: trace {to_xray_trace_id(span.get_span_context().trace_id)}")


if __name__ == "__main__":
    try:
        main()
    finally:
        provider.shutdown()  # a script must flush before it exits: send every span now
