"""Rule matching: wildcards, every criterion, both semconv generations, order, parsing."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from opentelemetry.sdk.resources import Resource

from otel_xray.sampling.rules import (
    ResourceFacts,
    SamplingRule,
    compile_pattern,
    order_rules,
    parse_rule_records,
    span_values,
    wildcard_match,
)
from tests.support.daemon_tcp import default_rule, rule

SERVICE = Resource.create({"service.name": "checkout"})


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("*", "", True),
        ("*", "anything", True),
        ("", "", True),
        ("", "x", False),
        ("/api/*", "/api/orders/7", True),
        ("/api/*", "/api", False),
        ("/api/?", "/api/7", True),
        ("/api/?", "/api/77", False),
        ("*.example.com", "shop.EXAMPLE.com", True),  # case-insensitive, as the native SDKs
        ("GET", "get", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("a.c", "abc", False),  # '.' is literal
        ("a+c", "a+c", True),
        ("/x", "/x\n", False),
        ("*", "line\nbreak", True),
        ("*", "\n", True),
    ],
)
def test_wildcard_patterns(pattern: str, text: str, matches: bool) -> None:
    assert wildcard_match(compile_pattern(pattern), text) is matches


def first_match(
    records: List[Dict[str, Any]],
    attributes: Optional[Dict[str, Any]],
    resource: Resource = SERVICE,
) -> Optional[str]:
    rules, problems = parse_rule_records(records)
    assert problems == []
    values = span_values(attributes or {})
    for matching in order_rules(rules, ResourceFacts.of(resource)):
        if matching.matches(values, attributes or {}):
            return matching.rule.name
    return None


NEW_HTTP = {
    "http.request.method": "POST", "url.path": "/api/orders", "server.address": "shop.example.com"
}
OLD_HTTP = {
    "http.method": "POST", "http.target": "/api/orders?id=7", "http.host": "shop.example.com"
}


@pytest.mark.parametrize("attributes", [NEW_HTTP, OLD_HTTP], ids=["semconv-new", "semconv-old"])
@pytest.mark.parametrize(
    ("criteria", "matches"),
    [
        ({"http_method": "POST"}, True),
        ({"http_method": "GET"}, False),
        ({"url_path": "/api/*"}, True),
        ({"url_path": "/api/orders"}, True),  # the query string is not part of the path
        ({"url_path": "/health"}, False),
        ({"host": "*.example.com"}, True),
        ({"host": "other.example.com"}, False),
        ({"service_name": "checkout"}, True),
        ({"service_name": "check*"}, True),
        ({"service_name": "billing"}, False),
        ({"service_type": "*"}, True),
        ({"service_type": "AWS::EC2::Instance"}, False),  # the resource names no platform
        ({"http_method": "POST", "url_path": "/api/*", "host": "shop.*"}, True),
        ({"http_method": "POST", "url_path": "/nope/*"}, False),
    ],
)
def test_a_rule_matches_when_every_criterion_matches(
    attributes: Dict[str, Any], criteria: Dict[str, Any], matches: bool
) -> None:
    records = [rule("r", **criteria), default_rule()]
    assert first_match(records, attributes) == ("r" if matches else "Default")


@pytest.mark.parametrize(
    ("attributes", "path"),
    [
        ({"url.path": "/a/b"}, "/a/b"),
        ({"http.target": "/a/b?x=1#f"}, "/a/b"),
        ({"url.full": "https://h:8443/a/b?x=1"}, "/a/b"),
        ({"http.url": "http://h/a"}, "/a"),
        ({"http.url": "http://h"}, "/"),
        ({"url.full": "not a url"}, ""),
        ({}, ""),
        (None, ""),
        ({"url.path": "/new", "http.target": "/old"}, "/new"),
    ],
)
def test_the_url_path_is_read_from_either_semconv_generation(
    attributes: Optional[Dict[str, Any]], path: str
) -> None:
    assert span_values(attributes or {})[2] == path


@pytest.mark.parametrize(
    ("platform", "service_type", "matches"),
    [
        ("aws_ec2", "AWS::EC2::Instance", True),
        ("aws_eks", "AWS::EKS::Container", True),
        ("aws_elastic_beanstalk", "AWS::ElasticBeanstalk::Environment", True),
        ("aws_ecs", "AWS::ECS::Container", True),
        ("aws_ec2", "AWS::EKS::*", False),
        ("aws_ec2", "AWS::*", True),
    ],
)
def test_the_service_type_comes_from_the_resource_platform(
    platform: str, service_type: str, matches: bool
) -> None:
    resource = Resource.create({"service.name": "checkout", "cloud.provider": "aws",
                                "cloud.platform": platform})
    records = [rule("typed", service_type=service_type), default_rule()]
    assert first_match(records, NEW_HTTP, resource) == ("typed" if matches else "Default")


@pytest.mark.parametrize(
    ("resource_attrs", "span_attrs", "matches"),
    [
        ({"aws.ecs.container.arn": "arn:aws:ecs:us-east-1:1:container/abc"}, {}, True),
        ({"cloud.resource_id": "arn:aws:lambda:us-east-1:1:function:fn"}, {}, False),
        ({}, {"cloud.resource_id": "arn:aws:ecs:us-east-1:1:container/x"}, True),
        ({}, {}, False),
    ],
)
def test_the_resource_arn_comes_from_the_resource_else_the_span(
    resource_attrs: Dict[str, Any], span_attrs: Dict[str, Any], matches: bool
) -> None:
    resource = Resource.create({"service.name": "checkout", **resource_attrs})
    records = [rule("arn", resource_arn="arn:aws:ecs:*"), default_rule()]
    assert first_match(records, span_attrs, resource) == ("arn" if matches else "Default")


@pytest.mark.parametrize(
    ("span_attrs", "matches"),
    [
        ({"tenant": "gold-1", "region.tier": "eu"}, True),
        ({"tenant": "GOLD-2", "region.tier": "eu"}, True),
        ({"tenant": "silver", "region.tier": "eu"}, False),
        ({"tenant": "gold-1"}, False),  # every rule attribute must be present
        ({"tenant": ["gold-1"], "region.tier": "eu"}, False),  # sequences never match
        ({}, False),
    ],
)
def test_rule_attributes_must_all_be_present_and_match(
    span_attrs: Dict[str, Any], matches: bool
) -> None:
    records = [rule("attrs", attributes={"tenant": "gold-*", "region.tier": "eu"}),
               default_rule()]
    assert first_match(records, span_attrs) == ("attrs" if matches else "Default")


def test_non_string_attribute_values_match_as_text() -> None:
    records = [rule("flags", attributes={"beta": "true", "shard": "1?"}), default_rule()]
    assert first_match(records, {"beta": True, "shard": 12}) == "flags"


def test_a_span_without_http_attributes_matches_only_star_criteria() -> None:
    records = [rule("api", priority=1, url_path="/api/*"), rule("all", priority=2),
               default_rule()]
    assert first_match(records, {}) == "all"


def test_rules_are_tried_by_priority_then_name_and_default_last() -> None:
    records = [
        default_rule(),
        rule("zeta", priority=5),
        rule("alpha", priority=5),
        rule("first", priority=1, url_path="/nothing"),
    ]
    rules, _ = parse_rule_records(records)
    ordered = [m.rule.name for m in order_rules(rules, ResourceFacts.of(SERVICE))]
    assert ordered == ["first", "alpha", "zeta", "Default"]
    assert first_match(records, NEW_HTTP) == "alpha"


def test_default_is_last_whatever_its_priority() -> None:
    records = [rule("Default", priority=0), rule("specific", priority=7)]
    assert first_match(records, NEW_HTTP) == "specific"


def test_rules_for_other_services_are_dropped_when_loaded() -> None:
    rules, _ = parse_rule_records([rule("billing", service_name="billing"), default_rule()])
    ordered = [m.rule.name for m in order_rules(rules, ResourceFacts.of(SERVICE))]
    assert ordered == ["Default"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Version": 2}, "version 2"),
        ({"FixedRate": 1.5}, "FixedRate 1.5"),
        ({"FixedRate": "0.1"}, "FixedRate '0.1'"),
        ({"ReservoirSize": -1}, "ReservoirSize -1"),
        ({"ReservoirSize": True}, "ReservoirSize True"),
        ({"Priority": None}, "Priority None"),
        ({"Host": 7}, "Host 7"),
        ({"Attributes": {"k": 1}}, "Attributes"),
        ({"RuleName": ""}, "without a RuleName"),
    ],
)
def test_invalid_rules_are_left_out_with_a_reason(change: Dict[str, Any], message: str) -> None:
    bad = rule("bad")
    bad["SamplingRule"].update(change)
    rules, problems = parse_rule_records([bad, default_rule(), "junk"])
    assert [r.name for r in rules] == ["Default"]
    assert message in problems[0]
    assert "without a SamplingRule" in problems[1]


def test_missing_criteria_mean_everything() -> None:
    parsed = SamplingRule.from_api({"RuleName": "min", "Priority": 3, "FixedRate": 0.5,
                                    "ReservoirSize": 2})
    assert (parsed.host, parsed.url_path, parsed.service_name, parsed.attributes) == (
        "*", "*", "*", {}
    )
