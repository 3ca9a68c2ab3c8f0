"""Where a model runs: its GPU node settings in config, and the placement the sizer resolves them to.

``GpuSpec`` is what a stack file says (``instanceType: auto`` or a pinned type, spot or on-demand, AMI, disk).
``place_model`` turns a ``ModelSpec`` into a ``GpuPlacement`` — instance type, tensor-parallel size, replicas per
node, per-replica CPU and memory — using ``vllm_infra.sizing``; a pinned choice that cannot fit is rejected with the
numbers (weights vs. usable GPU memory).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vllm_infra.config.base import ConfigModel

if TYPE_CHECKING:
    from vllm_infra.config.model import ModelSpec
    from vllm_infra.sizing import GpuInstanceType, MemoryBreakdown

AmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]
GPU_TIER_LABEL = "vllm-infra.io/gpu-tier"


class GpuSpec(ConfigModel):
    """The GPU nodes of one model (its tier): instance type, purchase option, AMI and disk.

    Example::

        gpu:
          instanceType: auto          # the sizer picks the cheapest type that fits
          capacityType: spot          # with an on-demand fallback group
    """

    instance_type: str = Field("auto", description="An EC2 GPU instance type, or auto (cheapest that fits).")
    capacity_type: Literal["on-demand", "spot"] = Field(
        "on-demand", description="spot adds an on-demand fallback node group of the same tier."
    )
    ami_type: AmiType = Field(
        "AL2023_x86_64_NVIDIA", description="AL2023 needs the NVIDIA device plugin (installed); Bottlerocket has it."
    )
    root_volume_gib: int = Field(
        200, ge=100, le=16384, description="Node root disk: the vLLM image unpacks to ~25 GiB, twice during updates."
    )
    max_nodes: int | None = Field(
        None, ge=1, le=1000, description="Node group maximum; None = what the maximum replicas need, plus the surge "
        "replica of a rolling update (ReadWriteMany cache). A smaller value is rejected.",
    )
    create_node_group: bool = Field(
        True, description="false when GPU nodes are provisioned elsewhere (e.g. Karpenter); pods then select the "
        "instance type only.",
    )


@dataclass(frozen=True)
class GpuPlacement:
    """Where one replica of a model runs and what it may use there.

    ``memory`` is the sizer's breakdown (None for a model outside the catalog with no architecture given, where only
    the pinned choice is known). ``cpu`` and ``memory_gib`` are the per-replica share of the node's allocatable
    capacity when the config does not set them.
    """

    tier: str
    instance: GpuInstanceType
    tensor_parallel_size: int
    memory: MemoryBreakdown | None

    @property
    def instance_type(self) -> str:
        """The EC2 instance type."""
        return self.instance.name

    @property
    def replicas_per_node(self) -> int:
        """Replicas one node hosts (GPUs per node / GPUs per replica)."""
        return self.instance.gpu_count // self.tensor_parallel_size

    @property
    def cpu_share(self) -> int:
        """Whole CPUs one replica may request on its node: the node's allocatable less its DaemonSets and room for a
        pre-warm Job, split between the replicas the node hosts (``vllm_infra.sizing.node_capacity``)."""
        from vllm_infra.sizing.node_capacity import replica_share

        return replica_share(self.instance, self.replicas_per_node).cpu

    @property
    def memory_share_gib(self) -> int:
        """Whole GiB of memory one replica may request on its node (same arithmetic as ``cpu_share``)."""
        from vllm_infra.sizing.node_capacity import replica_share

        return replica_share(self.instance, self.replicas_per_node).memory_gib

    def nodes_for(self, replicas: int) -> int:
        """Nodes needed for ``replicas`` replicas."""
        return math.ceil(replicas / self.replicas_per_node)

    def cost_per_hour(self, replicas: int) -> float:
        """On-demand $/h of the nodes ``replicas`` replicas need (the catalog's us-east-1 price)."""
        return self.nodes_for(replicas) * self.instance.price_per_hour


@dataclass(frozen=True)
class NodeBounds:
    """Minimum and maximum node count of each of a model's GPU node groups (the spot group and its on-demand fallback
    share the maximum; the fallback's minimum is 0)."""

    min_nodes: int
    max_nodes: int


def node_bounds(model: ModelSpec, placement: GpuPlacement) -> NodeBounds:
    """The node bounds a model's GPU node group needs: the minimum runs the initial replicas; the maximum runs the most
    replicas the model can have plus, with a ReadWriteMany cache, the extra replica a rolling update surges (the
    Deployment's ``maxSurge: 1, maxUnavailable: 0``). A ReadWriteOnce cache is updated with ``Recreate``: no surge.
    The pre-warm Job needs no node of its own (it fits beside a replica, or runs off the GPU nodes).

    Raises ``ValueError`` when ``gpu.maxNodes`` is set below that maximum: the autoscaler's top replicas, or the
    surge pod of every rollout at the top, would stay Pending.

    Example::

        node_bounds(model, placement)   # NodeBounds(min_nodes=2, max_nodes=11) for 2-10 replicas, one per node, RWX
    """
    surge = 1 if model.cache.access_mode == "ReadWriteMany" else 0
    min_nodes = placement.nodes_for(model.initial_replicas)
    needed = max(min_nodes, placement.nodes_for(model.max_replicas + surge))
    configured = model.gpu.max_nodes
    if configured is None:
        return NodeBounds(min_nodes, needed)
    if configured < needed:
        surge_note = " plus the rolling update's surge replica" if surge else ""
        raise ValueError(
            f"gpu.maxNodes {configured} cannot run {model.max_replicas} replica(s){surge_note} at "
            f"{placement.replicas_per_node} per {placement.instance_type} node: set it to at least {needed}, or remove "
            "it to let the stack size the node group"
        )
    return NodeBounds(min_nodes, configured)


def node_group_capacity_types(gpu: GpuSpec) -> list[Literal["spot", "on-demand"]]:
    """The purchase options of a tier's node groups: on-demand alone, or spot and its on-demand fallback."""
    return ["spot", "on-demand"] if gpu.capacity_type == "spot" else ["on-demand"]


def stack_gpu_quota_vcpus(stack_config) -> dict[str, list[dict]]:
    """Per region of ``stack_config`` (a ``StackConfig``), the EC2 vCPU quotas its GPU node groups draw from and the
    vCPUs each must allow for every group to reach its maximum (``vllm_infra.sizing.quota``). Models whose nodes come
    from elsewhere (``gpu.createNodeGroup: false``) are not counted. The stack program exports it as
    ``gpuQuotaVcpus``.

    Example::

        stack_gpu_quota_vcpus(config)
        # {'us-east-1': [{'quotaCode': 'L-DB2E81BA', 'quotaName': 'Running On-Demand G and VT instances', 'vcpus': 44}]}
    """
    from vllm_infra.sizing.quota import NodeGroupDemand, gpu_quota_needs

    demands = [
        NodeGroupDemand(region.name, stack_config.placement(model).instance_type, capacity,
                        node_bounds(model, stack_config.placement(model)).max_nodes)
        for region in stack_config.regions
        for model in stack_config.models
        if model.gpu.create_node_group
        for capacity in node_group_capacity_types(model.gpu)
    ]  # fmt: skip
    return {
        region: [{"quotaCode": need.code, "quotaName": need.name, "vcpus": need.vcpus} for need in needs]
        for region, needs in gpu_quota_needs(demands).items()
    }


def pod_node_selector(model: ModelSpec, placement: GpuPlacement) -> dict[str, str]:
    """Node labels a replica (and its cache pre-warm Job) requires: the instance type, the model's GPU tier when the
    library provisions it, and the model's own ``nodeSelector``."""
    selector = {"node.kubernetes.io/instance-type": placement.instance_type}
    if model.gpu.create_node_group:
        selector[GPU_TIER_LABEL] = placement.tier
    selector.update(model.node_selector)
    return selector


def _check_offered(instance: GpuInstanceType, regions: Sequence[str]) -> None:
    missing = [region for region in regions if not instance.offered_in(region)]
    if missing:
        raise ValueError(
            f"gpu.instanceType {instance.name} is not offered in {', '.join(missing)} (catalog): GPU nodes would "
            f"never arrive; it is offered in {', '.join(instance.regions)}"
        )


def place_model(model: ModelSpec, regions: Sequence[str] = ()) -> GpuPlacement:
    """Resolve ``model``'s GPU placement: pinned choices are checked, ``auto`` ones sized (cheapest first).

    Raises ``ValueError`` with the numbers when a pinned instance type / tensor-parallel size cannot serve the model,
    when nothing in the catalog can, or when the instance type is not offered in one of ``regions``.

    Example::

        place_model(ModelSpec(name="llama", model="meta-llama/Llama-3.1-70B-Instruct")).instance_type
        # 'g6e.12xlarge' (4× L40S, tensor-parallel 4)
    """
    from vllm_infra.sizing import UnknownCatalogEntryError

    try:
        placement = _place(model, regions)
    except UnknownCatalogEntryError as error:
        raise ValueError(f"gpu.instanceType: {error}") from None
    if model.gpu.create_node_group:
        node_bounds(model, placement)  # a maximum too small for the replicas fails here, before anything is created
    return placement


def _sizing_settings(model: ModelSpec) -> dict:
    engine = model.engine
    architecture = model.architecture_or_none
    return {
        "quantization": engine.quantization,
        "max_model_len": engine.max_model_len or architecture.max_position_embeddings,
        "max_num_seqs": engine.max_num_seqs,
        "gpu_memory_utilization": engine.gpu_memory_utilization,
        "kv_cache_dtype": engine.kv_cache_dtype,
        "max_num_batched_tokens": engine.max_num_batched_tokens,
    }


def _place(model: ModelSpec, regions: Sequence[str]) -> GpuPlacement:
    from vllm_infra.sizing import (
        InfeasibleSizing,
        check_pinned,
        gpu_instances,
        lookup_instance_type,
        size_model,
        valid_tensor_parallel_sizes,
    )

    pinned_type = None if model.gpu.instance_type == "auto" else model.gpu.instance_type
    pinned_tp = None if model.engine.tensor_parallel_size == "auto" else model.engine.tensor_parallel_size
    architecture = model.architecture_or_none

    def placement(instance_type: str, tensor_parallel_size: int, memory) -> GpuPlacement:
        instance = lookup_instance_type(instance_type)
        _check_offered(instance, regions)
        return GpuPlacement(tier=model.name, instance=instance, tensor_parallel_size=tensor_parallel_size, memory=memory)

    if architecture is None:
        if pinned_type is None or pinned_tp is None:
            raise ValueError(
                f"{model.model} is not in the model catalog: describe it under `architecture` (the numbers of its "
                "config.json) so it can be sized, or pin gpu.instanceType and engine.tensorParallelSize"
            )
        return placement(pinned_type, pinned_tp, None)

    settings = _sizing_settings(model)
    if pinned_type is not None and pinned_tp is not None:
        return placement(pinned_type, pinned_tp, check_pinned(architecture, pinned_type, pinned_tp, **settings))

    offered = [
        instance for instance in gpu_instances().values()
        if all(instance.offered_in(region) for region in regions)
        and (pinned_type is None or instance.name == pinned_type)
    ]  # fmt: skip
    if pinned_type is not None:
        _check_offered(lookup_instance_type(pinned_type), regions)
    if not offered:
        raise ValueError(
            f"no GPU instance type of the catalog is offered in every region of the stack ({', '.join(regions)}); "
            "split the regions into stacks whose regions share an instance type, or pin gpu.instanceType"
        )
    if pinned_tp is None:
        result = size_model(architecture, instance_types=[i.name for i in offered], **settings)
        if result.choice is None and pinned_type is not None:
            # One pinned instance: its own check states the numbers (weights vs. usable memory at the largest TP).
            largest_tp = max(valid_tensor_parallel_sizes(architecture, lookup_instance_type(pinned_type).gpu_count))
            check_pinned(architecture, pinned_type, largest_tp, **settings)
        choice = result.require_choice()
        return placement(choice.instance_type, choice.tensor_parallel_size, choice.memory)

    # A pinned tensor-parallel size on an automatic instance: the cheapest instance where exactly that size fits.
    for instance in sorted(offered, key=lambda i: (i.price_per_hour, i.gpu_count, i.name)):
        if instance.gpu_count < pinned_tp:
            continue
        try:
            memory = check_pinned(architecture, instance.name, pinned_tp, raise_if_infeasible=False, **settings)
        except InfeasibleSizing:
            continue  # the size is not valid for this model on this instance
        if memory.fits:
            return placement(instance.name, pinned_tp, memory)
    raise ValueError(
        f"engine.tensorParallelSize {pinned_tp}: no catalog instance type"
        f"{' offered in ' + ', '.join(regions) if regions else ''} can serve {model.model} with it; "
        "set it to auto to let the sizer choose"
    )


@dataclass(frozen=True)
class ReplicaResources:
    """What one replica's pod requests: CPU (Kubernetes quantity), memory (GiB), /dev/shm (GiB) and GPUs."""

    cpu: str
    memory_gib: int
    shm_gib: int
    gpus: int

    @property
    def memory(self) -> str:
        """Memory as a Kubernetes quantity."""
        return f"{self.memory_gib}Gi"


def replica_resources(model: ModelSpec, placement: GpuPlacement) -> ReplicaResources:
    """The pod resources of one replica: configured values, else the replica's share of the node.

    Raises ``ValueError`` when configured values cannot fit on the node (pods would stay Pending forever) or /dev/shm
    does not fit in the memory limit.
    """
    from vllm_infra.quantity import gib, parse_quantity

    spec = model.resources
    share_cpu, share_memory = placement.cpu_share, placement.memory_share_gib
    where = (
        f"on {placement.instance_type} ({placement.instance.vcpus} vCPU, {placement.instance.memory_gib:g} GiB, "
        f"{placement.replicas_per_node} replica(s) per node, after the kubelet's reserve, the node's DaemonSets and "
        "room for the cache pre-warm Job)"
    )
    memory_gib = math.ceil(gib(spec.memory)) if spec.memory else share_memory
    if memory_gib > share_memory:
        raise ValueError(f"resources.memory {spec.memory} exceeds the {share_memory} GiB one replica can get {where}")
    if spec.cpu is not None:
        cpu_value = float(parse_quantity(spec.cpu))
        if cpu_value > share_cpu:
            raise ValueError(f"resources.cpu {spec.cpu} exceeds the {share_cpu} CPUs one replica can get {where}")
    shm_gib = spec.shm_size_gib or 2 * placement.tensor_parallel_size
    if shm_gib >= memory_gib:
        raise ValueError(
            f"resources.shmSizeGib ({shm_gib}) must be below the memory limit ({memory_gib} GiB): /dev/shm counts "
            "against it"
        )
    return ReplicaResources(
        cpu=spec.cpu or str(share_cpu), memory_gib=memory_gib, shm_gib=shm_gib, gpus=placement.tensor_parallel_size
    )
