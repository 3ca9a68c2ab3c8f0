"""The schema check bites: one broken resource (or invoke) per rule, starting from what the library really plans."""

from __future__ import annotations

import copy
import json

import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from tests.provider_schema.validator import ProviderSchemas, Violation

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def schemas() -> ProviderSchemas:
    return ProviderSchemas.vendored()


def _inputs(shipped_plans, token: str, stack: str = "single") -> dict:
    return copy.deepcopy(shipped_plans[stack].by_type(token)[0].inputs)


def _rules(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.rule, v.path) for v in violations]


def test_the_planned_resources_used_below_are_valid(schemas, shipped_plans):
    # Each case below breaks one thing in a valid resource: the violation is the break, nothing else.
    for token in (NODE_GROUP, DEPLOYMENT, "kubernetes:core/v1:Service", "pulumi:providers:aws"):
        assert schemas.check_resource(token, _inputs(shipped_plans, token)) == []


def test_a_misspelled_property_is_unknown(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["instanceType"] = inputs.pop("instanceTypes")
    violations = schemas.check_resource(NODE_GROUP, inputs)
    assert _rules(violations) == [("unknown-property", "instanceType")]
    assert "did you mean instanceTypes?" in violations[0].message


def test_a_misspelled_property_deep_in_a_kubernetes_object_is_unknown(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, DEPLOYMENT)
    container = inputs["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert _rules(schemas.check_resource(DEPLOYMENT, inputs)) == [
        ("unknown-property", "spec.template.spec.containers[0].readinesProbe")
    ]


def test_a_snake_case_name_is_unknown(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["scaling_config"] = inputs.pop("scalingConfig")
    assert sorted(_rules(schemas.check_resource(NODE_GROUP, inputs))) == [
        ("missing-required", "scalingConfig"),
        ("unknown-property", "scaling_config"),
    ]


def test_a_missing_required_input_is_reported(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    del inputs["nodeRoleArn"]
    assert _rules(schemas.check_resource(NODE_GROUP, inputs)) == [("missing-required", "nodeRoleArn")]


def test_a_missing_required_field_of_a_nested_type_is_reported(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, "kubernetes:core/v1:Service")
    del inputs["spec"]["ports"][0]["port"]
    assert _rules(schemas.check_resource("kubernetes:core/v1:Service", inputs)) == [
        ("missing-required", "spec.ports[0].port")
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("scalingConfig", "desiredSize"), "1"),  # integer given as a string
        (("scalingConfig", "maxSize"), 1.5),  # integer given a fraction
        (("diskSize",), True),  # a bool is not a number
        (("labels",), ["a", "b"]),  # object given as a list
        (("subnetIds",), "subnet-1"),  # array given as a string
        (("taints", 0, "effect"), 1.0),  # string given as a number
    ],
)
def test_a_value_of_the_wrong_type_is_reported(schemas, shipped_plans, path, value):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    target = inputs
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    violations = schemas.check_resource(NODE_GROUP, inputs)
    expected_path = ".".join(str(p) for p in path).replace(".0.", "[0].")
    assert _rules(violations) == [("wrong-type", expected_path)]


def test_a_whole_float_is_an_integer_as_the_engine_sends_it(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    assert isinstance(inputs["scalingConfig"]["maxSize"], float)
    assert schemas.check_resource(NODE_GROUP, inputs) == []


def test_int_or_string_takes_either_but_nothing_else(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, "kubernetes:core/v1:Service")
    port = inputs["spec"]["ports"][0]
    for fine in ("http", 8000.0):
        port["targetPort"] = fine
        assert schemas.check_resource("kubernetes:core/v1:Service", inputs) == []
    port["targetPort"] = [8000]
    assert _rules(schemas.check_resource("kubernetes:core/v1:Service", inputs)) == [
        ("wrong-type", "spec.ports[0].targetPort")
    ]


def test_a_value_outside_an_enum_is_reported(schemas):
    # IAM policy documents given as objects: Effect is the enum Allow | Deny.
    def role(effect: str) -> dict:
        statement = {"Effect": effect, "Action": "sts:AssumeRole", "Principal": {"Service": "eks.amazonaws.com"}}
        return {"assumeRolePolicy": {"Version": "2012-10-17", "Statement": [statement]}}

    assert schemas.check_resource("aws:iam/role:Role", role("Allow")) == []
    violations = schemas.check_resource("aws:iam/role:Role", role("Alow"))
    assert _rules(violations) == [("bad-enum", "assumeRolePolicy.Statement[0].Effect")]
    assert "'Alow' is not one of ['Allow', 'Deny']" in violations[0].message


def test_a_wrong_constant_is_reported(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, DEPLOYMENT)
    inputs["apiVersion"] = "apps/v1beta1"
    assert _rules(schemas.check_resource(DEPLOYMENT, inputs)) == [("bad-const", "apiVersion")]


def test_an_unknown_resource_type_token_is_reported(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    assert _rules(schemas.check_resource("aws:eks/nodegroup:NodeGroup", inputs)) == [("unknown-token", "")]
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet"}
    assert _rules(schemas.check_resource("kubernetes:apps/v1:Deploymnet", typo)) == [("unknown-token", "")]


def test_a_real_but_unvendored_type_says_how_to_vendor_it(schemas):
    (violation,) = schemas.check_resource("aws:s3/bucket:Bucket", {})
    assert violation.rule == "not-vendored" and "selection.json" in violation.message


def test_custom_resources_need_a_known_crd_and_a_matching_api_version(schemas, shipped_plans):
    token = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
    inputs = _inputs(shipped_plans, token, "load-balanced")  # single installs no monitoring stack, so no monitors
    assert schemas.check_resource(token, inputs) == []
    inputs["apiVersion"] = "monitoring.coreos.com/v2"
    assert _rules(schemas.check_resource(token, inputs)) == [("bad-const", "apiVersion")]
    inputs = _inputs(shipped_plans, token, "load-balanced")
    inputs["metadata"]["labelz"] = {}
    assert _rules(schemas.check_resource(token, inputs)) == [("unknown-property", "metadata.labelz")]
    unknown_crd = "kubernetes:monitoring.coreos.com/v1:PodMonitors"
    inputs = {**_inputs(shipped_plans, token, "load-balanced"), "kind": "PodMonitors"}
    assert _rules(schemas.check_resource(unknown_crd, inputs)) == [("unknown-token", "")]


def test_unknown_values_pass_even_where_required(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["nodeRoleArn"] = Unknown()
    inputs["subnetIds"] = [Unknown(), rpc.UNKNOWN]
    inputs["scalingConfig"] = Unknown()
    assert schemas.check_resource(NODE_GROUP, inputs) == []


def test_secrets_are_checked_by_what_they_hold(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["nodeRoleArn"] = rpc.wrap_rpc_secret("arn:aws:iam::000000000000:role/nodes")
    assert schemas.check_resource(NODE_GROUP, inputs) == []
    inputs["nodeRoleArn"] = rpc.wrap_rpc_secret(12.0)
    violations = schemas.check_resource(NODE_GROUP, inputs)
    assert _rules(violations) == [("wrong-type", "nodeRoleArn")]


def test_provider_config_arrives_as_strings_and_is_checked_decoded(schemas, shipped_plans):
    inputs = _inputs(shipped_plans, "pulumi:providers:aws")
    assert inputs["skipRegionValidation"] == "true" and isinstance(inputs["defaultTags"], str)
    inputs["skipRegionValidation"] = "sometimes"
    inputs["defaultTags"] = json.dumps({"tagz": {"app": "x"}})
    assert sorted(_rules(schemas.check_resource("pulumi:providers:aws", inputs))) == [
        ("unknown-property", "defaultTags.tagz"),
        ("wrong-type", "skipRegionValidation"),
    ]


def test_invokes_are_checked_against_the_function_schema(schemas):
    assert schemas.check_invoke("aws:eks/getCluster:getCluster", {"name": "ml"}) == []
    assert sorted(_rules(schemas.check_invoke("aws:eks/getCluster:getCluster", {"clusterName": "ml"}))) == [
        ("missing-required", "name"),
        ("unknown-property", "clusterName"),
    ]
    assert _rules(schemas.check_invoke("aws:eks/getCluster:getCluster", {"name": 3.0})) == [("wrong-type", "name")]
    assert _rules(schemas.check_invoke("aws:eks/getClusters:getCluster", {})) == [("unknown-token", "")]


def test_this_librarys_components_are_not_a_providers_to_check(schemas):
    assert schemas.check_resource("vllm-infra:vllm:VllmDeployment", {"anything": 1}) == []
    assert _rules(schemas.check_resource("random:index/randomPassword:RandomPassword", {})) == [("unknown-token", "")]


def test_a_string_outside_the_documented_valid_values_is_reported(schemas, shipped_plans):
    # capacityType: "Valid values: `ON_DEMAND`, `SPOT`" — the config's spelling (on-demand) must not leak through.
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["capacityType"] = "on-demand"
    violations = schemas.check_resource(NODE_GROUP, inputs)
    assert _rules(violations) == [("undocumented-value", "capacityType")]
    assert "['ON_DEMAND', 'SPOT']" in violations[0].message
    inputs = _inputs(shipped_plans, NODE_GROUP)
    inputs["taints"][0]["effect"] = "NoSchedule"  # the Kubernetes spelling; EKS wants NO_SCHEDULE
    assert _rules(schemas.check_resource(NODE_GROUP, inputs)) == [("undocumented-value", "taints[0].effect")]


def test_an_offline_invoke_answer_is_checked_against_the_real_result_shape(schemas):
    from vllm_infra.offline.cloud import default_invokes

    token = "aws:eks/getCluster:getCluster"
    answer = default_invokes()(token, {"name": "ml"})
    assert schemas.check_invoke(token, {"name": "ml"}, answer) == []
    misspelled = {**answer, "certificateAuthority": answer["certificateAuthorities"][0]}
    violations = schemas.check_invoke(token, {"name": "ml"}, misspelled)
    assert _rules(violations) == [("unknown-property", "certificateAuthority")]
    as_list = {**answer, "vpcConfig": [answer["vpcConfig"]]}
    assert _rules(schemas.check_invoke(token, {"name": "ml"}, as_list)) == [("wrong-type", "vpcConfig")]
