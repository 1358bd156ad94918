"""The ``aws`` block of AWS SDK calls (botocore instrumentation's ``rpc.*``/``aws.*`` keys).

STUB: the full mapping is to be implemented (issue 2).
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet

from ._attrs import Attributes, first_str

MAPPED_KEYS: FrozenSet[str] = frozenset({"rpc.system", "rpc.method", "aws.region"})


def is_aws_call(attrs: Attributes) -> bool:
    """True for a span of an AWS SDK call."""
    return attrs.get("rpc.system") == "aws-api"


def aws_block(attrs: Attributes) -> Dict[str, Any]:
    """The ``aws`` fields of an AWS SDK call."""
    block: Dict[str, Any] = {}
    operation = first_str(attrs, "aws.operation", "rpc.method")
    if operation:
        block["operation"] = operation
    region = first_str(attrs, "aws.region", "cloud.region")
    if region:
        block["region"] = region
    return block
