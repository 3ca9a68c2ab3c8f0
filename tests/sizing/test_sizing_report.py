"""Text and JSON renderings of a sizing result, and the docstring examples."""

from __future__ import annotations

import doctest
import importlib
import json

import pytest

from vllm_infra.sizing import render_json, render_text, size_model

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def test_render_text_marks_the_choice_on_the_first_row() -> None:
    result = size_model(LLAMA_8B, max_model_len=8192)
    lines = render_text(result).splitlines()
    assert lines[0].startswith(f"{LLAMA_8B} in bf16, max_model_len 8192")
    header = lines[1]
    for column in ("instance", "GPUs", "TP", "$/h", "weights/GPU GiB", "KV budget/GPU GiB", "max seqs @len"):
        assert column in header
    first_row = lines[2]
    assert first_row.startswith("*") and result.options[0].instance_type in first_row
    assert not any(line.startswith("*") for line in lines[3:])
    assert f"choice: {result.options[0].instance_type}" in render_text(result)
    # one row per option
    assert sum(1 for line in lines if any(o.instance_type in line.split() for o in result.options)) >= len(
        result.options
    )


def test_render_text_lists_rejections_and_notes() -> None:
    text = render_text(size_model("deepseek-ai/DeepSeek-V3", max_model_len=8192))
    assert "not possible:" in text and "  p5: " in text
    assert "notes:" in text and "MLA" in text
    assert "63.30~" in text  # approximate price flagged


def test_render_text_without_any_option() -> None:
    result = size_model("meta-llama/Llama-3.1-70B-Instruct", max_model_len=8192, instance_types=["g6.xlarge"])
    text = render_text(result)
    assert "no instance type in the catalog can serve" in text
    assert "g6: largest attempt g6.xlarge" in text


def test_render_json_shape_and_serialisable() -> None:
    result = size_model(LLAMA_8B, max_model_len=8192)
    payload = render_json(result)
    assert payload["model"] == LLAMA_8B
    assert payload["quantization"] is None
    assert payload["max_model_len"] == 8192
    assert payload["choice"] == payload["options"][0]["instance_type"] == result.choice.instance_type  # type: ignore[union-attr]
    option = payload["options"][0]
    assert set(option) >= {
        "instance_type",
        "gpu_model",
        "gpu_count",
        "tensor_parallel_size",
        "price_per_hour",
        "replicas_per_node",
        "memory",
    }
    memory = option["memory"]
    for key in (
        "weights_gib_per_gpu",
        "overhead_gib",
        "kv_budget_gib_per_gpu",
        "kv_gib_per_token",
        "kv_bytes_per_token_per_gpu",
        "max_concurrent_full_sequences",
        "fits",
        "reason",
    ):
        assert key in memory
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize("module", ["catalog", "memory", "sizer", "report", ""])
def test_docstring_examples(module: str) -> None:
    name = "vllm_infra.sizing" + (f".{module}" if module else "")
    results = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0
