"""NetworkPolicies: schema-valid, default-deny, and — evaluated with a small NetworkPolicy evaluator — only the flows
vLLM serving needs are open."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.offline.kube_schema import validate_object
from tests.plans import EXISTING_CLUSTER, TLS_EXPOSURE, plan_config
from vllm_infra.components.network_policy import (
    NON_PUBLIC_IPV4,
    DnsPeer,
    NetworkPolicies,
    NetworkPolicyArgs,
    balancer_policy_args,
)
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.kube.labels import MODEL_LABEL, selector_labels, standard_labels
from vllm_infra.offline.render import manifests
from vllm_infra.offline.runner import Plan, run_program
from vllm_infra.offline.stackfile import StackFile

NAMESPACE = "vllm"
VPC = "10.0.0.0/16"
COMPONENT_TYPE = "vllm-infra:network_policy:NetworkPolicies"
POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


# --- a small NetworkPolicy evaluator (networking.k8s.io/v1 semantics) -------------------------------------------------
@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    ip: str


@dataclass(frozen=True)
class Host:
    """An address outside every namespace: an internet client, the NLB, an EFS mount target, the API server."""

    ip: str


Endpoint = Pod | Host


def namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels AND matchExpressions; the empty selector matches everything."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def ip_in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(block["cidr"])
    if address.version != network.version or address not in network:
        return False
    return not any(
        address in ipaddress.ip_network(excepted)
        for excepted in block.get("except") or []
        if ipaddress.ip_network(excepted).version == address.version
    )


def peer_matches(peer: Mapping[str, Any], policy_namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        # Permissive reading: some CNIs match pod IPs against ipBlocks too, so a "denied" verdict holds everywhere.
        return ip_in_block(endpoint.ip, peer["ipBlock"])
    if not isinstance(endpoint, Pod):
        return False
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        namespace_ok = endpoint.namespace == policy_namespace
    else:
        namespace_ok = selector_matches(namespace_selector, namespace_labels(endpoint.namespace))
    pod_selector = peer.get("podSelector")
    return namespace_ok and (pod_selector is None or selector_matches(pod_selector, endpoint.labels))


def port_matches(rule_ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        if rule_port.get("protocol", "TCP") != protocol:
            continue
        if "port" not in rule_port:
            return True
        assert isinstance(rule_port["port"], int), f"named port {rule_port['port']!r}: the evaluator only does numbers"
        if rule_port["port"] <= port <= rule_port.get("endPort", rule_port["port"]):
            return True
    return False


def policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])


def selecting(policies: list[dict], pod: Pod, direction: str) -> list[dict]:
    return [
        p for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and selector_matches(p["spec"].get("podSelector") or {}, pod.labels)
        and direction in policy_types(p)
    ]  # fmt: skip


def _rules_allow(policies: list[dict], key: str, peers_key: str, other: Endpoint, port: int, protocol: str) -> bool:
    for policy in policies:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if port_matches(rule.get("ports"), port, protocol) and (
                not peers or any(peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)
            ):
                return True
    return False


def ingress_allowed(policies: list[dict], destination: Pod, source: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Is ``source`` → ``destination:port`` admitted by the union of the ingress policies selecting ``destination``?"""
    applicable = selecting(policies, destination, "Ingress")
    return not applicable or _rules_allow(applicable, "ingress", "from", source, port, protocol)


