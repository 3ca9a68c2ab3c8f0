"""PodDisruptionBudget specs (policy/v1): a label selector and ``maxUnavailable``, and the optional
``unhealthyPodEvictionPolicy`` (``IfHealthyBudget`` by default in the API, or ``AlwaysAllow``)."""

from __future__ import annotations

from tests.offline.kube_schema import validate_object
from vllm_infra.kube.disruption import pod_disruption_budget_spec


def test_one_pod_at_a_time_by_default():
    assert pod_disruption_budget_spec({"app.kubernetes.io/instance": "llama-8b"}) == {
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "llama-8b"}},
        "maxUnavailable": 1,
    }


def test_drains_may_evict_pods_that_never_became_ready():
    spec = pod_disruption_budget_spec({"app": "vllm"}, max_unavailable=2, unhealthy_pod_eviction_policy="AlwaysAllow")
    assert spec == {
        "selector": {"matchLabels": {"app": "vllm"}},
        "maxUnavailable": 2,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_the_spec_is_a_valid_pod_disruption_budget():
    validate_object({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "llama-8b-pdb", "namespace": "vllm"},
        "spec": pod_disruption_budget_spec({"app": "vllm"}, unhealthy_pod_eviction_policy="AlwaysAllow"),
    })  # fmt: skip
