"""LoadBalancer: nginx, vllm-router and Service strategies, and how they are exposed."""

from __future__ import annotations

import re

import pytest

from tests.plans import EXAMPLE_CERTIFICATE_ARN, EXISTING_CLUSTER, TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.balancing.nginx import NGINX_IMAGE
from vllm_infra.balancing.router import ROUTER_IMAGE


def balanced_config(strategy: str = "nginx", **balancer):
    config = single_model_config(
        cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"},
        autoscaling={"minReplicas": 2, "maxReplicas": 6},
    )
    config["vllm-infra:topology"] = "load-balanced"
    # Internet-facing by default, hence with TLS (the configuration demands it); a test may override either.
    exposure = {**TLS_EXPOSURE, **balancer.pop("exposure", {})}
    config["vllm-infra:balancer"] = {"strategy": strategy, "exposure": exposure, **balancer}
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
        "vllm-infra:balancer": {"strategy": "router", "exposure": TLS_EXPOSURE},
    }


def nginx_config_map(plan):
    (config_map,) = [c for c in plan.by_type("kubernetes:core/v1:ConfigMap") if "nginx.conf" in c.inputs["data"]]
    return config_map


def gateway(plan):
    return next(d for d in plan.by_type("kubernetes:apps/v1:Deployment") if d.name.endswith("-gateway-deployment"))


def test_nginx_follows_the_pods_through_a_headless_service(tmp_path):
    plan = plan_config(tmp_path, balanced_config())
    headless = next(
        s for s in plan.by_type("kubernetes:core/v1:Service") if s.inputs["spec"].get("clusterIP") == "None"
    )
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
    assert (
        "idle_timeout.timeout_seconds=600"
        in ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"]
    )
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
    selector = containers["router"]["args"][containers["router"]["args"].index("--selector") + 1 :]
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


# --- TLS at the load balancer -----------------------------------------------------------------------------------------
def test_internet_facing_exposure_without_a_certificate_is_rejected_naming_the_key(tmp_path):
    from tests.config.test_config_errors import problems_of

    for topology_config in (balanced_config(), multi_model_config()):
        topology_config["vllm-infra:balancer"]["exposure"] = {"kind": "load-balancer"}
        (problem,) = problems_of(tmp_path, topology_config)
        assert problem.startswith("vllm-infra:balancer.exposure.tls.certificateArn: required for internet-facing")
        assert "exposure.internal: true" in problem
    ingress = balanced_config(exposure={"kind": "ingress"})
    del ingress["vllm-infra:balancer"]["exposure"]["tls"]
    (problem,) = problems_of(tmp_path, ingress)
    assert problem.startswith("vllm-infra:balancer.exposure.tls.certificateArn:")


@pytest.mark.parametrize(
    "exposure", [{"internal": True}, {"kind": "cluster-ip"}, {"kind": "ingress", "internal": True}]
)
def test_internal_or_in_cluster_exposure_needs_no_certificate(tmp_path, exposure):
    config = balanced_config()
    config["vllm-infra:balancer"]["exposure"] = exposure
    service = plan_config(tmp_path, config).one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs
    assert [p["port"] for p in service["spec"]["ports"]] == [80]
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" not in service["metadata"].get("annotations", {})


def test_a_malformed_certificate_arn_is_rejected(tmp_path):
    from tests.config.test_config_errors import problems_of

    config = balanced_config(exposure={"tls": {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}})
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:balancer.exposure.tls.certificateArn:") and "ACM certificate ARN" in problem


def test_the_nlb_terminates_tls_1_2_or_1_3_on_443_only(tmp_path):
    service = plan_config(tmp_path, balanced_config()).one("kubernetes:core/v1:Service", "us-east-1-gateway-service")
    spec, annotations = service.inputs["spec"], service.inputs["metadata"]["annotations"]
    assert [(p["name"], p["port"]) for p in spec["ports"]] == [("https", 443)]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == EXAMPLE_CERTIFICATE_ARN
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "443"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] == (
        "ELBSecurityPolicy-TLS13-1-2-2021-06"
    )
    # /healthz/model admits only the Route 53 checkers: the pods must see client addresses.
    assert (
        "preserve_client_ip.enabled=true"
        in annotations["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"]
    )


