"""Memory arithmetic checked against numbers worked out by hand from config.json values.

Expected values are written as literal arithmetic on the architecture numbers (not by calling
the code under test), so a wrong formula cannot agree with itself.
"""

from __future__ import annotations

import math

import pytest

from vllm_infra.sizing import (
    GIB,
    bytes_per_parameter,
    check_pinned,
    gpu_instances,
    kv_cache_bytes_per_token,
    lookup_model,
    weight_bytes,
)
from vllm_infra.sizing.memory import (
    compute_memory_breakdown,
    normalize_quantization,
    resolve_quantization,
    runtime_overhead_bytes,
)

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_70B_AWQ = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"


def test_bytes_per_parameter() -> None:
    assert bytes_per_parameter(None) == 2
    assert bytes_per_parameter("fp8") == 1
    # int4 + per group of 128: fp16 scale (2 bytes) + packed 4-bit zero (0.5 bytes)
    assert bytes_per_parameter("awq") == pytest.approx(0.5 + (2 + 0.5) / 128)
    assert bytes_per_parameter("gptq", group_size=32) == pytest.approx(0.5 + (2 + 0.5) / 32)
    # MXFP4: 4-bit value + one 8-bit scale per 32 elements
    assert bytes_per_parameter("mxfp4") == pytest.approx(0.5 + 1 / 32)


def test_weights_bf16() -> None:
    assert weight_bytes(lookup_model(LLAMA_8B)) == 8_030_261_248 * 2
    assert weight_bytes(lookup_model(LLAMA_8B)) / GIB == pytest.approx(14.96, abs=0.01)
    assert weight_bytes(lookup_model(LLAMA_70B)) / GIB == pytest.approx(70_553_706_496 * 2 / 2**30)
    assert weight_bytes(lookup_model(LLAMA_70B)) / GIB == pytest.approx(131.4, abs=0.05)


def test_weights_quantized_keep_embeddings_16bit() -> None:
    embeddings = 2 * 128256 * 8192  # embed_tokens + lm_head, untied
    awq_expected = embeddings * 2 + (70_553_706_496 - embeddings) * (0.5 + 2.5 / 128)
    assert weight_bytes(lookup_model(LLAMA_70B_AWQ)) == pytest.approx(awq_expected, abs=1)
    assert awq_expected / 2**30 == pytest.approx(37.04, abs=0.01)
    fp8_expected = embeddings * 2 + (70_553_706_496 - embeddings) * 1
    assert weight_bytes(lookup_model(LLAMA_70B), "fp8") == pytest.approx(fp8_expected, abs=1)


def test_gpt_oss_real_weight_size_is_mxfp4_experts_plus_bf16_rest() -> None:
    bf16_params = 2_127_557_952  # attention, router, embeddings, lm_head, norms
    expected = bf16_params * 2 + (116_829_156_672 - bf16_params) * (0.5 + 1 / 32)
    assert weight_bytes(lookup_model("openai/gpt-oss-120b")) == pytest.approx(expected, abs=1)
    assert expected / 2**30 == pytest.approx(60.7, abs=0.05)
    small = 1_797_824_064 * 2 + (20_914_757_184 - 1_797_824_064) * (0.5 + 1 / 32)
    assert weight_bytes(lookup_model("openai/gpt-oss-20b")) / GIB == pytest.approx(small / 2**30)
    assert small / 2**30 == pytest.approx(12.8, abs=0.05)


def test_deepseek_v3_fp8_weights() -> None:
    embeddings = 2 * 129280 * 7168
    expected = embeddings * 2 + (671_026_419_200 - embeddings) * 1
    assert weight_bytes(lookup_model("deepseek-ai/DeepSeek-V3")) == expected
    assert expected / 2**30 == pytest.approx(626.7, abs=0.05)


def test_kv_cache_bytes_per_token_gqa() -> None:
    assert kv_cache_bytes_per_token(lookup_model(LLAMA_8B)) == 2 * 32 * 8 * 128 * 2 == 131072
    assert kv_cache_bytes_per_token(lookup_model(LLAMA_70B)) == 2 * 80 * 8 * 128 * 2 == 327680
    # tensor parallelism splits KV heads across GPUs...
    assert kv_cache_bytes_per_token(lookup_model(LLAMA_70B), tensor_parallel_size=4) == 2 * 80 * 2 * 128 * 2
    # ...and fp8 halves them
    assert kv_cache_bytes_per_token(lookup_model(LLAMA_8B), kv_cache_dtype="fp8") == 2 * 32 * 8 * 128 * 1
    # Qwen3-30B-A3B has 4 KV heads: at TP=8 each GPU holds one replicated head, not half of one.
    assert kv_cache_bytes_per_token(lookup_model("Qwen/Qwen3-30B-A3B"), tensor_parallel_size=8) == 2 * 48 * 1 * 128 * 2
    # gpt-oss: head_dim 64, every layer counted as full attention (conservative)
    assert kv_cache_bytes_per_token(lookup_model("openai/gpt-oss-120b")) == 2 * 36 * 8 * 64 * 2


