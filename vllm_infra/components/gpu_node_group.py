"""``GpuNodeGroup``: the EKS managed node group(s) of one GPU tier, labelled and tainted for vLLM pods."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from vllm_infra.components.options import child_options
from vllm_infra.config.addons import (
    CLUSTER_AUTOSCALER_ENABLED_TAG,
    CLUSTER_AUTOSCALER_TAG_PREFIX,
    cluster_autoscaler_tag,
)
from vllm_infra.config.capacity import GPU_TIER_LABEL, GpuSpec, node_group_capacity_types
from vllm_infra.kube.pods import GPU_RESOURCE
from vllm_infra.sizing.placement import GpuPlacement

# The device plugin chart's default node affinity selects nodes carrying this label (set by GPU feature discovery
# where it runs); setting it on the node group lets the plugin schedule without NFD.
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"

# Cluster-autoscaler auto-discovery and scale-from-zero tags (kubernetes/autoscaler cluster-autoscaler/cloudprovider/
# aws/README.md, "Auto-Discovery Setup" and "Scaling a node group to 0"; the EKS best-practices guide, "Scaling from
# 0"). The autoscaler reads them from the Auto Scaling group — tags on an EKS managed node group are not propagated
# to the group EKS creates for it — so each is an `aws.autoscaling.Tag` on that group.
NODE_TEMPLATE_LABEL_TAG_PREFIX = f"{CLUSTER_AUTOSCALER_TAG_PREFIX}node-template/label/"
NODE_TEMPLATE_TAINT_TAG_PREFIX = f"{CLUSTER_AUTOSCALER_TAG_PREFIX}node-template/taint/"
NODE_TEMPLATE_RESOURCES_TAG_PREFIX = f"{CLUSTER_AUTOSCALER_TAG_PREFIX}node-template/resources/"


def auto_discovery_tag_keys(cluster_name: str) -> list[str]:
    """The tag keys the cluster-autoscaler's ``--node-group-auto-discovery=asg:tag=...`` (Helm chart value
    ``autoDiscovery.tags``) must name to find exactly this cluster's GPU node groups.

    >>> auto_discovery_tag_keys("ml-prod")
    ['k8s.io/cluster-autoscaler/enabled', 'k8s.io/cluster-autoscaler/ml-prod']
    """
    return [CLUSTER_AUTOSCALER_ENABLED_TAG, cluster_autoscaler_tag(cluster_name)]


def node_template_tags(labels: dict[str, str], gpus: int) -> dict[str, str]:
    """The scale-from-zero tags of a GPU group whose nodes carry ``labels``, the ``nvidia.com/gpu=true:NoSchedule``
    taint and ``gpus`` GPUs: without them the autoscaler cannot tell that a pending vLLM pod (which selects the tier
    label, tolerates the taint and requests GPUs) would fit a node of an empty group, and never scales it up.

    >>> tags = node_template_tags({"vllm-infra.io/gpu-tier": "llama"}, 4)
    >>> tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]
    '4'
    """
    return {
        **{f"{NODE_TEMPLATE_LABEL_TAG_PREFIX}{key}": value for key, value in labels.items()},
        f"{NODE_TEMPLATE_TAINT_TAG_PREFIX}{GPU_RESOURCE}": "true:NoSchedule",
        f"{NODE_TEMPLATE_RESOURCES_TAG_PREFIX}{GPU_RESOURCE}": str(gpus),
    }


def _first_autoscaling_group_name(resources) -> str:
    # A managed node group has exactly one Auto Scaling group, reported once the group exists.
    group = resources[0]
    groups = group["autoscaling_groups"] if isinstance(group, dict) else group.autoscaling_groups
    first = groups[0]
    return first["name"] if isinstance(first, dict) else first.name


def _tag_slug(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.removeprefix(CLUSTER_AUTOSCALER_TAG_PREFIX).lower()).strip("-")


@dataclass
class GpuNodeGroupArgs:
    """Inputs of ``GpuNodeGroup``.

    Example::

        GpuNodeGroupArgs(cluster_name=cluster.cluster_name, node_role_arn=cluster.node_role_arn,
                         subnet_ids=cluster.subnet_ids, placement=placement, gpu=GpuSpec(), min_nodes=1, max_nodes=2)
    """

    cluster_name: pulumi.Input[str]
    """The EKS cluster (``RegionalCluster.cluster_name``, which carries a created cluster as a dependency)."""
    node_role_arn: pulumi.Input[str]
    """The IAM role the nodes run as (``RegionalCluster.node_role_arn``); make the component wait for
    ``node_role_ready``."""
    subnet_ids: pulumi.Input[list[str]]
    """Where the nodes go (``RegionalCluster.subnet_ids``, from ``vllm-infra:regions[].cluster``)."""
    placement: GpuPlacement
    """The tier name, instance type and GPUs (from the sizer, or pinned by ``vllm-infra:models[].gpu``)."""
    gpu: GpuSpec
    """Capacity type (spot adds an on-demand fallback group), AMI and root disk (``vllm-infra:models[].gpu``)."""
    min_nodes: int
    """Fewest nodes (``vllm_infra.sizing.placement.node_bounds``); the desired size starts here and is then owned by
    the cluster autoscaler (``pulumi up`` never resets it)."""
    max_nodes: int
    """Most nodes the autoscaler may reach (``node_bounds``), per group."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the managed node groups (EKS does not copy them to the Auto Scaling groups or instances); none by
    default."""


class GpuNodeGroup(pulumi.ComponentResource):
    """EKS managed node group(s) for one GPU tier.

    Nodes carry the labels ``vllm-infra.io/gpu-tier=<tier>``, the GPU model and capacity type, and the taint
    ``nvidia.com/gpu=true:NoSchedule`` so only pods that tolerate it (vLLM) land there. Groups are named with a prefix:
    changing the instance type creates the new group before the old one is deleted. With ``capacityType: spot`` an
    on-demand group of the same tier (min 0) is added as the fallback the cluster autoscaler scales when spot
    capacity is short. Each group's Auto Scaling group is tagged for the cluster autoscaler: auto-discovery
    (``auto_discovery_tag_keys``) and the node template — labels, taint, GPU count — it needs to scale an empty group
    up (``node_template_tags``).

    Example::

        GpuNodeGroup("llama-8b", GpuNodeGroupArgs(cluster_name=cluster.cluster_name,
            node_role_arn=cluster.node_role_arn, subnet_ids=cluster.subnet_ids, placement=placement,
            gpu=GpuSpec(), min_nodes=1, max_nodes=2), opts=pulumi.ResourceOptions(provider=cluster.aws_provider))
    """

    args: GpuNodeGroupArgs
    """The inputs the component was built from."""
    node_labels: dict[str, str]
    """The labels vLLM pods select the tier's nodes by."""

    def __init__(self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:gpu_node_group:GpuNodeGroup", name, None, opts)
        self.args = args
        placement = args.placement
        self.node_labels = {GPU_TIER_LABEL: placement.tier}
        self.node_group_names: list[pulumi.Output[str]] = []
        self.autoscaling_group_names: list[pulumi.Output[str]] = []
        for capacity in node_group_capacity_types(args.gpu):
            fallback = capacity != args.gpu.capacity_type
            labels = {
                **self.node_labels,
                GPU_PRESENT_LABEL: "true",
                "vllm-infra.io/gpu-model": placement.instance.gpu_model,
                "vllm-infra.io/capacity-type": capacity,
            }
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
                labels=labels,
                taints=[{"key": GPU_RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}],
                tags=dict(args.tags),
                opts=child_options(
                    self,
                    opts,
                    # The cluster autoscaler owns the desired size once the group exists.
                    ignore_changes=["scalingConfig.desiredSize"],
                ),
            )
            self.node_group_names.append(group.node_group_name)
            self.autoscaling_group_names.append(self._autoscaler_tags(f"{name}-{capacity}", group, args, labels, opts))
        self.register_outputs(
            {"node_group_names": self.node_group_names, "instance_type": placement.instance_type,
             "node_labels": self.node_labels, "autoscaling_group_names": self.autoscaling_group_names}
        )  # fmt: skip

    def _autoscaler_tags(
        self,
        name: str,
        group: aws.eks.NodeGroup,
        args: GpuNodeGroupArgs,
        labels: dict[str, str],
        opts: pulumi.ResourceOptions | None,
    ) -> pulumi.Output[str]:
        asg_name = group.resources.apply(_first_autoscaling_group_name)
        tags: list[tuple[pulumi.Input[str], str]] = [
            (CLUSTER_AUTOSCALER_ENABLED_TAG, "true"),
            # The one key not known before the cluster (its name) is.
            (pulumi.Output.from_input(args.cluster_name).apply(cluster_autoscaler_tag), "owned"),
            *node_template_tags(labels, args.placement.instance.gpu_count).items(),
        ]
        for key, value in tags:
            slug = _tag_slug(key) if isinstance(key, str) else "cluster"
            aws.autoscaling.Tag(
                f"{name}-asg-{slug}",
                autoscaling_group_name=asg_name,
                # Only the autoscaler reads these, from the group; the instances need none of them.
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=child_options(self, opts),
            )
        return asg_name
