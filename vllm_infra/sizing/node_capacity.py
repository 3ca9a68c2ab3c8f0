"""What a GPU node of an EKS managed node group can give its pods: allocatable CPU and memory, and the share of it
that the GPU tier's DaemonSets and the cache pre-warm Job take.

A pod whose requests exceed what is left on its node stays Pending forever; a flat reserve guessed once (the library
used to keep 2.5 GiB and 1 CPU, which asked for 189 GiB on a g6.12xlarge that offers ~175 GiB) is how a first
``pulumi up`` ends in a 10-minute Deployment timeout. The numbers here follow what the node itself computes.

**Allocatable** = capacity − kube-reserved − hard eviction threshold (no system-reserved on the EKS AMIs):

- *kube-reserved CPU* — awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``
  ``getCPUMillicoresToReserve``: 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % of the rest
  (each range truncated to whole millicores, as the Go integer arithmetic does).
- *kube-reserved memory* — same file, ``getMemoryMebibytesToReserve``: 255 MiB + 11 MiB × maxPods, where maxPods is
  nodeadm's own ENI-based value ``default ENIs × (IPv4 per ENI − 1) + 2`` (``eni_max_pods.go``
  ``calculateStandardMaxPods``). Managed node groups then cap the kubelet's ``maxPods`` at 110 (< 30 vCPUs) or 250
  (EKS user guide, "Choosing an optimal Amazon EC2 node instance type" / max-pods precedence), but they pass that cap
  as kubelet configuration, which nodeadm does not feed back into the reserve (``withDefaultReservedResources``
  computes it before the drop-in is merged; awslabs/amazon-eks-ami#1698). The reserve therefore uses the uncapped
  value — also the larger, so the conservative one.
- *hard eviction* — ``evictionHard: memory.available: 100Mi`` (same file, ``defaultKubeletSubConfig``).
- *Bottlerocket* reserves by the same 255 MiB + 11 MiB × maxPods arithmetic but from its max-pods setting, which
  the node group caps — a smaller reserve, so the AL2023 figures are the safe bound for both AMIs (not checked
  against Bottlerocket's source here).
- *capacity* — the kernel's MemTotal is below the instance's nominal memory (page tables of all memory, firmware and
  crash-kernel reservations). Karpenter models this as ``vmMemoryOverheadPercent`` = 7.5 % (its settings reference,
  default 0.075), and its published instance-type table is exactly ``memory × 0.925 − kube-reserved − 100 MiB``.
  The one public measurement on a catalog type (pytorch/ci-infra#1082: g6.4xlarge nodes report 58,981 Mi
  allocatable) is *above* that model (57,691 Mi) and far below a 1.5 % overhead (61,624 Mi), so 7.5 % it is: a few
  GiB of host memory left idle is cheaper than a replica that never schedules.

**DaemonSets** on a GPU node (they tolerate every taint) and their requests, from the charts or add-ons the stacks
install — see ``GPU_NODE_DAEMONSETS``.

**The pre-warm Job** must fit beside a running replica: a revision change replaces the Job while the old replica
still holds the node (and, with a ReadWriteOnce cache, the volume), so every node keeps ``PREWARM_JOB_CPU_MILLICORES``
/ ``PREWARM_JOB_MEMORY_MIB`` free of replicas.

Example:
    >>> from vllm_infra.sizing import gpu_instances
    >>> node = node_allocatable(gpu_instances()["g6.12xlarge"])
    >>> (node.cpu_millicores, node.memory_mib, node.pods)
    (47810, 178933, 234)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vllm_infra.sizing.catalog import GpuInstanceType

__all__ = [
    "DaemonSetRequests",
    "EVICTION_HARD_MEMORY_MIB",
    "GPU_NODE_DAEMONSETS",
    "NodeAllocatable",
    "PREWARM_JOB_CPU_MILLICORES",
    "PREWARM_JOB_MEMORY_MIB",
    "VM_MEMORY_OVERHEAD_FRACTION",
    "ReplicaShare",
    "daemonset_requests",
    "eni_max_pods",
    "kube_reserved_cpu_millicores",
    "kube_reserved_memory_mib",
    "managed_node_group_max_pods",
    "node_allocatable",
    "replica_share",
]

#: ``evictionHard: memory.available`` of the EKS AMI kubelet configuration (nodeadm ``defaultKubeletSubConfig``).
EVICTION_HARD_MEMORY_MIB = 100
#: Share of nominal memory the kernel never reports as node capacity (Karpenter ``vmMemoryOverheadPercent`` default).
VM_MEMORY_OVERHEAD_FRACTION = 0.075
#: What the model-cache pre-warm Job requests; every GPU node keeps this free of replicas (module docstring).
PREWARM_JOB_CPU_MILLICORES = 500
PREWARM_JOB_MEMORY_MIB = 1024

# nodeadm getCPUMillicoresToReserve: (range start, range end) in millicores and the share reserved, in 1/10000.
_CPU_RESERVE_RANGES = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, None, 25))


@dataclass(frozen=True)
class DaemonSetRequests:
    """One DaemonSet that runs on every GPU node, what its pod requests, and where that number comes from."""

    name: str
    cpu_millicores: int
    memory_mib: int
    source: str


#: Every DaemonSet a stack puts on its GPU nodes (each tolerates the ``nvidia.com/gpu`` taint), with its pod's
#: requests (the sum over its containers). Some request nothing: they are listed so the budget is complete and a
#: chart that starts requesting shows up in review. ``other node agents`` is headroom for what a platform team adds
#: beyond this library (log shippers, security agents); a replica that leaves none fails on the first such agent.
GPU_NODE_DAEMONSETS: tuple[DaemonSetRequests, ...] = (
    DaemonSetRequests(
        "aws-node",
        25,
        0,
        "aws/amazon-vpc-cni-k8s charts/aws-vpc-cni/values.yaml 1.23.1: "
        "resources.requests.cpu 25m; nodeAgent.resources {}",
    ),
    DaemonSetRequests("kube-proxy", 100, 0, "EKS kube-proxy add-on DaemonSet: requests cpu 100m"),
    DaemonSetRequests(
        "eks-pod-identity-agent",
        0,
        0,
        "aws/eks-pod-identity-agent charts/eks-pod-identity-agent/values.yaml: resources {}",
    ),
    DaemonSetRequests(
        "ebs-csi-node",
        30,
        104,
        "kubernetes-sigs/aws-ebs-csi-driver chart 2.64.0: node.resources "
        "10m/40Mi (ebs-plugin), sidecar defaults 10m/32Mi (node-driver-registrar, liveness-probe)",
    ),
    DaemonSetRequests(
        "efs-csi-node", 0, 0, "kubernetes-sigs/aws-efs-csi-driver chart 4.4.1: node.resources {}, sidecars resources {}"
    ),
    DaemonSetRequests(
        "nvidia-device-plugin",
        0,
        0,
        "NVIDIA/k8s-device-plugin chart 0.17.4: resources {} (vllm_infra.components.device_plugin sets none)",
    ),
    DaemonSetRequests(
        "node-exporter",
        0,
        0,
        "prometheus-community/helm-charts prometheus-node-exporter 4.56.1: "
        "resources {}, tolerates every NoSchedule taint",
    ),
    DaemonSetRequests("other node agents", 200, 256, "headroom (this library's choice)"),
)


@dataclass(frozen=True)
class NodeAllocatable:
    """What the kubelet of one node offers pods: CPU (millicores), memory (MiB) and the pod count."""

    cpu_millicores: int
    memory_mib: int
    pods: int


@dataclass(frozen=True)
class ReplicaShare:
    """The most one replica may request on its node: whole CPUs and whole GiB of memory."""

    cpu: int
    memory_gib: int


def eni_max_pods(instance: GpuInstanceType) -> int:
    """nodeadm's ENI-based maxPods: ENIs × (IPv4 per ENI − 1) + 2 (one address per ENI is the ENI's own; +2 for the
    host-network pods aws-node and kube-proxy).

    >>> from vllm_infra.sizing import gpu_instances
    >>> eni_max_pods(gpu_instances()["g6.12xlarge"])
    234
    """
    return instance.default_enis * (instance.ipv4_per_eni - 1) + 2


def managed_node_group_max_pods(instance: GpuInstanceType) -> int:
    """The kubelet's maxPods on an EKS managed node group: the ENI value, capped at 110 below 30 vCPUs, else 250.

    >>> from vllm_infra.sizing import gpu_instances
    >>> managed_node_group_max_pods(gpu_instances()["g5.12xlarge"])
    250
    """
    return min(eni_max_pods(instance), 110 if instance.vcpus < 30 else 250)


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """CPU the kubelet reserves for itself and the container runtime (nodeadm ``getCPUMillicoresToReserve``).

    >>> kube_reserved_cpu_millicores(48)   # 60 + 10 + 10 + 110
    190
    """
    total = vcpus * 1000
    reserved = 0
    for start, end, share in _CPU_RESERVE_RANGES:
        if total <= start:
            break
        reserved += (min(total, end if end is not None else total) - start) * share // 10000
    return reserved


def kube_reserved_memory_mib(instance: GpuInstanceType) -> int:
    """Memory the kubelet reserves: 255 MiB + 11 MiB per pod of nodeadm's ENI-based maxPods (module docstring).

    >>> from vllm_infra.sizing import gpu_instances
    >>> kube_reserved_memory_mib(gpu_instances()["g6.12xlarge"])
    2829
    """
    return 11 * eni_max_pods(instance) + 255


def node_allocatable(instance: GpuInstanceType) -> NodeAllocatable:
    """Allocatable CPU, memory and pods of one EKS (AL2023/Bottlerocket managed node group) node of ``instance``."""
    capacity_mib = instance.memory_mib - math.ceil(instance.memory_mib * VM_MEMORY_OVERHEAD_FRACTION)
    return NodeAllocatable(
        cpu_millicores=instance.vcpus * 1000 - kube_reserved_cpu_millicores(instance.vcpus),
        memory_mib=capacity_mib - kube_reserved_memory_mib(instance) - EVICTION_HARD_MEMORY_MIB,
        pods=managed_node_group_max_pods(instance),
    )


def daemonset_requests() -> tuple[int, int]:
    """CPU (millicores) and memory (MiB) all of ``GPU_NODE_DAEMONSETS`` request on one GPU node together."""
    return (
        sum(d.cpu_millicores for d in GPU_NODE_DAEMONSETS),
        sum(d.memory_mib for d in GPU_NODE_DAEMONSETS),
    )


def replica_share(instance: GpuInstanceType, replicas_per_node: int) -> ReplicaShare:
    """The most each of ``replicas_per_node`` replicas may request so that all of them, the DaemonSets and a
    pre-warm Job fit the node's allocatable together.

    >>> from vllm_infra.sizing import gpu_instances
    >>> replica_share(gpu_instances()["g6.12xlarge"], 1)
    ReplicaShare(cpu=46, memory_gib=173)
    """
    if replicas_per_node < 1:
        raise ValueError(f"replicas_per_node must be at least 1, got {replicas_per_node}")
    node = node_allocatable(instance)
    daemonset_cpu, daemonset_memory = daemonset_requests()
    free_cpu = node.cpu_millicores - daemonset_cpu - PREWARM_JOB_CPU_MILLICORES
    free_memory = node.memory_mib - daemonset_memory - PREWARM_JOB_MEMORY_MIB
    return ReplicaShare(
        cpu=max(0, free_cpu // replicas_per_node // 1000),
        memory_gib=max(0, free_memory // replicas_per_node // 1024),
    )