def egress_allowed(policies: list[dict], source: Pod, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """Is ``source`` → ``destination:port`` let out by the union of the egress policies selecting ``source``?"""
    applicable = selecting(policies, source, "Egress")
    return not applicable or _rules_allow(applicable, "egress", "to", destination, port, protocol)


def allowed(policies: list[dict], source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    """A connection needs both ends to agree: egress at a source pod, ingress at a destination pod."""
    out = not isinstance(source, Pod) or egress_allowed(policies, source, destination, port, protocol)
    into = not isinstance(destination, Pod) or ingress_allowed(policies, destination, source, port, protocol)
    return out and into


# Denials are asserted on one side only — the side under test — so that a policy on the other end cannot hide a hole:
# "vLLM admits only the balancer" must hold even for a pod whose own egress someone else opened.
admits = ingress_allowed
lets_out = egress_allowed


def test_the_evaluator_follows_the_api_semantics():
    web = Pod("a", {"app": "web"}, "10.0.0.1")
    db = Pod("a", {"app": "db"}, "10.0.0.2")
    stranger = Pod("b", {"app": "web"}, "10.0.0.3")

    def policy(namespace, selector, **spec):
        return {"metadata": {"namespace": namespace}, "spec": {"podSelector": selector, **spec}}

    assert allowed([], web, db, 5432)  # nothing selects a pod: it is not isolated
    same_namespace = [{"from": [{"podSelector": {}}], "ports": [{"port": 5432}]}]
    only_web = policy("a", {"matchLabels": {"app": "db"}}, ingress=same_namespace)
    assert allowed([only_web], web, db, 5432)
    assert not allowed([only_web], web, db, 5433)
    assert not allowed([only_web], stranger, db, 5432)  # a podSelector alone is the policy's own namespace
    deny_egress = policy("a", {}, policyTypes=["Egress"])
    assert not allowed([only_web, deny_egress], web, db, 5432)  # the source's egress must agree too
    public = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]
    internet = policy("a", {}, policyTypes=["Egress"], egress=public)
    assert allowed([internet], web, Host("8.8.8.8"), 443)
    assert not allowed([internet], web, Host("10.1.2.3"), 443)
    expressions = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}
    assert selector_matches(expressions, {"app": "web"}) and not selector_matches(expressions, {"app": "db"})


# --- running the component ------------------------------------------------------------------------------------------
STACK_FILE = StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[])


def plan_policies(**overrides: Any) -> Plan:
    arguments: dict[str, Any] = {"namespace": NAMESPACE, "vpc_cidr": VPC, **overrides}

    def program() -> None:
        NetworkPolicies("np", NetworkPolicyArgs(**arguments))

    return run_program(program, STACK_FILE)


def policies_of(plan: Plan) -> list[dict]:
    objects = manifests(plan)
    assert objects and all(o["kind"] == "NetworkPolicy" for o in objects)
    return objects


def by_name(policies: list[dict]) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in policies}


ROUTER = balancer_policy_args(BalancerSpec(strategy="router"), multi_model=True)
NGINX = balancer_policy_args(BalancerSpec(strategy="nginx"))
SERVICE = balancer_policy_args(BalancerSpec(strategy="service"))

# The pods, labelled as the components label them (standard_labels ⊇ selector_labels).
VLLM = Pod(NAMESPACE, standard_labels("inference", "llama-8b", {MODEL_LABEL: "llama-8b"}), "10.0.1.10")
OTHER_VLLM = Pod(NAMESPACE, standard_labels("inference", "qwen-7b", {MODEL_LABEL: "qwen-7b"}), "10.0.1.11")
BALANCER = Pod(NAMESPACE, standard_labels("balancer", "vllm-gateway"), "10.0.2.10")
PREWARM = Pod(NAMESPACE, standard_labels("cache", "llama-8b", {MODEL_LABEL: "llama-8b"}), "10.0.3.10")
INTRUDER = Pod(NAMESPACE, {"app": "debug-shell"}, "10.0.4.10")
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, "10.0.5.10")
ELSEWHERE = Pod("team-a", {"app.kubernetes.io/name": "prometheus"}, "10.0.6.10")
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, "10.0.7.10")
OTHER_KUBE_SYSTEM = Pod("kube-system", {"k8s-app": "metrics-server"}, "10.0.7.11")
INTERNET_CLIENT = Host("203.0.113.7")
NLB = Host("10.0.100.25")  # IP targets without client IP preservation: clients and health checks come from here
HUB = Host("18.239.50.10")
EFS_MOUNT_TARGET = Host("10.0.200.5")
FOREIGN_NFS = Host("52.95.0.9")
API_ENDPOINT = Host("10.0.64.20")  # an EKS control-plane ENI in the cluster subnets
INSTANCE_METADATA = Host("169.254.169.254")


@pytest.fixture(scope="module")
def router_policies() -> list[dict]:
    return policies_of(plan_policies(kubernetes_service_ip="172.20.0.1", **ROUTER))


@pytest.fixture(scope="module")
def no_balancer_policies() -> list[dict]:
    return policies_of(plan_policies(client_cidrs=["192.0.2.0/24"], **SERVICE))


