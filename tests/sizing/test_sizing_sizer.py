"""Known sizing answers: what fits where, which instance is chosen, and the error messages."""

from __future__ import annotations

import re

import pytest

from vllm_infra.sizing import (
    InfeasibleSizing,
    UnknownCatalogEntryError,
    check_pinned,
    gpu_instances,
    lookup_model,
    model_catalog,
    size_model,
    valid_tensor_parallel_sizes,
)

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_70B_AWQ = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"


@pytest.mark.parametrize("instance_type", ["g5.xlarge", "g6.xlarge"])
def test_llama_8b_bf16_fits_one_24gb_gpu_at_8k(instance_type: str) -> None:
    breakdown = check_pinned(lookup_model(LLAMA_8B), instance_type, 1, max_model_len=8192)
    assert breakdown.fits
    assert breakdown.max_concurrent_full_sequences >= 1


def test_llama_8b_cheapest_choice_is_a_24gb_instance() -> None:
    result = size_model(lookup_model(LLAMA_8B), max_model_len=8192)
    choice = result.choice
    assert choice is not None
    assert choice.gpu_model in ("A10G", "L4")
    assert choice.gpu_count == 1 and choice.tensor_parallel_size == 1
    assert choice.instance_type == "g6.xlarge"
    assert choice.price_per_hour == min(o.price_per_hour for o in result.options)


@pytest.mark.parametrize("instance_type", ["p4de.24xlarge", "p5.48xlarge", "p5.4xlarge"])
def test_llama_70b_bf16_does_not_fit_one_80gb_gpu(instance_type: str) -> None:
    with pytest.raises(InfeasibleSizing) as error:
        check_pinned(lookup_model(LLAMA_70B), instance_type, 1, max_model_len=8192)
    assert error.value.breakdown is not None and not error.value.breakdown.fits
    assert "131.4 GiB of weights" in str(error.value)


@pytest.mark.parametrize("instance_type", ["p4de.24xlarge", "p5.48xlarge"])
@pytest.mark.parametrize("tensor_parallel_size", [2, 4, 8])
def test_llama_70b_bf16_fits_with_tensor_parallelism(instance_type: str, tensor_parallel_size: int) -> None:
    breakdown = check_pinned(lookup_model(LLAMA_70B), instance_type, tensor_parallel_size, max_model_len=8192)
    assert breakdown.fits
    assert breakdown.weights_gib_per_gpu == pytest.approx(131.42 / tensor_parallel_size, abs=0.01)


def test_llama_70b_sizing_never_picks_tp1_on_an_80gb_gpu() -> None:
    result = size_model(lookup_model(LLAMA_70B), max_model_len=8192)
    by_instance = {option.instance_type: option for option in result.options}
    assert "p5.4xlarge" not in by_instance  # its single H100 cannot hold 131 GiB
    assert by_instance["p4de.24xlarge"].tensor_parallel_size == 2
    assert by_instance["p5.48xlarge"].tensor_parallel_size == 2
    assert by_instance["p5.48xlarge"].replicas_per_node == 4
    assert all(option.tensor_parallel_size > 1 for option in result.options)


@pytest.mark.parametrize("instance_type", ["p4de.24xlarge", "p5.4xlarge", "p5.48xlarge"])
def test_llama_70b_awq_fits_one_80gb_gpu(instance_type: str) -> None:
    breakdown = check_pinned(lookup_model(LLAMA_70B_AWQ), instance_type, 1, max_model_len=8192)
    assert breakdown.fits
    assert breakdown.weights_gib_per_gpu == pytest.approx(37.0, abs=0.1)


def test_fp8_quantization_halves_70b_and_fits_one_h200() -> None:
    breakdown = check_pinned(LLAMA_70B, "p5en.48xlarge", 1, quantization="fp8", max_model_len=8192)
    assert breakdown.fits and breakdown.quantization == "fp8"
    assert breakdown.weights_gib_total == pytest.approx(67.7, abs=0.1)


def test_deepseek_v3_needs_eight_h200() -> None:
    result = size_model(lookup_model("deepseek-ai/DeepSeek-V3"), max_model_len=8192)
    assert result.choice is not None
    assert result.choice.gpu_model == "H200" and result.choice.tensor_parallel_size == 8
    assert {o.instance_type for o in result.options} == {"p5e.48xlarge", "p5en.48xlarge"}
    # On a price tie the verified price wins over the approximate one.
    assert result.choice.instance_type == "p5en.48xlarge"
    rejected = {rejection.family: rejection.reason for rejection in result.rejections}
    assert "p5" in rejected and "78.3 GiB per GPU" in rejected["p5"]
    assert any("MLA" in note for note in result.notes)


