"""AWS SDK calls: the ``aws`` block and ``namespace: aws``.

Real spans of the real botocore instrumentation against moto, plus attribute tables for
the spellings other (older, Java) instrumentations use.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import boto3
import pytest
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.span_helpers import botocore_request_hook
from otel_xray.translate import aws, to_document
from otel_xray.translate._attrs import MAX_VALUE_LENGTH
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
# Names unique to this module: the moto server is shared by the whole session.
TABLE, OTHER_TABLE = "test-aws-orders", "test-aws-customers"
QUEUE, BUCKET, KEY = "test-aws-jobs", "test-aws-invoices", "2024/1.pdf"

SpanKey = Tuple[str, str]


@pytest.fixture(scope="module")
def botocore_spans(moto_server: str) -> Iterator[Dict[SpanKey, ReadableSpan]]:
    """CLIENT spans of real DynamoDB, SQS, S3 and SNS calls, by (rpc.service, rpc.method)."""
    recorder = SpanRecorder()
    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(
        tracer_provider=recorder.provider, request_hook=botocore_request_hook
    )
    try:
        with recorder.tracer.start_as_current_span("handler"):
            _call_aws(moto_server)
    finally:
        instrumentor.uninstrument()
    spans: Dict[SpanKey, ReadableSpan] = {}
    for span in recorder.spans():
        attrs = span.attributes or {}
        if "rpc.service" in attrs:
            # The first call of each kind (two tables are created).
            spans.setdefault((str(attrs["rpc.service"]), str(attrs["rpc.method"])), span)
    yield spans


def _call_aws(endpoint: str) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    for table in (TABLE, OTHER_TABLE):
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    ddb.put_item(TableName=TABLE, Item={"id": {"S": "1"}})
    ddb.get_item(TableName=TABLE, Key={"id": {"S": "1"}})
    ddb.batch_get_item(
        RequestItems={t: {"Keys": [{"id": {"S": "1"}}]} for t in (TABLE, OTHER_TABLE)}
    )
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"%PDF")
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
    topic = sns.create_topic(Name="test-aws-alerts")["TopicArn"]
    sns.publish(TopicArn=topic, Message="hi")


def _translate(span: ReadableSpan) -> Dict[str, Any]:
    return assert_valid_document(to_document(span, OPTIONS))


REAL_CASES = [
    pytest.param(("DynamoDB", "CreateTable"), {"table_name": TABLE}, id="dynamodb-create-table"),
    pytest.param(("DynamoDB", "PutItem"), {"table_name": TABLE, "region": REGION},
                 id="dynamodb-put-item"),
    pytest.param(("DynamoDB", "GetItem"), {"table_name": TABLE}, id="dynamodb-get-item"),
    pytest.param(("DynamoDB", "BatchGetItem"), {"table_names": [TABLE, OTHER_TABLE]},
                 id="dynamodb-batch-get-item-several-tables"),
    pytest.param(("SQS", "SendMessage"), {"region": "us-east-1", "account_id": ACCOUNT},
                 id="sqs-send-message"),
    pytest.param(("S3", "CreateBucket"), {"bucket_name": BUCKET}, id="s3-create-bucket"),
    pytest.param(("S3", "PutObject"), {"bucket_name": BUCKET, "key": KEY}, id="s3-put-object"),
    pytest.param(("SNS", "Publish"), {"account_id": ACCOUNT}, id="sns-publish"),
]


@pytest.mark.parametrize(("call", "expected"), REAL_CASES)
def test_botocore_span_becomes_aws_subsegment(
    botocore_spans: Dict[SpanKey, ReadableSpan], call: SpanKey, expected: Dict[str, Any]
) -> None:
    span = botocore_spans[call]
    doc = _translate(span)
    assert doc["type"] == "subsegment"
    assert doc["namespace"] == "aws"
    block = doc["aws"]
    assert block["operation"] == call[1]
    assert block["request_id"] == span.attributes["aws.request_id"]  # type: ignore[index]
    assert block["retries"] == 0
    for field, value in expected.items():
        assert block[field] == value, field


@pytest.mark.parametrize("call", [("DynamoDB", "GetItem"), ("SQS", "SendMessage"),
                                  ("S3", "PutObject")], ids=["dynamodb", "sqs", "s3"])
def test_botocore_subsegment_is_named_after_the_service(
    botocore_spans: Dict[SpanKey, ReadableSpan], call: SpanKey
) -> None:
    # Loose on purpose: the naming rules are their own concern (names.py).
    assert call[0].lower() in _translate(botocore_spans[call])["name"].lower()


def test_sqs_queue_url_is_the_one_the_call_used(
    botocore_spans: Dict[SpanKey, ReadableSpan], moto_server: str
) -> None:
    doc = _translate(botocore_spans[("SQS", "SendMessage")])
    assert doc["aws"]["queue_url"] == f"{moto_server}/{ACCOUNT}/{QUEUE}"


def test_one_table_gives_table_name_not_table_names(
    botocore_spans: Dict[SpanKey, ReadableSpan],
) -> None:
    assert "table_names" not in _translate(botocore_spans[("DynamoDB", "GetItem")])["aws"]


def test_several_tables_give_table_names_not_table_name(
    botocore_spans: Dict[SpanKey, ReadableSpan],
) -> None:
    assert "table_name" not in _translate(botocore_spans[("DynamoDB", "BatchGetItem")])["aws"]


# --- attribute spellings of other and older instrumentations --------------------------------

AWS_CALL = {"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem"}
LONG = "x" * 5000

ATTRIBUTE_CASES = [
    pytest.param({"aws.service": "DynamoDB", "aws.operation": "GetItem", "aws.region": "us-west-2",
                  "aws.table_name": "t"},
                 {"operation": "GetItem", "region": "us-west-2", "table_name": "t"},
                 id="old-botocore-spelling"),
    pytest.param({**AWS_CALL, "aws.requestId": "R1", "aws.queue.url": "https://q/x",
                  "aws.table.name": "t2"},
                 {"request_id": "R1", "queue_url": "https://q/x", "table_name": "t2"},
                 id="java-agent-spelling"),
    pytest.param({**AWS_CALL, "aws.sqs.queue.url": "https://sqs.us-east-1.amazonaws.com/1/q"},
                 {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"},
                 id="stable-sqs-queue-url"),
    pytest.param({**AWS_CALL, "messaging.url": "https://q/m"}, {"queue_url": "https://q/m"},
                 id="messaging-url-as-queue-url"),
    pytest.param({**AWS_CALL, "aws.operation": "PutItem"}, {"operation": "PutItem"},
                 id="aws-operation-wins-over-rpc-method"),
    pytest.param({**AWS_CALL, "aws.region": "eu-west-3", "cloud.region": "us-east-2"},
                 {"region": "eu-west-3"}, id="aws-region-wins-over-cloud-region"),
    pytest.param({**AWS_CALL, "cloud.region": "us-east-2"}, {"region": "us-east-2"},
                 id="cloud-region-of-current-botocore"),
    pytest.param({**AWS_CALL, "aws.dynamodb.table_names": "solo"}, {"table_name": "solo"},
                 id="table-names-as-one-string"),
    pytest.param({**AWS_CALL, "aws.dynamodb.table_names": ["a", "a"]}, {"table_name": "a"},
                 id="duplicate-table-names-collapse"),
    pytest.param({**AWS_CALL, "aws.dynamodb.table_names": ["a", "b"], "aws.table_name": "c"},
                 {"table_names": ["a", "b"]}, id="semconv-table-names-win"),
    pytest.param({**AWS_CALL, "retry_attempts": 3}, {"retries": 3}, id="retry-attempts"),
    pytest.param({**AWS_CALL, "aws.xray.retries": "2"}, {"retries": 2},
                 id="xray-retries-integral-string"),
    pytest.param({**AWS_CALL, "aws.s3.bucket": "b", "aws.s3.key": "k/1"},
                 {"bucket_name": "b", "key": "k/1"}, id="s3-bucket-and-key"),
    pytest.param({**AWS_CALL, "aws.account_id": "210987654321"}, {"account_id": "210987654321"},
                 id="explicit-account-id"),
    pytest.param({**AWS_CALL, "aws.queue_url": "https://sqs.eu-west-1.amazonaws.com/111122223333/q"},
                 {"account_id": "111122223333"}, id="account-id-from-queue-url"),
    pytest.param({**AWS_CALL, "aws.sns.topic.arn": "arn:aws:sns:us-east-1:444455556666:t"},
                 {"account_id": "444455556666"}, id="account-id-from-topic-arn"),
    pytest.param({**AWS_CALL, "rpc.method": LONG}, {"operation": "x" * MAX_VALUE_LENGTH},
                 id="long-strings-are-bounded"),
    pytest.param({**AWS_CALL, "rpc.method": "Get\ud800Item"}, {"operation": "Get?Item"},
                 id="lone-surrogate-replaced"),
]


@pytest.mark.parametrize(("attributes", "expected"), ATTRIBUTE_CASES)
def test_aws_block_from_attributes(
    recorder: SpanRecorder, attributes: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    span = recorder.span("call", kind=SpanKind.CLIENT, parent="local", attributes=attributes)
    doc = _translate(span)
    assert doc["namespace"] == "aws"
    for field, value in expected.items():
        assert doc["aws"][field] == value, field


ABSENT_CASES = [
    pytest.param({**AWS_CALL, "retry_attempts": -1}, "retries", id="negative-retries"),
    pytest.param({**AWS_CALL, "retry_attempts": True}, "retries", id="boolean-retries"),
    pytest.param({**AWS_CALL, "aws.sns.topic.arn": "arn:aws:sns:us-east-1:12:t"}, "account_id",
                 id="no-account-from-malformed-arn"),
    pytest.param({**AWS_CALL, "aws.queue_url": "https://q.example/not-an-account/q"},
                 "account_id", id="no-account-from-queue-url-without-one"),
    pytest.param({**AWS_CALL, "aws.dynamodb.table_names": []}, "table_name",
                 id="no-table-from-empty-list"),
    pytest.param({**AWS_CALL, "rpc.method": 7}, "operation", id="non-string-operation"),
]


@pytest.mark.parametrize(("attributes", "field"), ABSENT_CASES)
def test_aws_field_left_out(
    recorder: SpanRecorder, attributes: Dict[str, Any], field: str
) -> None:
    span = recorder.span("call", kind=SpanKind.CLIENT, parent="local", attributes=attributes)
    assert field not in _translate(span).get("aws", {})


def test_rpc_method_of_a_non_aws_call_is_no_operation(recorder: SpanRecorder) -> None:
    attributes = {"rpc.system": "grpc", "rpc.service": "Greeter", "rpc.method": "SayHello"}
    span = recorder.span("call", kind=SpanKind.CLIENT, parent="local", attributes=attributes)
    doc = _translate(span)
    assert doc["namespace"] == "remote"
    assert "aws" not in doc


def test_aws_call_as_root_is_a_segment_with_aws_fields(recorder: SpanRecorder) -> None:
    span = recorder.span("call", kind=SpanKind.CLIENT, attributes=AWS_CALL)
    doc = _translate(span)
    assert "namespace" not in doc
    assert doc["aws"]["operation"] == "GetItem"


def test_aws_block_is_a_new_dict_each_time() -> None:
    attrs = {**AWS_CALL, "aws.dynamodb.table_names": ["a", "b"]}
    first = aws.aws_block(attrs)
    first["table_names"].append("c")
    assert aws.aws_block(attrs)["table_names"] == ["a", "b"]


def test_mapped_keys_are_only_aws_sdk_keys() -> None:
    # Generic keys stay in metadata for spans that are not AWS calls.
    assert not aws.MAPPED_KEYS & {"rpc.method", "rpc.system", "cloud.region", "messaging.url"}
    assert aws.MAPPED_KEYS <= aws.AWS_CALL_KEYS


@pytest.mark.parametrize(
    ("service", "params", "expected"),
    [
        pytest.param("s3", {"Bucket": "b", "Key": "k"}, {"aws.s3.bucket": "b", "aws.s3.key": "k"},
                     id="s3-bucket-and-key"),
        pytest.param("s3", {"Bucket": 5, "Key": None}, {}, id="s3-non-string-params-ignored"),
        pytest.param("sqs", {"Bucket": "b"}, {}, id="other-services-untouched"),
    ],
)
def test_botocore_request_hook(
    recorder: SpanRecorder, service: str, params: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    span = recorder.tracer.start_span("call")
    botocore_request_hook(span, service, "PutObject", params)
    span.end()
    attrs = dict(recorder.spans()[-1].attributes or {})
    assert {k: v for k, v in attrs.items() if k.startswith("aws.s3.")} == expected


def test_botocore_request_hook_never_raises(recorder: SpanRecorder) -> None:
    span = recorder.tracer.start_span("call")
    botocore_request_hook(span, "s3", "PutObject", None)  # type: ignore[arg-type]
    span.end()