# --- shape and schema -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({**ROUTER, "kubernetes_service_ip": "172.20.0.1"}, id="router-multi-model"),
        pytest.param(balancer_policy_args(BalancerSpec(strategy="router")), id="router-single-model"),
        pytest.param(NGINX, id="nginx"),
        pytest.param(SERVICE, id="no-balancer"),
        pytest.param({**SERVICE, "vpc_cidr": None, "monitoring_namespace": None, "hub_egress": False}, id="bare"),
        pytest.param(
            {
                **NGINX,
                "dns": DnsPeer(cidrs=["169.254.20.10/32"]),
                "vllm_hub_egress": True,
                "hub_cidrs": ["0.0.0.0/0", "::/0"],
                "monitoring_pod_labels": {"app.kubernetes.io/name": "prometheus"},
                "vllm_extra_egress": [
                    {"to": [{"ipBlock": {"cidr": "10.0.9.0/24"}}], "ports": [{"protocol": "TCP", "port": 4317}]}
                ],
            },
            id="everything",
        ),
    ],
)
def test_every_policy_is_schema_valid(overrides):
    policies = policies_of(plan_policies(**overrides))
    for policy in policies:
        validate_object(policy)
    assert {p["metadata"]["namespace"] for p in policies} == {NAMESPACE}


