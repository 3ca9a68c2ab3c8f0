"""Per-GPU memory arithmetic for serving a model with vLLM: weights, overhead, KV cache.

Everything here is plain arithmetic on :class:`~vllm_infra.sizing.catalog.ModelArchitecture`
and :class:`~vllm_infra.sizing.catalog.GpuInstanceType`; nothing touches a GPU. All sizes are
reported in GiB (2**30 bytes); intermediate values are bytes.

The model mirrors how vLLM 0.33 decides, at engine start-up, how much KV cache it gets
(``vllm/v1/worker/gpu_worker.py: determine_available_memory``) and whether it may start
(``vllm/v1/core/kv_cache_planning.py: check_enough_kv_cache_memory``, which raises "To serve
at least one request with the model's max seq len (...) ... GiB KV cache is needed, which is
larger than the available KV cache memory"; in older releases this check lived in
``kv_cache_utils.py`` and said "... is larger than the maximum number of tokens that can be
stored in KV cache")::

    requested       = usable_gib_per_gpu * gpu_memory_utilization
    weights per GPU = weight_bytes(model, quantization) / tensor_parallel_size
    overhead        = fixed runtime + TP communication + activations + sampler   (per GPU)
    KV budget       = requested - weights per GPU - overhead
    page            = 16 tokens * KV bytes per token per GPU                      (one block)
    fits            iff  ceil(max_model_len / 16) * page  <=  KV budget - page
                         (vLLM keeps one "null" block out of the pool)
    max concurrent full-length sequences = (floor(KV budget / page) - 1) // ceil(max_model_len / 16)

Example:
    >>> from vllm_infra.sizing import lookup_model, gpu_instances
    >>> from vllm_infra.sizing.memory import compute_memory_breakdown
    >>> breakdown = compute_memory_breakdown(
    ...     lookup_model("meta-llama/Llama-3.1-8B-Instruct"), gpu_instances()["g6.xlarge"],
    ...     tensor_parallel_size=1, quantization=None, max_model_len=8192, max_num_seqs=256,
    ...     gpu_memory_utilization=0.90)
    >>> breakdown.fits, round(breakdown.weights_gib_per_gpu, 2)
    (True, 14.96)
    >>> breakdown.kv_bytes_per_token_per_gpu
    131072
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from vllm_infra.sizing.catalog import (
    CheckpointQuantization,
    GpuInstanceType,
    ModelArchitecture,
)

__all__ = [
    "GIB",
    "KV_CACHE_BLOCK_TOKENS",
    "SERVING_DTYPE_BYTES",
    "DEFAULT_INT4_GROUP_SIZE",
    "MXFP4_BLOCK_SIZE",
    "FIXED_RUNTIME_OVERHEAD_GIB",
    "TENSOR_PARALLEL_COMM_OVERHEAD_GIB",
    "KvCacheDtype",
    "MemoryBreakdown",
    "normalize_quantization",
    "resolve_quantization",
    "bytes_per_parameter",
    "weight_bytes",
    "kv_cache_dtype_bytes",
    "kv_cache_bytes_per_token",
    "activation_overhead_bytes",
    "sampler_overhead_bytes",
    "runtime_overhead_bytes",
    "compute_memory_breakdown",
    "quantization_label",
]

GIB: int = 1 << 30
"""Bytes in one GiB. Every ``*_gib`` value in this package uses it."""

KV_CACHE_BLOCK_TOKENS: int = 16
"""vLLM's default KV-cache block size in tokens (``CacheConfig.DEFAULT_BLOCK_SIZE``).

KV memory is allocated in whole blocks, so a sequence costs ``ceil(len / 16)`` blocks."""

SERVING_DTYPE_BYTES: int = 2
"""Bytes per unquantized weight and activation. vLLM's ``--dtype auto`` serves bf16/fp16
checkpoints as-is and downcasts float32 checkpoints to bf16, so it is 2 in every case."""

DEFAULT_INT4_GROUP_SIZE: int = 128
"""Group size assumed for AWQ/GPTQ when the checkpoint does not say (128 is the de-facto
default of AutoAWQ, AutoGPTQ and llm-compressor W4A16)."""

MXFP4_BLOCK_SIZE: int = 32
"""Elements sharing one 8-bit E8M0 scale in OCP MXFP4 (the gpt-oss expert weight format)."""

FIXED_RUNTIME_OVERHEAD_GIB: float = 1.5
"""Per-GPU memory vLLM uses besides weights, activations and KV cache, GiB.

