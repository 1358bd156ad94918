"""The ``aws`` block of AWS SDK calls (botocore instrumentation's ``rpc.*``/``aws.*`` keys).

Every spelling real instrumentations use is understood: the current
``opentelemetry-instrumentation-botocore`` (``rpc.*``, ``cloud.region``, ``aws.request_id``,
``retry_attempts``, ``aws.dynamodb.table_names``, ``aws.queue_url``/``messaging.url``,
``aws.sns.topic.arn`` …), its older releases (``aws.operation``, ``aws.region``,
``aws.service``, ``aws.table_name``), the Java agent's (``aws.requestId``, ``aws.queue.url``,
``aws.table.name``, ``aws.s3.bucket``/``aws.s3.key``) and the newest semantic conventions
(``aws.sqs.queue.url``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, FrozenSet, List, Optional

from opentelemetry.semconv._incubating.attributes.aws_attributes import (
    AWS_DYNAMODB_TABLE_NAMES,
    AWS_LAMBDA_INVOKED_ARN,
    AWS_REQUEST_ID,
    AWS_S3_BUCKET,
    AWS_S3_KEY,
)
from opentelemetry.semconv._incubating.attributes.cloud_attributes import CLOUD_REGION
from opentelemetry.semconv._incubating.attributes.rpc_attributes import (
    RPC_METHOD,
    RPC_SYSTEM,
)

from ._attrs import Attributes, bounded_text, first_int, text_of

# Keys without a semconv constant (X-Ray/Collector conventions, older instrumentations).
AWS_OPERATION = "aws.operation"
AWS_REGION = "aws.region"
AWS_SERVICE = "aws.service"
AWS_ACCOUNT_ID = "aws.account_id"
AWS_REQUEST_ID_JAVA = "aws.requestId"
AWS_QUEUE_URL = "aws.queue_url"
AWS_QUEUE_URL_JAVA = "aws.queue.url"
AWS_TABLE_NAME = "aws.table_name"
AWS_TABLE_NAME_JAVA = "aws.table.name"
AWS_XRAY_RETRIES = "aws.xray.retries"
#: botocore instrumentation's retry count (no semantic convention yet).
RETRY_ATTEMPTS = "retry_attempts"
# Constants newer semconv releases have, spelled out: the package supports semconv 0.48b0.
AWS_SQS_QUEUE_URL = "aws.sqs.queue.url"
AWS_SNS_TOPIC_ARN = "aws.sns.topic.arn"
AWS_SECRETSMANAGER_SECRET_ARN = "aws.secretsmanager.secret.arn"
AWS_STEP_FUNCTIONS_STATE_MACHINE_ARN = "aws.step_functions.state_machine.arn"
AWS_STEP_FUNCTIONS_ACTIVITY_ARN = "aws.step_functions.activity.arn"
#: Deprecated ``messaging.url``; botocore still sets it to the SQS queue URL.
MESSAGING_URL = "messaging.url"

#: ``rpc.system`` of AWS SDK calls.
AWS_API = "aws-api"

#: At most this many names in ``table_names``.
MAX_TABLE_NAMES = 100

MAPPED_KEYS: FrozenSet[str] = frozenset(
    {
        # Set only by AWS SDK instrumentations and carried whole by the aws block, so they
        # can be left out of metadata on any span.
        AWS_OPERATION,
        AWS_REQUEST_ID,
        AWS_REQUEST_ID_JAVA,
        AWS_QUEUE_URL,
        AWS_QUEUE_URL_JAVA,
        AWS_SQS_QUEUE_URL,
        AWS_TABLE_NAME,
        AWS_TABLE_NAME_JAVA,
        AWS_DYNAMODB_TABLE_NAMES,
        AWS_S3_BUCKET,
        AWS_S3_KEY,
        RETRY_ATTEMPTS,
    }
)
"""Keys safe to leave out of metadata on every span (the aws block carries them)."""

AWS_CALL_KEYS: FrozenSet[str] = MAPPED_KEYS | {
    RPC_SYSTEM,
    RPC_METHOD,
    AWS_REGION,
    CLOUD_REGION,
    AWS_ACCOUNT_ID,
    AWS_XRAY_RETRIES,
    MESSAGING_URL,
}
"""Keys the ``namespace``/``aws`` block carry *on an AWS call* (:func:`is_aws_call`).