def test_default_deny_selects_every_pod_both_ways_with_no_rule(router_policies):
    deny = by_name(router_policies)["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for pod in (VLLM, BALANCER, PREWARM, INTRUDER):
        alone = [by_name(router_policies)["default-deny"]]
        assert not admits(alone, pod, INTERNET_CLIENT, 8000)
        assert not admits(alone, pod, Pod(NAMESPACE, pod.labels, "10.0.9.9"), 8000)
        assert not lets_out(alone, pod, KUBE_DNS, 53, "UDP")


def test_policies_are_explicitly_named_children_of_the_component():
    plan = plan_policies(kubernetes_service_ip="172.20.0.1", **ROUTER)
    component = plan.one(COMPONENT_TYPE)
    policies = plan.by_type(POLICY_TYPE)
    assert {p.inputs["metadata"]["name"] for p in policies} == {
        "default-deny", "allow-dns", "vllm-ingress", "vllm-egress", "balancer-ingress", "balancer-egress",
        "prewarm-egress",
    }  # fmt: skip
    assert all(p.parent == component.urn for p in policies)
    # The allowances exist before anything is denied (no outage when the policies arrive on a running stack).
    deny = next(p for p in policies if p.inputs["metadata"]["name"] == "default-deny")
    assert set(deny.depends_on) == {p.urn for p in policies if p is not deny}


def test_numeric_ports_only(router_policies):
    # The VPC CNI controller drops a rule whose named port it cannot resolve against an ipBlock peer.
    for policy in router_policies:
        for key in ("ingress", "egress"):
            for rule in policy["spec"].get(key, []):
                assert all(isinstance(p["port"], int) for p in rule.get("ports", [])), policy["metadata"]["name"]


# --- reachability: ingress to vLLM ----------------------------------------------------------------------------------
def test_only_the_balancer_reaches_vllm(router_policies):
    assert allowed(router_policies, BALANCER, VLLM, 8000)
    assert allowed(router_policies, BALANCER, OTHER_VLLM, 8000)  # multi-model: the router reaches every model
    assert not admits(router_policies, VLLM, INTRUDER, 8000)
    assert not admits(router_policies, VLLM, PREWARM, 8000)
    assert not lets_out(router_policies, PREWARM, VLLM, 8000)
    assert not admits(router_policies, VLLM, OTHER_VLLM, 8000)
    assert not admits(router_policies, VLLM, INTERNET_CLIENT, 8000)
    assert not admits(router_policies, VLLM, NLB, 8000)
    assert not admits(router_policies, VLLM, BALANCER, 8001)


def test_only_the_monitoring_namespace_scrapes(router_policies):
    assert allowed(router_policies, PROMETHEUS, VLLM, 8000)
    assert not admits(router_policies, VLLM, ELSEWHERE, 8000)
    assert not admits(router_policies, VLLM, OTHER_KUBE_SYSTEM, 8000)
    assert allowed(router_policies, PROMETHEUS, BALANCER, 29000)  # vllm-router's metrics port
    assert not admits(router_policies, BALANCER, ELSEWHERE, 29000)
    assert not admits(router_policies, BALANCER, INTERNET_CLIENT, 29000)


def test_monitoring_pods_can_be_narrowed():
    policies = policies_of(plan_policies(monitoring_pod_labels={"app.kubernetes.io/name": "prometheus"}, **NGINX))
    assert allowed(policies, PROMETHEUS, VLLM, 8000)
    assert not admits(policies, VLLM, Pod("monitoring", {"app.kubernetes.io/name": "grafana"}, "10.0.5.11"), 8000)


def test_without_a_balancer_client_cidrs_reach_vllm(no_balancer_policies):
    names = set(by_name(no_balancer_policies))
    assert "balancer-ingress" not in names and "balancer-egress" not in names
    assert allowed(no_balancer_policies, Host("192.0.2.44"), VLLM, 8000)
    assert not admits(no_balancer_policies, VLLM, INTERNET_CLIENT, 8000)
    assert not admits(no_balancer_policies, VLLM, INTRUDER, 8000)
    assert allowed(no_balancer_policies, PROMETHEUS, VLLM, 8000)


def test_without_a_balancer_the_vpc_is_the_default_client():
    # The plain-Service strategy behind an NLB with IP targets: connections come from the NLB's private addresses.
    policies = policies_of(plan_policies(**SERVICE))
    assert allowed(policies, NLB, VLLM, 8000)
    assert not admits(policies, VLLM, INTERNET_CLIENT, 8000)
    bare = policies_of(plan_policies(vpc_cidr=None, **SERVICE))
    assert not admits(bare, VLLM, NLB, 8000)  # nothing known: nobody (kubectl port-forward still works)


# --- reachability: the balancer -------------------------------------------------------------------------------------
def test_clients_and_health_checks_reach_only_the_front_door(router_policies):
    assert allowed(router_policies, INTERNET_CLIENT, BALANCER, 8080)
    assert allowed(router_policies, NLB, BALANCER, 8080)
    # Multi-model: the router's own port (no API-key check) stays private to its pod; the nginx sidecar is the door.
    assert not admits(router_policies, BALANCER, INTERNET_CLIENT, 8000)
    assert not admits(router_policies, BALANCER, INTRUDER, 8000)


def test_public_ingress_can_be_restricted():
    policies = policies_of(plan_policies(public_ingress_cidrs=[VPC], **NGINX))
    assert allowed(policies, NLB, BALANCER, 8080)
    assert not admits(policies, BALANCER, INTERNET_CLIENT, 8080)


def test_balancer_egress(router_policies):
    assert allowed(router_policies, BALANCER, VLLM, 8000)
    assert not lets_out(router_policies, BALANCER, INTRUDER, 8000)
    assert not lets_out(router_policies, BALANCER, HUB, 443)
    assert not lets_out(router_policies, BALANCER, INSTANCE_METADATA, 80)
    assert allowed(router_policies, BALANCER, KUBE_DNS, 53, "UDP")
    # The router lists pods: the API endpoints (after translation) and the kubernetes Service's ClusterIP (before it).
    assert allowed(router_policies, BALANCER, API_ENDPOINT, 443)
    assert allowed(router_policies, BALANCER, Host("172.20.0.1"), 443)
    assert not lets_out(router_policies, BALANCER, Host("172.20.0.2"), 443)
    assert not lets_out(router_policies, BALANCER, API_ENDPOINT, 10250)


def test_router_without_a_known_service_ip_reaches_the_default_namespace_services():
    policies = policies_of(plan_policies(**ROUTER))
    rule = by_name(policies)["balancer-egress"]["spec"]["egress"][1]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}} in rule["to"]
    assert allowed(policies, BALANCER, API_ENDPOINT, 443)


def test_nginx_never_calls_the_api_server():
    policies = policies_of(plan_policies(**NGINX))
    assert not lets_out(policies, BALANCER, API_ENDPOINT, 443)
    assert allowed(policies, BALANCER, VLLM, 8000)
    assert allowed(policies, INTERNET_CLIENT, BALANCER, 8080)
    assert not admits(policies, BALANCER, PROMETHEUS, 29000)  # nginx has no metrics port


