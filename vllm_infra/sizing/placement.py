"""Where a model runs: instance type, tensor-parallel size, replicas per node, node bounds and per-replica resources.

Pure arithmetic over the catalogs, like the rest of ``vllm_infra.sizing``: the inputs are plain values (a
``PlacementRequest``, replica counts, requested quantities), never the pydantic config models. ``vllm_infra.config``
maps a ``ModelSpec`` onto these inputs from its validators, so a choice that cannot fit fails at validation time,
reported against the model's config key. Error messages name the stack-file keys (``gpu.instanceType``,
``engine.tensorParallelSize``, ``resources.memory``) because that is where the fix goes.

Example::

    request = PlacementRequest(tier="llama", model_id="meta-llama/Llama-3.1-8B-Instruct",
                               architecture=lookup_model("meta-llama/Llama-3.1-8B-Instruct"), max_model_len=8192)
    placement = place(request, regions=["us-east-1"])
    placement.instance_type, placement.tensor_parallel_size   # ('g6.xlarge', 1)
    fit_replica_resources(placement).memory                    # the replica's share of the node, e.g. '12Gi'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vllm_infra.kube.quantity import gib, gib_quantity, parse_quantity
from vllm_infra.sizing.catalog import (
    GpuInstanceType,
    ModelArchitecture,
    UnknownCatalogEntryError,
    gpu_instances,
    lookup_instance_type,
)
from vllm_infra.sizing.memory import MemoryBreakdown
from vllm_infra.sizing.node_capacity import replica_share
from vllm_infra.sizing.sizer import (
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DEFAULT_MAX_NUM_SEQS,
    InfeasibleSizing,
    check_pinned,
    size_model,
    valid_tensor_parallel_sizes,
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
        return replica_share(self.instance, self.replicas_per_node).cpu

    @property
    def memory_share_gib(self) -> int:
        """Whole GiB of memory one replica may request on its node (same arithmetic as ``cpu_share``)."""
        return replica_share(self.instance, self.replicas_per_node).memory_gib

    def nodes_for(self, replicas: int) -> int:
        """Nodes needed for ``replicas`` replicas."""
        return math.ceil(replicas / self.replicas_per_node)

    def cost_per_hour(self, replicas: int) -> float:
        """On-demand $/h of the nodes ``replicas`` replicas need (the catalog's us-east-1 price)."""
        return self.nodes_for(replicas) * self.instance.price_per_hour


@dataclass(frozen=True)
class PlacementRequest:
    """What ``place`` needs to know about one model, as plain values.

    - ``tier``: the model's name; it names its GPU tier (node group, node label).
    - ``model_id``: the Hugging Face id, quoted in error messages.
    - ``architecture``: the numbers of its ``config.json``; None when unknown, then both choices must be pinned.
    - ``instance_type`` / ``tensor_parallel_size``: a pinned choice, or None for the sizer's (``auto``).
    - ``max_model_len``: the context length to size the KV cache for; None = the architecture's
      ``max_position_embeddings`` (vLLM's default).
    - the rest are the vLLM engine settings the memory arithmetic depends on (``vllm_infra.sizing.memory``).
    """

    tier: str
    model_id: str
    architecture: ModelArchitecture | None
    instance_type: str | None = None
    tensor_parallel_size: int | None = None
    quantization: str | None = None
    max_model_len: int | None = None
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION
    kv_cache_dtype: str = "auto"
    max_num_batched_tokens: int | None = None

    def sizing_settings(self) -> dict:
        """The keyword arguments of ``size_model`` / ``check_pinned`` (needs a known architecture)."""
        assert self.architecture is not None
        return {
            "quantization": self.quantization,
            "max_model_len": self.max_model_len or self.architecture.max_position_embeddings,
            "max_num_seqs": self.max_num_seqs,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "kv_cache_dtype": self.kv_cache_dtype,
            "max_num_batched_tokens": self.max_num_batched_tokens,
        }


def _check_offered(instance: GpuInstanceType, regions: Sequence[str]) -> None:
    missing = [region for region in regions if not instance.offered_in(region)]
    if missing:
        raise ValueError(
            f"gpu.instanceType {instance.name} is not offered in {', '.join(missing)} (catalog): GPU nodes would "
            f"never arrive; it is offered in {', '.join(instance.regions)}"
        )


def place(request: PlacementRequest, regions: Sequence[str] = ()) -> GpuPlacement:
    """Resolve a model's GPU placement: pinned choices are checked, automatic ones sized (cheapest first), and the
    instance type must be offered in every one of ``regions``.

    Raises ``ValueError`` with the numbers when a pinned instance type / tensor-parallel size cannot serve the model,
    when nothing in the catalog can, or when the instance type is not offered in one of ``regions``.

    Example::

        hf_id = "meta-llama/Llama-3.1-70B-Instruct"
        place(PlacementRequest(tier="llama", model_id=hf_id, architecture=lookup_model(hf_id), max_model_len=8192))
        # GpuPlacement(instance_type 'g6e.12xlarge' (4× L40S), tensor_parallel_size 4)
    """
    try:
        return _place(request, regions)
    except UnknownCatalogEntryError as error:
        raise ValueError(f"gpu.instanceType: {error}") from None


def _place(request: PlacementRequest, regions: Sequence[str]) -> GpuPlacement:
    pinned_type, pinned_tp, architecture = request.instance_type, request.tensor_parallel_size, request.architecture

    def placement(instance_type: str, tensor_parallel_size: int, memory) -> GpuPlacement:
        instance = lookup_instance_type(instance_type)
        _check_offered(instance, regions)
        return GpuPlacement(tier=request.tier, instance=instance, tensor_parallel_size=tensor_parallel_size,
                            memory=memory)  # fmt: skip

    if architecture is None:
        if pinned_type is None or pinned_tp is None:
            raise ValueError(
                f"{request.model_id} is not in the model catalog: describe it under `architecture` (the numbers of its "
                "config.json) so it can be sized, or pin gpu.instanceType and engine.tensorParallelSize"
            )
        return placement(pinned_type, pinned_tp, None)

    settings = request.sizing_settings()
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
        f"{' offered in ' + ', '.join(regions) if regions else ''} can serve {request.model_id} with it; "
        "set it to auto to let the sizer choose"
    )


