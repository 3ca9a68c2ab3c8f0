"""The packaged catalogs load, validate and cover what the sizer promises."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vllm_infra.sizing import (
    ModelArchitecture,
    UnknownCatalogEntryError,
    catalog_metadata,
    gpu_instances,
    lookup_instance_type,
    lookup_model,
    model_catalog,
)

EXPECTED_INSTANCE_TYPES = {
    **{
        f"g5.{size}": None
        for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
    },
    **{
        f"g6.{size}": None
        for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
    },
    **{
        f"g6e.{size}": None
        for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
    },
    "p4d.24xlarge": None,
    "p4de.24xlarge": None,
    "p5.4xlarge": None,
    "p5.48xlarge": None,
    "p5e.48xlarge": None,
    "p5en.48xlarge": None,
}

EXPECTED_MODELS = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "deepseek-ai/DeepSeek-V3",
    "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
]


def test_every_promised_instance_type_is_in_the_catalog() -> None:
    assert set(EXPECTED_INSTANCE_TYPES) <= set(gpu_instances())


@pytest.mark.parametrize(
    ("family", "gpu_model", "usable_gib"),
    [
        ("g5", "A10G", 22.0),
        ("g6", "L4", 22.0),
        ("g6e", "L40S", 44.4),
        ("p4d", "A100-40GB", 39.4),
        ("p4de", "A100-80GB", 79.1),
        ("p5", "H100", 79.1),
        ("p5e", "H200", 139.8),
        ("p5en", "H200", 139.8),
    ],
)
def test_family_gpu_and_usable_memory(family: str, gpu_model: str, usable_gib: float) -> None:
    members = [i for i in gpu_instances().values() if i.family == family]
    assert members
    for instance in members:
        assert instance.gpu_model == gpu_model
        assert instance.usable_gib_per_gpu == usable_gib
        assert instance.usable_gib_per_gpu < instance.gpu_memory_gib


@pytest.mark.parametrize(
    ("name", "gpu_count", "interconnect"),
    [
        ("g5.xlarge", 1, "none"),
        ("g5.12xlarge", 4, "pcie"),
        ("g5.48xlarge", 8, "pcie"),
        ("g6.16xlarge", 1, "none"),
        ("g6.24xlarge", 4, "pcie"),
        ("g6e.48xlarge", 8, "pcie"),
        ("p4d.24xlarge", 8, "nvlink"),
        ("p5.4xlarge", 1, "none"),
        ("p5.48xlarge", 8, "nvlink"),
        ("p5en.48xlarge", 8, "nvlink"),
    ],
)
def test_gpu_counts_and_interconnects(name: str, gpu_count: int, interconnect: str) -> None:
    instance = gpu_instances()[name]
    assert instance.gpu_count == gpu_count
    assert instance.interconnect == interconnect


def test_prices_are_us_east_1_on_demand_and_ordered_within_a_family() -> None:
    catalog = gpu_instances()
    # Spot checks against the public on-demand price list (us-east-1, Linux).
    assert catalog["g5.xlarge"].price_per_hour == 1.006
    assert catalog["g6.xlarge"].price_per_hour == 0.8048
    assert catalog["p5.48xlarge"].price_per_hour == 55.04
    # Within a family more GPUs never cost less.
    for family in {i.family for i in catalog.values()}:
        members = sorted((i for i in catalog.values() if i.family == family), key=lambda i: i.price_per_hour)
        counts = [i.gpu_count for i in members]
        assert counts == sorted(counts), family


def test_catalog_header_says_where_prices_come_from() -> None:
    header = catalog_metadata()["gpu_instances"]
    assert "us-east-1" in header["price_basis"] and "On-Demand" in header["price_basis"]
    assert header["catalog_compiled"]
    assert "approximat" in header["price_verification"].lower()
    assert "approximate" in header["regions_source"].lower()
    assert catalog_metadata()["models"]["sources"]


def test_every_promised_model_is_in_the_catalog() -> None:
    assert set(EXPECTED_MODELS) <= set(model_catalog())


def test_catalog_models_match_config_json_values() -> None:
    llama8b = lookup_model("meta-llama/Llama-3.1-8B-Instruct")
    assert (llama8b.num_hidden_layers, llama8b.num_attention_heads, llama8b.num_key_value_heads) == (32, 32, 8)
    assert (llama8b.head_dim, llama8b.hidden_size, llama8b.vocab_size) == (128, 4096, 128256)
    deepseek = lookup_model("deepseek-ai/DeepSeek-V3")
    assert deepseek.attention == "mla" and (deepseek.kv_lora_rank, deepseek.qk_rope_head_dim) == (512, 64)
    assert deepseek.quantization == "fp8" and deepseek.total_params == 671_026_419_200
    gpt_oss = lookup_model("openai/gpt-oss-120b")
    assert gpt_oss.quantization == "mxfp4" and gpt_oss.is_moe and gpt_oss.sliding_window == 128
    awq = lookup_model("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4")
    assert (awq.quantization, awq.quantization_group_size, awq.dtype) == ("awq", 128, "float16")


def test_lookup_is_case_insensitive_and_suggests_close_matches() -> None:
    assert lookup_model("qwen/qwen3-8b").hf_id == "Qwen/Qwen3-8B"
    with pytest.raises(UnknownCatalogEntryError) as error:
        lookup_model("meta-llama/Llama-3.1-8B")
    assert "meta-llama/Llama-3.1-8B-Instruct" in str(error.value)
    assert isinstance(error.value, KeyError)
    with pytest.raises(UnknownCatalogEntryError) as error:
        lookup_model("Mixtral-8x7B-Instruct")
    assert "mistralai/Mixtral-8x7B-Instruct-v0.1" in str(error.value)
    with pytest.raises(UnknownCatalogEntryError) as error:
        lookup_instance_type("g6e.xlarg")
    assert "g6e.xlarge" in str(error.value)


def _valid_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        hf_id="acme/model",
        total_params=1_000_000_000,
        num_hidden_layers=16,
        num_attention_heads=16,
        num_key_value_heads=4,
        head_dim=64,
        hidden_size=1024,
        vocab_size=32000,
        max_position_embeddings=4096,
    )
    fields.update(overrides)
    return fields


def test_user_described_model_validates() -> None:
    model = ModelArchitecture(**_valid_fields())
    assert model.embedding_params == 2 * 32000 * 1024
    assert model.dtype == "bfloat16" and model.attention == "gqa"


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_attention_heads": 14, "num_key_value_heads": 4},  # heads not divisible by kv heads
        {"num_hidden_layers": 0},
        {"head_dim": -64},
        {"active_params": 2_000_000_000},  # more active than total
        {"attention": "mla"},  # MLA without kv_lora_rank / qk_rope_head_dim
        {"kv_lora_rank": 512},  # MLA field on a GQA model
        {"quantization": "int3"},
        {"total_params": 10_000},  # smaller than its own embeddings
        {"unquantized_params": 2_000_000_000},
        {"num_experts": 8},  # without num_experts_per_token
        {"hiden_size": 1024},  # typo: unknown keys are rejected
        {"hf_id": "   "},
    ],
)
def test_invalid_model_descriptions_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ModelArchitecture(**_valid_fields(**overrides))


def test_catalog_objects_are_immutable() -> None:
    with pytest.raises(TypeError):
        gpu_instances()["g6.xlarge"] = gpu_instances()["g5.xlarge"]  # type: ignore[index]
    with pytest.raises(ValidationError):
        lookup_model("Qwen/Qwen3-8B").num_hidden_layers = 1  # type: ignore[misc]