# --- reachability: egress of vLLM and the pre-warm Job ---------------------------------------------------------------
def test_vllm_egress_is_dns_and_model_storage_only(router_policies):
    assert allowed(router_policies, VLLM, KUBE_DNS, 53, "UDP")
    assert allowed(router_policies, VLLM, KUBE_DNS, 53, "TCP")
    assert not lets_out(router_policies, VLLM, OTHER_KUBE_SYSTEM, 53, "UDP")
    assert allowed(router_policies, VLLM, EFS_MOUNT_TARGET, 2049)
    assert not lets_out(router_policies, VLLM, FOREIGN_NFS, 2049)
    assert not lets_out(router_policies, VLLM, EFS_MOUNT_TARGET, 22)
    assert not lets_out(router_policies, VLLM, HUB, 443)
    assert not lets_out(router_policies, VLLM, Host("0.0.0.0"), 443)
    assert not lets_out(router_policies, VLLM, INSTANCE_METADATA, 80)
    assert not lets_out(router_policies, VLLM, OTHER_VLLM, 8000)
    assert not lets_out(router_policies, VLLM, API_ENDPOINT, 443)


def test_vllm_downloading_itself_may_reach_the_hub():
    policies = policies_of(plan_policies(vllm_hub_egress=True, **NGINX))
    assert allowed(policies, VLLM, HUB, 443)
    assert not lets_out(policies, VLLM, INSTANCE_METADATA, 443)


def test_model_storage_cidrs_override_the_vpc():
    policies = policies_of(plan_policies(model_storage_cidrs=["10.0.200.0/24"], **NGINX))
    assert allowed(policies, VLLM, EFS_MOUNT_TARGET, 2049)
    assert not lets_out(policies, VLLM, Host("10.0.1.99"), 2049)
    none = policies_of(plan_policies(model_storage_cidrs=[], **NGINX))
    assert not lets_out(none, VLLM, EFS_MOUNT_TARGET, 2049)
    assert by_name(none)["vllm-egress"]["spec"] == {
        "podSelector": by_name(none)["vllm-egress"]["spec"]["podSelector"], "policyTypes": ["Egress"],
    }  # fmt: skip


def test_prewarm_job_reaches_the_hub_and_nothing_private(router_policies):
    assert allowed(router_policies, PREWARM, HUB, 443)
    assert allowed(router_policies, PREWARM, KUBE_DNS, 53, "UDP")
    assert not lets_out(router_policies, PREWARM, HUB, 80)
    for private in NON_PUBLIC_IPV4:
        inside = next(ipaddress.ip_network(private).hosts())
        assert not lets_out(router_policies, PREWARM, Host(str(inside)), 443), private
    assert not lets_out(router_policies, PREWARM, INSTANCE_METADATA, 443)
    assert not admits(router_policies, VLLM, PREWARM, 8000)
    assert not lets_out(router_policies, PREWARM, VLLM, 8000)
    assert not admits(router_policies, PREWARM, INTERNET_CLIENT, 443)


def test_a_public_vpc_range_is_never_the_hub():
    public_vpc = "198.18.0.0/16"
    policies = policies_of(plan_policies(vpc_cidr=public_vpc, **NGINX))
    assert not lets_out(policies, PREWARM, Host("198.18.3.4"), 443)
    assert allowed(policies, PREWARM, HUB, 443)


def test_without_hub_egress_the_prewarm_job_is_closed():
    policies = policies_of(plan_policies(hub_egress=False, **NGINX))
    assert "prewarm-egress" not in by_name(policies)
    assert not lets_out(policies, PREWARM, HUB, 443)


def test_an_arbitrary_pod_of_the_namespace_only_resolves_names(router_policies):
    assert allowed(router_policies, INTRUDER, KUBE_DNS, 53, "UDP")
    for destination, port in ((VLLM, 8000), (BALANCER, 8080), (HUB, 443), (API_ENDPOINT, 443), (INSTANCE_METADATA, 80)):
        assert not lets_out(router_policies, INTRUDER, destination, port), (destination, port)
    assert not admits(router_policies, INTRUDER, INTERNET_CLIENT, 8080)


def test_node_local_dns_can_be_added():
    policies = policies_of(plan_policies(dns=DnsPeer(cidrs=["169.254.20.10/32"]), **NGINX))
    assert allowed(policies, VLLM, Host("169.254.20.10"), 53, "UDP")
    assert not lets_out(policies, VLLM, Host("169.254.20.11"), 53, "UDP")


