"""The NVIDIA device plugin the plan installs — its DaemonSet as its pinned chart renders it with the planned
values — runs on every planned GPU node group: without it no node advertises ``nvidia.com/gpu`` and every vLLM pod
stays Pending."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import SHIPPED_STACKS
from tests.crossobject.checks import node_labels, schedulable_on
from tests.crossobject.cluster import cluster_name, clusters
from tests.helm.charts import planned_charts, render_chart, vendored
from vllm_infra.sizing import lookup_instance_type
from vllm_infra.sizing.catalog import UnknownCatalogEntryError

DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
# The chart's other DaemonSets (MPS control daemon, GPU feature discovery) run only where their features are on.
DEVICE_PLUGIN_CONTAINER = "nvidia-device-plugin-ctr"


def _device_plugin_specs(plan) -> dict[str, list[dict]]:
    """Cluster name → the pod specs of the device-plugin DaemonSets planned for it."""
    specs: dict[str, list[dict]] = {}
    for chart in planned_charts(plan):
        if chart.chart != DEVICE_PLUGIN_CHART:
            continue
        rendered = render_chart(vendored(chart.key), chart.values, release=chart.release, namespace=chart.namespace)
        for obj in rendered.objects:
            spec = obj["spec"]["template"]["spec"] if obj["kind"] == "DaemonSet" else None
            if spec and any(c["name"] == DEVICE_PLUGIN_CONTAINER for c in spec["containers"]):
                specs.setdefault(cluster_name(plan, chart.resource), []).append(spec)
    return specs


def _is_gpu_instance_type(instance_type: str) -> bool:
    # The library's instance catalog holds every GPU type it can plan a GPU node group on, and only those.
    try:
        return lookup_instance_type(instance_type).gpu_count > 0
    except UnknownCatalogEntryError:
        return False


def _problems(node_groups, specs) -> list[str]:
    problems = []
    for group in node_groups:
        if group.get("amiType", "").startswith("BOTTLEROCKET"):
            continue  # Bottlerocket's NVIDIA variants run the device plugin themselves
        for instance_type in group.get("instanceTypes") or []:
            if not _is_gpu_instance_type(instance_type):
                continue  # a CPU node (the add-ons' system group) has no GPU to advertise
            labels = node_labels(group, instance_type)
            reasons = [schedulable_on(spec, labels, group.get("taints") or []) for spec in specs]
            if not any(not r for r in reasons):
                problems.append(f"node group {group.get('nodeGroupNamePrefix')} ({instance_type}) gets no device "
                                f"plugin: {[r for rs in reasons for r in rs] or 'none planned'}")  # fmt: skip
    return problems


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_device_plugin_runs_on_every_gpu_node_group(shipped_plans, stack):
    plan = shipped_plans[stack]
    specs = _device_plugin_specs(plan)
    problems = []
    for cluster in clusters(plan):
        assert cluster.node_groups, cluster.name
        problems += [f"[{cluster.name}] {p}" for p in _problems(cluster.node_groups, specs.get(cluster.name, []))]
    assert not problems, "\n".join(problems)


def _single(shipped_plans):
    plan = shipped_plans["single"]
    (cluster,) = clusters(plan)
    return copy.deepcopy(cluster.node_groups), _device_plugin_specs(plan)[cluster.name]


def test_a_node_group_without_the_gpu_label_gets_no_device_plugin(shipped_plans):
    groups, specs = _single(shipped_plans)
    groups[0]["labels"].pop("nvidia.com/gpu.present")
    assert _problems(groups, specs) and "nodeAffinity" in _problems(groups, specs)[0]


def test_a_taint_the_device_plugin_does_not_tolerate_fails(shipped_plans):
    groups, specs = _single(shipped_plans)
    groups[0]["taints"].append({"key": "vllm-infra.io/dedicated", "value": "inference", "effect": "NO_SCHEDULE"})
    assert _problems(groups, specs) and "vllm-infra.io/dedicated" in _problems(groups, specs)[0]


def test_no_device_plugin_planned_fails(shipped_plans):
    groups, _ = _single(shipped_plans)
    assert "none planned" in _problems(groups, [])[0]


def test_a_cpu_node_group_needs_no_device_plugin(shipped_plans):
    (cluster,) = clusters(shipped_plans["eks-created"])
    system = [g for g in cluster.node_groups if g["instanceTypes"] == ["m7i.large"]]
    assert system, "the eks-created stack plans a CPU system node group"
    assert _problems(system, []) == []
    gpu = copy.deepcopy(system[0])
    gpu["instanceTypes"] = ["g6.xlarge"]  # the same group on a GPU instance type is checked
    assert "none planned" in _problems([gpu], [])[0]
