"""X-Ray sampling rules: parse the ``GetSamplingRules`` JSON, match a span against them.

A rule matches when every one of its criteria matches: service name, service type (the
segment ``origin``, from the resource's ``cloud.platform``), host, HTTP method, URL path and
resource ARN, each a pattern where ``*`` stands for any run of characters and ``?`` for one
character (case-insensitive, as the native SDKs match), and every key of its
``Attributes`` present on the span with a matching value. A value the span does not have is
the empty string: only ``*`` matches it. Rules are tried by ``Priority``, then name;
``Default`` is always last and matches everything.

The values are read from the attributes that instrumentations set when they start the
span, in both generations of the HTTP semantic conventions (``http.request.method`` /
``http.method``, ``url.path`` / ``http.target`` / the path of ``url.full`` or ``http.url``,
``server.address`` / ``http.host``). Service name, service type and resource ARN come from
the resource, so rules for another service are dropped once when the rules are loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Tuple,
)
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource

from ..config import TranslateOptions
from ..translate.resource import segment_origin

#: The rule X-Ray always has, tried last.
DEFAULT_RULE_NAME = "Default"
#: The rule versions this sampler understands (the only one X-Ray has).
SUPPORTED_VERSION = 1

_HOST_KEYS = ("server.address", "http.host", "net.host.name")
_METHOD_KEYS = ("http.request.method", "http.method")
_URL_KEYS = ("url.full", "http.url")
_ARN_KEYS = ("aws.ecs.container.arn", "cloud.resource_id", "faas.id")
_SPAN_ARN_KEYS = ("cloud.resource_id", "faas.id")

#: ``None`` stands for ``*``: it matches every value, including a missing one.
Matcher = Optional[Pattern[str]]


def compile_pattern(pattern: str) -> Matcher:
    """A case-insensitive matcher for an X-Ray wildcard pattern (``*`` and ``?``)."""
    if pattern == "*":
        return None
    parts = ["(?s)(?i)"]
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts))


def wildcard_match(matcher: Matcher, text: str) -> bool:
    """Whether ``text`` matches a pattern compiled by :func:`compile_pattern`."""
    return matcher is None or matcher.fullmatch(text) is not None


@dataclass(frozen=True)
class SamplingRule:
    """One rule of ``GetSamplingRules``' ``SamplingRuleRecords[].SamplingRule``."""

    name: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    service_name: str = "*"
    service_type: str = "*"
    host: str = "*"
    http_method: str = "*"
    url_path: str = "*"
    resource_arn: str = "*"
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_RULE_NAME

    @classmethod
    def from_api(cls, rule: Mapping[str, Any]) -> SamplingRule:
        """Parse one ``SamplingRule`` object; ``ValueError`` says what is wrong with it."""
        name = rule.get("RuleName")
        if not isinstance(name, str) or not name:
            raise ValueError("a rule without a RuleName")
        version = rule.get("Version", SUPPORTED_VERSION)
        if version != SUPPORTED_VERSION:
            raise ValueError(f"rule {name!r} has version {version!r}; only 1 is understood")
        rate = rule.get("FixedRate")
        size = rule.get("ReservoirSize")
        priority = rule.get("Priority", 10000 if name == DEFAULT_RULE_NAME else None)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"rule {name!r}: FixedRate {rate!r} is not a number from 0 to 1")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"rule {name!r}: ReservoirSize {size!r} is not a whole number >= 0")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValueError(f"rule {name!r}: Priority {priority!r} is not a whole number")
        texts = {}
        for key in ("ServiceName", "ServiceType", "Host", "HTTPMethod", "URLPath", "ResourceARN"):
            value = rule.get(key, "*")
            if not isinstance(value, str):
                raise ValueError(f"rule {name!r}: {key} {value!r} is not a string")
            texts[key] = value
        attributes = rule.get("Attributes") or {}
        if not isinstance(attributes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise ValueError(f"rule {name!r}: Attributes must map strings to strings")
        return cls(
            name=name,
            priority=priority,
            fixed_rate=float(rate),
            reservoir_size=size,
            service_name=texts["ServiceName"],
            service_type=texts["ServiceType"],
            host=texts["Host"],
            http_method=texts["HTTPMethod"],
            url_path=texts["URLPath"],
            resource_arn=texts["ResourceARN"],
            attributes=dict(attributes),
        )


def parse_rule_records(records: Sequence[Any]) -> Tuple[List[SamplingRule], List[str]]:
    """The rules of ``SamplingRuleRecords``, and a message for each record left out."""
    rules: List[SamplingRule] = []
    problems: List[str] = []
    for record in records:
        rule = record.get("SamplingRule") if isinstance(record, Mapping) else None
        if not isinstance(rule, Mapping):
            problems.append(f"a record without a SamplingRule object: {record!r:.200}")
            continue
        try:
            rules.append(SamplingRule.from_api(rule))
        except ValueError as exc:
            problems.append(str(exc))
    return rules, problems


@dataclass(frozen=True)
class ResourceFacts:
    """What rules match that the resource fixes for the whole process."""

    service_name: str
    service_type: str
    resource_arn: Optional[str]
    """``None``: not on the resource; read from the span's ``cloud.resource_id``."""

    @classmethod
    def of(cls, resource: Optional[Resource], ecs_origin: Optional[str] = None) -> ResourceFacts:
        """The facts of ``resource``; the service type is the segment's ``origin``, named
        as ``ecs_origin`` says (default: ``OTEL_EXPORTER_XRAY_ECS_ORIGIN``)."""
        attrs = resource.attributes if resource is not None else {}
        name = attrs.get("service.name")
        platform = attrs.get("cloud.platform")
        if ecs_origin is None:
            ecs_origin = TranslateOptions.from_env().ecs_origin
        origin = segment_origin(platform, attrs, ecs_origin) if isinstance(platform, str) else None
        arn = next((v for v in map(attrs.get, _ARN_KEYS) if isinstance(v, str) and v), None)
        return cls(name if isinstance(name, str) else "", origin or "", arn)


#: The span values rules match, in the order of :func:`span_values`' tuple.
HOST, METHOD, PATH, ARN = range(4)
SpanValues = Tuple[str, str, str, str]
_Check = Tuple[int, Callable[[str], Any]]


class MatchingRule:
    """A rule compiled for one process: only the checks that depend on the span."""

    __slots__ = ("attributes", "checks", "is_default", "rule")

    def __init__(self, rule: SamplingRule, facts: ResourceFacts) -> None:
        self.rule = rule
        self.is_default = rule.is_default
        patterns = [(HOST, rule.host), (METHOD, rule.http_method), (PATH, rule.url_path)]
        if facts.resource_arn is None:  # else checked once by applies_to
            patterns.append((ARN, rule.resource_arn))
        self.checks: Tuple[_Check, ...] = tuple(
            (index, _test(pattern)) for index, pattern in patterns if pattern != "*"
        )
        self.attributes: Tuple[Tuple[str, Matcher], ...] = tuple(
            (key, compile_pattern(pattern)) for key, pattern in rule.attributes.items()
        )

    @property
    def needs(self) -> FrozenSet[int]:
        """The span values (:data:`HOST`, …) this rule reads."""
        return frozenset(index for index, _ in self.checks)

    @staticmethod
    def applies_to(rule: SamplingRule, facts: ResourceFacts) -> bool:
        """Whether the rule can match spans of this resource at all."""
        if rule.is_default:
            return True
        return (
            wildcard_match(compile_pattern(rule.service_name), facts.service_name)
            and wildcard_match(compile_pattern(rule.service_type), facts.service_type)
            and (
                facts.resource_arn is None
                or wildcard_match(compile_pattern(rule.resource_arn), facts.resource_arn)
            )
        )

    def matches(self, values: SpanValues, attributes: Mapping[str, Any]) -> bool:
        """Whether a span with these :func:`span_values` and attributes matches."""
        if self.is_default:
            return True
        for index, test in self.checks:
            if not test(values[index]):
                return False
        for key, matcher in self.attributes:
            value = _attribute_text(attributes.get(key))
            if value is None or not wildcard_match(matcher, value):
                return False
        return True


def _test(pattern: str) -> Callable[[str], Any]:
    """A fast test for one pattern: case-insensitive equality, or the regex."""
    if "*" in pattern or "?" in pattern:
        matcher = compile_pattern(pattern)
        assert matcher is not None
        return matcher.fullmatch
    folded = pattern.casefold()
    return lambda text: text.casefold() == folded


def order_rules(rules: Sequence[SamplingRule], facts: ResourceFacts) -> List[MatchingRule]:
    """The rules that can apply to this resource, compiled, by priority then name."""
    ordered = sorted(
        (rule for rule in rules if MatchingRule.applies_to(rule, facts)),
        key=lambda rule: (rule.is_default, rule.priority, rule.name),
    )
    return [MatchingRule(rule, facts) for rule in ordered]


_ALL = frozenset({HOST, METHOD, PATH, ARN})


def span_values(attributes: Mapping[str, Any], needs: FrozenSet[int] = _ALL) -> SpanValues:
    """``(host, method, path, resource ARN)`` of a starting span; ``""`` when missing or not
    in ``needs`` (what the rules read)."""
    return (
        _first_text(attributes, _HOST_KEYS) if HOST in needs else "",
        _first_text(attributes, _METHOD_KEYS) if METHOD in needs else "",
        url_path(attributes) if PATH in needs else "",
        _first_text(attributes, _SPAN_ARN_KEYS) if ARN in needs else "",
    )


def _attribute_text(value: Any) -> Optional[str]:
    if value is None or isinstance(value, (list, tuple)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def url_path(attributes: Mapping[str, Any]) -> str:
    """The request's path without the query: ``url.path``, ``http.target``, or the URL's."""
    path = attributes.get("url.path")
    if isinstance(path, str) and path:
        return path
    target = attributes.get("http.target")
    if isinstance(target, str) and target:
        return target.split("?", 1)[0].split("#", 1)[0]
    for key in _URL_KEYS:
        url = attributes.get(key)
        if isinstance(url, str) and "://" in url:
            try:
                return urlsplit(url).path or "/"
            except ValueError:
                return ""
    return ""


def _first_text(attributes: Mapping[str, Any], keys: Tuple[str, ...]) -> str:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


__all__ = [
    "DEFAULT_RULE_NAME",
    "MatchingRule",
    "ResourceFacts",
    "SamplingRule",
    "span_values",
    "compile_pattern",
    "order_rules",
    "parse_rule_records",
    "url_path",
    "wildcard_match",
]
