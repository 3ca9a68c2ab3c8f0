"""``PodDisruptionBudget`` specs: how many of a workload's pods a voluntary disruption (a node drain) may take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from vllm_infra.kube.labels import label_selector

__all__ = ["pod_disruption_budget_spec"]


def pod_disruption_budget_spec(
    selector: Mapping[str, str],
    *,
    max_unavailable: int = 1,
    unhealthy_pod_eviction_policy: Literal["IfHealthyBudget", "AlwaysAllow"] | None = None,
) -> dict:
    """The spec of a PodDisruptionBudget over the pods carrying ``selector``: at most ``max_unavailable`` down at a
    time (one by default — a drain proceeds one pod after the other and a single replica can still be evicted, which
    ``minAvailable: 1`` would block forever). ``unhealthy_pod_eviction_policy`` None keeps the API's default
    (``IfHealthyBudget``); ``"AlwaysAllow"`` lets drains evict pods that never became ready.

    >>> pod_disruption_budget_spec({"app": "vllm"})
    {'selector': {'matchLabels': {'app': 'vllm'}}, 'maxUnavailable': 1}
    """
    spec: dict = {"selector": label_selector(selector), "maxUnavailable": max_unavailable}
    if unhealthy_pod_eviction_policy is not None:
        spec["unhealthyPodEvictionPolicy"] = unhealthy_pod_eviction_policy
    return spec
