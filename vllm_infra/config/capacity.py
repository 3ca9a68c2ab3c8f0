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
# Host memory the kubelet, the OS and the node's daemonsets keep on a GPU node, GiB (EKS reserves ~1-2 GiB plus an
# eviction threshold; the device plugin, CNI and log agents take the rest).
NODE_RESERVED_MEMORY_GIB = 2.5
NODE_RESERVED_CPU = 1


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
        None, ge=1, le=1000, description="Node group maximum; None = what the maximum replicas need, plus one."
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
        """CPUs one replica may request on its node."""
        return max(1, (self.instance.vcpus - NODE_RESERVED_CPU) // self.replicas_per_node)

    @property
    def memory_share_gib(self) -> int:
        """Memory (GiB) one replica may request on its node."""
        return int((self.instance.memory_gib - NODE_RESERVED_MEMORY_GIB) // self.replicas_per_node)

    def nodes_for(self, replicas: int) -> int:
        """Nodes needed for ``replicas`` replicas."""
        return math.ceil(replicas / self.replicas_per_node)

    def cost_per_hour(self, replicas: int) -> float:
        """On-demand $/h of the nodes ``replicas`` replicas need (the catalog's us-east-1 price)."""
        return self.nodes_for(replicas) * self.instance.price_per_hour


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
        return _place(model, regions)
    except UnknownCatalogEntryError as error:
        raise ValueError(f"gpu.instanceType: {error}") from None


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
        f"{placement.replicas_per_node} replica(s) per node)"
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
