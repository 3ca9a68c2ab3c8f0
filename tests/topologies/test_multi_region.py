"""The multi-region topology: a full deployment per region behind health-checked global records."""

from __future__ import annotations

import copy

import pytest

from tests.config.test_config_errors import problems_of
from tests.plans import PROJECT_DIR, plan_config


def shipped_config() -> dict:
    import yaml

    config = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.multi-region.yaml").read_text())["config"]
    return {k: v for k, v in config.items() if not k.endswith(("apiKey", "hfToken"))}


def test_every_region_is_a_complete_deployment(shipped_plans):
    plan = shipped_plans["multi-region"]
    regions = [r["name"] for r in shipped_config()["vllm-infra:regions"]]
    for region in regions:
        for type_token in (
            "vllm-infra:cluster:RegionalCluster",
            "vllm-infra:vllm:VllmDeployment",
            "vllm-infra:load_balancer:LoadBalancer",
            "vllm-infra:observability:Observability",
            "vllm-infra:network_policy:NetworkPolicies",
            "vllm-infra:certificate:RegionalCertificate",
            "aws:eks/nodeGroup:NodeGroup",
        ):
            assert [r for r in plan.by_type(type_token) if r.name.startswith(region)], (region, type_token)


def test_every_global_record_has_its_regions_model_health_check(shipped_plans):
    plan = shipped_plans["multi-region"]
    checks = {r.name: r for r in plan.by_type("aws:route53/healthCheck:HealthCheck")}
    records = [r for r in plan.by_type("aws:route53/record:Record") if r.inputs["name"] == "llm.example.com"]
    assert len(records) == 3
    for record in records:
        region = record.inputs["setIdentifier"]
        check = next(c for c in checks.values() if region in c.name)
        assert record.inputs["healthCheckId"] == f"{check.name}-id"
        assert record.inputs["latencyRoutingPolicies"] == [{"region": region}]
        assert check.inputs["resourcePath"] == "/healthz/model" and check.inputs["type"] == "HTTPS_STR_MATCH"
        assert check.inputs["fqdn"] == f"{region}.llm.example.com"


def test_each_regional_balancer_terminates_tls_with_its_regions_certificate(shipped_plans):
    plan = shipped_plans["multi-region"]
    for service in plan.by_type("kubernetes:core/v1:Service"):
        if service.inputs["spec"].get("type") != "LoadBalancer":
            continue
        assert service.inputs["spec"]["ports"][0]["port"] == 443
        annotations = service.inputs["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "443"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]


def test_failover_needs_two_regions_and_a_primary(tmp_path):
    config = shipped_config()
    config["vllm-infra:globalLoadBalancer"] = {**config["vllm-infra:globalLoadBalancer"], "policy": "failover"}
    problems = problems_of(tmp_path, config)
    assert any("failover" in p for p in problems), problems


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c.pop("vllm-infra:globalLoadBalancer"), "vllm-infra:globalLoadBalancer: required"),
        (
            lambda c: c.update({"vllm-infra:balancer": {"strategy": "service"}}),
            "needs strategy affinity, nginx or router",
        ),
        (lambda c: c.update({"vllm-infra:balancer": {"exposure": {"internal": True}}}), "internet-facing"),
    ],
)
def test_multi_region_misconfigurations_are_rejected(tmp_path, change, fragment):
    config = copy.deepcopy(shipped_config())
    change(config)
    problems = problems_of(tmp_path, config)
    assert any(fragment in p for p in problems), problems


def test_failover_between_two_regions_plans(tmp_path):
    config = shipped_config()
    config["vllm-infra:regions"] = config["vllm-infra:regions"][:2]
    config["vllm-infra:globalLoadBalancer"] = {**config["vllm-infra:globalLoadBalancer"], "policy": "failover"}
    plan = plan_config(tmp_path, config)
    policies = sorted(
        r.inputs["failoverRoutingPolicies"][0]["type"]
        for r in plan.by_type("aws:route53/record:Record")
        if r.inputs["name"] == "llm.example.com"
    )
    assert policies == ["PRIMARY", "SECONDARY"]