def test_the_alb_terminates_tls_on_443_only_and_reaches_the_service_on_its_port(tmp_path):
    plan = plan_config(
        tmp_path,
        balanced_config(
            exposure={
                "kind": "ingress",
                "tls": {"certificateArn": EXAMPLE_CERTIFICATE_ARN, "sslPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06"},
            }
        ),
    )
    ingress = plan.one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == EXAMPLE_CERTIFICATE_ARN
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]'
    assert annotations["alb.ingress.kubernetes.io/ssl-policy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    service = plan.one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs
    backend_port = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"]
    assert [p["port"] for p in service["spec"]["ports"]] == [backend_port]
    # Behind the ALB the client address comes from X-Forwarded-For, believed from the VPC's private ranges only.
    conf = nginx_config_map(plan).inputs["data"]["nginx.conf"]
    assert "set_real_ip_from 10.0.0.0/8;" in conf and "real_ip_header X-Forwarded-For;" in conf


# --- /healthz/model ---------------------------------------------------------------------------------------------------
def test_the_model_probe_is_cached_and_open_to_the_route53_checkers_only(tmp_path):
    from vllm_infra.balancing.nginx import route53_health_checker_cidrs

    conf = nginx_config_map(plan_config(tmp_path, balanced_config())).inputs["data"]["nginx.conf"]
    probe = conf[conf.index("location = /healthz/model {") :]
    probe = probe[: probe.index("}")]
    allowed = re.findall(r"allow (\S+);", probe)
    assert allowed == list(route53_health_checker_cidrs()) and "15.177.0.0/18" in allowed
    assert "deny all;" in probe and "proxy_cache vllm_model_probe;" in probe
    assert "proxy_cache_background_update on;" in probe and "proxy_cache_use_stale updating;" in probe
    custom = balanced_config(nginx={"modelProbeAllowCidrs": ["192.0.2.0/24"]})
    conf = nginx_config_map(plan_config(tmp_path, custom)).inputs["data"]["nginx.conf"]
    assert "allow 192.0.2.0/24;" in conf and "allow 15.177.0.0/18;" not in conf


# --- service-account tokens, images -----------------------------------------------------------------------------------
def test_only_the_router_pod_mounts_a_service_account_token(tmp_path):
    nginx_plan = plan_config(tmp_path, balanced_config())
    assert gateway(nginx_plan).inputs["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    vllm = nginx_plan.one("kubernetes:apps/v1:Deployment", "us-east-1-llama-8b").inputs["spec"]["template"]["spec"]
    assert vllm["automountServiceAccountToken"] is False
    for job in nginx_plan.by_type("kubernetes:batch/v1:Job"):
        assert job.inputs["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    for config in (balanced_config("router"), multi_model_config()):
        pod = gateway(plan_config(tmp_path, config)).inputs["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"]


def test_balancer_images_accept_a_digest_and_reject_moving_tags(tmp_path):
    from tests.config.test_config_errors import problems_of

    digest = "sha256:" + "ab" * 32
    nginx_image, router_image = f"nginx:1.29.8@{digest}", f"vllm/vllm-router:v0.1.17@{digest}"
    plan = plan_config(tmp_path, multi_model_config() | {"vllm-infra:balancer": {
        "strategy": "router", "exposure": TLS_EXPOSURE, "nginx": {"image": nginx_image},
        "router": {"image": router_image}}})  # fmt: skip
    images = {c["name"]: c["image"] for c in gateway(plan).inputs["spec"]["template"]["spec"]["containers"]}
    assert images == {"nginx": nginx_image, "router": router_image}
    for bad in ("nginx", "nginx:latest", "nginx:1.29.8@sha256:abc"):
        (problem,) = problems_of(tmp_path, balanced_config(nginx={"image": bad}))
        assert problem.startswith("vllm-infra:balancer.nginx.image:") and "sha256" in problem


# --- the multi-model router pod ---------------------------------------------------------------------------------------
def test_the_router_reaches_the_pods_through_the_key_adding_proxy(tmp_path):
    plan = plan_config(tmp_path, multi_model_config())
    containers = {c["name"]: c for c in gateway(plan).inputs["spec"]["template"]["spec"]["containers"]}
    env = {e["name"]: e.get("value") for e in containers["router"]["env"]}
    assert env["http_proxy"] == env["HTTP_PROXY"] == "http://127.0.0.1:8090"
    # Discovery's Kubernetes API calls never go through it.
    assert env["no_proxy"] == env["NO_PROXY"] and "$(KUBERNETES_SERVICE_HOST)" in env["NO_PROXY"].split(",")
    conf = nginx_config_map(plan).inputs["data"]["nginx.conf"]
    assert "listen 127.0.0.1:8090;" in conf
    assert "proxy_set_header Authorization $vllm_expected_authorization;" in conf


def test_the_router_outlives_the_nginx_drain(tmp_path):
    """nginx (the front door) drains into the router: the router's preStop waits until nginx's master is gone
    (its pid file, on a volume both containers mount), and the grace period covers nginx's wait, the longest
    request the router allows, and the router's own shutdown."""
    plan = plan_config(tmp_path, multi_model_config())
    pod = gateway(plan).inputs["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    nginx, router = containers["nginx"], containers["router"]
    nginx_stop = " ".join(nginx["lifecycle"]["preStop"]["exec"]["command"])
    router_stop = " ".join(router["lifecycle"]["preStop"]["exec"]["command"])
    assert "kill -QUIT" in nginx_stop and "while [ -e /tmp/nginx.pid ]" in nginx_stop
    (shared,) = [m for m in router["volumeMounts"] if m["name"] == "nginx-tmp"]
    (nginx_tmp,) = [m for m in nginx["volumeMounts"] if m["name"] == "nginx-tmp"]
    assert nginx_tmp["mountPath"] == "/tmp"
    assert f"while [ -e {shared['mountPath']}/nginx.pid ]" in router_stop
    delay = int(re.search(r"sleep (\d+);", nginx_stop).group(1))
    request_timeout = int(router["args"][router["args"].index("--request-timeout-secs") + 1])
    assert pod["terminationGracePeriodSeconds"] >= delay + request_timeout + 30


def test_a_single_model_router_waits_for_deregistration_before_it_stops(tmp_path):
    pod = gateway(plan_config(tmp_path, balanced_config("router"))).inputs["spec"]["template"]["spec"]
    (router,) = pod["containers"]
    assert router["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    request_timeout = int(router["args"][router["args"].index("--request-timeout-secs") + 1])
    assert pod["terminationGracePeriodSeconds"] >= request_timeout + int(
        router["lifecycle"]["preStop"]["exec"]["command"][1]
    )


def test_multi_region_needs_its_per_region_certificates_and_pins_the_tls_policy(tmp_path, shipped_plans):
    from tests.config.test_config_errors import problems_of
    from tests.topologies.test_multi_region import shipped_config

    config = shipped_config()
    config["vllm-infra:globalLoadBalancer"] = {**config["vllm-infra:globalLoadBalancer"], "tls": False}
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:globalLoadBalancer.tls: internet-facing") and "set tls: true" in problem
    services = [
        s
        for s in shipped_plans["multi-region"].by_type("kubernetes:core/v1:Service")
        if s.name.endswith("-gateway-service")
    ]
    assert len(services) == 3
    for service in services:
        annotations = service.inputs["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"] == (
            "ELBSecurityPolicy-TLS13-1-2-2021-06"
        )
        assert [p["port"] for p in service.inputs["spec"]["ports"]] == [443]
