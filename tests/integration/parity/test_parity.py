"""Migration parity: the same application under ``aws-xray-sdk`` and under otel-xray sends the same
documents, field by field, except for the deliberate differences in compare.ALLOWED (each
explained in docs/migration.md).

Real parts only: Flask served by werkzeug, boto3 against moto in server mode, ``requests``
to a second real HTTP service (which also plays the ECS task metadata endpoint), SQLite,
and a real UDP socket standing in for the daemon. Each SDK runs in a subprocess of its own.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import jsonschema
import orjson
import pytest

from otel_xray.cli.validate import check_document
from tests.integration.parity import runner
from tests.integration.parity.compare import ALLOWED, Difference, allowed_by, differences
from tests.support.ecs import ecs_metadata, loopback_http
from tests.support.helpers import SCHEMA, assert_valid_document
from tests.support.udp import UdpListener

MIGRATION_GUIDE = runner.REPO / "docs" / "migration.md"
SDKS = ("native", "otel")
SCENARIOS = (*runner.REQUESTS, "worker-job", "lambda")
EVENT_TRACE = "1-0af76519-16cd43dd8448eb211c80319c"
EVENT_PARENT = "b7ad6b7169203331"


def _downstream_answer(path: str) -> bytes:
    """The second service (``/price``), which also plays the ECS task metadata endpoint."""
    return ecs_metadata(path) if path.startswith("/v4/") else b"9.99"


@pytest.fixture(scope="module")
def downstream() -> Iterator[str]:
    with loopback_http(_downstream_answer) as url:
        yield url


class _Results:
    def __init__(self) -> None:
        self.runs: Dict[str, runner.Run] = {}
        self.headers: Dict[str, Dict[str, Dict[str, str]]] = {}

    def documents(self, sdk: str, scenario: str) -> List[Dict[str, Any]]:
        return self.runs[sdk].documents.get(scenario, [])


@pytest.fixture(scope="module")
def results(moto_server: str, downstream: str) -> _Results:
    """Both SDKs, one after the other, each in its own process(es) with its own daemon."""
    found = _Results()
    for sdk in SDKS:
        server_daemon, lambda_daemon = UdpListener(), UdpListener()
        try:
            env = runner.environment(
                server_daemon.address, moto_server, downstream,
                ECS_CONTAINER_METADATA_URI_V4=f"{downstream}/v4/container",
            )
            process, port = runner.start_server(sdk, env)
            found.headers[sdk] = runner.drive_server(process, port)
            runner.run_lambda(sdk, runner.environment(
                lambda_daemon.address, moto_server, downstream,
                AWS_LAMBDA_FUNCTION_NAME="parity-function", LAMBDA_TASK_ROOT=str(runner.REPO),
                _HANDLER=f"{runner.APP}.handler",
                _X_AMZN_TRACE_ID=(
                    f"Root={runner.LAMBDA_ROOT};Parent={runner.LAMBDA_PARENT};Sampled=1"
                ),
            ))
            served = runner.collect(server_daemon, port)
            on_lambda = runner.collect(lambda_daemon, None)
        finally:
            server_daemon.close()
            lambda_daemon.close()
        found.runs[sdk] = runner.Run(
            {**served.documents, **on_lambda.documents},
            served.raw + on_lambda.raw,
            served.rejected + on_lambda.rejected,
        )
    return found


def _describe(found: List[Difference]) -> str:
    return "\n".join(
        f"  {d.path}: aws-xray-sdk {d.native!r} / otel-xray {d.otel!r}" for d in found
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_difference_is_deliberate(results: _Results, scenario: str) -> None:
    native, otel = results.documents("native", scenario), results.documents("otel", scenario)
    assert native and otel, f"{scenario}: nothing sent (native {len(native)}, otel {len(otel)})"
    unexplained = [d for d in differences(scenario, native, otel) if not allowed_by(d)]
    assert not unexplained, (
        f"{scenario}: differences from aws-xray-sdk that compare.ALLOWED does not explain "
        f"(fix them, or allow them with a reason and document them in docs/migration.md):\n"
        + _describe(unexplained)
    )


def test_no_allowed_difference_is_stale(results: _Results) -> None:
    used = set()
    for scenario in SCENARIOS:
        native, otel = results.documents("native", scenario), results.documents("otel", scenario)
        for difference in differences(scenario, native, otel):
            used.update(allowed_by(difference))
    stale = [entry for entry in ALLOWED if entry not in used]
    assert not stale, "allow-list entries that no longer differ (remove them and their " \
        "docs/migration.md rows):\n" + "\n".join(f"  {e.scenario} {e.path}" for e in stale)


def test_every_allowed_difference_is_in_the_migration_guide() -> None:
    guide = MIGRATION_GUIDE.read_text()
    missing = sorted({entry.field for entry in ALLOWED if f"`{entry.field}`" not in guide})
    assert not missing, f"docs/migration.md does not list: {missing}"


def _assert_valid(document: Dict[str, Any]) -> None:
    """The schema and ``otel-xray listen``'s checks accept the document."""
    assert_valid_document(document)
    report = check_document(orjson.dumps(document))
    assert report.ok, report.errors


def test_otel_documents_are_valid(results: _Results) -> None:
    run = results.runs["otel"]
    assert not run.rejected
    for document in run.raw:
        _assert_valid(document)


def test_native_documents_are_accepted_by_the_schema_and_listen(results: _Results) -> None:
    run = results.runs["native"]
    assert not run.rejected
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for document in run.raw:
        errors = [error.message for error in validator.iter_errors(document)]
        assert not errors, errors
        report = check_document(orjson.dumps(document))
        assert report.ok, report.errors


@pytest.mark.parametrize("scenario", list(runner.REQUESTS))
def test_responses_carry_the_same_trace_header(results: _Results, scenario: str) -> None:
    native = results.headers["native"][scenario].get("x-amzn-trace-id")
    otel = results.headers["otel"][scenario].get("x-amzn-trace-id")
    assert native == otel == f"Root={runner.REQUESTS[scenario][1]}"


def test_lambda_work_stays_in_lambdas_trace_with_the_event_linked(results: _Results) -> None:
    (handler,) = results.documents("otel", "lambda")
    assert (handler["trace_id"], handler["parent_id"]) == (runner.LAMBDA_ROOT, runner.LAMBDA_PARENT)
    assert handler["links"] == [{"trace_id": EVENT_TRACE, "id": EVENT_PARENT}]
    for native in results.documents("native", "lambda"):
        assert (native["trace_id"], native["parent_id"]) == (
            runner.LAMBDA_ROOT, runner.LAMBDA_PARENT
        )


def test_downstream_error_is_recorded_once(results: _Results) -> None:
    (segment,) = results.documents("otel", "downstream-error")
    (call,) = segment["subsegments"]
    (recorded,) = call["cause"]["exceptions"]
    (own,) = segment["cause"]["exceptions"]
    assert own["cause"] == recorded["id"]