def test_kv_cache_bytes_per_token_mla_is_latent_and_not_split_by_tp() -> None:
    deepseek = lookup_model("deepseek-ai/DeepSeek-V3")
    expected = 61 * (512 + 64) * 2
    assert kv_cache_bytes_per_token(deepseek) == expected == 70272
    assert kv_cache_bytes_per_token(deepseek, tensor_parallel_size=8) == expected
    assert kv_cache_bytes_per_token(deepseek, kv_cache_dtype="fp8") == 61 * 576
    # Caching full per-head K (192) and V (128) instead would take ~71x more.
    assert 70 * expected < 61 * 128 * (192 + 128) * 2


def test_full_breakdown_llama_8b_on_one_l4_by_hand() -> None:
    breakdown = check_pinned(
        LLAMA_8B, "g6.xlarge", 1, max_model_len=8192, max_num_seqs=256, gpu_memory_utilization=0.90
    )
    requested = 22.0 * 0.90 * 2**30
    weights = 8_030_261_248 * 2
    overhead = (
        1.5 * 2**30  # fixed runtime (non-torch + CUDA graphs)
        + 2048 * 4096 * 2 * (4 + 12 / 1)  # activations: L4 default 2048 batched tokens
        + 256 * 128256 * 4 * 2  # sampler: 256 seqs x vocab float32 logits + probs
    )
    kv_budget = requested - weights - overhead
    page = 16 * (2 * 32 * 8 * 128 * 2)  # one 16-token block
    usable_blocks = math.floor(kv_budget / page) - 1  # minus vLLM's null block
    assert breakdown.requested_gib_per_gpu == pytest.approx(19.8)
    assert breakdown.weights_gib_per_gpu == pytest.approx(weights / 2**30)
    assert breakdown.overhead_gib == pytest.approx(overhead / 2**30, abs=1e-6)
    assert breakdown.kv_budget_gib_per_gpu == pytest.approx(kv_budget / 2**30, abs=1e-6)
    assert breakdown.kv_budget_gib_per_gpu == pytest.approx(2.85, abs=0.01)
    assert breakdown.kv_gib_per_full_sequence == pytest.approx(8192 * 131072 / 2**30) == 1.0
    assert breakdown.max_concurrent_full_sequences == usable_blocks // (8192 // 16) == 2
    assert breakdown.kv_capacity_tokens == usable_blocks * 16
    assert breakdown.fits and "fits" in breakdown.reason


def test_full_breakdown_llama_70b_tp2_on_h100_by_hand() -> None:
    breakdown = check_pinned(LLAMA_70B, "p5.48xlarge", 2, max_model_len=8192)
    requested = 79.1 * 0.9 * 2**30
    weights_per_gpu = 70_553_706_496 * 2 / 2
    overhead = (1.5 + 0.5) * 2**30 + 8192 * 8192 * 2 * (4 + 12 / 2) + 256 * 128256 * 4 * 2
    kv_budget = requested - weights_per_gpu - overhead
    page = 16 * (2 * 80 * (8 // 2) * 128 * 2)
    assert breakdown.max_num_batched_tokens == 8192  # vLLM's H100 default
    assert breakdown.kv_budget_gib_per_gpu == pytest.approx(kv_budget / 2**30, abs=1e-6)
    assert breakdown.max_concurrent_full_sequences == (math.floor(kv_budget / page) - 1) // 512 == 1


def test_kv_check_reserves_the_null_block_like_vllm() -> None:
    # Find the exact budget where one sequence stops fitting: needs blocks_per_seq + 1 blocks.
    model = lookup_model(LLAMA_8B)
    instance = gpu_instances()["g6.xlarge"]
    page = 16 * 131072
    weights = 8_030_261_248 * 2
    overhead = runtime_overhead_bytes(model, tensor_parallel_size=1, max_num_batched_tokens=2048, max_num_seqs=256)
    budget_at_full_utilization = 22.0 * 2**30 - weights - overhead
    longest = (math.floor(budget_at_full_utilization / page) - 1) * 16
    common = dict(tensor_parallel_size=1, quantization=None, max_num_seqs=256, gpu_memory_utilization=1.0)
    assert compute_memory_breakdown(model, instance, max_model_len=longest, **common).fits
    too_long = compute_memory_breakdown(model, instance, max_model_len=longest + 1, **common)
    assert not too_long.fits
    assert too_long.estimated_max_model_len == longest


def test_quantization_resolution() -> None:
    assert normalize_quantization("awq_marlin") == "awq"
    assert normalize_quantization("bf16") is None
    with pytest.raises(ValueError, match="unknown quantization"):
        normalize_quantization("int3")
    assert resolve_quantization(lookup_model("openai/gpt-oss-20b"), None) == "mxfp4"
    assert resolve_quantization(lookup_model(LLAMA_70B_AWQ), "awq_marlin") == "awq"
    with pytest.raises(ValueError, match="pre-quantized"):
        resolve_quantization(lookup_model("openai/gpt-oss-20b"), "fp8")


@pytest.mark.parametrize(
    "settings",
    [
        dict(max_model_len=131073),  # beyond max_position_embeddings
        dict(max_model_len=0),
        dict(max_model_len=8192, gpu_memory_utilization=1.2),
        dict(max_model_len=8192, max_num_seqs=0),
        dict(max_model_len=8192, kv_cache_dtype="int8"),
    ],
)
def test_invalid_settings_raise_value_error(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check_pinned(LLAMA_8B, "g6.xlarge", 1, **settings)  # type: ignore[arg-type]
