"""Node allocatable and the replica's share of it, checked against the published inputs and Karpenter's own table.

The expected values are computed here from the vendored upstream data (``tests/data/eks-node-capacity`` and
``tests/data/eks-ami``, see their SOURCE files) with the EKS AMI formulas written out again, not taken from the
library.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import eks_node
from vllm_infra.sizing import gpu_instances
from vllm_infra.sizing.node_capacity import (
    GPU_NODE_DAEMONSETS,
    PREWARM_JOB_CPU_MILLICORES,
    PREWARM_JOB_MEMORY_MIB,
    eni_max_pods,
    managed_node_group_max_pods,
    node_allocatable,
)
from vllm_infra.sizing.placement import GpuPlacement, fit_replica_resources

DATA = Path(__file__).resolve().parents[1] / "data" / "eks-node-capacity"
# nodeadm's whole instance table, vendored once for these tests and the cross-object checks (tests/data/eks-ami).
NODEADM_INFO = {
    row["instanceType"]: row
    for row in map(json.loads, (DATA.parent / "eks-ami" / "instance-info.jsonl").read_text().splitlines())
}
ENI_MAX_PODS = dict(line.split() for line in (DATA / "eni-max-pods.txt").read_text().splitlines())
KARPENTER = json.loads((DATA / "karpenter-instance-types.json").read_text())
CATALOG = sorted(gpu_instances())
# pytorch/ci-infra#1082: g6.4xlarge nodes (EKS, us-east-1) report 58,981 Mi allocatable memory.
MEASURED_G6_4XLARGE_ALLOCATABLE_MIB = 58_981


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity.removesuffix("Mi"))


def millicores(quantity: str) -> int:
    return int(quantity.removesuffix("m")) if quantity.endswith("m") else int(float(quantity) * 1000)


def test_every_catalog_type_has_upstream_data():
    assert set(CATALOG) <= set(NODEADM_INFO) and set(CATALOG) <= set(KARPENTER) and set(CATALOG) <= set(ENI_MAX_PODS)


@pytest.mark.parametrize("name", CATALOG)
def test_catalog_node_inputs_are_the_published_ones(name):
    instance = gpu_instances()[name]
    assert (instance.default_enis, instance.ipv4_per_eni) == (
        NODEADM_INFO[name]["defaultMaxENIs"], NODEADM_INFO[name]["ipv4AddressesPerInterface"]
    )  # fmt: skip
    assert instance.memory_mib == KARPENTER[name]["karpenter.k8s.aws/instance-memory"]
    assert instance.vcpus == KARPENTER[name]["karpenter.k8s.aws/instance-cpu"]


@pytest.mark.parametrize("name", CATALOG)
def test_max_pods_reproduce_the_eks_table_and_the_managed_node_group_cap(name):
    instance = gpu_instances()[name]
    assert eni_max_pods(instance) == int(ENI_MAX_PODS[name]) == KARPENTER[name]["pods"]
    cap = 110 if instance.vcpus < 30 else 250
    assert managed_node_group_max_pods(instance) == min(int(ENI_MAX_PODS[name]), cap)


@pytest.mark.parametrize("name", CATALOG)
def test_allocatable_follows_the_eks_formulas_and_matches_karpenter(name):
    instance = gpu_instances()[name]
    info = NODEADM_INFO[name]
    memory_mib = KARPENTER[name]["karpenter.k8s.aws/instance-memory"]
    eni_pods = eks_node.eni_max_pods(info["defaultMaxENIs"], info["ipv4AddressesPerInterface"])
    expected_memory = eks_node.allocatable_memory_mib(memory_mib, eni_pods)
    expected_cpu = eks_node.allocatable_cpu_millicores(instance.vcpus)
    node = node_allocatable(instance)
    assert (node.cpu_millicores, node.memory_mib) == (expected_cpu, expected_memory)
    assert (millicores(KARPENTER[name]["cpu"]), mebibytes(KARPENTER[name]["memory"])) == (expected_cpu, expected_memory)


def test_the_g6_12xlarge_of_the_bug_report():
    # 192 GiB, 48 vCPU: the flat 2.5 GiB reserve asked for 189Gi and 47 CPUs on a node that offers 178,933 Mi.
    node = node_allocatable(gpu_instances()["g6.12xlarge"])
    assert (node.cpu_millicores, node.memory_mib, node.pods) == (48_000 - 190, 196_608 - 14_746 - 2_829 - 100, 234)


def test_the_model_does_not_overestimate_the_one_measured_node():
    assert node_allocatable(gpu_instances()["g6.4xlarge"]).memory_mib <= MEASURED_G6_4XLARGE_ALLOCATABLE_MIB


def test_the_daemonset_budget_covers_the_charts_requests():
    # Requests of the DaemonSets every GPU node runs, read from the charts/add-ons (sizing/node_capacity.py sources).
    published = {"aws-node": (25, 0), "kube-proxy": (100, 0), "ebs-csi-node": (30, 104)}
    budget = {d.name: (d.cpu_millicores, d.memory_mib) for d in GPU_NODE_DAEMONSETS}
    for name, (cpu, memory) in published.items():
        assert budget[name][0] >= cpu and budget[name][1] >= memory, name
    expected = {"aws-node", "kube-proxy", "eks-pod-identity-agent", "ebs-csi-node", "efs-csi-node",
                "nvidia-device-plugin", "node-exporter"}  # fmt: skip
    assert expected <= set(budget)


def placements(name: str):
    instance = gpu_instances()[name]
    for tensor_parallel in (1, 2, 4, 8):
        if tensor_parallel <= instance.gpu_count and instance.gpu_count % tensor_parallel == 0:
            yield GpuPlacement(tier="t", instance=instance, tensor_parallel_size=tensor_parallel, memory=None)


@pytest.mark.parametrize("name", CATALOG)
def test_replicas_daemonsets_and_a_prewarm_job_fit_every_catalog_node(name):
    daemonset_cpu = sum(d.cpu_millicores for d in GPU_NODE_DAEMONSETS)
    daemonset_memory = sum(d.memory_mib for d in GPU_NODE_DAEMONSETS)
    allocatable_cpu, allocatable_memory = millicores(KARPENTER[name]["cpu"]), mebibytes(KARPENTER[name]["memory"])
    for placement in placements(name):
        resources = fit_replica_resources(placement)  # nothing configured: the replica's share of the node
        per_node = placement.instance.gpu_count // placement.tensor_parallel_size
        cpu = per_node * millicores(resources.cpu) + daemonset_cpu + PREWARM_JOB_CPU_MILLICORES
        memory = per_node * resources.memory_gib * 1024 + daemonset_memory + PREWARM_JOB_MEMORY_MIB
        assert cpu <= allocatable_cpu, (placement.tensor_parallel_size, cpu, allocatable_cpu)
        assert memory <= allocatable_memory, (placement.tensor_parallel_size, memory, allocatable_memory)
        # The share is not thrown away either: less than one CPU / GiB per replica is left over.
        assert allocatable_cpu - cpu < per_node * 1000 and allocatable_memory - memory < per_node * 1024
        pods = per_node + len(GPU_NODE_DAEMONSETS) + 1
        assert pods <= min(int(ENI_MAX_PODS[name]), 110 if placement.instance.vcpus < 30 else 250)


def test_vendored_node_data_records_its_source():
    source = (DATA / "SOURCE.md").read_text()
    vendored = sorted(p.name for p in DATA.iterdir() if p.name != "SOURCE.md")
    assert vendored and all(f"`{name}`" in source for name in vendored)
