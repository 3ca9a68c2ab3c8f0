"""Autoscaler: HPA or KEDA on per-pod vLLM load, never fighting `pulumi up` over replicas."""

from __future__ import annotations

from tests.config.test_config_errors import problems_of
from tests.offline.kube_schema import validate_object
from tests.plans import TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra import vllm_release
from vllm_infra.components.autoscaler import RUNNING, WAITING, prometheus_adapter_rules
from vllm_infra.offline.render import manifest


def autoscaled(engine="hpa", **autoscaling):
    config = single_model_config(
        cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"},
        autoscaling={"engine": engine, "minReplicas": 2, "maxReplicas": 10, **autoscaling},
    )
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    return config


def test_hpa_scales_on_running_and_waiting_requests_per_pod(tmp_path):
    plan = plan_config(tmp_path, autoscaled())
    hpa = plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    names = {m["pods"]["metric"]["name"]: m["pods"]["target"]["averageValue"] for m in hpa["metrics"]}
    assert names == {"vllm_num_requests_running": "50", "vllm_num_requests_waiting": "5"}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    deployment = plan.one("kubernetes:apps/v1:Deployment", "us-east-1-llama-8b").inputs
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    validate_object(manifest(plan.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")))


def test_the_deployment_leaves_replicas_to_the_autoscaler(tmp_path):
    plan = plan_config(tmp_path, autoscaled())
    assert "replicas" not in plan.one("kubernetes:apps/v1:Deployment", "us-east-1-llama-8b").inputs["spec"]
    fixed = plan_config(tmp_path, single_model_config())
    assert fixed.one("kubernetes:apps/v1:Deployment").inputs["spec"]["replicas"] == 1


def test_node_group_bounds_follow_the_replica_bounds(tmp_path):
    group = plan_config(tmp_path, autoscaled()).one("aws:eks/nodeGroup:NodeGroup").inputs["scalingConfig"]
    # g6.xlarge hosts one replica; a surge rollout needs one node more than the maximum.
    assert (group["minSize"], group["maxSize"]) == (2, 11)


def test_keda_scaled_object_is_valid_and_queries_the_models_metrics(tmp_path):
    plan = plan_config(tmp_path, autoscaled("keda"))
    scaled = plan.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    validate_object(manifest(scaled))
    spec = scaled.inputs["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 10)
    queries = {t["name"]: t["metadata"]["query"] for t in spec["triggers"]}
    assert set(queries) == {"running", "waiting"}
    assert RUNNING in queries["running"] and WAITING in queries["waiting"]
    for query in queries.values():
        assert 'model_name="meta-llama/Llama-3.1-8B-Instruct"' in query  # the served name (the repository id)
        assert not vllm_release.unknown_metrics_in_promql(query), query
        assert 'namespace="vllm"' in query


def test_scale_to_zero_wakes_on_the_router_request_counter(tmp_path):
    config = autoscaled("keda", minReplicas=0)
    config["vllm-infra:balancer"] = {"strategy": "router", "exposure": TLS_EXPOSURE}
    spec = plan_config(tmp_path, config).one("kubernetes:keda.sh/v1alpha1:ScaledObject").inputs["spec"]
    wake = next(t for t in spec["triggers"] if t["name"] == "router-requests")
    assert wake["metadata"]["activationThreshold"] == "0"
    assert "vllm_router_requests_total" in wake["metadata"]["query"]


def test_scale_to_zero_needs_keda(tmp_path):
    (problem,) = problems_of(tmp_path, autoscaled("hpa", minReplicas=0))
    assert "minReplicas 0 (scale to zero) needs engine: keda" in problem


def test_scale_down_window_shorter_than_the_cold_start_is_rejected(tmp_path):
    config = autoscaled(scaleDownWindowSeconds=60)
    (problem,) = problems_of(tmp_path, config)
    assert "scaleDownWindowSeconds 60 is shorter than the model's cold start" in problem
    # 8B: ~15 GiB of weights at 5 s/GiB from the pre-warmed cache plus 120 s of engine start, rounded up to 30 s.
    assert "at least 210" in problem


def test_an_autoscaled_model_cannot_also_fix_replicas(tmp_path):
    config = autoscaled()
    config["vllm-infra:models"][0]["replicas"] = 4
    (problem,) = problems_of(tmp_path, config)
    assert "the autoscaler owns the replica count" in problem


def test_adapter_rules_expose_only_series_of_the_pinned_release():
    for rule in prometheus_adapter_rules():
        series = rule["seriesQuery"].split("{", 1)[0]
        assert series in (RUNNING, WAITING) and vllm_release.is_known_metric(series)
