"""listen's sampling answers: rules files in both forms, targets, /TraceSegments."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Dict

import pytest

from otel_xray.cli.sampling_server import (
    SAMPLE_EVERYTHING,
    SamplingServer,
    load_rules_file,
)
from otel_xray.emit.protocol import split_datagram
from otel_xray.sampling.rules import parse_rule_records


def write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "rules.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def rule_fields(records: Any) -> Dict[str, Any]:
    rules, problems = parse_rule_records(records)
    assert problems == []
    return {r.name: (r.priority, r.fixed_rate, r.reservoir_size, r.host, r.http_method,
                     r.url_path) for r in rules}


def test_the_output_of_aws_xray_get_sampling_rules_is_served_as_it_is(tmp_path: Path) -> None:
    output = {"SamplingRuleRecords": SAMPLE_EVERYTHING}
    assert load_rules_file(write(tmp_path, output)) == SAMPLE_EVERYTHING


@pytest.mark.parametrize(("version", "host_key"), [(2, "host"), (1, "service_name")])
def test_a_native_local_rules_file_becomes_rules_in_its_order(
    tmp_path: Path, version: int, host_key: str
) -> None:
    local = {"version": version, "rules": [
        {"description": "moves", host_key: "*.example.com", "http_method": "POST",
         "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05},
        {"description": "all", host_key: "*", "http_method": "*", "url_path": "*",
         "fixed_target": 2, "rate": 0.5},
    ], "default": {"fixed_target": 1, "rate": 0.1}}
    records = load_rules_file(write(tmp_path, local))
    assert rule_fields(records) == {
        "local-1": (1, 0.05, 0, "*.example.com", "POST", "/api/move/*"),
        "local-2": (2, 0.5, 2, "*", "*", "*"),
        "Default": (10000, 0.1, 1, "*", "*", "*"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ({"rules": []}, "expected the output of 'aws xray get-sampling-rules'"),
        ({"version": 3, "default": {}}, "version 3"),
        ({"version": 2, "default": {"rate": 0.1}}, "ReservoirSize None"),
        ({"SamplingRuleRecords": {}}, "must be a list"),
        ({"SamplingRuleRecords": []}, "no rules"),
    ],
)
def test_an_unusable_rules_file_says_why(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match=r"rules\.json") as info:
        load_rules_file(path)
    assert message in str(info.value)


def server() -> SamplingServer:
    return SamplingServer(("127.0.0.1", 0), SAMPLE_EVERYTHING)


def test_rules_are_answered() -> None:
    status, answer = server().answer("/GetSamplingRules", {})
    assert (status, answer) == (200, {"SamplingRuleRecords": SAMPLE_EVERYTHING})


def test_targets_hand_each_reported_rule_its_own_rate_and_reservoir() -> None:
    status, answer = server().answer("/SamplingTargets", {"SamplingStatisticsDocuments": [
        {"RuleName": "Default", "RequestCount": 3}, {"RuleName": "gone"}]})
    assert status == 200
    (target,) = answer["SamplingTargetDocuments"]
    assert (target["RuleName"], target["FixedRate"], target["ReservoirQuota"],
            target["Interval"]) == ("Default", 1.0, 0, 10)
    assert answer["UnprocessedStatistics"][0]["RuleName"] == "gone"


def test_other_paths_are_not_found() -> None:
    assert server().answer("/Nope", {})[0] == 404


def test_trace_segments_are_forwarded_as_daemon_datagrams() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        forwarding = SamplingServer(("127.0.0.1", 0), forward_to=receiver.getsockname())
        try:
            status, answer = forwarding.answer(
                "/TraceSegments", {"TraceSegmentDocuments": ['{"name":"a"}']})
            _, body = split_datagram(receiver.recv(65535))
        finally:
            forwarding.close()
    assert (status, answer) == (200, {"UnprocessedTraceSegments": []})
    assert body == b'{"name":"a"}'
