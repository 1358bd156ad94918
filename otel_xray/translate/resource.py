"""Resource attributes → segment fields: ``origin``, ``aws`` (ec2/ecs/eks/…), ``service``.

A resource is shared by every span of a tracer provider and never changes, so the fields
are computed once per resource (and options), cached, and shared read-only by the
segments of that resource.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv._incubating.attributes.aws_attributes import (
    AWS_ECS_CLUSTER_ARN,
    AWS_ECS_CONTAINER_ARN,
    AWS_ECS_LAUNCHTYPE,
    AWS_ECS_TASK_ARN,
    AWS_ECS_TASK_FAMILY,
    AWS_LOG_GROUP_ARNS,
    AWS_LOG_GROUP_NAMES,
)
from opentelemetry.semconv._incubating.attributes.cloud_attributes import (
    CLOUD_ACCOUNT_ID,
    CLOUD_AVAILABILITY_ZONE,
    CLOUD_PLATFORM,
    CLOUD_PROVIDER,
)
from opentelemetry.semconv._incubating.attributes.container_attributes import (
    CONTAINER_ID,
    CONTAINER_NAME,
)
from opentelemetry.semconv._incubating.attributes.host_attributes import (
    HOST_ID,
    HOST_IMAGE_ID,
    HOST_TYPE,
)
from opentelemetry.semconv._incubating.attributes.k8s_attributes import (
    K8S_CLUSTER_NAME,
    K8S_POD_NAME,
)
from opentelemetry.semconv._incubating.attributes.process_attributes import (
    PROCESS_RUNTIME_NAME,
    PROCESS_RUNTIME_VERSION,
)
from opentelemetry.semconv._incubating.attributes.service_attributes import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAMESPACE,
)
from opentelemetry.semconv._incubating.attributes.telemetry_attributes import (
    TELEMETRY_DISTRO_VERSION,
)
from opentelemetry.semconv.attributes.service_attributes import SERVICE_VERSION
from opentelemetry.semconv.attributes.telemetry_attributes import (
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
)

from ..config import TranslateOptions
from ._attrs import as_int, bounded_text, text_of
from ._cache import BoundedCache
from .values import metadata_key, to_json_value

#: Deprecated key (no constant in current semconv); the Python SDK's auto-configuration
#: still sets it when the app runs under ``opentelemetry-instrument``.
TELEMETRY_AUTO_VERSION = "telemetry.auto.version"
#: Imported only when auto-instrumentation (``opentelemetry-instrument``) is running.
AUTO_INSTRUMENTATION_MODULE = "opentelemetry.instrumentation.auto_instrumentation"
#: Resource attributes copied to metadata get this key prefix (``otel.resource.<key>``).
RESOURCE_METADATA_PREFIX = "otel.resource."

_ORIGINS = {
    "aws_ec2": "AWS::EC2::Instance",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
    "aws_app_runner": "AWS::AppRunner::Service",
    "aws_lambda": "AWS::Lambda::Function",
}
_ECS_ORIGINS = {"ec2": "AWS::ECS::EC2", "fargate": "AWS::ECS::Fargate"}
_ECS_ORIGIN = "AWS::ECS::Container"
_AWS = "aws"
_EC2, _ECS, _EKS, _BEANSTALK = "aws_ec2", "aws_ecs", "aws_eks", "aws_elastic_beanstalk"

#: Largest Beanstalk ``deployment_id`` sent (exact in every JSON reader).
_MAX_DEPLOYMENT_ID = 2**53
#: At most this many ``cloudwatch_logs`` entries.
MAX_LOG_GROUPS = 50
_CacheKey = Tuple[int, bool, Tuple[str, ...], str]
# Each entry holds the resource, so its id cannot be reused while cached.
_fields: BoundedCache[_CacheKey, Tuple[Resource, Mapping[str, Any]]] = BoundedCache(32)


def segment_fields(
    resource: Optional[Resource], options: TranslateOptions
) -> Mapping[str, Any]:
    """Fields a segment gets from its resource: any of ``origin``, ``aws`` (a dict merged
    into the segment's ``aws`` block), ``service`` and ``metadata`` (namespaces merged into
    the segment's metadata, for ``options.resource_metadata``).

    Every segment of a resource shares the same fields, values included: read-only, like
    every value of a translated body (see :class:`~otel_xray.translate.segment.Translated`).
    """
    if resource is None:
        return _compute({}, options)
    key = (id(resource), options.resource_metadata, options.log_group_names, options.ecs_origin)
    entry = _fields.get(key)
    if entry is None or entry[0] is not resource:
        entry = _fields.put(key, (resource, _compute(resource.attributes, options)))
    return entry[1]


def _compute(attrs: Mapping[str, Any], options: TranslateOptions) -> Dict[str, Any]:
    provider = text_of(attrs, CLOUD_PROVIDER)
    platform = text_of(attrs, CLOUD_PLATFORM)
    # A resource is on AWS when it says so, or names an AWS platform without a provider.
    on_aws = provider == _AWS or (provider is None and (platform or "").startswith("aws_"))
    fields: Dict[str, Any] = {}
    if on_aws and platform is not None:
        origin = segment_origin(platform, attrs, options.ecs_origin)
        if origin is not None:
            fields["origin"] = origin
    aws = _aws_fields(attrs, platform, provider) if on_aws else {}
    xray = _xray(attrs)
    if xray:
        aws["xray"] = xray
    logs = _log_groups(attrs, options.log_group_names)
    if logs:
        aws["cloudwatch_logs"] = logs
    if aws:
        fields["aws"] = aws
    service = _service(attrs)
    if service:
        fields["service"] = service
    if options.resource_metadata and attrs:
        values = {
            metadata_key(RESOURCE_METADATA_PREFIX + key): to_json_value(value)
            for key, value in attrs.items()
            if value is not None
        }
        fields["metadata"] = {"default": values}
    return fields


def _service(attrs: Mapping[str, Any]) -> Dict[str, Any]:
    """``version`` (``service.version``), ``runtime`` and ``runtime_version`` (the
    ``process.runtime.*`` keys; the native SDK spells the runtime ``CPython``)."""
    service: Dict[str, Any] = {}
    version = text_of(attrs, SERVICE_VERSION)
    if version is not None:
        service["version"] = version
    runtime = text_of(attrs, PROCESS_RUNTIME_NAME)
    if runtime is not None:
        service["runtime"] = _RUNTIME_NAMES.get(runtime.lower(), runtime)
        runtime_version = text_of(attrs, PROCESS_RUNTIME_VERSION)
        if runtime_version is not None:
            service["runtime_version"] = runtime_version
    return service


#: ``process.runtime.name`` as OpenTelemetry's process detector spells it
#: (``sys.implementation.name``) → as ``platform.python_implementation()`` does.
_RUNTIME_NAMES = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython",
                  "jython": "Jython"}


def segment_origin(
    platform: str, attrs: Mapping[str, Any], ecs_origin: str = "container"
) -> Optional[str]:
    """The segment ``origin`` for a ``cloud.platform`` (``ecs_origin``: ``container`` or
    ``launch_type``, see ``TranslateOptions.ecs_origin``); the sampler's service type too."""
    if platform == _ECS:
        if ecs_origin == "container":  # the native SDK's, whatever the launch type
            return _ECS_ORIGIN
        launch_type = text_of(attrs, AWS_ECS_LAUNCHTYPE)
        return _ECS_ORIGINS.get((launch_type or "").lower(), _ECS_ORIGIN)
    return _ORIGINS.get(platform)


def _aws_fields(
    attrs: Mapping[str, Any], platform: Optional[str], provider: Optional[str]
) -> Dict[str, Any]:
    """``account_id`` and the ec2/ecs/eks/elastic_beanstalk blocks of a resource on AWS."""
    aws: Dict[str, Any] = {}
    account = text_of(attrs, CLOUD_ACCOUNT_ID)
    if account is not None:
        aws["account_id"] = account
    # The Collector adds ec2 for any host.id, even off AWS; only an AWS host is an EC2 one.
    if provider == _AWS and (platform == _EC2 or text_of(attrs, HOST_ID) is not None):
        _put_block(aws, "ec2", attrs, {
            "instance_id": HOST_ID,
            "availability_zone": CLOUD_AVAILABILITY_ZONE,
            "instance_size": HOST_TYPE,
            "ami_id": HOST_IMAGE_ID,
        })
    if platform == _ECS:
        _put_block(aws, "ecs", attrs, {
            "container": CONTAINER_NAME,
            "container_id": CONTAINER_ID,
            "container_arn": AWS_ECS_CONTAINER_ARN,
            "cluster_arn": AWS_ECS_CLUSTER_ARN,
            "task_arn": AWS_ECS_TASK_ARN,
            "task_family": AWS_ECS_TASK_FAMILY,
            "launch_type": AWS_ECS_LAUNCHTYPE,
            "availability_zone": CLOUD_AVAILABILITY_ZONE,
        })
    if platform == _EKS:
        _put_block(aws, "eks", attrs, {
            "cluster_name": K8S_CLUSTER_NAME,
            "pod": K8S_POD_NAME,
            "container_id": CONTAINER_ID,
        })
    if platform == _BEANSTALK:
        beanstalk = _beanstalk(attrs)
        if beanstalk:
            aws["elastic_beanstalk"] = beanstalk
    return aws


def _put_block(
    aws: Dict[str, Any], name: str, attrs: Mapping[str, Any], fields: Mapping[str, str]
) -> None:
    block = {}
    for field, key in fields.items():
        value = text_of(attrs, key)
        if value is not None:
            block[field] = value
    if block:
        aws[name] = block


def _beanstalk(attrs: Mapping[str, Any]) -> Dict[str, Any]:
    """The Beanstalk detector's keys: the deployment id, version label and environment."""
    block: Dict[str, Any] = {}
    environment = text_of(attrs, SERVICE_NAMESPACE)
    if environment is not None:
        block["environment_name"] = environment
    label = text_of(attrs, SERVICE_VERSION)
    if label is not None:
        block["version_label"] = label
    # Only a real deployment number: the SDK's default service.instance.id is a UUID
    # (the Collector would send 0 for it).
    deployment = as_int(attrs.get(SERVICE_INSTANCE_ID), _MAX_DEPLOYMENT_ID)
    if deployment is not None:
        block["deployment_id"] = deployment
    return block


def _xray(attrs: Mapping[str, Any]) -> Dict[str, Any]:
    """``sdk`` ("opentelemetry for python"), ``sdk_version``, ``auto_instrumentation``."""
    name = text_of(attrs, TELEMETRY_SDK_NAME)
    language = text_of(attrs, TELEMETRY_SDK_LANGUAGE)
    version = text_of(attrs, TELEMETRY_SDK_VERSION)
    auto = (
        text_of(attrs, TELEMETRY_AUTO_VERSION, TELEMETRY_DISTRO_VERSION) is not None
        or AUTO_INSTRUMENTATION_MODULE in sys.modules
    )
    xray: Dict[str, Any] = {}
    if name is not None:
        suffix = f" for {language}" if language else ""
        # The X-Ray SDK convention: "X-Ray for Python"; ours: "opentelemetry for python".
        has_suffix = bool(suffix) and name.lower().endswith(suffix.lower())
        xray["sdk"] = bounded_text(name if has_suffix else name + suffix)
    if version is not None:
        xray["sdk_version"] = version
    if xray or auto:
        xray["auto_instrumentation"] = auto
    return xray


def _log_groups(attrs: Mapping[str, Any], configured: Tuple[str, ...]) -> List[Dict[str, str]]:
    """``cloudwatch_logs`` from the resource's ARNs and names and the configured names.

    Entries are unique by log group; one with an ARN beats a bare name.
    """
    by_arn: Dict[str, Dict[str, str]] = {}
    with_arn = set()
    for arn in _strings(attrs.get(AWS_LOG_GROUP_ARNS)):
        name = _log_group_of_arn(arn)
        if name is not None and arn not in by_arn:
            by_arn[arn] = {"log_group": name, "arn": arn}
            with_arn.add(name)
    entries = list(by_arn.values())
    names = [*_strings(attrs.get(AWS_LOG_GROUP_NAMES)), *_strings(configured)]
    # Something in the ARN list that is no log-group ARN is taken as a bare name.
    names += [arn for arn in _strings(attrs.get(AWS_LOG_GROUP_ARNS)) if arn not in by_arn]
    seen = set(with_arn)
    for name in names:
        if name not in seen:
            seen.add(name)
            entries.append({"log_group": name})
    return entries[:MAX_LOG_GROUPS]


def _strings(value: Any) -> List[str]:
    """A list of non-empty strings from a sequence, or from ``a&b`` text.

    ``&`` separates several values in one string, as in ``OTEL_RESOURCE_ATTRIBUTES``
    (where ``,`` already separates attributes); the Collector reads the same form.
    """
    items: List[Any]
    if isinstance(value, str):
        items = value.split("&")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return []
    result = []
    for item in items:
        if isinstance(item, str) and item.strip():
            result.append(bounded_text(item.strip()))
    return result


def _log_group_of_arn(arn: str) -> Optional[str]:
    """``group`` from ``arn:aws:logs:region:account:log-group:group[:*]``."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[5] == "log-group" and parts[6]:
        return parts[6]
    return None