@dataclass(frozen=True)
class NodeBounds:
    """Minimum and maximum node count of each of a model's GPU node groups (the spot group and its on-demand fallback
    share the maximum; the fallback's minimum is 0)."""

    min_nodes: int
    max_nodes: int


def node_bounds(
    placement: GpuPlacement,
    *,
    initial_replicas: int,
    max_replicas: int,
    rolling_surge: bool,
    max_nodes: int | None = None,
) -> NodeBounds:
    """The node bounds a model's GPU node group needs: the minimum runs ``initial_replicas``; the maximum runs
    ``max_replicas`` plus, with ``rolling_surge`` (a ReadWriteMany cache, updated with the Deployment's
    ``maxSurge: 1, maxUnavailable: 0``), the extra replica a rolling update surges. A ReadWriteOnce cache is updated
    with ``Recreate``: no surge. The pre-warm Job needs no node of its own (it fits beside a replica, or runs off the
    GPU nodes). ``max_nodes`` is a configured maximum (``gpu.maxNodes``), None to size it.

    Raises ``ValueError`` when ``max_nodes`` is below that maximum: the autoscaler's top replicas, or the surge pod of
    every rollout at the top, would stay Pending.

    Example::

        node_bounds(placement, initial_replicas=2, max_replicas=10, rolling_surge=True)
        # NodeBounds(min_nodes=2, max_nodes=11) at one replica per node
    """
    surge = 1 if rolling_surge else 0
    min_nodes = placement.nodes_for(initial_replicas)
    needed = max(min_nodes, placement.nodes_for(max_replicas + surge))
    if max_nodes is None:
        return NodeBounds(min_nodes, needed)
    if max_nodes < needed:
        surge_note = " plus the rolling update's surge replica" if surge else ""
        raise ValueError(
            f"gpu.maxNodes {max_nodes} cannot run {max_replicas} replica(s){surge_note} at "
            f"{placement.replicas_per_node} per {placement.instance_type} node: set it to at least {needed}, or remove "
            "it to let the stack size the node group"
        )
    return NodeBounds(min_nodes, max_nodes)


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
        return gib_quantity(self.memory_gib)


def fit_replica_resources(
    placement: GpuPlacement, *, cpu: str | None = None, memory: str | None = None, shm_size_gib: int | None = None
) -> ReplicaResources:
    """The pod resources of one replica on ``placement``: the requested ``cpu`` / ``memory`` (Kubernetes quantities)
    and ``shm_size_gib``, each defaulting to the replica's share of the node (/dev/shm: 2 GiB per GPU).

    Raises ``ValueError`` when requested values cannot fit on the node (pods would stay Pending forever) or /dev/shm
    does not fit in the memory limit.

    Example::

        fit_replica_resources(placement, memory="24Gi").memory   # '24Gi', if one replica's share allows it
    """
    share_cpu, share_memory = placement.cpu_share, placement.memory_share_gib
    where = (
        f"on {placement.instance_type} ({placement.instance.vcpus} vCPU, {placement.instance.memory_gib:g} GiB, "
        f"{placement.replicas_per_node} replica(s) per node, after the kubelet's reserve, the node's DaemonSets and "
        "room for the cache pre-warm Job)"
    )
    memory_gib = math.ceil(gib(memory)) if memory else share_memory
    if memory_gib > share_memory:
        raise ValueError(f"resources.memory {memory} exceeds the {share_memory} GiB one replica can get {where}")
    if cpu is not None:
        cpu_value = float(parse_quantity(cpu))
        if cpu_value > share_cpu:
            raise ValueError(f"resources.cpu {cpu} exceeds the {share_cpu} CPUs one replica can get {where}")
    shm_gib = shm_size_gib or 2 * placement.tensor_parallel_size
    if shm_gib >= memory_gib:
        raise ValueError(
            f"resources.shmSizeGib ({shm_gib}) must be below the memory limit ({memory_gib} GiB): /dev/shm counts "
            "against it"
        )
    return ReplicaResources(
        cpu=cpu or str(share_cpu), memory_gib=memory_gib, shm_gib=shm_gib, gpus=placement.tensor_parallel_size
    )
