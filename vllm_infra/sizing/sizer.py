"""Pick the cheapest AWS GPU instance and tensor-parallel size that can serve a model with vLLM.

:func:`size_model` walks the GPU instance catalog, finds for each instance type the smallest
valid tensor-parallel size at which vLLM would start (see :mod:`vllm_infra.sizing.memory`),
and ranks the results by the instance's on-demand price. :func:`check_pinned` checks one
user-chosen (instance type, tensor-parallel size) pair and raises :class:`InfeasibleSizing`
with the numbers when it cannot work.

Example:
    >>> from vllm_infra.sizing import size_model, lookup_model
    >>> result = size_model(lookup_model("meta-llama/Llama-3.1-8B-Instruct"), max_model_len=8192)
    >>> result.choice.instance_type, result.choice.tensor_parallel_size
    ('g6.xlarge', 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vllm_infra.sizing.catalog import (
    GpuInstanceType,
    ModelArchitecture,
    gpu_instances,
    lookup_instance_type,
    lookup_model,
)
from vllm_infra.sizing.memory import (
    MemoryBreakdown,
    compute_memory_breakdown,
    quantization_label,
    resolve_quantization,
)

__all__ = [
    "InfeasibleSizing",
    "SizingOption",
    "FamilyRejection",
    "SizingResult",
    "valid_tensor_parallel_sizes",
    "size_model",
    "check_pinned",
]

DEFAULT_MAX_NUM_SEQS = 256
"""vLLM's default ``--max-num-seqs`` on GPUs below 160 GiB."""

DEFAULT_GPU_MEMORY_UTILIZATION = 0.9
"""vLLM's default ``--gpu-memory-utilization``."""


class InfeasibleSizing(ValueError):
    """A model cannot be served with the requested instance, parallelism and settings.

    The message is meant for the person who wrote the configuration: it names the model, the
    weight format, the memory numbers and what to change. ``breakdown`` carries the full
    :class:`~vllm_infra.sizing.memory.MemoryBreakdown` when one was computed.

    Example:
        >>> from vllm_infra.sizing import check_pinned, lookup_model
        >>> try:
        ...     check_pinned(lookup_model("meta-llama/Llama-3.1-70B-Instruct"), "g6.xlarge", 1,
        ...                  max_model_len=8192)
        ... except InfeasibleSizing as error:
        ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
        meta-llama/Llama-3.1-70B-Instruct in bf16 needs ~131.4 GiB of weights; g6.xlarge has
        1× L4 with 22.0 GiB usable at gpu_memory_utilization 0.90 (19.8 GiB) — choose a larger
        instance, tensor_parallel_size > 1, or quantization awq/fp8
    """

    def __init__(self, message: str, breakdown: MemoryBreakdown | None = None) -> None:
        super().__init__(message)
        self.breakdown = breakdown


@dataclass(frozen=True)
class SizingOption:
    """One way to serve the model: an instance type and the tensor-parallel size to use on it.

    ``price_per_hour`` is the whole instance (what one replica costs on a dedicated node);
    ``replicas_per_node`` is how many independent vLLM replicas of this size the node could
    host (``gpu_count // tensor_parallel_size``).

    Example:
        >>> from vllm_infra.sizing import size_model, lookup_model
        >>> option = size_model(lookup_model("meta-llama/Llama-3.1-8B-Instruct"),
        ...                     max_model_len=8192, instance_types=["g6.12xlarge"]).choice
        >>> option.tensor_parallel_size, option.replicas_per_node
        (1, 4)
    """

    instance_type: str
    gpu_model: str
    gpu_count: int
    tensor_parallel_size: int
    price_per_hour: float
    price_verified: bool
    interconnect: str
    replicas_per_node: int
    memory: MemoryBreakdown

    @property
    def price_per_replica_hour(self) -> float:
        """Instance price divided by the replicas the node can host."""
        return self.price_per_hour / self.replicas_per_node


