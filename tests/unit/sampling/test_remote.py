"""RulesSampler: decisions from loaded rules, the local default, expiry, statistics, targets."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_xray.config import TranslateOptions
from otel_xray.ids import XRayIdGenerator
from otel_xray.propagation import TRACE_HEADER, XRayPropagator
from otel_xray.sampling import XRayParentBased
from otel_xray.sampling.remote import RULES_TTL_SECONDS, RulesSampler, parse_sampler_arg
from otel_xray.translate import to_document
from tests.support.daemon_tcp import default_rule, rule, target
from tests.support.helpers import assert_valid_document

T0 = 1_700_000_000.0
HIGH = (0x5759E988 << 96) | ((1 << 64) - 1)
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
API = {"http.request.method": "GET", "url.path": "/api/orders"}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rules_sampler(records: Optional[List[Dict[str, Any]]], clock: Clock) -> RulesSampler:
    sampler = RulesSampler(Resource.create({"service.name": "checkout"}), clock=clock)
    if records is not None:
        assert sampler.load_rules(records, clock()) == []
    return sampler


EVERYTHING = [rule("api", url_path="/api/*", fixed_rate=1.0), default_rule(0.0, 0)]


def sampled(sampler: RulesSampler, attributes: Optional[Dict[str, Any]] = None) -> bool:
    return sampler.should_sample(None, HIGH, "span", attributes=attributes).decision.is_sampled()


def test_before_rules_arrive_the_local_default_applies() -> None:
    clock = Clock()
    sampler = rules_sampler(None, clock)
    assert [sampled(sampler, API) for _ in range(3)] == [True, False, False]
    clock.now += 1
    assert sampled(sampler, API)


def test_loaded_rules_decide() -> None:
    sampler = rules_sampler(EVERYTHING, Clock())
    assert all(sampled(sampler, API) for _ in range(5))
    assert not any(sampled(sampler, {"url.path": "/health"}) for _ in range(5))


def test_rules_older_than_an_hour_expire_to_the_local_default() -> None:
    clock = Clock()
    sampler = rules_sampler(EVERYTHING, clock)
    clock.now += RULES_TTL_SECONDS
    assert [sampled(sampler, API) for _ in range(2)] == [True, True]
    clock.now += 1
    assert [sampled(sampler, API) for _ in range(2)] == [True, False]


def test_reloading_rules_renews_them() -> None:
    clock = Clock()
    sampler = rules_sampler(EVERYTHING, clock)
    clock.now += RULES_TTL_SECONDS
    sampler.load_rules(EVERYTHING, clock.now)
    clock.now += RULES_TTL_SECONDS
    assert all(sampled(sampler, API) for _ in range(3))


def test_an_answer_without_usable_rules_keeps_the_previous_ones() -> None:
    clock = Clock()
    sampler = rules_sampler(EVERYTHING, clock)
    problems = sampler.load_rules([rule("bad", version=2)], clock.now)
    assert "version 2" in problems[0] and "previous rules stay" in problems[-1]
    assert sampler.rule_names == ["api", "Default"]


def test_a_rule_set_without_default_uses_the_local_default_for_the_rest() -> None:
    sampler = rules_sampler([rule("api", url_path="/api/*", fixed_rate=0.0)], Clock())
    assert [sampled(sampler, {"url.path": "/other"}) for _ in range(2)] == [True, False]


def test_the_matched_rule_name_is_added_to_the_span_attributes() -> None:
    sampler = rules_sampler(EVERYTHING, Clock())
    result = sampler.should_sample(None, HIGH, "GET /api", attributes=API)
    assert dict(result.attributes) == {**API, "aws.xray.sampling_rule_name": "api"}


def test_the_local_default_adds_no_rule_name() -> None:
    result = rules_sampler(None, Clock()).should_sample(None, HIGH, "x", attributes=API)
    assert dict(result.attributes) == API


def test_statistics_documents_cover_the_rules_used_since_the_last_report() -> None:
    clock = Clock()
    sampler = rules_sampler(EVERYTHING, clock)
    for _ in range(3):
        sampled(sampler, API)
    sampled(sampler, {"url.path": "/health"})
    documents = sampler.statistics("0123456789abcdef01234567", clock.now)
    assert documents == [
        {"RuleName": "api", "ClientID": "0123456789abcdef01234567", "RequestCount": 3,
         "SampledCount": 3, "BorrowCount": 0, "Timestamp": int(T0)},
        {"RuleName": "Default", "ClientID": "0123456789abcdef01234567", "RequestCount": 1,
         "SampledCount": 0, "BorrowCount": 0, "Timestamp": int(T0)},
    ]
    assert sampler.statistics("x", clock.now) == []


def test_targets_set_quota_rate_and_the_smallest_interval() -> None:
    clock = Clock()
    sampler = rules_sampler([rule("api", url_path="/api/*", reservoir_size=9),
                             default_rule(0.0, 0)], clock)
    interval, problems = sampler.apply_targets({"SamplingTargetDocuments": [
        target("api", quota=2, ttl=T0 + 10, interval=7),
        target("Default", fixed_rate=1.0, interval=30),
        target("unknown", interval=1),
    ]})
    assert (interval, problems) == (7.0, [])
    assert [sampled(sampler, API) for _ in range(3)] == [True, True, False]
    assert sampled(sampler, {"url.path": "/other"})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"RuleName": "api", "FixedRate": 7}, "FixedRate 7"),
        ({"RuleName": "api", "FixedRate": 1.0, "ReservoirQuota": -1}, "ReservoirQuota -1"),
        ({"RuleName": "api", "FixedRate": 1.0, "ReservoirQuotaTTL": "soon"}, "ReservoirQuotaTTL"),
        ("junk", "not an object"),
    ],
)
def test_malformed_target_fields_are_ignored_with_a_reason(document: Any, problem: str) -> None:
    sampler = rules_sampler(EVERYTHING, Clock())
    _, problems = sampler.apply_targets({"SamplingTargetDocuments": [document]})
    assert problem in problems[0]
    assert sampled(sampler, API)


def test_unprocessed_statistics_are_reported() -> None:
    sampler = rules_sampler(EVERYTHING, Clock())
    _, problems = sampler.apply_targets({"UnprocessedStatistics": [
        {"RuleName": "api", "ErrorCode": "400", "Message": "bad"}]})
    assert problems == ["X-Ray did not process the statistics of rule 'api': 400 bad"]


# -- with XRayParentBased: the caller's decision wins -------------------------------------


def server_span_sampled(sampler: RulesSampler, header: Optional[str]) -> bool:
    provider = TracerProvider(sampler=XRayParentBased(sampler), id_generator=XRayIdGenerator())
    ctx = XRayPropagator().extract({TRACE_HEADER: header} if header else {})
    token = otel_context.attach(ctx)
    try:
        span = provider.get_tracer("t").start_span("GET /api", kind=SpanKind.SERVER,
                                                   attributes=API)
        span.end()
    finally:
        otel_context.detach(token)
    return span.get_span_context().trace_flags.sampled


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Root={ROOT};Parent={PARENT};Sampled=1", True),
        (f"Root={ROOT};Parent={PARENT};Sampled=0", False),
        (f"Root={ROOT};Parent={PARENT};Sampled=?", False),  # decided by the rules: rate 0
        (None, False),
    ],
)
def test_a_callers_decision_wins_and_undecided_callers_go_through_the_rules(
    header: Optional[str], expected: bool
) -> None:
    nothing = [rule("api", url_path="/api/*", fixed_rate=0.0), default_rule(0.0, 0)]
    assert server_span_sampled(rules_sampler(nothing, Clock()), header) is expected


def test_the_rule_name_reaches_the_segment_where_the_native_sdk_puts_it() -> None:
    provider = TracerProvider(sampler=XRayParentBased(rules_sampler(EVERYTHING, Clock())),
                              resource=Resource.create({"service.name": "checkout"}))
    with provider.get_tracer("t").start_as_current_span(
        "GET /api", kind=SpanKind.SERVER, attributes=API
    ) as server, provider.get_tracer("t").start_as_current_span("child") as child:
        pass
    document = assert_valid_document(to_document(server, TranslateOptions(lambda_mode=False)))
    assert document["aws"]["xray"]["sampling_rule_name"] == "api"
    assert "aws.xray.sampling_rule_name" not in document.get("metadata", {}).get("default", {})
    assert "aws.xray.sampling_rule_name" not in (child.attributes or {})


@pytest.mark.parametrize(
    ("arg", "settings"),
    [
        (None, {}),
        ("", {}),
        ("endpoint=http://127.0.0.1:2000,polling_interval=60",
         {"endpoint": "http://127.0.0.1:2000", "polling_interval": "60"}),
        (" endpoint = api ", {"endpoint": "api"}),
        ("ratio=0.5,endpoint=http://h:1", {"endpoint": "http://h:1"}),
        ("0.5", {}),
    ],
)
def test_the_sampler_arg_is_read_in_adots_form(
    arg: Optional[str], settings: Dict[str, str]
) -> None:
    assert parse_sampler_arg(arg) == settings