# --- the policies select the pods the library actually creates --------------------------------------------------------
def test_policies_fit_the_pods_and_ports_of_a_planned_multi_model_stack(tmp_path, router_policies):
    shared = {"cache": {"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}}
    config = {
        "vllm-infra:topology": "multi-model",
        "vllm-infra:regions": EXISTING_CLUSTER,
        "vllm-infra:models": [
            {"name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct", "servedModelName": "llama-8b", **shared},
            {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", "servedModelName": "qwen-7b", **shared},
        ],
        "vllm-infra:balancer": {"strategy": "router", "exposure": TLS_EXPOSURE},
    }
    plan = plan_config(tmp_path, config)
    templates = {
        r.name: r.inputs["spec"]["template"]
        for r in [*plan.by_type("kubernetes:apps/v1:Deployment"), *plan.by_type("kubernetes:batch/v1:Job")]
    }
    ports = {
        name: {p["name"]: int(p["containerPort"]) for c in t["spec"]["containers"] for p in c.get("ports") or []}
        for name, t in templates.items()
    }

    def pod(name: str, ip: str) -> Pod:
        return Pod(NAMESPACE, templates[name]["metadata"]["labels"], ip)

    vllm, balancer = pod("us-east-1-llama-8b", "10.0.1.20"), pod("us-east-1-gateway-deployment", "10.0.2.20")
    prewarm = pod("us-east-1-qwen-7b-prewarm", "10.0.3.20")
    gateway = ports["us-east-1-gateway-deployment"]
    assert allowed(router_policies, balancer, vllm, ports["us-east-1-llama-8b"]["http"])
    assert allowed(router_policies, INTERNET_CLIENT, balancer, gateway["http"])  # what the NLB's Service targets
    assert not admits(router_policies, balancer, INTERNET_CLIENT, gateway["router"])
    assert allowed(router_policies, PROMETHEUS, balancer, gateway["metrics"])  # the balancer PodMonitor's port
    assert allowed(router_policies, PROMETHEUS, vllm, ports["us-east-1-llama-8b"]["http"])  # the vLLM PodMonitor's
    assert allowed(router_policies, prewarm, HUB, 443)
    assert not lets_out(router_policies, vllm, HUB, 443)
    # The VPC CNI controller allows a Service's ClusterIP when a peer's podSelector matches the Service's selector:
    # the vLLM Services must be matched by the balancer's egress peer.
    egress_peer = by_name(router_policies)["balancer-egress"]["spec"]["egress"][0]["to"][0]["podSelector"]
    for service in plan.by_type("kubernetes:core/v1:Service"):
        if service.inputs["spec"]["selector"].get("app.kubernetes.io/component") == "inference":
            assert selector_matches(egress_peer, service.inputs["spec"]["selector"]), service.name


# --- helpers and validation -------------------------------------------------------------------------------------------
def test_balancer_policy_args_follow_the_strategy():
    assert {
        "balancer_selector": selector_labels("balancer", "vllm-gateway"),
        "balancer_ports": [8080], "balancer_metrics_ports": [], "balancer_needs_api_server": False,
    } == NGINX  # fmt: skip
    single_router = balancer_policy_args(BalancerSpec(strategy="router"))
    assert single_router["balancer_ports"] == [8000] and single_router["balancer_metrics_ports"] == [29000]
    assert ROUTER["balancer_ports"] == [8080] and ROUTER["balancer_needs_api_server"]
    assert SERVICE == {"balancer_selector": None}
    named = balancer_policy_args(BalancerSpec(strategy="nginx"), object_name="edge")
    assert named["balancer_selector"]["app.kubernetes.io/instance"] == "edge"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"balancer_selector": {}}, "every pod of the namespace"),
        ({"balancer_selector": {"app.kubernetes.io/name": "vllm"}}, "vLLM pods themselves"),
        ({"public_ingress_cidrs": ["0.0.0.0/33"]}, "public_ingress_cidrs"),
        ({"model_storage_cidrs": ["10.0.0.1/16"]}, "not a network CIDR"),
        ({"kubernetes_service_ip": "172.20.0.1/32"}, "kubernetes_service_ip"),
        ({"balancer_ports": [0], "balancer_selector": {"app": "x"}}, "balancer_ports"),
    ],
)
def test_bad_arguments_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        NetworkPolicyArgs(namespace=NAMESPACE, **overrides)
