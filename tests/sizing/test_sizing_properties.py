"""Property tests over random architectures and settings.

An independent reference ("oracle") re-derives vLLM's start-up condition from the documented
formulas with literal constants, so the properties check the sizer against the written-down
model rather than against itself:

* the chosen option fits;
* no cheaper (instance, valid tensor-parallel size) pair in the considered catalog fits;
* each option uses the smallest tensor-parallel size that fits on its instance;
* raising max_model_len never makes the cheapest feasible choice cheaper, and never turns an
  infeasible pin feasible.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vllm_infra.sizing import (
    GpuInstanceType,
    ModelArchitecture,
    check_pinned,
    gpu_instances,
    size_model,
)

GIB = 2**30
BLOCK_TOKENS = 16
REGIONS = sorted({region for instance in gpu_instances().values() for region in instance.regions})
INSTANCE_NAMES = list(gpu_instances())


# --------------------------------------------------------------------------- reference oracle
def oracle_weight_bytes(model: ModelArchitecture, quantization: str | None) -> float:
    effective = model.quantization or quantization
    if effective is None:
        return model.total_params * 2
    per_param = {
        "fp8": 1.0,
        "awq": 0.5 + 2.5 / (model.quantization_group_size or 128),
        "gptq": 0.5 + 2.5 / (model.quantization_group_size or 128),
        "mxfp4": 0.5 + 1 / 32,
    }[effective]
    copies = 1 if model.tie_word_embeddings else 2
    kept = (
        model.unquantized_params
        if model.unquantized_params is not None
        else copies * model.vocab_size * model.hidden_size
    )
    return kept * 2 + (model.total_params - kept) * per_param


def oracle_kv_bytes_per_token(model: ModelArchitecture, kv_cache_dtype: str, tp: int) -> int:
    element = 1 if kv_cache_dtype.startswith("fp8") else 2
    if model.attention == "mla":
        assert model.kv_lora_rank and model.qk_rope_head_dim
        return model.num_hidden_layers * (model.kv_lora_rank + model.qk_rope_head_dim) * element
    return 2 * model.num_hidden_layers * max(1, model.num_key_value_heads // tp) * model.head_dim * element


def oracle_valid_tps(model: ModelArchitecture, gpu_count: int) -> list[int]:
    sizes = [1, 2, 4, 8, 16]
    return [
        tp
        for tp in sizes
        if tp <= gpu_count
        and model.num_attention_heads % tp == 0
        and (model.attention == "mla" or model.num_key_value_heads % tp == 0 or tp % model.num_key_value_heads == 0)
    ]


def oracle_fits(
    model: ModelArchitecture,
    instance: GpuInstanceType,
    tp: int,
    *,
    quantization: str | None,
    max_model_len: int,
    max_num_seqs: int,
    gpu_memory_utilization: float,
    kv_cache_dtype: str,
) -> tuple[bool, int]:
    """(fits, concurrent full-length sequences) from the documented formulas."""
    batched = 8192 if instance.gpu_model in ("H100", "H200") else 2048
    requested = instance.usable_gib_per_gpu * gpu_memory_utilization * GIB
    overhead = (
        1.5 * GIB
        + (0.5 * GIB if tp > 1 else 0)
        + batched * model.hidden_size * 2 * (4 + 12 / tp)
        + min(max_num_seqs, batched) * model.vocab_size * 4 * 2
    )
    budget = requested - oracle_weight_bytes(model, quantization) / tp - overhead
    page = BLOCK_TOKENS * oracle_kv_bytes_per_token(model, kv_cache_dtype, tp)
    blocks_per_sequence = math.ceil(max_model_len / BLOCK_TOKENS)
    fits = budget > 0 and blocks_per_sequence * page <= budget - page
    concurrent = (math.floor(budget / page) - 1) // blocks_per_sequence if fits else 0
    return fits, concurrent


# --------------------------------------------------------------------------- strategies
@st.composite
def architectures(draw: st.DrawFn) -> ModelArchitecture:
    attention = draw(st.sampled_from(["gqa", "gqa", "gqa", "mla"]))
    kv_heads = draw(st.sampled_from([1, 2, 4, 8, 16]))
    group = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8]))
    heads = kv_heads * group
    head_dim = draw(st.sampled_from([64, 80, 128, 192, 256]))
    hidden = draw(st.integers(min_value=4, max_value=64)) * 256
    layers = draw(st.integers(min_value=2, max_value=100))
    vocab = draw(st.integers(min_value=32_000, max_value=260_000))
    tied = draw(st.booleans())
    embeddings = (1 if tied else 2) * vocab * hidden
    body = int(layers * 12 * hidden * hidden * draw(st.floats(min_value=0.3, max_value=40.0)))
    quantization = draw(st.sampled_from([None, None, None, "fp8", "awq", "gptq", "mxfp4"]))
    mla_fields = (
        {"kv_lora_rank": draw(st.sampled_from([256, 512])), "qk_rope_head_dim": 64} if attention == "mla" else {}
    )
    return ModelArchitecture(
        hf_id="random/model",
        total_params=embeddings + body,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        hidden_size=hidden,
        vocab_size=vocab,
        max_position_embeddings=draw(st.sampled_from([4096, 32768, 131072])),
        tie_word_embeddings=tied,
        dtype=draw(st.sampled_from(["bfloat16", "float16"])),
        quantization=quantization,
        quantization_group_size=(draw(st.sampled_from([32, 64, 128])) if quantization in ("awq", "gptq") else None),
        attention=attention,
        **mla_fields,
    )


@st.composite
def sizing_settings(draw: st.DrawFn, model: ModelArchitecture) -> dict[str, object]:
    return {
        "quantization": (None if model.quantization else draw(st.sampled_from([None, None, "fp8", "awq", "mxfp4"]))),
        "max_model_len": draw(st.integers(min_value=128, max_value=model.max_position_embeddings)),
        "max_num_seqs": draw(st.sampled_from([1, 16, 64, 256, 1024])),
        "gpu_memory_utilization": draw(st.floats(min_value=0.5, max_value=0.98)),
        "kv_cache_dtype": draw(st.sampled_from(["auto", "auto", "fp8"])),
    }


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- properties
@PROPERTY_SETTINGS
@given(data=st.data())
def test_choice_fits_and_nothing_cheaper_fits(data: st.DataObject) -> None:
    model = data.draw(architectures())
    chosen_settings = data.draw(sizing_settings(model))
    region = data.draw(st.sampled_from([None, None, *REGIONS]))
    result = size_model(model, region=region, **chosen_settings)  # type: ignore[arg-type]

    considered = [instance for instance in gpu_instances().values() if region is None or region in instance.regions]
    choice = result.choice
    if choice is not None:
        instance = gpu_instances()[choice.instance_type]
        fits, concurrent = oracle_fits(model, instance, choice.tensor_parallel_size, **chosen_settings)  # type: ignore[arg-type]
        assert fits
        assert concurrent == choice.memory.max_concurrent_full_sequences >= 1
        assert choice.memory.fits
    ceiling = choice.price_per_hour if choice is not None else math.inf
    for instance in considered:
        if instance.price_per_hour >= ceiling:
            continue
        for tp in oracle_valid_tps(model, instance.gpu_count):
            fits, _ = oracle_fits(model, instance, tp, **chosen_settings)  # type: ignore[arg-type]
            assert not fits, f"cheaper {instance.name} TP={tp} fits but {choice} was chosen"

    # Every option is the smallest fitting tensor-parallel size on its instance, and ranked.
    for option in result.options:
        instance = gpu_instances()[option.instance_type]
        smaller = [tp for tp in oracle_valid_tps(model, instance.gpu_count) if tp < option.tensor_parallel_size]
        assert not any(oracle_fits(model, instance, tp, **chosen_settings)[0] for tp in smaller)  # type: ignore[arg-type]
    prices = [option.price_per_hour for option in result.options]
    assert prices == sorted(prices)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_longer_context_never_makes_the_choice_cheaper(data: st.DataObject) -> None:
    model = data.draw(architectures())
    base = data.draw(sizing_settings(model))
    shorter = int(base["max_model_len"])  # type: ignore[call-overload]
    longer = data.draw(st.integers(min_value=shorter, max_value=model.max_position_embeddings))
    short_result = size_model(model, **{**base, "max_model_len": shorter})  # type: ignore[arg-type]
    long_result = size_model(model, **{**base, "max_model_len": longer})  # type: ignore[arg-type]
    if long_result.choice is not None:
        assert short_result.choice is not None
        assert short_result.choice.price_per_hour <= long_result.choice.price_per_hour
    assert len(short_result.options) >= len(long_result.options)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_pinned_feasibility_is_monotone_in_context_length(data: st.DataObject) -> None:
    model = data.draw(architectures())
    base = data.draw(sizing_settings(model))
    instance = gpu_instances()[data.draw(st.sampled_from(INSTANCE_NAMES))]
    tp = data.draw(st.sampled_from(oracle_valid_tps(model, instance.gpu_count)))
    shorter = int(base["max_model_len"])  # type: ignore[call-overload]
    longer = data.draw(st.integers(min_value=shorter, max_value=model.max_position_embeddings))
    common = dict(base, raise_if_infeasible=False)
    short_plan = check_pinned(model, instance.name, tp, **{**common, "max_model_len": shorter})  # type: ignore[arg-type]
    long_plan = check_pinned(model, instance.name, tp, **{**common, "max_model_len": longer})  # type: ignore[arg-type]
    assert short_plan.fits or not long_plan.fits
    assert short_plan.max_concurrent_full_sequences >= long_plan.max_concurrent_full_sequences
    # The pinned check agrees with the oracle.
    assert short_plan.fits == oracle_fits(model, instance, tp, **{**base, "max_model_len": shorter})[0]  # type: ignore[arg-type]


@PROPERTY_SETTINGS
@given(data=st.data())
def test_more_memory_utilization_never_hurts(data: st.DataObject) -> None:
    model = data.draw(architectures())
    base = data.draw(sizing_settings(model))
    low = float(base["gpu_memory_utilization"])  # type: ignore[arg-type]
    high = data.draw(st.floats(min_value=low, max_value=1.0))
    assume(high >= low)
    low_result = size_model(model, **base)  # type: ignore[arg-type]
    high_result = size_model(model, **{**base, "gpu_memory_utilization": high})  # type: ignore[arg-type]
    if low_result.choice is not None:
        assert high_result.choice is not None
        assert high_result.choice.price_per_hour <= low_result.choice.price_per_hour