@dataclass(frozen=True)
class FamilyRejection:
    """Why no instance of one family can serve the model, with the closest attempt.

    Example:
        >>> from vllm_infra.sizing import size_model, lookup_model
        >>> result = size_model(lookup_model("deepseek-ai/DeepSeek-V3"), max_model_len=8192)
        >>> sorted(r.family for r in result.rejections)[:3]
        ['g5', 'g6', 'g6e']
    """

    family: str
    reason: str
    closest: MemoryBreakdown | None = None
    """Breakdown of the instance/TP pair that came nearest to fitting (largest spare KV)."""


@dataclass(frozen=True)
class SizingResult:
    """Ranked ways to serve one model, cheapest instance first, plus why the rest fail.

    ``options`` holds one entry per instance type that can serve the model (at its smallest
    workable tensor-parallel size), sorted by instance price, then fewer GPUs, then
    verified-before-approximate price, then name.
    ``choice`` is the first of them, or ``None``; ``rejections`` explains, per instance family,
    why none of its sizes works.

    Example:
        >>> from vllm_infra.sizing import size_model, lookup_model
        >>> result = size_model(lookup_model("meta-llama/Llama-3.1-70B-Instruct"),
        ...                     max_model_len=8192)
        >>> result.choice.instance_type, result.choice.tensor_parallel_size
        ('g6e.12xlarge', 4)
    """

    model: ModelArchitecture
    quantization: str | None
    """Effective weight format (``None`` = unquantized 16-bit)."""
    kv_cache_dtype: str
    max_model_len: int
    max_num_seqs: int
    gpu_memory_utilization: float
    region: str | None
    options: tuple[SizingOption, ...]
    rejections: tuple[FamilyRejection, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def choice(self) -> SizingOption | None:
        """The cheapest option, or ``None`` when nothing in the catalog fits."""
        return self.options[0] if self.options else None

    @property
    def feasible(self) -> bool:
        """Whether at least one instance type can serve the model."""
        return bool(self.options)

    def require_choice(self) -> SizingOption:
        """Return :attr:`choice` or raise :class:`InfeasibleSizing` explaining every family."""
        if self.choice is not None:
            return self.choice
        label = quantization_label(self.model, self.quantization)
        where = f" in {self.region}" if self.region else ""
        lines = [
            f"no catalog instance{where} can serve {self.model.hf_id} in {label} at "
            f"max_model_len {self.max_model_len} and gpu_memory_utilization "
            f"{self.gpu_memory_utilization:.2f}:"
        ]
        lines += [f"  {rejection.family}: {rejection.reason}" for rejection in self.rejections]
        raise InfeasibleSizing("\n".join(lines))


def valid_tensor_parallel_sizes(model: ModelArchitecture, gpu_count: int) -> tuple[int, ...]:
    """Tensor-parallel sizes vLLM accepts for ``model`` on an instance with ``gpu_count`` GPUs.

    Powers of two up to ``gpu_count`` that divide ``num_attention_heads`` (vLLM's
    ``ModelConfig.verify_with_parallel_config``) and, for GQA models, either divide
    ``num_key_value_heads`` or are a multiple of it: ``QKVParallelLinear`` splits KV heads
    when ``tp < kv_heads`` and replicates each one ``tp / kv_heads`` times when
    ``tp >= kv_heads``, asserting exact divisibility either way. MLA has one latent "head"
    that every rank holds, so only the attention-head rule applies.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> valid_tensor_parallel_sizes(lookup_model("Qwen/Qwen2.5-14B-Instruct"), 8)
        (1, 2, 4, 8)
        >>> valid_tensor_parallel_sizes(lookup_model("Qwen/Qwen2.5-7B-Instruct"), 8)
        (1, 2, 4)
    """
    sizes: list[int] = []
    candidate = 1
    while candidate <= gpu_count:
        divides_heads = model.num_attention_heads % candidate == 0
        kv_heads = model.num_key_value_heads
        kv_compatible = model.attention == "mla" or kv_heads % candidate == 0 or candidate % kv_heads == 0
        if divides_heads and kv_compatible:
            sizes.append(candidate)
        candidate *= 2
    return tuple(sizes)


def _as_model(model: ModelArchitecture | str) -> ModelArchitecture:
    return lookup_model(model) if isinstance(model, str) else model


def _candidate_instances(
    region: str | None, instance_types: Sequence[str] | None
) -> tuple[list[GpuInstanceType], list[str]]:
    """Instances to consider, and families dropped because the region does not offer them."""
    if instance_types is None:
        pool = list(gpu_instances().values())
    else:
        pool = [lookup_instance_type(name) for name in dict.fromkeys(instance_types)]
    if region is None:
        return pool, []
    offered = [instance for instance in pool if instance.offered_in(region)]
    offered_families = {instance.family for instance in offered}
    missing = sorted({i.family for i in pool} - offered_families)
    return offered, missing


def _spare_kv_gib(breakdown: MemoryBreakdown) -> float:
    return breakdown.kv_budget_gib_per_gpu - breakdown.kv_gib_per_full_sequence


def _notes(model: ModelArchitecture, quantization: str | None, instances: list[GpuInstanceType]) -> tuple[str, ...]:
    notes: list[str] = []
    if quantization is not None and model.quantization is None and quantization != "fp8":
        notes.append(
            f"{quantization} needs a pre-quantized checkpoint (a separate repository); the sizes "
            f"are estimates for such a variant of {model.hf_id}"
        )
    if model.sliding_window is not None:
        notes.append(
            f"{model.hf_id} uses {model.sliding_window}-token sliding-window attention on some "
            "layers; the KV estimate treats every layer as full attention (conservative)"
        )
    if model.attention == "mla":
        notes.append(
            "MLA: the KV cache is one compressed latent per layer per token, replicated on every "
            "tensor-parallel rank, so more GPUs add weight room but not KV room per token"
        )
    unverified = sorted(i.name for i in instances if not i.price_verified)
    if unverified:
        notes.append("approximate, unverified on-demand price: " + ", ".join(unverified))
    return tuple(notes)


def size_model(
    model: ModelArchitecture | str,
    *,
    quantization: str | None = None,
    max_model_len: int,
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    kv_cache_dtype: str = "auto",
    region: str | None = None,
    instance_types: Sequence[str] | None = None,
    max_num_batched_tokens: int | None = None,
) -> SizingResult:
    """Rank the catalog's instance types that can serve ``model`` with vLLM, cheapest first.

    Inputs that matter:
        * ``model``: a :class:`ModelArchitecture` (catalog or user-described) or a catalog id.
        * ``quantization``: ``None`` keeps the checkpoint's own format; ``"fp8"`` is vLLM's
          on-the-fly FP8; ``"awq"``/``"gptq"``/``"mxfp4"`` estimate a quantized variant.
        * ``max_model_len``: at least one sequence of this length must fit in the KV cache,
          which is what vLLM checks at start-up.
        * ``max_num_seqs``, ``max_num_batched_tokens``: scale the sampler/activation overhead;
          ``max_num_batched_tokens=None`` uses vLLM's per-GPU default.
        * ``gpu_memory_utilization``, ``kv_cache_dtype``: as in vLLM.
        * ``region`` restricts to instance types the catalog lists in that region;
          ``instance_types`` restricts to the named types.

    For each instance type the smallest valid tensor-parallel size that fits is kept (more
    replicas per node). Options are ordered by instance on-demand price, then fewer GPUs,
    then verified before approximate prices, then name. Raises :class:`ValueError` for
    inconsistent settings (e.g. ``max_model_len`` beyond the model's
    ``max_position_embeddings``) and
    :class:`~vllm_infra.sizing.catalog.UnknownCatalogEntryError` for unknown names.

    Example:
        >>> from vllm_infra.sizing import size_model
        >>> result = size_model("meta-llama/Llama-3.1-70B-Instruct", quantization="fp8",
        ...                     max_model_len=16384, region="us-east-1")
        >>> result.choice.instance_type
        'g6e.12xlarge'
    """
    architecture = _as_model(model)
    effective_quantization = resolve_quantization(architecture, quantization)
    candidates, families_not_in_region = _candidate_instances(region, instance_types)

    options: list[SizingOption] = []
    closest_by_family: dict[str, MemoryBreakdown] = {}
    families_with_fit: set[str] = set()
    for instance in candidates:
        fitting: MemoryBreakdown | None = None
        for tensor_parallel_size in valid_tensor_parallel_sizes(architecture, instance.gpu_count):
            breakdown = compute_memory_breakdown(
                architecture,
                instance,
                tensor_parallel_size=tensor_parallel_size,
                quantization=effective_quantization,
                max_model_len=max_model_len,
                max_num_seqs=max_num_seqs,
                gpu_memory_utilization=gpu_memory_utilization,
                kv_cache_dtype=kv_cache_dtype,
                max_num_batched_tokens=max_num_batched_tokens,
            )
            if breakdown.fits:
                fitting = breakdown
                break
            closest = closest_by_family.get(instance.family)
            if closest is None or _spare_kv_gib(breakdown) > _spare_kv_gib(closest):
                closest_by_family[instance.family] = breakdown
        if fitting is None:
            continue
        families_with_fit.add(instance.family)
        options.append(
            SizingOption(
                instance_type=instance.name,
                gpu_model=instance.gpu_model,
                gpu_count=instance.gpu_count,
                tensor_parallel_size=fitting.tensor_parallel_size,
                price_per_hour=instance.price_per_hour,
                price_verified=instance.price_verified,
                interconnect=instance.interconnect,
                replicas_per_node=instance.gpu_count // fitting.tensor_parallel_size,
                memory=fitting,
            )
        )
    # Cheapest instance first; on a price tie prefer fewer GPUs, then a verified price (an
    # approximate price should not win a tie against a real one), then the name for stability.
    options.sort(
        key=lambda option: (
            option.price_per_hour,
            option.gpu_count,
            not option.price_verified,
            option.instance_type,
        )
    )

    rejections = [
        FamilyRejection(
            family=family,
            reason=(
                f"largest attempt {closest.instance_type} (tensor_parallel_size "
                f"{closest.tensor_parallel_size}): {closest.reason}"
            ),
            closest=closest,
        )
        for family, closest in closest_by_family.items()
        if family not in families_with_fit
    ]
    rejections += [
        FamilyRejection(family=family, reason=f"not offered in {region} (per the catalog)")
        for family in families_not_in_region
    ]
    return SizingResult(
        model=architecture,
        quantization=effective_quantization,
        kv_cache_dtype=kv_cache_dtype,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        gpu_memory_utilization=gpu_memory_utilization,
        region=region,
        options=tuple(options),
        rejections=tuple(rejections),
        notes=_notes(architecture, effective_quantization, candidates),
    )


def _join_advice(advice: list[str]) -> str:
    return advice[0] if len(advice) == 1 else ", ".join(advice[:-1]) + f", or {advice[-1]}"


def _infeasible_message(
    model: ModelArchitecture,
    instance: GpuInstanceType,
    breakdown: MemoryBreakdown,
    valid_sizes: tuple[int, ...],
) -> str:
    label = quantization_label(model, breakdown.quantization)
    tp = breakdown.tensor_parallel_size
    gpus = f"{instance.gpu_count}× {instance.gpu_model}"
    larger_tp = [size for size in valid_sizes if size > tp]
    # On this instance a larger TP may exist; otherwise more parallelism means another instance.
    more_parallelism = f"tensor_parallel_size {larger_tp[0]}" if larger_tp else f"tensor_parallel_size > {tp}"
    quantization_advice = {None: "quantization awq/fp8", "fp8": "quantization awq"}.get(breakdown.quantization)
    weight_advice = ["a larger instance", more_parallelism]
    if quantization_advice:
        weight_advice.append(quantization_advice)

    if breakdown.weights_gib_per_gpu >= breakdown.requested_gib_per_gpu:
        per_gpu = f" ({breakdown.weights_gib_per_gpu:.1f} GiB per GPU at tensor_parallel_size {tp})" if tp > 1 else ""
        return (
            f"{model.hf_id} in {label} needs ~{breakdown.weights_gib_total:.1f} GiB of weights"
            f"{per_gpu}; {instance.name} has {gpus} with {instance.usable_gib_per_gpu:.1f} GiB "
            f"usable at gpu_memory_utilization {breakdown.gpu_memory_utilization:.2f} "
            f"({breakdown.requested_gib_per_gpu:.1f} GiB) — choose " + _join_advice(weight_advice)
        )
    prefix = f"{model.hf_id} in {label} on {instance.name} ({gpus}) with tensor_parallel_size {tp}"
    if breakdown.kv_budget_gib_per_gpu <= 0:
        return f"{prefix}: {breakdown.reason} — choose " + _join_advice(weight_advice)
    kv_advice = ["lower max_model_len", "raise gpu_memory_utilization"]
    if not breakdown.kv_cache_dtype.startswith("fp8"):
        kv_advice.append("set kv_cache_dtype fp8")
    # MLA keeps the whole latent on every rank, so only a bigger GPU adds KV room per token.
    kv_advice.append(
        f"use tensor_parallel_size {larger_tp[0]}"
        if larger_tp and model.attention != "mla"
        else "choose a larger instance"
    )
    return f"{prefix}: {breakdown.reason} — " + _join_advice(kv_advice)


def check_pinned(
    model: ModelArchitecture | str,
    instance_type: str,
    tensor_parallel_size: int,
    *,
    quantization: str | None = None,
    max_model_len: int,
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
    kv_cache_dtype: str = "auto",
    max_num_batched_tokens: int | None = None,
    raise_if_infeasible: bool = True,
) -> MemoryBreakdown:
    """Check a user-pinned instance type and tensor-parallel size; return the memory plan.

    Raises :class:`InfeasibleSizing` (a :class:`ValueError`) when the tensor-parallel size is
    not valid for the model on that instance, or, with ``raise_if_infeasible`` (the default),
    when vLLM would refuse to start. The message carries the numbers and what to change.
    An unknown ``instance_type`` raises
    :class:`~vllm_infra.sizing.catalog.UnknownCatalogEntryError` with suggestions.

    Example:
        >>> from vllm_infra.sizing import check_pinned
        >>> plan = check_pinned("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
        ...                     "p5.4xlarge", 1, max_model_len=8192)
        >>> plan.fits, round(plan.weights_gib_per_gpu, 1)
        (True, 37.0)
    """
    architecture = _as_model(model)
    instance = lookup_instance_type(instance_type)
    valid_sizes = valid_tensor_parallel_sizes(architecture, instance.gpu_count)
    if tensor_parallel_size not in valid_sizes:
        raise InfeasibleSizing(
            f"tensor_parallel_size {tensor_parallel_size} is not valid for {architecture.hf_id} "
            f"on {instance.name} ({instance.gpu_count}× {instance.gpu_model}); valid sizes: "
            + ", ".join(str(size) for size in valid_sizes)
            + f" (powers of two up to the GPU count that divide the "
            f"{architecture.num_attention_heads} attention heads and are compatible with the "
            f"{architecture.num_key_value_heads} KV heads)"
        )
    breakdown = compute_memory_breakdown(
        architecture,
        instance,
        tensor_parallel_size=tensor_parallel_size,
        quantization=quantization,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        gpu_memory_utilization=gpu_memory_utilization,
        kv_cache_dtype=kv_cache_dtype,
        max_num_batched_tokens=max_num_batched_tokens,
    )
    if raise_if_infeasible and not breakdown.fits:
        raise InfeasibleSizing(_infeasible_message(architecture, instance, breakdown, valid_sizes), breakdown)
    return breakdown
