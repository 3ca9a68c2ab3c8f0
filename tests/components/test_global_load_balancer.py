"""GlobalLoadBalancer: Route 53 records with a model-aware health check per region (latency or failover), each
region through its own provider, and Global Accelerator only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pydantic import ValidationError

from vllm_infra.components.global_load_balancer import (
    GLOBAL_ACCELERATOR_REGION,
    GlobalLoadBalancer,
    GlobalLoadBalancerArgs,
    RegionalEndpoint,
    accelerator_name,
    nlb_name_from_hostname,
)
from vllm_infra.config.errors import explain
from vllm_infra.config.global_lb import GlobalLoadBalancerSpec, validate_regions
from vllm_infra.offline.cloud import NLB_HOSTED_ZONE_IDS, default_invokes
from vllm_infra.offline.runner import InvokeResults, Plan, PlannedResource, run_program
from vllm_infra.offline.stackfile import StackFile

ZONE = "Z0123456789ABCDEFGHIJ"
DOMAIN = "llm.example.com"
STACK = StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[])
HOSTNAMES = {
    "us-east-1": "k8s-vllm-vllmgate-1a2b3c4d5e-0123456789abcdef.elb.us-east-1.amazonaws.com",
    "eu-west-1": "k8s-vllm-vllmgate-9f8e7d6c5b-fedcba9876543210.elb.eu-west-1.amazonaws.com",
}
PRIMARY = "us-east-1"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
LISTENER = "aws:globalaccelerator/listener:Listener"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"


def spec(**overrides: Any) -> GlobalLoadBalancerSpec:
    return GlobalLoadBalancerSpec(hosted_zone_id=ZONE, domain_name=DOMAIN, **overrides)


def plan_for(
    glb_spec: GlobalLoadBalancerSpec,
    hostnames: dict[str, Any] | None = None,
    invokes: InvokeResults | None = None,
) -> Plan:
    """Two regions, each with its own provider and a fake NLB hostname, behind one GlobalLoadBalancer."""

    def program() -> None:
        endpoints = []
        for region, hostname in (hostnames or HOSTNAMES).items():
            provider = aws.Provider(f"aws-{region}", region=region)
            endpoints.append(RegionalEndpoint(region, hostname() if callable(hostname) else hostname, provider,
                                              primary=region == PRIMARY))  # fmt: skip
        args = GlobalLoadBalancerArgs(spec=glb_spec, endpoints=endpoints, name_prefix="vllm")
        glb = GlobalLoadBalancer("global", args)
        pulumi.export("fqdn", glb.fqdn)
        pulumi.export("healthChecks", glb.health_check_ids)

    return run_program(program, STACK, invokes=invokes or default_invokes())


def regional_provider(plan: Plan, region: str) -> PlannedResource:
    (provider,) = [p for p in plan.by_type("pulumi:providers:aws") if p.name == f"aws-{region}"]
    return provider


def uses(resource: PlannedResource, provider: PlannedResource) -> bool:
    # A provider reference is "<provider urn>::<provider id>".
    return resource.provider is not None and resource.provider.startswith(provider.urn + "::")


def global_records(plan: Plan) -> dict[str, dict]:
    return {r.inputs["setIdentifier"]: r.inputs for r in plan.by_type(RECORD) if r.inputs["name"] == DOMAIN}


def health_checks(plan: Plan) -> dict[str, PlannedResource]:
    return {r.inputs["fqdn"].split(".", 1)[0]: r for r in plan.by_type(HEALTH_CHECK)}


# Route 53 ------------------------------------------------------------------------------------------------------------
def test_every_global_record_is_guarded_by_its_own_regions_health_check():
    plan = plan_for(spec())
    checks = health_checks(plan)
    records = global_records(plan)
    assert set(records) == set(checks) == set(HOSTNAMES)
    for region, record in records.items():
        # The mock engine's id of a resource is "<logical name>-id".
        assert record["healthCheckId"] == f"{checks[region].name}-id"
        alias = record["aliases"][0]
        assert alias["evaluateTargetHealth"] is True
        assert alias["name"] == HOSTNAMES[region]
    assert plan.outputs["healthChecks"] == {region: f"{checks[region].name}-id" for region in HOSTNAMES}
    assert plan.outputs["fqdn"] == DOMAIN


def test_latency_records_route_by_their_region():
    records = global_records(plan_for(spec(policy="latency")))
    for region, record in records.items():
        assert record["latencyRoutingPolicies"] == [{"region": region}]
        assert "failoverRoutingPolicies" not in record


def test_failover_has_exactly_one_primary_and_one_secondary():
    records = global_records(plan_for(spec(policy="failover")))
    kinds = {region: record["failoverRoutingPolicies"][0]["type"] for region, record in records.items()}
    assert sorted(kinds.values()) == ["PRIMARY", "SECONDARY"]
    assert kinds[PRIMARY] == "PRIMARY"
    assert all("latencyRoutingPolicies" not in record for record in records.values())


def test_the_health_check_proves_the_model_serves():
    for check in plan_for(spec()).by_type(HEALTH_CHECK):
        inputs = check.inputs
        assert inputs["resourcePath"] == "/healthz/model"
        assert inputs["type"].endswith("_STR_MATCH")
        assert inputs["searchString"] == '"choices"'
        assert inputs["requestInterval"] == 30
        assert inputs["failureThreshold"] == 3
        assert inputs["tags"]["Name"] == check.name.removesuffix("-health")


def test_tls_checks_https_on_443_with_sni_and_plain_checks_http_on_80():
    for check in plan_for(spec(tls=True)).by_type(HEALTH_CHECK):
        assert (check.inputs["type"], check.inputs["port"], check.inputs["enableSni"]) == ("HTTPS_STR_MATCH", 443, True)
    for check in plan_for(spec(tls=False)).by_type(HEALTH_CHECK):
        assert (check.inputs["type"], check.inputs["port"]) == ("HTTP_STR_MATCH", 80)
        assert "enableSni" not in check.inputs
    for check in plan_for(spec(search_string=None)).by_type(HEALTH_CHECK):
        assert check.inputs["type"] == "HTTPS"
        assert "searchString" not in check.inputs


def test_the_health_check_targets_the_regional_name_never_the_global_record():
    plan = plan_for(spec())
    records = {r.urn: r for r in plan.by_type(RECORD)}
    global_urns = {urn for urn, r in records.items() if r.inputs["name"] == DOMAIN}
    for region, check in health_checks(plan).items():
        assert check.inputs["fqdn"] == f"{region}.{DOMAIN}"
        assert not set(check.depends_on) & global_urns, "a check must not depend on the record it guards"
        (regional,) = [records[urn] for urn in check.depends_on if urn in records]
        assert regional.inputs["name"] == f"{region}.{DOMAIN}"


def test_regional_records_alias_the_nlb_through_the_regions_elb_zone():
    plan = plan_for(spec())
    regional = {r.inputs["name"]: r.inputs for r in plan.by_type(RECORD) if r.inputs["name"] != DOMAIN}
    assert set(regional) == {f"{region}.{DOMAIN}" for region in HOSTNAMES}
    for region, hostname in HOSTNAMES.items():
        record = regional[f"{region}.{DOMAIN}"]
        assert record["zoneId"] == ZONE
        assert record["type"] == "A"
        assert record["aliases"] == [
            {"name": hostname, "zoneId": NLB_HOSTED_ZONE_IDS[region], "evaluateTargetHealth": True}
        ]
    # Real canonical NLB zones (AWS "Elastic Load Balancing endpoints"), not the hosted zone of the domain.
    assert NLB_HOSTED_ZONE_IDS["us-east-1"] == "Z26RNL4JYFTOTI"
    assert NLB_HOSTED_ZONE_IDS["eu-west-1"] == "Z2IFOLAFXWLO4F"


def test_each_regions_route53_resources_use_that_regions_provider():
    plan = plan_for(spec(policy="failover"))
    for region in HOSTNAMES:
        provider = regional_provider(plan, region)
        mine = [r for r in plan.by_type(RECORD) + plan.by_type(HEALTH_CHECK)
                if r.inputs.get("setIdentifier") == region or r.inputs.get("fqdn", "").startswith(f"{region}.")
                or r.inputs.get("name") == f"{region}.{DOMAIN}"]  # fmt: skip
        assert len(mine) == 3  # regional record, health check, global record
        for resource in mine:
            assert uses(resource, provider), f"{resource.name} must use the {region} provider, got {resource.provider}"


# Global Accelerator --------------------------------------------------------------------------------------------------
def test_no_accelerator_unless_enabled():
    plan = plan_for(spec())
    assert not plan.by_type(ACCELERATOR) and not plan.by_type(LISTENER) and not plan.by_type(ENDPOINT_GROUP)
    assert {p.inputs["region"] for p in plan.by_type("pulumi:providers:aws")} == set(HOSTNAMES)


def test_the_accelerator_lives_in_us_west_2_with_one_endpoint_group_per_region():
    plan = plan_for(spec(global_accelerator=True))
    (provider,) = [p for p in plan.by_type("pulumi:providers:aws") if p.inputs["region"] == GLOBAL_ACCELERATOR_REGION]
    accelerator, listener = plan.one(ACCELERATOR), plan.one(LISTENER)
    groups = {g.inputs["endpointGroupRegion"]: g for g in plan.by_type(ENDPOINT_GROUP)}
    assert set(groups) == set(HOSTNAMES)
    for resource in (accelerator, listener, *groups.values()):
        assert uses(resource, provider), f"{resource.name} must be managed through us-west-2"
    assert accelerator.inputs["name"] == "vllm"
    assert listener.inputs["protocol"] == "TCP"
    assert listener.inputs["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    assert accelerator.urn in listener.depends_on
    for region, group in groups.items():
        inputs = group.inputs
        assert listener.urn in group.depends_on
        # The NLB, looked up by the name inside its DNS name, in its own region.
        name = nlb_name_from_hostname(HOSTNAMES[region])
        (endpoint,) = inputs["endpointConfigurations"]
        assert endpoint["endpointId"].startswith(f"arn:aws:elasticloadbalancing:{region}:")
        assert endpoint["endpointId"].split("/")[2] == name
        assert (inputs["healthCheckPath"], inputs["healthCheckPort"], inputs["healthCheckProtocol"]) == (
            "/healthz/model", 443, "HTTPS",
        )  # fmt: skip
        assert inputs["trafficDialPercentage"] == 100


def test_accelerator_failover_keeps_the_secondary_dialled_to_zero():
    plan = plan_for(spec(global_accelerator=True, policy="failover", tls=False))
    groups = {g.inputs["endpointGroupRegion"]: g.inputs for g in plan.by_type(ENDPOINT_GROUP)}
    assert groups[PRIMARY]["trafficDialPercentage"] == 100
    assert groups["eu-west-1"]["trafficDialPercentage"] == 0
    assert plan.one(LISTENER).inputs["portRanges"] == [{"fromPort": 80, "toPort": 80}]


def test_the_nlb_lookup_waits_for_the_hostname():
    # An NLB whose DNS name is not known yet (a first preview): the lookup must not run with a guessed name.
    calls: list[dict] = []
    answers = default_invokes()

    def record(args: dict) -> dict:
        calls.append(args)
        return answers.answers["aws:lb/getLoadBalancer:getLoadBalancer"](args)

    invokes = InvokeResults({**answers.answers, "aws:lb/getLoadBalancer:getLoadBalancer": record})
    unknown = {
        region: (lambda region=region: aws.lb.LoadBalancer(f"nlb-{region}", load_balancer_type="network").dns_name)
        for region in HOSTNAMES
    }
    plan = plan_for(spec(global_accelerator=True), hostnames=unknown, invokes=invokes)
    assert calls == []
    assert len(plan.by_type(ENDPOINT_GROUP)) == 2

    calls.clear()
    plan_for(spec(global_accelerator=True), invokes=invokes)
    assert sorted((c["name"], c["region"]) for c in calls) == sorted(
        (nlb_name_from_hostname(hostname), region) for region, hostname in HOSTNAMES.items()
    )


def test_nlb_names_come_from_nlb_hostnames_only():
    assert nlb_name_from_hostname(HOSTNAMES["eu-west-1"], "eu-west-1") == "k8s-vllm-vllmgate-9f8e7d6c5b"
    assert nlb_name_from_hostname("my-nlb-0123456789abcdef.elb.cn-north-1.amazonaws.com.cn") == "my-nlb"
    with pytest.raises(ValueError, match="is an NLB in us-east-1, but it was given as the endpoint of eu-west-1"):
        nlb_name_from_hostname(HOSTNAMES["us-east-1"], "eu-west-1")
    with pytest.raises(ValueError, match="not a Network Load Balancer DNS name"):
        nlb_name_from_hostname("k8s-vllm-gateway-1234567890.us-east-1.elb.amazonaws.com")  # an ALB
    assert accelerator_name("-vllm_prod/global-") == "vllm-prod-global"


# Validation ----------------------------------------------------------------------------------------------------------
def test_failover_needs_two_regions_and_one_primary():
    failover = spec(policy="failover")
    assert validate_regions(failover, ["us-east-1", "eu-west-1"], "us-east-1") == []
    problems = validate_regions(failover, ["us-east-1", "eu-west-1", "ap-south-1"], ["us-east-1", "eu-west-1"])
    assert len(problems) == 2
    assert problems[0].startswith("vllm-infra:globalLoadBalancer.policy: failover")
    assert "exactly two regions" in problems[0] and "policy: latency" in problems[0]
    assert problems[1].startswith("vllm-infra:regions: policy failover needs exactly one region with primary: true")
    assert "not among the regions" in validate_regions(failover, ["us-east-1", "eu-west-1"], "us-west-2")[0]
    # latency takes any number of regions, and ignores primary
    assert validate_regions(spec(), ["us-east-1", "eu-west-1", "ap-south-1"], None) == []


def test_the_component_refuses_an_invalid_failover_pair():
    with pytest.raises(ValueError, match="exactly one region with primary: true"):
        plan_for(spec(policy="failover"), hostnames={"eu-west-1": HOSTNAMES["eu-west-1"], "ap-south-1": "x"})


def test_spec_reads_camel_case_and_defaults():
    parsed = GlobalLoadBalancerSpec.model_validate(
        {"hostedZoneId": ZONE, "domainName": DOMAIN, "healthCheckIntervalSeconds": 10, "globalAccelerator": True}
    )
    assert parsed.health_check_interval_seconds == 10 and parsed.global_accelerator
    assert (parsed.policy, parsed.health_check_path, parsed.search_string, parsed.tls) == (
        "latency", "/healthz/model", '"choices"', True,
    )  # fmt: skip
    assert parsed.regional_name("eu-west-1") == "eu-west-1.llm.example.com" and parsed.port == 443


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"hostedZoneId": "/hostedzone/Z0123456789ABC"}, "hostedZoneId", "without the /hostedzone/ prefix"),
        ({"hostedZoneId": "zone-1"}, "hostedZoneId", "Route 53 hosted zone id"),
        ({"domainName": "llm.example.com."}, "domainName", "without the trailing dot"),
        ({"domainName": "LLM.example.com"}, "domainName", "lower case"),
        ({"domainName": "*.example.com"}, "domainName", "wildcard"),
        ({"domainName": "localhost"}, "domainName", "fully qualified"),
        ({"domainName": "a" * 60 + ".example.com"}, "domainName", "Common Name"),
        ({"healthCheckPath": "healthz"}, "healthCheckPath", "absolute path"),
        ({"healthCheckIntervalSeconds": 15}, "healthCheckIntervalSeconds", "10 or 30"),
        ({"healthCheckFailureThreshold": 11}, "healthCheckFailureThreshold", "10"),
        ({"searchString": "x" * 256}, "searchString", "1 to 255"),
        ({"policy": "weighted"}, "policy", "latency"),
        ({"globalAcelerator": True}, "globalAcelerator", "unknown key"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(overrides, key, message):
    document = {"hostedZoneId": ZONE, "domainName": DOMAIN, **overrides}
    with pytest.raises(ValidationError) as raised:
        GlobalLoadBalancerSpec.model_validate(document)
    problems = explain(raised.value).problems
    assert any(p.startswith(f"vllm-infra:{key}") and message in p for p in problems), problems


def test_an_endpoint_whose_nlb_is_in_another_region_is_refused():
    swapped = {"us-east-1": HOSTNAMES["eu-west-1"], "eu-west-1": HOSTNAMES["us-east-1"]}
    with pytest.raises(ValueError, match="is an NLB in eu-west-1, but it was given as the endpoint of us-east-1"):
        plan_for(spec(), hostnames=swapped)