``rpc.method``, ``cloud.region`` and ``messaging.url`` are generic keys that other spans
use too, so they may only be left out of metadata when the span is an AWS call. Where two
spellings of one field disagree (``aws.operation`` vs ``rpc.method``), the AWS one wins.
"""

#: Keys :func:`is_aws_call` reads: without either, a span is no AWS call.
AWS_CALL_MARKERS: FrozenSet[str] = frozenset({RPC_SYSTEM, AWS_SERVICE})

_QUEUE_URL_KEYS = (AWS_SQS_QUEUE_URL, AWS_QUEUE_URL, AWS_QUEUE_URL_JAVA, MESSAGING_URL)
# ARNs whose account field names the owner of the resource called.
_ARN_KEYS = (
    AWS_SNS_TOPIC_ARN,
    AWS_SECRETSMANAGER_SECRET_ARN,
    AWS_LAMBDA_INVOKED_ARN,
    AWS_STEP_FUNCTIONS_STATE_MACHINE_ARN,
    AWS_STEP_FUNCTIONS_ACTIVITY_ARN,
)
# The fields every call may have, in document order, each from the first key that has it.
_CALL_FIELDS = (
    ("operation", (AWS_OPERATION, RPC_METHOD)),
    ("region", (AWS_REGION, CLOUD_REGION)),
    ("request_id", (AWS_REQUEST_ID, AWS_REQUEST_ID_JAVA)),
    ("queue_url", _QUEUE_URL_KEYS),
)
# Keys without which a field is absent: checked once, to skip the field's lookups.
_TABLE_KEYS = frozenset({AWS_DYNAMODB_TABLE_NAMES, AWS_TABLE_NAME, AWS_TABLE_NAME_JAVA})
_S3_KEYS = frozenset({AWS_S3_BUCKET, AWS_S3_KEY})
_ACCOUNT_KEYS = frozenset({AWS_ACCOUNT_ID, *_ARN_KEYS})
_RETRY_KEYS = frozenset({RETRY_ATTEMPTS, AWS_XRAY_RETRIES})
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# https://sqs.<region>.amazonaws.com/<account>/<queue> (any host: VPC endpoints, local stubs).
_QUEUE_URL_ACCOUNT = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/]+/(\d{12})/[^/]+/?$", re.IGNORECASE)


def is_aws_call(attrs: Attributes) -> bool:
    """True for a span of an AWS SDK call.

    ``rpc.system`` is ``aws-api`` for the botocore instrumentation and the other
    languages' AWS SDK instrumentations; releases before ``rpc.*`` set ``aws.service``.
    """
    if attrs.get(RPC_SYSTEM) == AWS_API:
        return True
    service = attrs.get(AWS_SERVICE)
    return isinstance(service, str) and bool(service)


def aws_block(attrs: Attributes) -> Dict[str, Any]:
    """The ``aws`` fields of an AWS SDK call: operation, region, ids and the resource used."""
    block: Dict[str, Any] = {}
    for field, keys in _CALL_FIELDS:
        _put(block, field, text_of(attrs, *keys))
    queue_url = block.get("queue_url")
    if not _TABLE_KEYS.isdisjoint(attrs):
        block.update(_tables(attrs))
    if not _S3_KEYS.isdisjoint(attrs):
        _put(block, "bucket_name", text_of(attrs, AWS_S3_BUCKET))
        _put(block, "key", text_of(attrs, AWS_S3_KEY))
    if queue_url is not None or not _ACCOUNT_KEYS.isdisjoint(attrs):
        _put(block, "account_id", _account_id(attrs, queue_url))
    if not _RETRY_KEYS.isdisjoint(attrs):
        retries = first_int(attrs, RETRY_ATTEMPTS, AWS_XRAY_RETRIES)
        if retries is not None and retries >= 0:
            block["retries"] = retries
    return block


def _put(block: Dict[str, Any], field: str, value: Optional[str]) -> None:
    if value is not None:
        block[field] = value


def _tables(attrs: Attributes) -> Dict[str, Any]:
    """``table_name`` for one table, ``table_names`` for several (BatchGetItem …)."""
    value = attrs.get(AWS_DYNAMODB_TABLE_NAMES)
    names: List[str] = []
    if isinstance(value, str):
        names = [value] if value else []
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str) and item and item not in names:
                names.append(item)
            if len(names) == MAX_TABLE_NAMES:
                break
    names = [bounded_text(name) for name in names]
    if len(names) == 1:
        return {"table_name": names[0]}
    if names:
        return {"table_names": names}
    single = text_of(attrs, AWS_TABLE_NAME, AWS_TABLE_NAME_JAVA)
    return {"table_name": single} if single is not None else {}


def _account_id(attrs: Attributes, queue_url: Optional[str]) -> Optional[str]:
    """``aws.account_id``, else the owner account named by the queue URL or a resource ARN."""
    explicit = text_of(attrs, AWS_ACCOUNT_ID)
    if explicit is not None:
        return explicit
    if queue_url is not None:
        match = _QUEUE_URL_ACCOUNT.match(queue_url)
        if match:
            return match.group(1)
    for key in _ARN_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value.startswith("arn:"):
            # arn:partition:service:region:account-id:resource
            parts = value.split(":", 5)
            if len(parts) == 6 and _ACCOUNT_ID.match(parts[4]):
                return parts[4]
    return None
