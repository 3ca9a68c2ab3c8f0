"""EC2 vCPU quotas a stack's GPU node groups draw from, and how many vCPUs each needs at the groups' maximum size.

GPU quotas are per account and region, counted in vCPUs of running (on-demand) or running-and-requested (spot)
instances, and start at 0 on new accounts: a node group whose maximum exceeds the quota gets
``VcpuLimitExceeded`` / ``MaxSpotInstanceCountExceeded`` at scale-up, long after ``pulumi up`` succeeded. The quota
codes (Service Quotas, service code ``ec2``):

=====================  ================================================  ==============
family, purchase       quota name                                        code
=====================  ================================================  ==============
G / VT, on-demand      Running On-Demand G and VT instances              ``L-DB2E81BA``
P, on-demand           Running On-Demand P instances                     ``L-417A185B``
G / VT, spot           All G and VT Spot Instance Requests               ``L-3819A6DF``
P, spot                All P Spot Instance Requests                      ``L-7212CCBC``
=====================  ================================================  ==============

(EC2 user guide, "Amazon EC2 service quotas" and "Spot Instance quotas"; check one with ``aws service-quotas
get-service-quota --service-code ec2 --quota-code L-DB2E81BA --region us-east-1``.)

Example:
    >>> demand = [NodeGroupDemand("us-east-1", "g6.12xlarge", "on-demand", 3)]
    >>> [(q.code, q.vcpus) for q in gpu_quota_needs(demand)["us-east-1"]]
    [('L-DB2E81BA', 144)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vllm_infra.sizing.catalog import lookup_instance_type

__all__ = ["GPU_QUOTAS", "NodeGroupDemand", "QuotaNeed", "gpu_quota_for", "gpu_quota_needs"]

CapacityType = Literal["on-demand", "spot"]

#: (instance family letter, purchase option) -> (quota code, quota name).
GPU_QUOTAS: dict[tuple[str, CapacityType], tuple[str, str]] = {
    ("g", "on-demand"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("p", "on-demand"): ("L-417A185B", "Running On-Demand P instances"),
    ("g", "spot"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", "spot"): ("L-7212CCBC", "All P Spot Instance Requests"),
}


@dataclass(frozen=True)
class NodeGroupDemand:
    """One GPU node group: its region, instance type, purchase option and maximum node count."""

    region: str
    instance_type: str
    capacity_type: CapacityType
    max_nodes: int


@dataclass(frozen=True)
class QuotaNeed:
    """vCPUs one quota must allow in one region for every node group drawing from it to reach its maximum."""

    code: str
    name: str
    vcpus: int


def gpu_quota_for(instance_type: str, capacity_type: CapacityType) -> tuple[str, str]:
    """The (code, name) of the vCPU quota an instance type draws from, on-demand or spot.

    >>> gpu_quota_for("p5.48xlarge", "spot")
    ('L-7212CCBC', 'All P Spot Instance Requests')
    """
    family = lookup_instance_type(instance_type).family
    key = (family[0], capacity_type)
    if family.startswith("vt"):
        key = ("g", capacity_type)  # VT shares the G quota
    if key not in GPU_QUOTAS:
        raise ValueError(f"{instance_type}: no GPU vCPU quota is known for the {family} family")
    return GPU_QUOTAS[key]


def gpu_quota_needs(groups: Iterable[NodeGroupDemand]) -> dict[str, list[QuotaNeed]]:
    """Per region, the vCPUs each quota must allow: vCPUs × maximum nodes, summed over the groups that draw from it
    (a spot group and its on-demand fallback each count at their own maximum: both can be full at once while spot
    capacity comes back). Regions and quotas are sorted, so the result is deterministic."""
    totals: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for group in groups:
        quota = gpu_quota_for(group.instance_type, group.capacity_type)
        totals[group.region][quota] += lookup_instance_type(group.instance_type).vcpus * group.max_nodes
    return {
        region: [QuotaNeed(code, name, vcpus) for (code, name), vcpus in sorted(by_quota.items())]
        for region, by_quota in sorted(totals.items())
    }