Why 1.5: vLLM counts "non-torch" memory (CUDA context remnants, cuBLAS/cuBLASLt and
FlashInfer/FlashAttention workspaces; typically 0.3-0.7 GiB) against the KV budget, and since
v0.21 it also reserves the CUDA-graph memory it measures before sizing the KV cache
(``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1``; typically 0.5-1.0 GiB with the default capture
sizes up to 512). 0.5 + 1.0 is the upper end of what start-up logs show for dense 7B-70B models."""

TENSOR_PARALLEL_COMM_OVERHEAD_GIB: float = 0.5
"""Extra per-GPU memory once ``tensor_parallel_size > 1``, GiB: NCCL communicator buffers plus
vLLM's custom all-reduce IPC buffers, which appear as non-torch memory on every rank."""

_ACTIVATION_REPLICATED_HIDDEN_TENSORS: int = 4
_ACTIVATION_SHARDED_HIDDEN_TENSORS: int = 12
_SAMPLER_FLOAT32_COPIES: int = 2

KvCacheDtype = Literal["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2"]
"""Values of vLLM's ``--kv-cache-dtype`` the sizer understands ("auto" = model dtype)."""

_QUANTIZATION_ALIASES: dict[str, CheckpointQuantization] = {
    "fp8": "fp8",
    "awq": "awq",
    "awq_marlin": "awq",
    "gptq": "gptq",
    "gptq_marlin": "gptq",
    "mxfp4": "mxfp4",
}
_NO_QUANTIZATION = {"none", "bf16", "bfloat16", "fp16", "float16", "auto", ""}


def normalize_quantization(quantization: str | None) -> CheckpointQuantization | None:
    """Map vLLM ``--quantization`` spellings onto the formats the sizer knows.

    ``awq_marlin``/``gptq_marlin`` are kernels for the same on-disk format, so they cost the
    same memory as ``awq``/``gptq``. ``None``, ``"none"``, ``"bf16"`` and ``"fp16"`` mean
    unquantized.

    Example:
        >>> normalize_quantization("AWQ_Marlin"), normalize_quantization("none")
        ('awq', None)
    """
    if quantization is None:
        return None
    key = quantization.strip().lower()
    if key in _NO_QUANTIZATION:
        return None
    if key not in _QUANTIZATION_ALIASES:
        known = ", ".join(sorted(set(_QUANTIZATION_ALIASES) | {"none"}))
        raise ValueError(f"unknown quantization {quantization!r}; expected one of: {known}")
    return _QUANTIZATION_ALIASES[key]


def resolve_quantization(model: ModelArchitecture, requested: str | None) -> CheckpointQuantization | None:
    """The weight format vLLM will actually hold in memory for ``model``.

    A pre-quantized checkpoint keeps its own format; asking for a different one is an error
    because vLLM cannot re-quantize it. For a 16-bit checkpoint, ``fp8`` is applied on the
    fly by vLLM; ``awq``/``gptq``/``mxfp4`` are "what if I used a quantized variant of this
    model" estimates (such variants are separate repositories).

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> resolve_quantization(lookup_model("openai/gpt-oss-20b"), None)
        'mxfp4'
    """
    wanted = normalize_quantization(requested)
    if model.quantization is None:
        return wanted
    if wanted is None or wanted == model.quantization:
        return model.quantization
    raise ValueError(
        f"{model.hf_id} is a pre-quantized {model.quantization} checkpoint; vLLM cannot serve "
        f"it as {wanted}. Drop the quantization setting or pick a different checkpoint."
    )


