"""Options and the environment variables that set them.

Every option has an ``OTEL_EXPORTER_XRAY_*`` environment variable; explicit arguments win
over the environment, the environment over the defaults. Invalid values never raise at
import time of an instrumented app: they are logged once and the default is used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import FrozenSet, Mapping, NamedTuple, Optional, Set, Tuple

_log = logging.getLogger("otel_xray.config")

ENV_INDEXED_ATTRIBUTES = "OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES"
ENV_INDEX_ALL_ATTRIBUTES = "OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES"
ENV_ANNOTATION_DOTS = "OTEL_EXPORTER_XRAY_ANNOTATION_DOTS"
ENV_RESOURCE_METADATA = "OTEL_EXPORTER_XRAY_RESOURCE_METADATA"
ENV_LOG_GROUP_NAMES = "OTEL_EXPORTER_XRAY_LOG_GROUP_NAMES"
ENV_LAMBDA_MODE = "OTEL_EXPORTER_XRAY_LAMBDA_MODE"
ENV_MAX_STACK_FRAMES = "OTEL_EXPORTER_XRAY_MAX_STACK_FRAMES"
ENV_INTERNAL_ROOT_NAME = "OTEL_EXPORTER_XRAY_INTERNAL_ROOT_NAME"
ENV_ECS_ORIGIN = "OTEL_EXPORTER_XRAY_ECS_ORIGIN"

#: ``internal_root_name`` values: name the segment of a non-HTTP root after the span (as
#: the native SDK's ``begin_segment(name)``), or after the service.
INTERNAL_ROOT_NAMES = ("span", "service")
#: ``ecs_origin`` values: ``AWS::ECS::Container`` (the native SDK), or the launch type's
#: ``AWS::ECS::EC2``/``AWS::ECS::Fargate`` (the Collector).
ECS_ORIGINS = ("container", "launch_type")

#: Set by the Lambda runtime in every function's environment.
ENV_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class TranslateOptions:
    """How spans become X-Ray documents.

    Attributes:
        indexed_attributes: span attribute keys that become X-Ray *annotations* (indexed and
            searchable). Everything else goes to ``metadata.default``.
        index_all_attributes: make every eligible attribute an annotation (still capped at
            50 per document).
        annotation_dots: keep ``.`` in annotation keys (X-Ray accepts it now); when false,
            dots become ``_``, the characters the X-Ray SDKs allow (letters, digits, ``_``).
        resource_metadata: copy resource attributes into the *segment's* metadata under
            ``otel.resource.<key>`` (never into subsegments).
        log_group_names: CloudWatch log groups recorded in ``aws.cloudwatch_logs`` of each
            segment, in addition to the resource's ``aws.log.group.names``.
        lambda_mode: on AWS Lambda the service records the invocation's segment itself;
            a document root with a remote parent is then sent as a standalone subsegment
            under it, never as a second segment. ``None`` detects Lambda from
            ``AWS_LAMBDA_FUNCTION_NAME``.
        max_stack_frames: frames kept per exception; the rest are counted in ``truncated``.
        internal_root_name: the segment of a root span that is no HTTP request (kind
            INTERNAL: a job, a worker loop) is named after the span (``"span"``, as the
            native SDK's ``begin_segment("nightly-job")``), or after the service
            (``"service"``; the span name is then the annotation ``operation``).
        ecs_origin: ``"container"`` gives ECS segments the origin ``AWS::ECS::Container``
            (the native SDK's); ``"launch_type"`` gives ``AWS::ECS::EC2``/``Fargate`` (the
            Collector's).
    """

    indexed_attributes: Tuple[str, ...] = ()
    index_all_attributes: bool = False
    annotation_dots: bool = False
    resource_metadata: bool = False
    log_group_names: Tuple[str, ...] = ()
    lambda_mode: Optional[bool] = None
    max_stack_frames: int = 50
    internal_root_name: str = "span"
    ecs_origin: str = "container"
    # Derived, for O(1) lookups during translation.
    indexed_set: FrozenSet[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "indexed_attributes", tuple(self.indexed_attributes))
        object.__setattr__(self, "log_group_names", tuple(self.log_group_names))
        object.__setattr__(self, "indexed_set", frozenset(self.indexed_attributes))
        if self.lambda_mode is None:
            object.__setattr__(self, "lambda_mode", on_lambda())
        frames = MAX_STACK_FRAMES.resolve(self.max_stack_frames)
        object.__setattr__(self, "max_stack_frames", frames)
        object.__setattr__(
            self, "internal_root_name",
            _choice("internal_root_name", self.internal_root_name, INTERNAL_ROOT_NAMES),
        )
        object.__setattr__(self, "ecs_origin", _choice("ecs_origin", self.ecs_origin, ECS_ORIGINS))

    @classmethod
    def from_env(
        cls, environ: Optional[Mapping[str, str]] = None, **overrides: object
    ) -> TranslateOptions:
        """Options from ``OTEL_EXPORTER_XRAY_*`` variables; keyword ``overrides`` win."""
        env = os.environ if environ is None else environ
        lambda_mode = env_optional_bool(env, ENV_LAMBDA_MODE)
        if lambda_mode is None:  # unset or invalid: detect it from the same environment
            lambda_mode = on_lambda(env)
        options = cls(
            indexed_attributes=env_list(env, ENV_INDEXED_ATTRIBUTES),
            index_all_attributes=env_bool(env, ENV_INDEX_ALL_ATTRIBUTES, False),
            annotation_dots=env_bool(env, ENV_ANNOTATION_DOTS, False),
            resource_metadata=env_bool(env, ENV_RESOURCE_METADATA, False),
            log_group_names=env_list(env, ENV_LOG_GROUP_NAMES),
            lambda_mode=lambda_mode,
            max_stack_frames=MAX_STACK_FRAMES.resolve(environ=env),
            internal_root_name=env_choice(env, ENV_INTERNAL_ROOT_NAME, INTERNAL_ROOT_NAMES),
            ecs_origin=env_choice(env, ENV_ECS_ORIGIN, ECS_ORIGINS),
        )
        return replace(options, **overrides) if overrides else options  # type: ignore[arg-type]


def on_lambda(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether this process runs on AWS Lambda (the runtime sets ``AWS_LAMBDA_FUNCTION_NAME``)."""
    env = os.environ if environ is None else environ
    return bool(env.get(ENV_LAMBDA_FUNCTION_NAME))


def env_list(env: Mapping[str, str], name: str) -> Tuple[str, ...]:
    """A comma-separated list; blanks around items and empty items are ignored."""
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env_optional_bool(env, name)
    return default if value is None else value


def env_optional_bool(env: Mapping[str, str], name: str) -> Optional[bool]:
    raw = env.get(name)
    if raw is None:
        return None
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    _warn_once(
        (name, raw), "%s=%r is not a boolean (use true or false); using the default", name, raw
    )
    return None


def env_choice(env: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> str:
    """The variable ``name`` as one of ``choices`` (any case); unset, blank or invalid: the
    first choice (invalid values are logged once)."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return choices[0]
    return _choice(name, raw.strip().lower(), choices, shown=raw)


def _choice(name: str, value: object, choices: Tuple[str, ...], shown: object = None) -> str:
    """``value`` when it is one of ``choices``; else the first choice, logged once."""
    if isinstance(value, str) and value in choices:
        return value
    shown = value if shown is None else shown
    _warn_once(
        (name, repr(shown)), "%s=%r is not one of %s; using %r",
        name, shown, ", ".join(choices), choices[0],
    )
    return choices[0]


class IntSetting(NamedTuple):
    """A numeric setting: its argument name, environment variable, default and valid range
    (inclusive)."""

    name: str
    env: str
    default: int
    minimum: int
    maximum: int

    def resolve(self, explicit: object = None, environ: Optional[Mapping[str, str]] = None) -> int:
        """``explicit`` when given, else the environment variable, else the default.

        A value that is not an integer in ``[minimum, maximum]`` -- from an argument or
        from the environment -- is logged once and the default used: a typo in a setting
        must never stop the application or the export thread.
        """
        if explicit is not None:
            is_int = isinstance(explicit, int) and not isinstance(explicit, bool)
            if is_int and self.minimum <= explicit <= self.maximum:  # type: ignore[operator]
                return explicit  # type: ignore[return-value]
            return self._invalid(self.name, explicit)
        env = os.environ if environ is None else environ
        raw = env.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip())
        except ValueError:
            return self._invalid(self.env, raw)
        if self.minimum <= value <= self.maximum:
            return value
        return self._invalid(self.env, raw)

    def _invalid(self, source: str, value: object) -> int:
        _warn_once(
            (source, repr(value)),
            "%s=%r is not an integer from %d to %d; using the default %d",
            source, value, self.minimum, self.maximum, self.default,
        )
        return self.default


_warned: Set[Tuple[str, ...]] = set()


def _warn_once(key: Tuple[str, ...], msg: str, *args: object) -> None:
    if key in _warned:
        return
    _warned.add(key)
    _log.warning(msg, *args)


#: Exception frames kept per exception; the rest are counted in ``truncated``.
MAX_STACK_FRAMES = IntSetting("max_stack_frames", ENV_MAX_STACK_FRAMES, 50, 1, 100_000)
