"""What an EKS managed-node-group node (Amazon Linux 2023 AMI) offers its pods, written out in the tests from the
published rules, independently of the library's arithmetic (``vllm_infra.sizing.node_capacity``).
``tests/sizing/test_node_capacity.py`` checks it against Karpenter's published allocatable table for every catalog
type; the cross-object checks (``tests/crossobject/capacity.py``) share its maxPods and CPU-reserve rules and keep a
deliberately lenient memory bound of their own.

- maxPods (nodeadm ``eni_max_pods.go``): defaultMaxENIs × (ipv4AddressesPerInterface − 1) + 2 (``instance-info.jsonl``
  in ``tests/data/eks-ami``); a managed node group caps the kubelet's value at 110 below 30 vCPUs, else 250 (EKS User
  Guide, "How maxPods is determined"), but nodeadm computes the memory reserve from the uncapped value.
- kubeReserved (nodeadm ``config.go``): memory 255 MiB + 11 MiB × maxPods; CPU 6 % of the first core, 1 % of the
  second, 0.5 % of the third and fourth, 0.25 % of the rest (whole millicores per range, Go integer arithmetic).
- evictionHard memory.available: 100 MiB.
- The kernel's share of memory: 7.5 % of the nominal size (Karpenter's ``vmMemoryOverheadPercent``; its table is
  exactly nominal × 0.925 − kubeReserved − evictionHard).
"""

from __future__ import annotations

import math

EVICTION_HARD_MEMORY_MIB = 100
VM_MEMORY_OVERHEAD_PERCENT = 7.5


def eni_max_pods(default_enis: int, ipv4_per_eni: int) -> int:
    """nodeadm's ENI-based maxPods (uncapped)."""
    return default_enis * (ipv4_per_eni - 1) + 2


def managed_node_group_max_pods(eni_pods: int, vcpus: int) -> int:
    """The kubelet's maxPods on a managed node group: the ENI value under the 110 / 250 cap."""
    return min(eni_pods, 110 if vcpus < 30 else 250)


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """nodeadm's kubeReserved CPU for ``vcpus`` cores, in millicores."""
    total = vcpus * 1000
    first = min(total, 1000) * 6 // 100
    second = max(0, min(total, 2000) - 1000) * 1 // 100
    third_fourth = max(0, min(total, 4000) - 2000) * 5 // 1000
    rest = max(0, total - 4000) * 25 // 10000
    return first + second + third_fourth + rest


def allocatable_memory_mib(memory_mib: int, eni_pods: int) -> int:
    """Allocatable memory of a node of ``memory_mib`` nominal memory whose ENI-based maxPods is ``eni_pods``."""
    kernel = math.ceil(memory_mib * VM_MEMORY_OVERHEAD_PERCENT / 100)
    return memory_mib - kernel - (255 + 11 * eni_pods) - EVICTION_HARD_MEMORY_MIB


def allocatable_cpu_millicores(vcpus: int) -> int:
    """Allocatable CPU of a node of ``vcpus`` cores, in millicores."""
    return vcpus * 1000 - kube_reserved_cpu_millicores(vcpus)
