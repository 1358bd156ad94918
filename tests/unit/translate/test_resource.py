"""Resource attributes → segment fields: origin, aws.ec2/ecs/eks/…, xray, logs, service."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.translate import resource as resource_fields
from otel_xray.translate import to_document
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
AWS = {"cloud.provider": "aws", "cloud.account.id": "123456789012",
       "cloud.availability_zone": "eu-west-1a"}
ECS_TASK = {
    **AWS, "cloud.platform": "aws_ecs", "container.name": "web-7f9c", "container.id": "c0ffee",
    "aws.ecs.cluster.arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/main",
    "aws.ecs.task.arn": "arn:aws:ecs:eu-west-1:123456789012:task/main/abc",
    "aws.ecs.task.family": "web",
    "aws.ecs.container.arn": "arn:aws:ecs:eu-west-1:123456789012:container/main/abc/def",
}
LOG_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/app/web:*"


def _resource_keys(doc: Dict[str, Any]) -> List[str]:
    default = doc.get("metadata", {}).get("default", {})
    return [key for key in default if key.startswith("otel.resource.")]


def _segment(attributes: Dict[str, Any], options: TranslateOptions = OPTIONS) -> Dict[str, Any]:
    recorder = SpanRecorder(resource=Resource.create(attributes))
    span = recorder.span("GET /", kind=SpanKind.SERVER)
    return assert_valid_document(to_document(span, options))


ORIGIN_CASES = [
    pytest.param({**AWS, "cloud.platform": "aws_ec2"}, "AWS::EC2::Instance", id="ec2"),
    pytest.param({**ECS_TASK}, "AWS::ECS::Container", id="ecs-without-launch-type"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "ec2"}, "AWS::ECS::Container",
                 id="ecs-on-ec2-named-as-the-native-sdk"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "fargate"}, "AWS::ECS::Container",
                 id="ecs-on-fargate-named-as-the-native-sdk"),
    pytest.param({**AWS, "cloud.platform": "aws_eks"}, "AWS::EKS::Container", id="eks"),
    pytest.param({**AWS, "cloud.platform": "aws_elastic_beanstalk"},
                 "AWS::ElasticBeanstalk::Environment", id="elastic-beanstalk"),
    pytest.param({**AWS, "cloud.platform": "aws_app_runner"}, "AWS::AppRunner::Service",
                 id="app-runner"),
    pytest.param({**AWS, "cloud.platform": "aws_lambda"}, "AWS::Lambda::Function", id="lambda"),
    pytest.param({"cloud.platform": "aws_ec2"}, "AWS::EC2::Instance",
                 id="aws-platform-without-provider"),
    pytest.param({**AWS, "cloud.platform": "aws_openshift"}, None,
                 id="aws-platform-without-origin"),
    pytest.param({"cloud.provider": "gcp", "cloud.platform": "aws_ec2"}, None,
                 id="not-on-aws-despite-platform"),
    pytest.param({"cloud.provider": "azure", "cloud.platform": "azure_vm"}, None, id="azure"),
    pytest.param({}, None, id="no-cloud-attributes"),
]


@pytest.mark.parametrize(("attributes", "origin"), ORIGIN_CASES)
def test_origin_from_cloud_platform(attributes: Dict[str, Any], origin: Optional[str]) -> None:
    assert _segment(attributes).get("origin") == origin


LAUNCH_TYPE = TranslateOptions(lambda_mode=False, ecs_origin="launch_type")


@pytest.mark.parametrize(("attributes", "origin"), [
    pytest.param({**ECS_TASK}, "AWS::ECS::Container", id="ecs-without-launch-type"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "ec2"}, "AWS::ECS::EC2", id="ecs-on-ec2"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "fargate"}, "AWS::ECS::Fargate",
                 id="ecs-on-fargate"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "FARGATE"}, "AWS::ECS::Fargate",
                 id="ecs-launch-type-any-case"),
    pytest.param({**ECS_TASK, "aws.ecs.launchtype": "external"}, "AWS::ECS::Container",
                 id="ecs-other-launch-type"),
])
def test_ecs_origin_by_launch_type_when_chosen(
    attributes: Dict[str, Any], origin: Optional[str]
) -> None:
    assert _segment(attributes, LAUNCH_TYPE).get("origin") == origin


def test_ecs_origin_from_env() -> None:
    env = {"OTEL_EXPORTER_XRAY_ECS_ORIGIN": "launch_type"}
    assert TranslateOptions.from_env(env).ecs_origin == "launch_type"
    assert TranslateOptions.from_env({"OTEL_EXPORTER_XRAY_ECS_ORIGIN": "x"}).ecs_origin == (
        "container"
    )


@pytest.mark.parametrize(("attributes", "service"), [
    pytest.param({"process.runtime.name": "cpython", "process.runtime.version": "3.12.1"},
                 {"runtime": "CPython", "runtime_version": "3.12.1"}, id="process-detector"),
    pytest.param({"process.runtime.name": "CPython", "process.runtime.version": "3.9.0",
                  "service.version": "1.2"},
                 {"version": "1.2", "runtime": "CPython", "runtime_version": "3.9.0"},
                 id="with-version"),
    pytest.param({"process.runtime.name": "graalpy"}, {"runtime": "graalpy"}, id="other"),
    pytest.param({"process.runtime.version": "3.9.0"}, None, id="version-without-name"),
])
def test_service_runtime(attributes: Dict[str, Any], service: Optional[Dict[str, Any]]) -> None:
    assert _segment(attributes).get("service") == service


BLOCK_CASES = [
    pytest.param(
        {**AWS, "cloud.platform": "aws_ec2", "host.id": "i-0abc", "host.type": "m5.large",
         "host.image.id": "ami-123"},
        "ec2",
        {"instance_id": "i-0abc", "availability_zone": "eu-west-1a", "instance_size": "m5.large",
         "ami_id": "ami-123"},
        id="ec2-from-ec2-detector",
    ),
    pytest.param(
        {**ECS_TASK, "aws.ecs.launchtype": "fargate"},
        "ecs",
        {"container": "web-7f9c", "container_id": "c0ffee",
         "cluster_arn": ECS_TASK["aws.ecs.cluster.arn"], "task_arn": ECS_TASK["aws.ecs.task.arn"],
         "task_family": "web", "container_arn": ECS_TASK["aws.ecs.container.arn"],
         "launch_type": "fargate", "availability_zone": "eu-west-1a"},
        id="ecs-from-ecs-detector",
    ),
    pytest.param(
        {**AWS, "cloud.platform": "aws_eks", "k8s.cluster.name": "prod", "k8s.pod.name": "web-1",
         "container.id": "c0ffee"},
        "eks",
        {"cluster_name": "prod", "pod": "web-1", "container_id": "c0ffee"},
        id="eks-from-eks-detector",
    ),
    pytest.param(
        {**AWS, "cloud.platform": "aws_elastic_beanstalk", "service.instance.id": "23",
         "service.version": "v7", "service.namespace": "prod-env"},
        "elastic_beanstalk",
        {"deployment_id": 23, "version_label": "v7", "environment_name": "prod-env"},
        id="beanstalk-from-beanstalk-detector",
    ),
    pytest.param(
        {**AWS, "cloud.platform": "aws_elastic_beanstalk", "service.version": "v7"},
        "elastic_beanstalk",
        {"version_label": "v7"},
        id="beanstalk-without-deployment-number",  # the SDK's service.instance.id is a UUID
    ),
    *[
        pytest.param(
            {**AWS, "cloud.platform": "aws_elastic_beanstalk", "service.version": "v7",
             "service.instance.id": instance_id},
            "elastic_beanstalk",
            {"version_label": "v7"},
            id=f"beanstalk-without-deployment-number-from-{label}",
        )
        for label, instance_id in [
            ("non-ascii-digit", "\u00b2"), ("int-beyond-json", 10**30), ("negative-int", -4),
        ]
    ],
]


@pytest.mark.parametrize(("attributes", "block", "expected"), BLOCK_CASES)
def test_platform_block(attributes: Dict[str, Any], block: str, expected: Dict[str, Any]) -> None:
    assert _segment(attributes)["aws"][block] == expected


ABSENT_BLOCK_CASES = [
    pytest.param({"cloud.provider": "gcp", "host.id": "1234"}, "ec2",
                 id="no-ec2-for-a-host-off-aws"),
    pytest.param({"host.id": "laptop-1"}, "ec2", id="no-ec2-without-provider"),
    pytest.param({**AWS, "cloud.platform": "aws_ecs"}, "ec2", id="no-ec2-without-host-id"),
    pytest.param({**AWS, "cloud.platform": "aws_eks", "host.id": "i-0abc"}, "ecs",
                 id="no-ecs-off-ecs"),
    pytest.param({"cloud.provider": "gcp", "cloud.platform": "gcp_kubernetes_engine",
                  "k8s.cluster.name": "gke"}, "eks", id="no-eks-for-other-kubernetes"),
    pytest.param({"cloud.provider": "gcp", "cloud.account.id": "my-project"}, "account_id",
                 id="no-account-id-off-aws"),
    pytest.param({**AWS, "cloud.platform": "aws_elastic_beanstalk"}, "elastic_beanstalk",
                 id="no-empty-beanstalk-block"),
]


@pytest.mark.parametrize(("attributes", "field"), ABSENT_BLOCK_CASES)
def test_platform_block_left_out(attributes: Dict[str, Any], field: str) -> None:
    assert field not in _segment(attributes).get("aws", {})


def test_ec2_host_on_ecs_also_gets_ec2_block() -> None:
    doc = _segment({**ECS_TASK, "aws.ecs.launchtype": "ec2", "host.id": "i-0abc"})
    assert doc["aws"]["ec2"]["instance_id"] == "i-0abc"
    assert "ecs" in doc["aws"]


def test_account_id_from_cloud_account_id() -> None:
    assert _segment({**AWS, "cloud.platform": "aws_ec2"})["aws"]["account_id"] == "123456789012"


XRAY_CASES = [
    pytest.param({}, {"sdk": "opentelemetry for python", "auto_instrumentation": False},
                 id="sdk-of-the-python-sdk"),
    pytest.param({"telemetry.auto.version": "0.48b0"}, {"auto_instrumentation": True},
                 id="auto-version-means-auto-instrumentation"),
    pytest.param({"telemetry.distro.version": "1.0"}, {"auto_instrumentation": True},
                 id="distro-version-means-auto-instrumentation"),
    pytest.param({"telemetry.sdk.name": "opentelemetry for python"},
                 {"sdk": "opentelemetry for python"}, id="language-suffix-not-repeated"),
    pytest.param({"telemetry.sdk.name": "custom", "telemetry.sdk.language": "go",
                  "telemetry.sdk.version": "2.0.3"},
                 {"sdk": "custom for go", "sdk_version": "2.0.3"}, id="any-sdk"),
]


@pytest.mark.parametrize(("attributes", "expected"), XRAY_CASES)
def test_xray_block(
    monkeypatch: pytest.MonkeyPatch, attributes: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    monkeypatch.delitem(sys.modules, resource_fields.AUTO_INSTRUMENTATION_MODULE, raising=False)
    xray = _segment(attributes)["aws"]["xray"]
    for field, value in expected.items():
        assert xray[field] == value, field


def test_xray_sdk_version_is_the_sdk_version() -> None:
    resource = Resource.create({})
    xray = _segment({})["aws"]["xray"]
    assert xray["sdk_version"] == resource.attributes["telemetry.sdk.version"]


def test_running_under_opentelemetry_instrument_means_auto_instrumentation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, resource_fields.AUTO_INSTRUMENTATION_MODULE, sys)
    assert _segment({})["aws"]["xray"]["auto_instrumentation"] is True


LOG_CASES = [
    pytest.param({"aws.log.group.names": ["/app/web", "/app/worker"]}, (),
                 [{"log_group": "/app/web"}, {"log_group": "/app/worker"}], id="names"),
    pytest.param({"aws.log.group.names": "/app/web&/app/worker&"}, (),
                 [{"log_group": "/app/web"}, {"log_group": "/app/worker"}],
                 id="names-as-ampersand-string"),
    pytest.param({"aws.log.group.arns": [LOG_ARN]}, (),
                 [{"log_group": "/app/web", "arn": LOG_ARN}], id="arns"),
    pytest.param({"aws.log.group.arns": [LOG_ARN], "aws.log.group.names": ["/app/web"]}, (),
                 [{"log_group": "/app/web", "arn": LOG_ARN}], id="arn-beats-same-name"),
    pytest.param({"aws.log.group.names": ["/app/web"]}, ("/app/web", "/app/audit"),
                 [{"log_group": "/app/web"}, {"log_group": "/app/audit"}],
                 id="configured-names-added-and-deduplicated"),
    pytest.param({}, ("/app/audit",), [{"log_group": "/app/audit"}], id="configured-names-only"),
    pytest.param({"aws.log.group.arns": ["not-an-arn"]}, (), [{"log_group": "not-an-arn"}],
                 id="non-arn-taken-as-name"),
    pytest.param({"aws.log.group.names": 7}, (), None, id="wrong-type-ignored"),
]


@pytest.mark.parametrize(("attributes", "configured", "expected"), LOG_CASES)
def test_cloudwatch_logs(
    attributes: Dict[str, Any], configured: Tuple[str, ...], expected: Any
) -> None:
    options = TranslateOptions(lambda_mode=False, log_group_names=configured)
    assert _segment(attributes, options)["aws"].get("cloudwatch_logs") == expected


def test_service_version() -> None:
    assert _segment({"service.version": "1.4.2"})["service"] == {"version": "1.4.2"}


def test_no_service_without_version() -> None:
    assert "service" not in _segment({})


def test_resource_metadata_on_segment_when_enabled() -> None:
    options = TranslateOptions(lambda_mode=False, resource_metadata=True)
    metadata = _segment({"service.name": "shop", "deployment.environment": "prod"}, options)
    assert metadata["metadata"]["default"]["otel.resource.service.name"] == "shop"
    assert metadata["metadata"]["default"]["otel.resource.deployment.environment"] == "prod"


def test_resource_metadata_with_odd_key_and_value_stays_valid_json() -> None:
    options = TranslateOptions(lambda_mode=False, resource_metadata=True)
    doc = _segment({"app.\udb84": float("nan"), "app.bytes": b"\xff"}, options)  # validated
    assert any(key.startswith("otel.resource.app.") for key in doc["metadata"]["default"])


def test_no_resource_metadata_by_default() -> None:
    doc = _segment({"service.name": "shop"})
    assert not _resource_keys(doc)


def test_subsegment_gets_no_resource_fields() -> None:
    options = TranslateOptions(lambda_mode=False, resource_metadata=True, log_group_names=("/a",))
    recorder = SpanRecorder(resource=Resource.create({**AWS, "cloud.platform": "aws_ec2",
                                                      "service.version": "1"}))
    doc = assert_valid_document(to_document(recorder.span("child", parent="local"), options))
    assert not {"origin", "service", "aws"} & doc.keys()
    assert not _resource_keys(doc)


# --- segment_fields itself: caching and sharing ------------------------------------------

def test_segments_of_one_resource_share_its_fields_unchanged() -> None:
    resource = Resource.create({**AWS, "cloud.platform": "aws_ec2", "host.id": "i-1"})
    fields = resource_fields.segment_fields(resource, OPTIONS)
    before = repr(fields)
    recorder = SpanRecorder(resource=resource)
    # A segment that adds to the aws block (an AWS call, a sampling rule): into its own copy.
    call = recorder.span("DynamoDB.GetItem", kind=SpanKind.SERVER, attributes={
        "rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem",
        "aws.xray.sampling_rule_name": "rule-a",
    })
    doc = assert_valid_document(to_document(call, OPTIONS))
    plain = assert_valid_document(to_document(recorder.span("GET /", kind=SpanKind.SERVER),
                                              OPTIONS))

    assert resource_fields.segment_fields(resource, OPTIONS) is fields
    assert repr(fields) == before
    assert doc["aws"]["xray"]["sampling_rule_name"] == "rule-a"
    assert doc["aws"]["operation"] == "GetItem"
    assert plain["aws"] == fields["aws"]


def test_other_options_give_other_fields_for_the_same_resource() -> None:
    resource = Resource.create({})
    plain = resource_fields.segment_fields(resource, OPTIONS)
    with_logs = resource_fields.segment_fields(
        resource, TranslateOptions(lambda_mode=False, log_group_names=("/a",))
    )
    assert "cloudwatch_logs" not in plain["aws"]
    assert with_logs["aws"]["cloudwatch_logs"] == [{"log_group": "/a"}]


def test_many_resources_each_get_their_own_fields() -> None:
    # More resources than the cache holds, each checked twice: no stale or mixed-up entry.
    resources = [Resource.create({"service.version": str(n)}) for n in range(100)]
    for _ in range(2):
        for n, resource in enumerate(resources):
            assert resource_fields.segment_fields(resource, OPTIONS)["service"] == {
                "version": str(n)
            }


def test_no_resource_still_gets_configured_log_groups() -> None:
    options = TranslateOptions(lambda_mode=False, log_group_names=("/a",))
    assert resource_fields.segment_fields(None, options) == {
        "aws": {"cloudwatch_logs": [{"log_group": "/a"}]}
    }
