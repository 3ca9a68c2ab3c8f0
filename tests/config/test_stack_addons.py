"""Stack-wide defaults and rules of the cluster add-ons: the AWS Load Balancer Controller and cluster-autoscaler where
the stack needs them, Pod Identity for their roles, and monitoring only where its CRDs will exist."""

from __future__ import annotations

import copy

import pytest

from tests.plans import TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.config import ConfigError, StackConfig, validate_config
from vllm_infra.program import InvalidStackConfig

SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
CREATED = {"create": {"name": "ml-new", "subnetIds": SUBNETS}}
# The adopted cluster already has the class the caches name (a claim of an unknown class is rejected).
ADOPTED = {"existing": {"name": "ml-platform", "gpuSubnetIds": SUBNETS, "has": {"storageClasses": ["efs-sc"]}}}
CHART = "kubernetes:helm.sh/v4:Chart"


def balanced(cluster: dict, addons: dict | None = None, **extra) -> dict:
    """A load-balanced stack (one model autoscaled 2..4 behind an NLB) on ``cluster``, in the stack file's keys."""
    region = {"name": "us-east-1", "cluster": cluster, "vpcCidr": "10.0.0.0/16"}
    if addons is not None:
        region["addons"] = addons
    if "create" in cluster:
        # A created cluster's efs-sc comes from the EFS add-on.
        region["addons"] = {"efsCsi": True, **region.get("addons", {})}
    config = {
        "topology": "load-balanced",
        "regions": [region],
        "balancer": {"exposure": TLS_EXPOSURE},
        "models": [{
            "name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct",
            "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
            "autoscaling": {"engine": "hpa", "minReplicas": 2, "maxReplicas": 4},
            "cache": {"storageClass": "efs-sc", "accessMode": "ReadWriteMany"},
        }],
    }  # fmt: skip
    config.update(extra)
    return config


def single(cluster: dict, addons: dict | None = None, **extra) -> dict:
    config = {key.removeprefix("vllm-infra:"): value for key, value in single_model_config().items()}
    config["regions"] = [{"name": "us-east-1", "cluster": cluster, "vpcCidr": "10.0.0.0/16"}]
    if addons is not None:
        config["regions"][0]["addons"] = addons
    config.update(extra)
    return config


def validated(config: dict) -> StackConfig:
    return validate_config(StackConfig, copy.deepcopy(config))


def problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validated(config)
    return raised.value.problems


# --- defaults -----------------------------------------------------------------------------------------------------


def test_a_created_cluster_gets_the_controller_and_the_autoscaler_its_stack_needs():
    addons = validated(balanced(CREATED, {"prometheusAdapter": True})).regions[0].addons
    assert addons.aws_load_balancer_controller is True
    assert addons.cluster_autoscaler is True


def test_an_adopted_cluster_keeps_its_own_controller_and_autoscaler_and_the_plan_says_so():
    config = validated(balanced(ADOPTED, {"prometheusAdapter": True}))
    addons = config.regions[0].addons
    assert addons.aws_load_balancer_controller is False
    assert addons.cluster_autoscaler is False
    warnings = "\n".join(config.warnings())
    assert "regions[0].addons.awsLoadBalancerController is off on the adopted cluster ml-platform" in warnings
    assert "regions[0].addons.clusterAutoscaler is off on the adopted cluster ml-platform" in warnings


def test_a_single_replica_without_a_balancer_needs_neither():
    addons = validated(single(CREATED)).regions[0].addons
    assert addons.aws_load_balancer_controller is False  # no Service of type LoadBalancer, no Ingress
    assert addons.cluster_autoscaler is False  # one replica on a node group of exactly one node
    assert not addons.any


def test_a_cluster_ip_balancer_needs_no_controller():
    config = balanced(CREATED, {"prometheusAdapter": True}, balancer={"exposure": {"kind": "cluster-ip"}})
    assert validated(config).regions[0].addons.aws_load_balancer_controller is False


def test_a_spot_model_gets_the_autoscaler_for_its_on_demand_fallback():
    config = single(CREATED)
    config["models"][0]["gpu"] = {"capacityType": "spot"}
    assert validated(config).regions[0].addons.cluster_autoscaler is True


def test_explicit_choices_win():
    config = balanced(CREATED, {"prometheusAdapter": True, "awsLoadBalancerController": False,
                                "clusterAutoscaler": False})  # fmt: skip
    addons = validated(config).regions[0].addons
    assert (addons.aws_load_balancer_controller, addons.cluster_autoscaler) == (False, False)


# --- Pod Identity and versions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("addon", ["awsLoadBalancerController", "clusterAutoscaler"])
def test_a_pod_identity_addon_on_a_cluster_without_the_agent_is_rejected_with_the_fix(addon):
    (problem,) = problems(balanced(ADOPTED, {"prometheusAdapter": True, addon: True}))
    assert problem.startswith("vllm-infra:regions[0]") and f"addons.{addon}" in problem
    assert "EKS Pod Identity" in problem and "eks-pod-identity-agent" in problem
    assert "cluster.create" in problem and f"{addon}: false" in problem
    assert "install.podIdentityAgent" in problem and "has.podIdentityAgent" in problem