def bytes_per_parameter(quantization: CheckpointQuantization | None, *, group_size: int | None = None) -> float:
    """Average bytes one quantized weight occupies in GPU memory, scales included.

    * unquantized (bf16/fp16): 2
    * ``fp8``: 1. Per-tensor/per-channel scales, or DeepSeek's one fp32 scale per 128x128
      block (4 bytes per 16384 weights, 0.02 %), are negligible.
    * ``awq`` / ``gptq`` int4 with group size g: 0.5 for the packed 4-bit value, plus per
      group one fp16 scale (2 bytes) and one packed 4-bit zero point (0.5 bytes):
      ``0.5 + 2.5 / g`` = 0.51953 for g = 128. A commonly quoted 0.5625 (4.5 bits) is what a
      16-bit scale per 32 weights would cost; at g = 128 it over-states int4 weights by 8 %.
      GPTQ's per-row ``g_idx`` (4 bytes per input row) adds < 0.1 % and is ignored.
    * ``mxfp4``: 4-bit E2M1 value plus one 8-bit E8M0 scale per 32 elements:
      ``0.5 + 1 / 32`` = 0.53125.

    Example:
        >>> bytes_per_parameter(None), bytes_per_parameter("fp8"), bytes_per_parameter("awq")
        (2.0, 1.0, 0.51953125)
    """
    if quantization is None:
        return float(SERVING_DTYPE_BYTES)
    if quantization == "fp8":
        return 1.0
    if quantization in ("awq", "gptq"):
        group = group_size or DEFAULT_INT4_GROUP_SIZE
        scale_and_zero_bytes_per_group = 2.0 + 0.5
        return 0.5 + scale_and_zero_bytes_per_group / group
    if quantization == "mxfp4":
        return 0.5 + 1.0 / MXFP4_BLOCK_SIZE
    raise ValueError(f"unknown quantization {quantization!r}")


def weight_bytes(model: ModelArchitecture, quantization: str | None = None) -> int:
    """Bytes of model weights held in GPU memory, summed over all tensor-parallel ranks.

    ``weights = unquantized_params * 2 + (total_params - unquantized_params) * bytes_per_parameter``

    where ``unquantized_params`` is the catalog value when given (gpt-oss keeps attention and
    router in bf16) or else the embedding and lm_head, which vLLM's fp8/AWQ/GPTQ paths leave
    16-bit. MoE models count every expert: all of them are resident.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> round(weight_bytes(lookup_model("meta-llama/Llama-3.1-70B-Instruct")) / GIB, 1)
        131.4
    """
    effective = resolve_quantization(model, quantization)
    if effective is None:
        return model.total_params * SERVING_DTYPE_BYTES
    kept_16bit = (
        model.unquantized_params
        if model.unquantized_params is not None
        else min(model.embedding_params, model.total_params)
    )
    quantized = model.total_params - kept_16bit
    per_param = bytes_per_parameter(effective, group_size=model.quantization_group_size)
    return math.ceil(kept_16bit * SERVING_DTYPE_BYTES + quantized * per_param)


def kv_cache_dtype_bytes(kv_cache_dtype: str = "auto") -> int:
    """Bytes per KV-cache element: 2 for ``auto``/bf16/fp16 (the serving dtype), 1 for fp8.

    Example:
        >>> kv_cache_dtype_bytes("auto"), kv_cache_dtype_bytes("fp8_e4m3")
        (2, 1)
    """
    if kv_cache_dtype not in get_args(KvCacheDtype):
        raise ValueError(
            f"unknown kv_cache_dtype {kv_cache_dtype!r}; expected one of " + ", ".join(get_args(KvCacheDtype))
        )
    return 1 if kv_cache_dtype.startswith("fp8") else SERVING_DTYPE_BYTES


