"""LoadBalancer: nginx, vllm-router and Service strategies, and how they are exposed."""

from __future__ import annotations

import re

import pytest

from tests.plans import EXISTING_CLUSTER, plan_config, single_model_config
from vllm_infra.balancing.nginx import NGINX_IMAGE
from vllm_infra.balancing.router import ROUTER_IMAGE


def balanced_config(strategy: str = "nginx", **balancer):
    config = single_model_config(
        cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}, autoscaling={"minReplicas": 2, "maxReplicas": 6}
    )
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"strategy": strategy, **balancer}
    return config


def multi_model_config():
    shared = {"cache": {"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}}
    models = [
        {"name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct", "servedModelName": "llama-8b", **shared},
        {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", "servedModelName": "qwen-7b", **shared},
    ]
    return {
        "vllm-infra:topology": "multi-model",
        "vllm-infra:regions": EXISTING_CLUSTER,
        "vllm-infra:models": models,
        "vllm-infra:balancer": {"strategy": "router"},
    }


def nginx_config_map(plan):
    (config_map,) = [c for c in plan.by_type("kubernetes:core/v1:ConfigMap") if "nginx.conf" in c.inputs["data"]]
    return config_map


def gateway(plan):
    return next(d for d in plan.by_type("kubernetes:apps/v1:Deployment") if d.name.endswith("-gateway-deployment"))


def test_nginx_follows_the_pods_through_a_headless_service(tmp_path):
    plan = plan_config(tmp_path, balanced_config())
    headless = next(s for s in plan.by_type("kubernetes:core/v1:Service") if s.inputs["spec"].get("clusterIP") == "None")
    vllm = plan.one("kubernetes:apps/v1:Deployment", "us-east-1-llama-8b").inputs
    assert headless.inputs["spec"]["selector"] == vllm["spec"]["selector"]["matchLabels"]
    conf = nginx_config_map(plan).inputs["data"]["nginx.conf"]
    assert "least_conn;" in conf
    host = f"{headless.inputs['metadata']['name']}.vllm.svc.cluster.local:8000"
    assert re.search(rf"server {re.escape(host)} resolve max_fails=3 fail_timeout=30s;", conf)


def test_nginx_pods_roll_when_the_config_changes(tmp_path):
    def config_hash(plan):
        return gateway(plan).inputs["spec"]["template"]["metadata"]["annotations"]["vllm-infra.io/config-hash"]

    base = plan_config(tmp_path, balanced_config())
    same = plan_config(tmp_path, balanced_config())
    tuned = plan_config(tmp_path, balanced_config(nginx={"readTimeoutS": 900}))
    assert config_hash(base) == config_hash(same)
    assert config_hash(base) != config_hash(tuned)
    # The ConfigMap is auto-named, so a new config is created before the old one goes, and pods mount it by name.
    config_map = nginx_config_map(base)
    assert "name" not in config_map.inputs["metadata"]
    volumes = gateway(base).inputs["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("configMap", {}).get("name") == config_map.name for v in volumes)


def test_nginx_is_pinned_checks_the_key_and_is_exposed_through_an_nlb(tmp_path):
    plan = plan_config(tmp_path, balanced_config())
    pod = gateway(plan).inputs["spec"]["template"]["spec"]
    (nginx,) = pod["containers"]
    assert nginx["image"] == NGINX_IMAGE
    env = {e["name"]: e for e in nginx["env"]}
    secret = plan.one("kubernetes:core/v1:Secret", "us-east-1-secrets-api-key").name
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == secret
    service = plan.one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/healthz"
    assert plan.one("kubernetes:policy/v1:PodDisruptionBudget", "us-east-1-gateway-pdb")


def test_ingress_exposure_uses_an_alb_with_a_long_idle_timeout(tmp_path):
    plan = plan_config(tmp_path, balanced_config(exposure={"kind": "ingress", "host": "llm.example.com"}))
    ingress = plan.one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["spec"]["rules"][0]["host"] == "llm.example.com"
    assert "idle_timeout.timeout_seconds=600" in ingress["metadata"]["annotations"][
        "alb.ingress.kubernetes.io/load-balancer-attributes"]
    service = plan.one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs
    assert "type" not in service["spec"], "behind an Ingress the Service stays ClusterIP"


def test_session_affinity_service_strategy(tmp_path):
    plan = plan_config(tmp_path, balanced_config("service"))
    service = plan.one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs["spec"]
    assert service["sessionAffinity"] == "ClientIP"
    assert service["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 3600
    vllm = plan.one("kubernetes:apps/v1:Deployment", "us-east-1-llama-8b").inputs
    assert service["selector"] == vllm["spec"]["selector"]["matchLabels"]
    assert not any(d.name.endswith("-gateway-deployment") for d in plan.by_type("kubernetes:apps/v1:Deployment"))


def test_router_discovers_the_models_pods_with_a_least_privilege_account(tmp_path):
    plan = plan_config(tmp_path, balanced_config("router"))
    pod = gateway(plan).inputs["spec"]["template"]["spec"]
    (router,) = pod["containers"]
    assert router["image"] == ROUTER_IMAGE
    args = router["args"]
    assert "--service-discovery" in args and args[args.index("--policy") + 1] == "cache_aware"
    assert "app.kubernetes.io/instance=llama-8b" in args
    role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert pod["serviceAccountName"] == plan.one("kubernetes:core/v1:ServiceAccount").inputs["metadata"]["name"]
    # The worker key reaches the router from the Secret; the pod spec holds only a reference to it.
    assert args[args.index("--api-key") + 1] == "$(VLLM_API_KEY)"
    assert {e["name"] for e in router["env"]} == {"VLLM_API_KEY"}


def test_multi_model_routes_by_model_behind_an_openai_front_door(tmp_path):
    plan = plan_config(tmp_path, multi_model_config())
    pod = gateway(plan).inputs["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"nginx", "router"}
    assert "--enable-igw" in containers["router"]["args"]
    selector = containers["router"]["args"][containers["router"]["args"].index("--selector") + 1:]
    assert "app.kubernetes.io/component=inference" in selector
    assert not any(s.startswith("app.kubernetes.io/instance") for s in selector if "=" in s)
    conf = nginx_config_map(plan).inputs["data"]["nginx.conf"]
    assert '{"id":"llama-8b","object":"model","owned_by":"vllm"},{"id":"qwen-7b"' in conf
    assert "server 127.0.0.1:8000" in conf


@pytest.mark.parametrize(
    ("topology", "strategy", "fragment"),
    [("multi-model", "nginx", "several models need strategy: router")],
)
def test_nginx_cannot_balance_several_models(tmp_path, topology, strategy, fragment):
    from tests.config.test_config_errors import problems_of

    config = multi_model_config()
    config["vllm-infra:balancer"] = {"strategy": strategy}
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:balancer.strategy:") and fragment in problem