def test_infeasible_message_matches_the_documented_form() -> None:
    with pytest.raises(InfeasibleSizing) as error:
        check_pinned(lookup_model(LLAMA_70B), "g6.xlarge", 1, max_model_len=8192)
    assert str(error.value) == (
        "meta-llama/Llama-3.1-70B-Instruct in bf16 needs ~131.4 GiB of weights; g6.xlarge has "
        "1× L4 with 22.0 GiB usable at gpu_memory_utilization 0.90 (19.8 GiB) — choose a larger "
        "instance, tensor_parallel_size > 1, or quantization awq/fp8"
    )
    assert isinstance(error.value, ValueError)


def test_infeasible_message_for_kv_cache_suggests_a_shorter_context() -> None:
    with pytest.raises(InfeasibleSizing) as error:
        check_pinned(LLAMA_8B, "g6.xlarge", 1, max_model_len=131072)
    message = str(error.value)
    assert "131072-token sequence needs 16.00 GiB of KV cache" in message
    assert "lower max_model_len" in message and "kv_cache_dtype fp8" in message
    # and the estimate it gives does fit
    estimate = error.value.breakdown.estimated_max_model_len  # type: ignore[union-attr]
    assert check_pinned(LLAMA_8B, "g6.xlarge", 1, max_model_len=estimate).fits


def test_check_pinned_can_return_a_failing_breakdown_without_raising() -> None:
    breakdown = check_pinned(LLAMA_70B, "g6.xlarge", 1, max_model_len=8192, raise_if_infeasible=False)
    assert not breakdown.fits and breakdown.max_concurrent_full_sequences == 0
    assert breakdown.kv_budget_gib_per_gpu < 0


def test_tensor_parallel_sizes_follow_vllm_divisibility_rules() -> None:
    # 28 attention heads, 4 KV heads: 8 does not divide 28.
    assert valid_tensor_parallel_sizes(lookup_model("Qwen/Qwen2.5-7B-Instruct"), 8) == (1, 2, 4)
    # 24 heads / 8 KV heads (Llama-3.2-3B): 8 divides both.
    assert valid_tensor_parallel_sizes(lookup_model("meta-llama/Llama-3.2-3B-Instruct"), 8) == (1, 2, 4, 8)
    # 4 KV heads, TP 8 is a multiple: KV heads are replicated.
    assert valid_tensor_parallel_sizes(lookup_model("Qwen/Qwen3-30B-A3B"), 8) == (1, 2, 4, 8)
    assert valid_tensor_parallel_sizes(lookup_model(LLAMA_8B), 1) == (1,)
    with pytest.raises(InfeasibleSizing, match="valid sizes: 1, 2, 4"):
        check_pinned("Qwen/Qwen2.5-7B-Instruct", "g6.48xlarge", 8, max_model_len=8192)
    with pytest.raises(InfeasibleSizing, match=r"valid sizes: 1 \("):
        check_pinned(LLAMA_8B, "g6.xlarge", 2, max_model_len=8192)


def test_unknown_instance_type_suggests_names() -> None:
    with pytest.raises(UnknownCatalogEntryError, match=re.escape("p5.48xlarge")):
        check_pinned(LLAMA_8B, "p5.48xl", 1, max_model_len=8192)


def test_region_filter_uses_catalog_regions() -> None:
    result = size_model(LLAMA_70B, max_model_len=8192, region="eu-west-1")
    catalog = gpu_instances()
    assert result.options
    assert all("eu-west-1" in catalog[o.instance_type].regions for o in result.options)
    not_offered = {r.family for r in result.rejections if "not offered in eu-west-1" in r.reason}
    assert {"p4de", "p5", "p5e", "p5en"} <= not_offered


def test_instance_type_filter_and_no_fit_explains_each_family() -> None:
    result = size_model(LLAMA_70B, max_model_len=8192, instance_types=["g5.xlarge", "g6.xlarge", "g6e.xlarge"])
    assert result.choice is None and not result.feasible
    assert {r.family for r in result.rejections} == {"g5", "g6", "g6e"}
    with pytest.raises(InfeasibleSizing, match="no catalog instance can serve"):
        result.require_choice()


def test_options_are_ranked_by_price_then_gpus_then_name() -> None:
    result = size_model("Qwen/Qwen3-8B", max_model_len=8192)
    keys = [(o.price_per_hour, o.gpu_count) for o in result.options]
    assert keys == sorted(keys)
    assert result.choice is result.options[0]
    for option in result.options:
        assert option.replicas_per_node == option.gpu_count // option.tensor_parallel_size
        assert option.memory.fits


def test_prequantized_checkpoint_rejects_a_different_quantization() -> None:
    with pytest.raises(ValueError, match="pre-quantized mxfp4"):
        size_model("openai/gpt-oss-120b", quantization="fp8", max_model_len=8192)


def test_hypothetical_awq_of_a_bf16_model_is_flagged() -> None:
    result = size_model(LLAMA_70B, quantization="awq", max_model_len=8192)
    assert result.quantization == "awq"
    assert any("pre-quantized checkpoint" in note for note in result.notes)


def test_every_catalog_model_can_be_sized() -> None:
    for model in model_catalog().values():
        result = size_model(model, max_model_len=min(8192, model.max_position_embeddings))
        assert result.choice is not None, model.hf_id