def kv_cache_bytes_per_token(
    model: ModelArchitecture, *, kv_cache_dtype: str = "auto", tensor_parallel_size: int = 1
) -> int:
    """KV-cache bytes one token occupies on each GPU of a tensor-parallel group.

    * GQA/MHA/MQA: ``2 (K and V) * layers * kv_heads_per_gpu * head_dim * dtype_bytes`` with
      ``kv_heads_per_gpu = max(1, num_key_value_heads // tensor_parallel_size)``: KV heads are
      split across ranks, and replicated when there are fewer heads than ranks
      (``ModelConfig.get_num_kv_heads`` in vLLM).
    * MLA (DeepSeek-V2/V3): ``layers * (kv_lora_rank + qk_rope_head_dim) * dtype_bytes``; the
      compressed latent is one vector per token (no separate V) and every rank stores all of it,
      so tensor parallelism does not shrink it.
    * Sliding-window layers (gpt-oss, Mistral variants) are counted as full attention, which
      over-estimates their KV cache; the estimate errs on the safe side.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> kv_cache_bytes_per_token(lookup_model("meta-llama/Llama-3.1-70B-Instruct"))
        327680
        >>> deepseek = lookup_model("deepseek-ai/DeepSeek-V3")
        >>> kv_cache_bytes_per_token(deepseek, tensor_parallel_size=8)
        70272
    """
    if tensor_parallel_size < 1:
        raise ValueError("tensor_parallel_size must be >= 1")
    element_bytes = kv_cache_dtype_bytes(kv_cache_dtype)
    if model.attention == "mla":
        assert model.kv_lora_rank is not None and model.qk_rope_head_dim is not None
        latent_width = model.kv_lora_rank + model.qk_rope_head_dim
        return model.num_hidden_layers * latent_width * element_bytes
    kv_heads_per_gpu = max(1, model.num_key_value_heads // tensor_parallel_size)
    return 2 * model.num_hidden_layers * kv_heads_per_gpu * model.head_dim * element_bytes


def activation_overhead_bytes(
    model: ModelArchitecture, *, max_num_batched_tokens: int, tensor_parallel_size: int = 1
) -> int:
    """Peak activation memory of one forward pass over ``max_num_batched_tokens`` tokens.

    vLLM profiles a dummy batch of ``max_num_batched_tokens`` tokens and subtracts its peak
    from the KV budget. The estimate counts hidden-width bf16 tensors alive at the MLP peak:
    about 4 that every rank holds in full (residual, layer input, norm output, all-reduced
    output) and about 12 that tensor parallelism splits (QKV ~1.5, gate+up ~7 and the
    activated product ~3.5 widths for a Llama-style MLP with intermediate ~3.5x hidden)::

        tokens * hidden_size * 2 bytes * (4 + 12 / tensor_parallel_size)

    For Llama-3.1-8B at 2048 tokens that is 0.25 GiB; for 70B at TP=4 and 8192 tokens 0.88 GiB.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> m = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
        >>> activation_overhead_bytes(m, max_num_batched_tokens=2048) / GIB
        0.25
    """
    hidden_tensors = _ACTIVATION_REPLICATED_HIDDEN_TENSORS + _ACTIVATION_SHARDED_HIDDEN_TENSORS / tensor_parallel_size
    bytes_per_token = model.hidden_size * SERVING_DTYPE_BYTES * hidden_tensors
    return math.ceil(max_num_batched_tokens * bytes_per_token)


def sampler_overhead_bytes(model: ModelArchitecture, *, max_num_seqs: int, max_num_batched_tokens: int) -> int:
    """Memory of the sampler's dummy run: float32 logits (and probabilities) over the vocabulary.

    vLLM's start-up profile samples ``min(max_num_seqs, max_num_batched_tokens)`` requests at
    once; each needs ``vocab_size`` float32 logits and a same-sized softmax buffer::

        min(max_num_seqs, max_num_batched_tokens) * vocab_size * 4 bytes * 2

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> m = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
        >>> round(sampler_overhead_bytes(m, max_num_seqs=256, max_num_batched_tokens=2048) / GIB, 3)
        0.245
    """
    sampled_requests = min(max_num_seqs, max_num_batched_tokens)
    return sampled_requests * model.vocab_size * 4 * _SAMPLER_FLOAT32_COPIES


def runtime_overhead_bytes(
    model: ModelArchitecture,
    *,
    tensor_parallel_size: int,
    max_num_batched_tokens: int,
    max_num_seqs: int,
) -> int:
    """Everything per GPU that is neither weights nor KV cache, in bytes.

    ``FIXED_RUNTIME_OVERHEAD_GIB`` + ``TENSOR_PARALLEL_COMM_OVERHEAD_GIB`` (only when
    ``tensor_parallel_size > 1``) + :func:`activation_overhead_bytes` +
    :func:`sampler_overhead_bytes`.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> m = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
        >>> round(runtime_overhead_bytes(m, tensor_parallel_size=1, max_num_batched_tokens=2048,
        ...                              max_num_seqs=256) / GIB, 3)
        1.995
    """
    fixed_gib = FIXED_RUNTIME_OVERHEAD_GIB + (TENSOR_PARALLEL_COMM_OVERHEAD_GIB if tensor_parallel_size > 1 else 0.0)
    return (
        math.ceil(fixed_gib * GIB)
        + activation_overhead_bytes(
            model,
            max_num_batched_tokens=max_num_batched_tokens,
            tensor_parallel_size=tensor_parallel_size,
        )
        + sampler_overhead_bytes(model, max_num_seqs=max_num_seqs, max_num_batched_tokens=max_num_batched_tokens)
    )


def quantization_label(model: ModelArchitecture, quantization: str | None) -> str:
    """Short human label of the weight format: ``bf16``, ``fp16``, ``fp8``, ``awq int4`` ...

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> quantization_label(lookup_model("meta-llama/Llama-3.1-8B-Instruct"), None)
        'bf16'
    """
    effective = resolve_quantization(model, quantization)
    if effective is None:
        return "fp16" if model.dtype == "float16" else "bf16"
    return {"fp8": "fp8", "awq": "awq int4", "gptq": "gptq int4", "mxfp4": "mxfp4"}[effective]


@dataclass(frozen=True)
class MemoryBreakdown:
    """Per-GPU memory plan of one model on one instance type at one tensor-parallel size.

    All ``*_gib`` fields are GiB per GPU unless the name says ``total``. ``fits`` is vLLM's
    start-up condition (one full ``max_model_len`` sequence fits in the KV cache, after
    weights and overhead); ``reason`` says why in words, with the numbers.

    Example:
        >>> from vllm_infra.sizing import check_pinned, lookup_model
        >>> b = check_pinned(lookup_model("meta-llama/Llama-3.1-8B-Instruct"), "g5.xlarge", 1,
        ...                  max_model_len=8192)
        >>> b.fits, b.max_concurrent_full_sequences >= 1
        (True, True)
    """

    model_id: str
    instance_type: str
    gpu_model: str
    tensor_parallel_size: int
    quantization: str | None
    """Effective weight format (``None`` = unquantized 16-bit)."""
    kv_cache_dtype: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    usable_gib_per_gpu: float
    requested_gib_per_gpu: float
    """``usable_gib_per_gpu * gpu_memory_utilization``: what vLLM allows itself to use."""
    weights_gib_total: float
    weights_gib_per_gpu: float
    overhead_gib: float
    """Runtime + TP communication + activations + sampler, per GPU."""
    kv_budget_gib_per_gpu: float
    """May be negative when weights and overhead already exceed the requested memory."""
    kv_bytes_per_token_per_gpu: int
    kv_gib_per_full_sequence: float
    """KV cache one ``max_model_len`` sequence needs on each GPU (whole 16-token blocks)."""
    kv_capacity_tokens: int
    """Tokens the KV cache holds on this replica (usable blocks * 16; 0 if it does not fit)."""
    max_concurrent_full_sequences: int
    """How many ``max_model_len`` sequences fit at once; 0 when ``fits`` is False."""
    estimated_max_model_len: int
    """Longest sequence the KV budget could hold alone (what vLLM suggests when it refuses)."""
    fits: bool
    reason: str

    @property
    def kv_gib_per_token(self) -> float:
        """KV-cache GiB one token needs on each GPU."""
        return self.kv_bytes_per_token_per_gpu / GIB

    @property
    def concurrent_sequences_at_max_num_seqs(self) -> int:
        """Full-length sequences that can run together, capped by ``max_num_seqs``."""
        return min(self.max_num_seqs, self.max_concurrent_full_sequences)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict of all fields plus ``kv_gib_per_token``."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields["kv_gib_per_token"] = self.kv_gib_per_token
        return fields


def _resolved_kv_cache_dtype(model: ModelArchitecture, kv_cache_dtype: str) -> str:
    # "auto" follows the serving dtype: fp16 checkpoints stay fp16, everything else is bf16.
    kv_cache_dtype_bytes(kv_cache_dtype)  # validates the spelling
    if kv_cache_dtype != "auto":
        return kv_cache_dtype
    return "float16" if model.dtype == "float16" else "bfloat16"


def _validate_settings(
    model: ModelArchitecture,
    *,
    tensor_parallel_size: int,
    max_model_len: int,
    max_num_seqs: int,
    gpu_memory_utilization: float,
    max_num_batched_tokens: int,
) -> None:
    if tensor_parallel_size < 1:
        raise ValueError("tensor_parallel_size must be >= 1")
    if max_model_len < 1:
        raise ValueError("max_model_len must be >= 1")
    if max_model_len > model.max_position_embeddings:
        # vLLM refuses this unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 (and quality degrades).
        raise ValueError(
            f"max_model_len {max_model_len} exceeds {model.hf_id}'s max_position_embeddings "
            f"{model.max_position_embeddings}"
        )
    if max_num_seqs < 1:
        raise ValueError("max_num_seqs must be >= 1")
    if max_num_batched_tokens < 1:
        raise ValueError("max_num_batched_tokens must be >= 1")
    if not 0.0 < gpu_memory_utilization <= 1.0:
        raise ValueError("gpu_memory_utilization must be in (0, 1]")


def compute_memory_breakdown(
    model: ModelArchitecture,
    instance: GpuInstanceType,
    *,
    tensor_parallel_size: int,
    quantization: str | None,
    max_model_len: int,
    max_num_seqs: int,
    gpu_memory_utilization: float,
    kv_cache_dtype: str = "auto",
    max_num_batched_tokens: int | None = None,
) -> MemoryBreakdown:
    """Work out the per-GPU memory plan and whether vLLM would start (see module docstring).

    ``max_num_batched_tokens=None`` uses vLLM's default for the instance's GPU (8192 on
    H100/H200, 2048 elsewhere). This function does not check that ``tensor_parallel_size`` is
    valid for the model or instance; :func:`vllm_infra.sizing.check_pinned` does.

    Example:
        >>> from vllm_infra.sizing import lookup_model, gpu_instances
        >>> b = compute_memory_breakdown(
        ...     lookup_model("meta-llama/Llama-3.1-70B-Instruct"), gpu_instances()["p5.4xlarge"],
        ...     tensor_parallel_size=1, quantization=None, max_model_len=8192, max_num_seqs=256,
        ...     gpu_memory_utilization=0.9)
        >>> b.fits
        False
    """
    batched_tokens = (
        max_num_batched_tokens if max_num_batched_tokens is not None else instance.vllm_default_max_num_batched_tokens
    )
    _validate_settings(
        model,
        tensor_parallel_size=tensor_parallel_size,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        gpu_memory_utilization=gpu_memory_utilization,
        max_num_batched_tokens=batched_tokens,
    )
    if tensor_parallel_size > instance.gpu_count:
        raise ValueError(
            f"tensor_parallel_size {tensor_parallel_size} exceeds the {instance.gpu_count} GPU(s) of {instance.name}"
        )
    effective_quantization = resolve_quantization(model, quantization)
    kv_dtype_resolved = _resolved_kv_cache_dtype(model, kv_cache_dtype)

    requested_bytes = instance.usable_gib_per_gpu * gpu_memory_utilization * GIB
    total_weight_bytes = weight_bytes(model, effective_quantization)
    weight_bytes_per_gpu = total_weight_bytes / tensor_parallel_size
    overhead_bytes = runtime_overhead_bytes(
        model,
        tensor_parallel_size=tensor_parallel_size,
        max_num_batched_tokens=batched_tokens,
        max_num_seqs=max_num_seqs,
    )
    kv_budget_bytes = requested_bytes - weight_bytes_per_gpu - overhead_bytes

    kv_per_token = kv_cache_bytes_per_token(
        model, kv_cache_dtype=kv_cache_dtype, tensor_parallel_size=tensor_parallel_size
    )
    page_bytes = KV_CACHE_BLOCK_TOKENS * kv_per_token
    blocks_per_sequence = math.ceil(max_model_len / KV_CACHE_BLOCK_TOKENS)
    sequence_bytes = blocks_per_sequence * page_bytes

    # vLLM carves the budget into whole blocks and permanently holds one back as the null block.
    total_blocks = max(0, math.floor(kv_budget_bytes / page_bytes))
    usable_blocks = max(0, total_blocks - 1)
    fits = kv_budget_bytes > 0 and sequence_bytes <= kv_budget_bytes - page_bytes
    max_concurrent = usable_blocks // blocks_per_sequence if fits else 0
    estimated_max_len = min(model.max_position_embeddings, usable_blocks * KV_CACHE_BLOCK_TOKENS)

    label = quantization_label(model, effective_quantization)
    requested_gib = requested_bytes / GIB
    weights_gib_per_gpu = weight_bytes_per_gpu / GIB
    overhead_gib = overhead_bytes / GIB
    kv_budget_gib = kv_budget_bytes / GIB
    sequence_gib = sequence_bytes / GIB
    if weights_gib_per_gpu >= requested_gib:
        reason = (
            f"weights need {weights_gib_per_gpu:.1f} GiB per GPU ({label}, "
            f"tensor_parallel_size {tensor_parallel_size}) but only {requested_gib:.1f} GiB of "
            f"{instance.usable_gib_per_gpu:.1f} GiB is usable at gpu_memory_utilization "
            f"{gpu_memory_utilization:.2f}"
        )
    elif kv_budget_bytes <= 0:
        reason = (
            f"weights ({weights_gib_per_gpu:.1f} GiB) plus runtime overhead ({overhead_gib:.1f} "
            f"GiB) exceed the {requested_gib:.1f} GiB allowed per GPU at gpu_memory_utilization "
            f"{gpu_memory_utilization:.2f}; nothing is left for KV cache"
        )
    elif not fits:
        reason = (
            f"one {max_model_len}-token sequence needs {sequence_gib:.2f} GiB of KV cache per GPU "
            f"but only {kv_budget_gib:.2f} GiB is left after weights ({weights_gib_per_gpu:.1f} "
            f"GiB) and overhead ({overhead_gib:.1f} GiB); max_model_len up to about "
            f"{estimated_max_len} would fit"
        )
    else:
        reason = (
            f"fits: {kv_budget_gib:.2f} GiB KV budget per GPU holds {max_concurrent} concurrent "
            f"{max_model_len}-token sequence(s) ({sequence_gib:.2f} GiB each)"
        )
        if max_concurrent < max_num_seqs:
            reason += (
                f"; fewer than max_num_seqs {max_num_seqs} at full length, shorter requests "
                f"still batch up to {usable_blocks * KV_CACHE_BLOCK_TOKENS} tokens in total"
            )

    return MemoryBreakdown(
        model_id=model.hf_id,
        instance_type=instance.name,
        gpu_model=instance.gpu_model,
        tensor_parallel_size=tensor_parallel_size,
        quantization=effective_quantization,
        kv_cache_dtype=kv_dtype_resolved,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=batched_tokens,
        gpu_memory_utilization=gpu_memory_utilization,
        usable_gib_per_gpu=instance.usable_gib_per_gpu,
        requested_gib_per_gpu=requested_gib,
        weights_gib_total=total_weight_bytes / GIB,
        weights_gib_per_gpu=weights_gib_per_gpu,
        overhead_gib=overhead_gib,
        kv_budget_gib_per_gpu=kv_budget_gib,
        kv_bytes_per_token_per_gpu=kv_per_token,
        kv_gib_per_full_sequence=sequence_gib,
        kv_capacity_tokens=usable_blocks * KV_CACHE_BLOCK_TOKENS if fits else 0,
        max_concurrent_full_sequences=max_concurrent,
        estimated_max_model_len=estimated_max_len,
        fits=fits,
        reason=reason,
    )
