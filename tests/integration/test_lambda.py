"""On Lambda, the function's work nests under the segment Lambda records for the invocation.

The real ``opentelemetry-instrumentation-aws-lambda`` wraps
``tests.integration.apps.lambda_handler``
(found through ``_HANDLER``, as on Lambda) and is invoked several times in one process,
each time with the ``_X_AMZN_TRACE_ID`` the runtime would set.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

from otel_xray.bootstrap import configure
from otel_xray.emit.udp import UdpEmitter
from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener

FUNCTION = "resize-images"
INVOCATIONS: List[Tuple[str, str, str]] = [
    ("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", "1"),
    ("1-6759e988-0000000000000000000000a1", "1111111111111111", "1"),
    ("1-7759e988-0000000000000000000000b2", "2222222222222222", "0"),
    ("1-8759e988-0000000000000000000000c3", "3333333333333333", "1"),
]


class _Context:
    """The attributes of the context object the Lambda runtime passes to a handler."""

    def __init__(self, request_id: str) -> None:
        self.function_name = FUNCTION
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION}"
        self.memory_limit_in_mb = 128
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{FUNCTION}"
        self.log_stream_name = "2026/01/01/[$LATEST]abc"


@pytest.fixture
def on_lambda(
    fresh_otel: None, udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tuple[Any, UdpEmitter]]:
    """The handler module, instrumented as on Lambda, and the emitter that sends for it."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("_HANDLER", "tests.integration.apps.lambda_handler.handler")
    emitter = UdpEmitter(udp_listener.address)
    configure(emitter=emitter)
    module = importlib.import_module("tests.integration.apps.lambda_handler")
    instrumentor = AwsLambdaInstrumentor()
    instrumentor.instrument()
    try:
        yield module, emitter
    finally:
        instrumentor.uninstrument()


def invoke(module: Any, monkeypatch: pytest.MonkeyPatch, index: int) -> Dict[str, Any]:
    root, parent, sampled = INVOCATIONS[index]
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent={parent};Sampled={sampled}")
    result: Dict[str, Any] = module.handler({"size": index}, _Context(f"request-{index}"))
    return result


def test_each_invocation_is_one_subsegment_under_lambdas_segment(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, _ = on_lambda
    for index in range(len(INVOCATIONS)):
        assert invoke(module, monkeypatch, index)["statusCode"] == 200
    sampled = [inv for inv in INVOCATIONS if inv[2] == "1"]
    documents = udp_listener.wait_for(len(sampled))
    by_trace = {doc["trace_id"]: doc for doc in documents}
    assert len(documents) == len(by_trace) == len(sampled)
    for root, parent, _ in sampled:
        document = assert_valid_document(by_trace[root])
        assert document["type"] == "subsegment"
        assert document["parent_id"] == parent
        assert document["name"] == FUNCTION
        assert [d["name"] for d in walk(document)][1:] == ["work"]


def test_a_not_sampled_invocation_sends_nothing(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, emitter = on_lambda
    invoke(module, monkeypatch, 2)  # Sampled=0
    assert emitter.stats()["documents_sent"] == 0
    invoke(module, monkeypatch, 0)
    (document,) = udp_listener.wait_for(1)
    assert document["trace_id"] == INVOCATIONS[0][0]


def test_everything_is_sent_before_the_handler_returns(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, emitter = on_lambda
    for count, index in enumerate((0, 1, 3), start=1):
        invoke(module, monkeypatch, index)
        # The instrumentation's force_flush has run: the datagram is already on its way.
        assert emitter.stats()["documents_sent"] == count
    assert {doc["trace_id"] for doc in udp_listener.wait_for(3)} == {
        INVOCATIONS[i][0] for i in (0, 1, 3)
    }


def test_no_document_of_a_lambda_invocation_is_a_segment(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, _ = on_lambda
    invoke(module, monkeypatch, 0)
    invoke(module, monkeypatch, 1)
    for document in udp_listener.wait_for(2):
        assert document.get("type") == "subsegment"
        assert "origin" not in document


def test_an_api_gateway_header_of_the_same_trace_yields_to_lambdas_segment(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """API Gateway's header names its own segment; Lambda's segment is the closer parent."""
    module, _ = on_lambda
    root, parent, _ = INVOCATIONS[0]
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent={parent};Sampled=1")
    event = {
        "httpMethod": "GET",
        "resource": "/images",
        "requestContext": {"stage": "prod"},
        "headers": {"X-Amzn-Trace-Id": f"Root={root};Parent=4444444444444444;Sampled=1"},
    }
    module.handler(event, _Context("request-apigw"))
    (document,) = udp_listener.wait_for(1)
    assert document["type"] == "subsegment"
    assert (document["trace_id"], document["parent_id"]) == (root, parent)


def test_event_headers_of_another_trace_become_a_link_not_the_parent(
    on_lambda: Tuple[Any, UdpEmitter], udp_listener: UdpListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, _ = on_lambda
    root, parent, _ = INVOCATIONS[0]
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent={parent};Sampled=1")
    event = {"size": 1, "headers": {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }}
    module.handler(event, _Context("request-linked"))
    (document,) = udp_listener.wait_for(1)
    assert_valid_document(document)
    assert (document["trace_id"], document["parent_id"]) == (root, parent)
    (link,) = document["links"]
    assert link["trace_id"] == "1-0af76519-16cd43dd8448eb211c80319c"
    assert link["id"] == "b7ad6b7169203331"