def test_efs_on_a_cluster_without_the_agent_is_rejected():
    adopted_without_classes = {"existing": {"name": "ml-platform", "gpuSubnetIds": SUBNETS}}
    (problem,) = problems(balanced(adopted_without_classes, {"prometheusAdapter": True, "efsCsi": True}))
    assert "addons.efsCsi" in problem and "eks-pod-identity-agent" in problem
    with_agent = {"existing": {**adopted_without_classes["existing"], "has": {"podIdentityAgent": True}}}
    validated(balanced(with_agent, {"prometheusAdapter": True, "efsCsi": True}))
    validated(balanced(CREATED, {"prometheusAdapter": True, "efsCsi": True}))


def test_cluster_autoscaler_needs_a_kubernetes_version_it_has_a_release_for():
    cluster = {"create": {**CREATED["create"], "kubernetesVersion": "1.29"}}
    (problem,) = problems(balanced(cluster, {"prometheusAdapter": True}))
    assert problem.startswith("vllm-infra:regions[0].addons.clusterAutoscaler: cluster.create.kubernetesVersion")
    assert "1.29" in problem and "1.33" in problem and "clusterAutoscaler: false" in problem


# --- observability ------------------------------------------------------------------------------------------------


def test_monitoring_is_off_where_nothing_installs_its_crds():
    assert validated(single(ADOPTED)).observability.enabled is False


def test_monitoring_is_on_with_kube_prometheus_stack_or_an_external_one():
    assert validated(single(ADOPTED, {"kubePrometheusStack": True})).observability.enabled is True
    assert validated(single(ADOPTED, observability={"external": True})).observability.enabled is True


def test_monitoring_asked_for_without_its_crds_is_rejected_naming_both_fixes():
    (problem,) = problems(single(ADOPTED, observability={"enabled": True}))
    assert problem.startswith("vllm-infra:observability.enabled: ")
    assert "monitoring.coreos.com" in problem and "regions[0] (us-east-1)" in problem
    assert "addons.kubePrometheusStack: true" in problem and "observability.external: true" in problem


def test_monitoring_can_still_be_turned_off():
    assert validated(single(ADOPTED, {"kubePrometheusStack": True}, observability={"enabled": False})) \
        .observability.enabled is False  # fmt: skip


# --- the plan -----------------------------------------------------------------------------------------------------


def plan_of(tmp_path, config: dict):
    return plan_config(tmp_path, {f"vllm-infra:{key}": value for key, value in config.items()})


def test_single_stack_on_an_adopted_cluster_plans_no_monitoring_objects(tmp_path):
    plan = plan_of(tmp_path, single(ADOPTED))
    kinds = {r.type for r in plan.resources}
    assert "kubernetes:monitoring.coreos.com/v1:PodMonitor" not in kinds
    assert "kubernetes:monitoring.coreos.com/v1:PrometheusRule" not in kinds


def test_the_balancers_service_waits_for_the_controller_on_a_created_cluster(tmp_path):
    plan = plan_of(tmp_path, balanced(CREATED, {"prometheusAdapter": True}))
    (controller,) = [r for r in plan.by_type(CHART) if r.inputs["chart"] == "aws-load-balancer-controller"]
    (autoscaler,) = [r for r in plan.by_type(CHART) if r.inputs["chart"] == "cluster-autoscaler"]
    assert autoscaler.inputs["version"] == "9.51.0"  # created clusters default to Kubernetes 1.33
    assert controller.inputs["values"]["clusterName"] == "ml-new"
    services = plan.by_type("kubernetes:core/v1:Service")
    balancers = [service for service in services if service.inputs["spec"].get("type") == "LoadBalancer"]
    assert balancers
    for service in balancers:
        assert controller.urn in service.depends_on, service.name


def test_pod_identity_associations_wait_for_the_cluster_the_stack_creates(tmp_path):
    plan = plan_of(tmp_path, balanced(CREATED, {"prometheusAdapter": True}))
    cluster = plan.one("aws:eks/cluster:Cluster")
    associations = plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert {a.inputs["serviceAccount"] for a in associations} == {"aws-load-balancer-controller", "cluster-autoscaler"}
    for association in associations:
        assert association.inputs["clusterName"] == "ml-new"
        assert cluster.urn in association.depends_on


def test_adopted_cluster_with_its_own_controller_plans_none(tmp_path):
    plan = plan_of(tmp_path, balanced(ADOPTED, {"prometheusAdapter": True}))
    charts = {r.inputs["chart"] for r in plan.by_type(CHART)}
    assert not charts & {"aws-load-balancer-controller", "cluster-autoscaler"}
    assert "prometheus-adapter" in charts
    assert plan.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []


def test_invalid_addon_config_fails_the_plan_before_any_resource(tmp_path):
    with pytest.raises((ConfigError, InvalidStackConfig)) as raised:
        plan_of(tmp_path, balanced(ADOPTED, {"prometheusAdapter": True, "clusterAutoscaler": True}))
    assert any("addons.clusterAutoscaler" in problem for problem in raised.value.problems)
