"""The cross-object checks hold on every cluster of every shipped stack's plan — and each one fails on a plan broken
the way it guards against."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml

from tests.conftest import SHIPPED_STACKS
from tests.crossobject.capacity import kube_reserved_cpu_millicores, max_pods, node_allocatable, pod_requests
from tests.crossobject.checks import (
    CHECKS,
    disruptions_allowed,
    grace_covers_drain,
    network_flows,
    pods_fit_nodes,
    refs_resolve,
    replica_range,
    selectors_select,
    tolerations_cover_taints,
    traffic_outlives_endpoints,
)
from tests.crossobject.cluster import Cluster, clusters, copy_cluster
from tests.plans import PROJECT_DIR, plan_config, single_model_config

MiB, GiB = 2**20, 2**30


@pytest.fixture(scope="module")
def shipped_clusters(shipped_plans) -> dict[str, list[Cluster]]:
    return {stack: clusters(plan) for stack, plan in shipped_plans.items()}


# Known bugs in areas other engineers are changing: each marks exactly one (check, stack) pair.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _check_cases():
    for check in sorted(CHECKS):
        for stack in SHIPPED_STACKS:
            reason = KNOWN_BUGS.get((check, stack))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(check, stack, marks=marks, id=f"{check}-{stack}")


@pytest.mark.parametrize(("check", "stack"), list(_check_cases()))
def test_check_holds_on_every_shipped_cluster(shipped_clusters, stack, check):
    problems = [
        f"[{cluster.name}] {problem}" for cluster in shipped_clusters[stack] for problem in CHECKS[check](cluster)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_checks_have_something_to_check(shipped_clusters, stack):
    # A check over nothing proves nothing: every shipped cluster has pinned GPU pods, node groups, PDBs and policies.
    for cluster in shipped_clusters[stack]:
        kinds = {obj["kind"] for obj in cluster.objects}
        assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "Secret"} <= kinds, cluster.name
        assert cluster.node_groups, cluster.name
        assert any((p.spec.get("nodeSelector") or {}).get("node.kubernetes.io/instance-type")
                   for p in cluster.pod_templates())  # fmt: skip


def test_a_multi_region_plan_is_one_cluster_per_region(shipped_clusters):
    regions = shipped_clusters["multi-region"]
    assert sorted(c.name for c in regions) == ["eu-west-1", "us-east-1", "us-west-2"]
    assert all(len(c.node_groups) == 1 for c in regions)


# --------------------------------------------------------------------------------------------------------- helpers
def _cluster(shipped_clusters, stack: str = "load-balanced") -> Cluster:
    (cluster,) = shipped_clusters[stack]
    return copy_cluster(cluster)


def _object(cluster: Cluster, kind: str, predicate=lambda obj: True) -> dict:
    return next(obj for obj in cluster.objects if obj["kind"] == kind and predicate(obj))


def _vllm_pod(cluster: Cluster, name: str | None = None):
    return next(p for p in cluster.pod_templates()
                if p.kind == "Deployment" and p.labels.get("app.kubernetes.io/component") == "inference"
                and (name is None or p.name == name))  # fmt: skip


def _named(name):
    return lambda obj: obj["metadata"]["name"] == name


def _component(component):
    return lambda obj: obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component


def _fails(check, cluster: Cluster, *fragments: str) -> None:
    problems = check(cluster)
    assert problems, f"{check.__name__} passed a broken plan"
    assert any(all(f in p for f in fragments) for p in problems), problems


# ------------------------------------------------------------------------------------------------------- selectors
def test_a_service_selecting_no_pod_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _object(cluster, "Service", _component("inference"))["spec"]["selector"]["app.kubernetes.io/name"] = "vlm"
    _fails(selectors_select, cluster, "Service", "selects no planned pod")


def test_a_pdb_selecting_no_pod_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    pdb = _object(cluster, "PodDisruptionBudget", _component("inference"))
    pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = "llama-3-1-8"
    _fails(selectors_select, cluster, "PodDisruptionBudget", "selects no planned pod")


def test_a_network_policy_selecting_no_pod_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    policy = _object(cluster, "NetworkPolicy", _named("vllm-ingress"))
    policy["spec"]["podSelector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["vllm"]}]}
    _fails(selectors_select, cluster, "NetworkPolicy", "vllm-ingress")


def test_an_autoscaler_targeting_a_missing_deployment_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _object(cluster, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "llama"
    _fails(selectors_select, cluster, "HorizontalPodAutoscaler", "not in the plan")


def test_a_pod_monitor_scraping_a_missing_port_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    monitor = _object(cluster, "PodMonitor", lambda o: o["metadata"]["name"].endswith("-vllm"))
    monitor["spec"]["podMetricsEndpoints"][0]["port"] = "metrics"
    _fails(selectors_select, cluster, "PodMonitor", "'metrics' is no port")


def test_a_deployment_not_selecting_its_own_template_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).labels["app.kubernetes.io/instance"] = "renamed"
    _fails(selectors_select, cluster, "does not select its own pod template")


def test_the_router_discovering_no_worker_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters, "multi-model")
    router = next(c for p in cluster.pod_templates() for c in p.containers() if c["name"] == "router")
    router["args"][router["args"].index("app.kubernetes.io/name=vllm")] = "app.kubernetes.io/name=vllm-server"
    _fails(selectors_select, cluster, "container router discovers workers")


# ------------------------------------------------------------------------------------------------------ references
def test_a_secret_key_that_does_not_exist_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    env = next(e for e in _vllm_pod(cluster).spec["containers"][0]["env"] if e["name"] == "VLLM_API_KEY")
    env["valueFrom"]["secretKeyRef"]["key"] = "apikey"
    _fails(refs_resolve, cluster, "has no key apikey")


def test_a_missing_config_map_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    name = next(v["configMap"]["name"] for p in cluster.pod_templates() for v in p.spec.get("volumes") or []
                if "configMap" in v)  # fmt: skip
    cluster.objects.remove(_object(cluster, "ConfigMap", _named(name)))
    _fails(refs_resolve, cluster, f"ConfigMap vllm/{name} is not in the plan")


def test_a_claim_in_another_namespace_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _object(cluster, "PersistentVolumeClaim")["metadata"]["namespace"] = "models"
    _fails(refs_resolve, cluster, "PersistentVolumeClaim vllm/", "is not in the plan")


def test_a_mount_of_an_undeclared_volume_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).spec["containers"][0]["volumeMounts"][0]["name"] = "model-cash"
    _fails(refs_resolve, cluster, "mounts undeclared volume 'model-cash'")


def test_a_binding_to_a_missing_service_account_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters, "multi-model")
    cluster.objects.remove(_object(cluster, "ServiceAccount"))
    _fails(refs_resolve, cluster, "ServiceAccount", "is not in the plan")


# ----------------------------------------------------------------------------------------------- capacity, nodes
def test_eks_allocatable_is_the_ami_formula():
    # Worked by hand from nodeadm's rules (tests/data/eks-ami/SOURCE): g6.xlarge has 4 ENIs of 15 addresses,
    # g6.12xlarge 8 of 30, g6e.12xlarge 10 of 30 (292 pods, over the managed node group cap of 250 for 48 vCPUs),
    # g5.12xlarge 15 of 50 (737, capped).
    assert (max_pods("g6.xlarge"), max_pods("g6.12xlarge"), max_pods("g6e.12xlarge")) == (58, 234, 250)
    assert max_pods("g5.12xlarge") == 250
    assert (kube_reserved_cpu_millicores(4), kube_reserved_cpu_millicores(48)) == (80, 190)
    small, large = node_allocatable("g6.xlarge"), node_allocatable("g6.12xlarge")
    assert (small.cpu, small.memory) == (Fraction(3920, 1000), 16 * GiB - (11 * 58 + 255 + 100) * MiB)
    assert (large.cpu, large.memory, large.gpus) == (Fraction(47810, 1000), 192 * GiB - 2929 * MiB, 4)
    assert node_allocatable("g6e.12xlarge").memory == 384 * GiB - (11 * 250 + 255 + 100) * MiB


def test_a_70b_model_sized_automatically_fits_its_node(tmp_path):
    plan = plan_config(
        tmp_path,
        single_model_config(
            name="llama-70b",
            model="meta-llama/Llama-3.1-70B-Instruct",
            revision="1605565b47bb9346c5515c34102e054115b4f98b",
        ),
    )
    problems = [p for cluster in clusters(plan) for p in pods_fit_nodes(cluster)]
    assert not problems, "\n".join(problems)


def test_pod_requests_count_sidecars_and_the_largest_init_container():
    spec = {
        "initContainers": [
            {"name": "fetch", "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "late", "resources": {"limits": {"cpu": "2", "memory": "8Gi"}}},
        ],
        "containers": [
            {"name": "app", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}},
            {"name": "side", "resources": {"requests": {"cpu": "500m"}}},
        ],
    }
    requests = pod_requests(spec)
    # CPU: `fetch` alone (3) beats the running pod (1 + 0.5 + 0.25); memory: `late` with the sidecar (8Gi + 64Mi).
    assert requests["cpu"] == 3
    assert requests["memory"] == 8 * GiB + 64 * MiB


def test_a_pod_larger_than_its_node_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters, "multi-model")
    pod = _vllm_pod(cluster, "llama-3-1-70b-awq")
    pod.spec["containers"][0]["resources"]["requests"]["memory"] = "190Gi"  # g6.12xlarge: 189.14 GiB allocatable
    _fails(pods_fit_nodes, cluster, "llama-3-1-70b-awq requests 190.00 GiB", "g6.12xlarge allocatable")


def test_a_sidecar_that_tips_the_pod_over_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters, "multi-model")
    pod = _vllm_pod(cluster, "llama-3-1-70b-awq")
    # g6.12xlarge: 47.81 CPU allocatable; vLLM alone requests 46, so a 2-CPU log shipper does not fit beside it.
    assert pod_requests(pod.spec)["cpu"] == 46 and node_allocatable("g6.12xlarge").cpu < 48
    pod.spec["initContainers"] = [{"name": "log-shipper", "restartPolicy": "Always", "image": "fluent-bit",
                                   "resources": {"requests": {"cpu": "2"}}}]  # fmt: skip
    _fails(pods_fit_nodes, cluster, "48.00 CPU")


def test_a_gpu_pod_without_the_toleration_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).spec["tolerations"] = []
    _fails(tolerations_cover_taints, cluster, "does not tolerate taint nvidia.com/gpu=true:NO_SCHEDULE")


def test_a_gpu_pod_selecting_no_node_group_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).spec["nodeSelector"]["vllm-infra.io/gpu-tier"] = "llama-3-1-8"
    _fails(tolerations_cover_taints, cluster, "matches no planned node group")


def test_a_node_group_of_another_instance_type_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    cluster.node_groups[0]["instanceTypes"] = ["g6.2xlarge"]
    _fails(tolerations_cover_taints, cluster, "matches no planned node group")


# ----------------------------------------------------------------------------------------- termination, disruption
def test_a_grace_period_shorter_than_the_drain_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).spec["terminationGracePeriodSeconds"] = 120
    _fails(grace_covers_drain, cluster, "container vllm needs preStop 15s + drain 300s = 315s", "120s")


def test_an_nginx_drain_longer_than_its_grace_period_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    balancer = next(p for p in cluster.pod_templates() if p.labels.get("app.kubernetes.io/component") == "balancer")
    balancer.spec["terminationGracePeriodSeconds"] = 60
    _fails(grace_covers_drain, cluster, "container nginx needs preStop 5s")


def test_a_served_container_without_a_pre_stop_delay_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _vllm_pod(cluster).spec["containers"][0].pop("lifecycle")
    _fails(traffic_outlives_endpoints, cluster, "container vllm takes Service traffic and has no preStop delay")


@pytest.mark.parametrize("strategy", ["router", "service"])
def test_other_balancer_strategies_outlive_their_endpoints(tmp_path, strategy):
    config = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.load-balanced.yaml").read_text())["config"]
    config = {key: value for key, value in config.items() if key not in ("vllm-infra:apiKey", "vllm-infra:hfToken")}
    # The shipped balancer with only its strategy changed: its exposure (internet-facing, with TLS) stays valid.
    config["vllm-infra:balancer"] = {**config["vllm-infra:balancer"], "strategy": strategy}
    problems = [p for cluster in clusters(plan_config(tmp_path, config)) for p in traffic_outlives_endpoints(cluster)]
    assert not problems, "\n".join(problems)


def test_a_proxied_sibling_stopping_before_its_proxy_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    balancer = next(p for p in cluster.pod_templates() if p.labels.get("app.kubernetes.io/component") == "balancer")
    balancer.spec["containers"].append({"name": "auth", "image": "example/auth:1", "ports": [{"containerPort": 8000}]})
    config_map = _object(cluster, "ConfigMap", lambda o: "nginx.conf" in (o.get("data") or {}))
    config_map["data"]["nginx.conf"] += "\nupstream auth { server 127.0.0.1:8000; }\n"
    _fails(traffic_outlives_endpoints, cluster, "container auth (nginx proxies to it on 127.0.0.1:8000) waits 0s")


def test_a_pdb_that_never_allows_an_eviction_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters, "single")
    pdb = _object(cluster, "PodDisruptionBudget")
    pdb["spec"].pop("maxUnavailable")
    pdb["spec"]["minAvailable"] = 1  # of a single replica
    _fails(disruptions_allowed, cluster, "minAvailable 1 of 1 replica(s)", "block forever")


def test_a_pdb_with_zero_max_unavailable_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    _object(cluster, "PodDisruptionBudget", _component("inference"))["spec"]["maxUnavailable"] = "0%"
    _fails(disruptions_allowed, cluster, "maxUnavailable 0%")


def test_a_rollout_with_neither_surge_nor_unavailability_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    deployment = _object(cluster, "Deployment", _component("inference"))
    deployment["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": 0}
    _fails(disruptions_allowed, cluster, "both 0")


def test_a_surge_the_node_group_cannot_hold_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    deployment = _object(cluster, "Deployment", _component("inference"))
    _, most = replica_range(cluster, deployment)
    cluster.node_groups[0]["scalingConfig"]["maxSize"] = most  # one g6.xlarge (1 GPU) per replica, none to spare
    _fails(disruptions_allowed, cluster, f"needs {most + 1} pods at once", f"hold {most}")


# ------------------------------------------------------------------------------------------------ network policies
def test_vllm_ingress_without_the_balancer_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    policy = _object(cluster, "NetworkPolicy", _named("vllm-ingress"))
    policy["spec"]["ingress"] = [r for r in policy["spec"]["ingress"] if "podSelector" not in r["from"][0]]
    _fails(network_flows, cluster, "cannot reach Deployment vllm/llama-3-1-8b on 8000/TCP", "ingress")


def test_balancer_egress_to_the_wrong_port_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    policy = _object(cluster, "NetworkPolicy", _named("balancer-egress"))
    policy["spec"]["egress"][0]["ports"] = [{"protocol": "TCP", "port": 8080}]
    _fails(network_flows, cluster, "cannot reach", "egress of Deployment vllm/")


def test_metrics_closed_to_the_monitoring_namespace_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    policy = _object(cluster, "NetworkPolicy", _named("vllm-ingress"))
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": "prometheus"}}
    _fails(network_flows, cluster, "Prometheus cannot scrape Deployment vllm/llama-3-1-8b")


def test_default_deny_without_dns_egress_fails(shipped_clusters):
    cluster = _cluster(shipped_clusters)
    cluster.objects.remove(_object(cluster, "NetworkPolicy", _named("allow-dns")))
    _fails(network_flows, cluster, "cannot resolve names (DNS 53/UDP)")
