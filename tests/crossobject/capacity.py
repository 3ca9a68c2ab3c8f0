"""What a pod asks of a node, and what an EKS node (Amazon Linux 2023 AMI) offers — computed here from the AMI's own
rules, independently of the library's sizing arithmetic.

Node allocatable = capacity − kubeReserved − evictionHard (Kubernetes "Reserve Compute Resources for System
Daemons"; the AL2023 AMI sets no systemReserved). The AMI's bootstrap (nodeadm, awslabs/amazon-eks-ami
``nodeadm/internal/kubelet/config.go`` at the commit in ``tests/data/eks-ami/SOURCE``) sets:

- ``maxPods`` = defaultMaxENIs × (ipv4AddressesPerInterface − 1) + 2, from the instance facts it embeds
  (``instance-info.jsonl``, vendored) — capped, on a managed node group without a custom AMI (what the library
  creates), at 110 for instance types with fewer than 30 vCPUs and 250 otherwise (Amazon EKS User Guide, "Choose an
  optimal Amazon EC2 node instance type", section "How maxPods is determined": the cap is enforced in the node's
  user data and takes precedence);
- ``kubeReserved.memory`` = 11 MiB × maxPods + 255 MiB;
- ``kubeReserved.cpu`` = 6 % of the first core + 1 % of the second + 0.5 % of the third and fourth + 0.25 % of every
  further core;
- ``evictionHard["memory.available"]`` = 100Mi.

Capacity is the instance type's vCPUs and memory as the library's catalog (``vllm_infra.sizing``) lists them. The
kernel keeps some memory, so a node's reported memory capacity is a little below the nominal size: this check is
the lenient bound — a pod that fails it can never be scheduled. The strict bound (the kernel's 7.5 %, the reserve
from the uncapped maxPods, as Karpenter's table has it) is ``tests/eks_node.py``, which the sizing tests hold every
replica, DaemonSet and pre-warm Job to; the rules both share (maxPods, the CPU reserve) are written once, there.

A pod's request (Kubernetes "Resource sharing within containers", sidecar containers KEP-753) is, per resource, the
larger of (a) the sum of the regular and sidecar (init, ``restartPolicy: Always``) containers, and (b) each ordinary
init container plus the sidecars started before it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from tests import eks_node

INSTANCE_INFO = Path(__file__).resolve().parents[1] / "data" / "eks-ami" / "instance-info.jsonl"
EVICTION_HARD_MEMORY_MIB = eks_node.EVICTION_HARD_MEMORY_MIB
GPU_RESOURCE = "nvidia.com/gpu"

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity(value: Any) -> Fraction:
    """A Kubernetes quantity as an exact number (CPU in cores, memory in bytes): ``"500m"`` → 1/2, ``"1Gi"`` → 2**30.

    Raises ValueError for what Kubernetes would reject."""
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Fraction(match.group(1)) * _SUFFIX[match.group(2)]


@cache
def eni_max_pods(instance_type: str) -> int:
    """nodeadm's ENI-based maxPods for ``instance_type``."""
    for line in INSTANCE_INFO.read_text().splitlines():
        info = json.loads(line)
        if info["instanceType"] == instance_type:
            return eks_node.eni_max_pods(info["defaultMaxENIs"], info["ipv4AddressesPerInterface"])
    raise LookupError(f"{instance_type} is not in {INSTANCE_INFO.name}")


def max_pods(instance_type: str, vcpus: int | None = None) -> int:
    """The kubelet's maxPods on a managed-node-group AL2023 node of ``instance_type``: the ENI formula under the
    managed node group cap (110 below 30 vCPUs, else 250). ``vcpus`` defaults to the library's catalog."""
    if vcpus is None:
        from vllm_infra.sizing import lookup_instance_type

        vcpus = lookup_instance_type(instance_type).vcpus
    return eks_node.managed_node_group_max_pods(eni_max_pods(instance_type), vcpus)


#: nodeadm's kubeReserved CPU (the tests' one written-out copy, ``tests/eks_node.py``).
kube_reserved_cpu_millicores = eks_node.kube_reserved_cpu_millicores


@dataclass(frozen=True)
class Allocatable:
    """What pods may request on one node: CPU in cores, memory in bytes, GPUs."""

    instance_type: str
    cpu: Fraction
    memory: Fraction
    gpus: int
    max_pods: int

    def describe(self) -> str:
        return (
            f"{self.instance_type} allocatable: {float(self.cpu):.2f} CPU, {float(self.memory) / 2**30:.2f} GiB, "
            f"{self.gpus} GPU (maxPods {self.max_pods})"
        )


def node_allocatable(instance_type: str) -> Allocatable:
    """Allocatable of an AL2023 EKS node of ``instance_type``, from the library's catalog and the AMI's rules."""
    from vllm_infra.sizing import lookup_instance_type

    instance = lookup_instance_type(instance_type)
    pods = max_pods(instance_type, instance.vcpus)
    reserved_memory_mib = 11 * pods + 255 + EVICTION_HARD_MEMORY_MIB
    return Allocatable(
        instance_type=instance_type,
        cpu=Fraction(instance.vcpus * 1000 - kube_reserved_cpu_millicores(instance.vcpus), 1000),
        memory=Fraction(instance.memory_gib) * 2**30 - reserved_memory_mib * 2**20,
        gpus=instance.gpu_count,
        max_pods=pods,
    )


def _requests(container: dict[str, Any]) -> dict[str, Fraction]:
    resources = container.get("resources") or {}
    # A limit without a request is also the request (Kubernetes defaulting).
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: quantity(value) for name, value in merged.items()}


def _add(total: dict[str, Fraction], more: dict[str, Fraction]) -> dict[str, Fraction]:
    return {name: total.get(name, Fraction(0)) + more.get(name, Fraction(0)) for name in {*total, *more}}


def pod_requests(spec: dict[str, Any]) -> dict[str, Fraction]:
    """The pod's effective requests per resource (see the module docstring), plus ``overhead``."""
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for init in spec.get("initContainers") or []:
        if init.get("restartPolicy") == "Always":
            sidecars = _add(sidecars, _requests(init))
        else:
            during = _add(sidecars, _requests(init))
            init_peak = {name: max(init_peak.get(name, Fraction(0)), during.get(name, Fraction(0)))
                         for name in {*init_peak, *during}}  # fmt: skip
    running = sidecars
    for container in spec.get("containers") or []:
        running = _add(running, _requests(container))
    effective = {name: max(running.get(name, Fraction(0)), init_peak.get(name, Fraction(0)))
                 for name in {*running, *init_peak}}  # fmt: skip
    overhead = {name: quantity(value) for name, value in (spec.get("overhead") or {}).items()}
    return _add(effective, overhead)
