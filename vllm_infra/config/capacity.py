"""Where a model runs: its GPU node settings in config, mapped onto the placement arithmetic of the sizer.

``GpuSpec`` is what a stack file says (``instanceType: auto`` or a pinned type, spot or on-demand, AMI, disk).
``place_model`` maps a ``ModelSpec`` onto ``vllm_infra.sizing.placement`` (which takes plain values and never imports
this package) and gets a ``GpuPlacement`` — instance type, tensor-parallel size, replicas per node;
``replica_resources`` the per-replica CPU and memory. A pinned choice that cannot fit is rejected with the numbers
(weights vs. usable GPU memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vllm_infra.config.base import ConfigModel
from vllm_infra.sizing.placement import (
    GpuPlacement,
    NodeBounds,
    PlacementRequest,
    ReplicaResources,
    fit_replica_resources,
    node_bounds,
    place,
)
from vllm_infra.sizing.quota import NodeGroupDemand, gpu_quota_needs

if TYPE_CHECKING:
    from vllm_infra.config.model import ModelSpec

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
        None,
        ge=1,
        le=1000,
        description="Node group maximum; None = what the maximum replicas need, plus the surge "
        "replica of a rolling update (ReadWriteMany cache). A smaller value is rejected.",
    )
    create_node_group: bool = Field(
        True,
        description="false when GPU nodes are provisioned elsewhere (e.g. Karpenter); pods then select the "
        "instance type only.",
    )


def placement_request(model: ModelSpec) -> PlacementRequest:
    """``model``'s stack-file settings as the plain inputs of ``vllm_infra.sizing.placement.place``: ``auto``
    becomes None (the sizer's choice), the architecture is the configured or catalog one."""
    engine = model.engine
    return PlacementRequest(
        tier=model.name,
        model_id=model.model,
        architecture=model.architecture_or_none,
        instance_type=None if model.gpu.instance_type == "auto" else model.gpu.instance_type,
        tensor_parallel_size=None if engine.tensor_parallel_size == "auto" else engine.tensor_parallel_size,
        quantization=engine.quantization,
        max_model_len=engine.max_model_len,
        max_num_seqs=engine.max_num_seqs,
        gpu_memory_utilization=engine.gpu_memory_utilization,
        kv_cache_dtype=engine.kv_cache_dtype,
        max_num_batched_tokens=engine.max_num_batched_tokens,
    )


def model_node_bounds(model: ModelSpec, placement: GpuPlacement) -> NodeBounds:
    """The node bounds of ``model``'s GPU node group (``vllm_infra.sizing.placement.node_bounds``): its initial and
    maximum replicas, the rolling update's surge replica with a ReadWriteMany cache, and ``gpu.maxNodes``.

    Raises ``ValueError`` when ``gpu.maxNodes`` is set below what the replicas need.

    Example::

        model_node_bounds(model, placement)   # NodeBounds(min_nodes=2, max_nodes=11) for 2-10 replicas, one per node
    """
    return node_bounds(
        placement,
        initial_replicas=model.initial_replicas,
        max_replicas=model.max_replicas,
        rolling_surge=model.cache.access_mode == "ReadWriteMany",
        max_nodes=model.gpu.max_nodes,
    )


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
    demands = [
        NodeGroupDemand(region.name, stack_config.placement(model).instance_type, capacity,
                        model_node_bounds(model, stack_config.placement(model)).max_nodes)
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


def place_model(model: ModelSpec, regions: Sequence[str] = ()) -> GpuPlacement:
    """Resolve ``model``'s GPU placement (``vllm_infra.sizing.placement.place``): pinned choices are checked, ``auto``
    ones sized (cheapest first); with a node group, its ``gpu.maxNodes`` is checked too.

    Raises ``ValueError`` with the numbers when a pinned instance type / tensor-parallel size cannot serve the model,
    when nothing in the catalog can, when the instance type is not offered in one of ``regions``, or when
    ``gpu.maxNodes`` is too small for the replicas.

    Example::

        place_model(ModelSpec(name="llama", model="meta-llama/Llama-3.1-70B-Instruct")).instance_type
        # 'g6e.12xlarge' (4× L40S, tensor-parallel 4)
    """
    placement = place(placement_request(model), regions)
    if model.gpu.create_node_group:
        model_node_bounds(model, placement)  # a maximum too small for the replicas fails here, before anything exists
    return placement


def replica_resources(model: ModelSpec, placement: GpuPlacement) -> ReplicaResources:
    """The pod resources of one replica: ``model.resources`` where set, else the replica's share of the node
    (``vllm_infra.sizing.placement.fit_replica_resources``).

    Raises ``ValueError`` when configured values cannot fit on the node (pods would stay Pending forever) or /dev/shm
    does not fit in the memory limit.

    Example::

        replica_resources(model, place_model(model)).memory   # e.g. '12Gi' on a g6.xlarge
    """
    spec = model.resources
    return fit_replica_resources(placement, cpu=spec.cpu, memory=spec.memory, shm_size_gib=spec.shm_size_gib)
