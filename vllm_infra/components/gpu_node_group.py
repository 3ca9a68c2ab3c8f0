"""``GpuNodeGroup``: the EKS managed node group(s) of one GPU tier, labelled and tainted for vLLM pods."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from vllm_infra.components.options import child_options
from vllm_infra.components.kube import GPU_RESOURCE
from vllm_infra.config.capacity import GPU_TIER_LABEL, GpuPlacement, GpuSpec

# The device plugin chart's default node affinity selects nodes carrying this label (set by GPU feature discovery
# where it runs); setting it on the node group lets the plugin schedule without NFD.
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"


@dataclass
class GpuNodeGroupArgs:
    """Inputs of ``GpuNodeGroup``.

    - ``placement``: the tier name, instance type and GPUs (from the sizer or pinned);
    - ``gpu``: capacity type (spot adds an on-demand fallback group), AMI, root disk;
    - ``min_nodes`` / ``max_nodes``: node bounds; the desired size starts at ``min_nodes`` and is then owned by the
      cluster autoscaler (``pulumi up`` never resets it).
    """

    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    placement: GpuPlacement
    gpu: GpuSpec
    min_nodes: int
    max_nodes: int
    tags: dict[str, str] = field(default_factory=dict)


class GpuNodeGroup(pulumi.ComponentResource):
    """EKS managed node group(s) for one GPU tier.

    Nodes carry the labels ``vllm-infra.io/gpu-tier=<tier>``, the GPU model and capacity type, and the taint
    ``nvidia.com/gpu=true:NoSchedule`` so only pods that tolerate it (vLLM) land there. Groups are named with a prefix:
    changing the instance type creates the new group before the old one is deleted. With ``capacityType: spot`` an
    on-demand group of the same tier (min 0) is added as the fallback the cluster autoscaler scales when spot
    capacity is short.

    Example::

        GpuNodeGroup("llama-8b", GpuNodeGroupArgs(cluster_name=cluster.cluster_name,
            node_role_arn=cluster.node_role_arn, subnet_ids=cluster.subnet_ids, placement=placement,
            gpu=GpuSpec(), min_nodes=1, max_nodes=2), opts=pulumi.ResourceOptions(provider=cluster.aws_provider))
    """

    node_labels: dict[str, str]

    def __init__(self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:gpu_node_group:GpuNodeGroup", name, None, opts)
        placement = args.placement
        self.node_labels = {GPU_TIER_LABEL: placement.tier}
        capacities = ["spot", "on-demand"] if args.gpu.capacity_type == "spot" else ["on-demand"]
        self.node_group_names: list[pulumi.Output[str]] = []
        for capacity in capacities:
            fallback = capacity != args.gpu.capacity_type
            group = aws.eks.NodeGroup(
                f"{name}-{capacity}",
                cluster_name=args.cluster_name,
                node_group_name_prefix=f"vllm-{placement.tier}-{capacity}-"[:37],
                node_role_arn=args.node_role_arn,
                subnet_ids=args.subnet_ids,
                instance_types=[placement.instance_type],
                ami_type=args.gpu.ami_type,
                capacity_type="SPOT" if capacity == "spot" else "ON_DEMAND",
                disk_size=args.gpu.root_volume_gib,
                scaling_config={
                    "min_size": 0 if fallback else args.min_nodes,
                    "max_size": args.max_nodes,
                    "desired_size": 0 if fallback else args.min_nodes,
                },
                update_config={"max_unavailable": 1},
                labels={
                    **self.node_labels,
                    GPU_PRESENT_LABEL: "true",
                    "vllm-infra.io/gpu-model": placement.instance.gpu_model,
                    "vllm-infra.io/capacity-type": capacity,
                },
                taints=[{"key": GPU_RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}],
                tags={
                    **args.tags,
                    "k8s.io/cluster-autoscaler/enabled": "true",
                    # Lets the cluster autoscaler scale a group up from zero knowing what its nodes offer.
                    f"k8s.io/cluster-autoscaler/node-template/label/{GPU_TIER_LABEL}": placement.tier,
                    f"k8s.io/cluster-autoscaler/node-template/taint/{GPU_RESOURCE}": "true:NoSchedule",
                    f"k8s.io/cluster-autoscaler/node-template/resources/{GPU_RESOURCE}": str(
                        placement.instance.gpu_count
                    ),
                },
                opts=child_options(
                    self,
                    opts,
                    # The cluster autoscaler owns the desired size once the group exists.
                    ignore_changes=["scalingConfig.desiredSize"],
                ),
            )
            self.node_group_names.append(group.node_group_name)
        self.register_outputs(
            {"node_group_names": self.node_group_names, "instance_type": placement.instance_type,
             "node_labels": self.node_labels}
        )  # fmt: skip
