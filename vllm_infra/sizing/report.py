"""Render a :class:`~vllm_infra.sizing.sizer.SizingResult` for people (text) and tools (JSON).

Example:
    >>> from vllm_infra.sizing import size_model, render_text, render_json
    >>> result = size_model("meta-llama/Llama-3.1-8B-Instruct", max_model_len=8192,
    ...                     instance_types=["g6.xlarge", "g5.xlarge"])
    >>> render_json(result)["options"][0]["instance_type"]
    'g6.xlarge'
    >>> print(render_text(result).splitlines()[0])  # doctest: +ELLIPSIS
    meta-llama/Llama-3.1-8B-Instruct in bf16, max_model_len 8192, max_num_seqs 256, ..., kv_cache_dtype auto
"""

from __future__ import annotations

from typing import Any

from vllm_infra.sizing.memory import quantization_label
from vllm_infra.sizing.sizer import SizingOption, SizingResult

__all__ = ["render_text", "render_json"]

_CHOICE_MARK = "*"
_COLUMNS: tuple[tuple[str, str], ...] = (
    # (header, alignment) — "<" left, ">" right
    ("", "<"),
    ("instance", "<"),
    ("GPUs", "<"),
    ("TP", ">"),
    ("replicas/node", ">"),
    ("$/h", ">"),
    ("weights/GPU GiB", ">"),
    ("KV budget/GPU GiB", ">"),
    ("max seqs @len", ">"),
)


def _row(option: SizingOption, is_choice: bool) -> tuple[str, ...]:
    memory = option.memory
    price = f"{option.price_per_hour:.2f}" + ("" if option.price_verified else "~")
    return (
        _CHOICE_MARK if is_choice else "",
        option.instance_type,
        f"{option.gpu_count}× {option.gpu_model}",
        str(option.tensor_parallel_size),
        str(option.replicas_per_node),
        price,
        f"{memory.weights_gib_per_gpu:.1f}",
        f"{memory.kv_budget_gib_per_gpu:.1f}",
        str(memory.max_concurrent_full_sequences),
    )


def _format_table(rows: list[tuple[str, ...]]) -> list[str]:
    headers = tuple(header for header, _ in _COLUMNS)
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for cells in (headers, *rows):
        padded = [
            cell.ljust(width) if align == "<" else cell.rjust(width)
            for cell, width, (_, align) in zip(cells, widths, _COLUMNS, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return lines


def render_text(result: SizingResult) -> str:
    """A ranked plain-text table of the options, the choice marked ``*``, then rejections.

    Columns: instance, GPUs, tensor-parallel size, replicas per node, on-demand $/h
    (``~`` = approximate price), weights per GPU, KV budget per GPU (GiB) and how many
    ``max_model_len`` sequences fit at once. Families that cannot serve the model and any
    caveats follow the table.

    Example:
        >>> from vllm_infra.sizing import size_model, render_text
        >>> text = render_text(size_model("Qwen/Qwen3-8B", max_model_len=8192))
        >>> "* " in text and "instance" in text
        True
    """
    model = result.model
    header = (
        f"{model.hf_id} in {quantization_label(model, result.quantization)}, "
        f"max_model_len {result.max_model_len}, max_num_seqs {result.max_num_seqs}, "
        f"gpu_memory_utilization {result.gpu_memory_utilization:.2f}, "
        f"kv_cache_dtype {result.kv_cache_dtype}" + (f", region {result.region}" if result.region else "")
    )
    lines = [header]
    if result.options:
        rows = [_row(option, index == 0) for index, option in enumerate(result.options)]
        lines += _format_table(rows)
        choice = result.options[0]
        lines.append(
            f"choice: {choice.instance_type} with tensor_parallel_size "
            f"{choice.tensor_parallel_size} (${choice.price_per_hour:.2f}/h, us-east-1 on-demand "
            "list price)"
        )
    else:
        lines.append("no instance type in the catalog can serve this model with these settings")
    if result.rejections:
        lines.append("not possible:")
        lines += [f"  {rejection.family}: {rejection.reason}" for rejection in result.rejections]
    if result.notes:
        lines.append("notes:")
        lines += [f"  {note}" for note in result.notes]
    return "\n".join(lines)


def render_json(result: SizingResult) -> dict[str, Any]:
    """A JSON-ready dict of the result; ``options[0]`` is the choice.

    Shape::

        {"model": str, "quantization": str | None, "kv_cache_dtype": str,
         "max_model_len": int, "max_num_seqs": int, "gpu_memory_utilization": float,
         "region": str | None, "choice": str | None,
         "options": [{"instance_type", "gpu_model", "gpu_count", "tensor_parallel_size",
                      "price_per_hour", "price_verified", "replicas_per_node",
                      "memory": {...MemoryBreakdown fields, GiB...}}, ...],
         "rejections": [{"family", "reason"}, ...], "notes": [str, ...]}

    Example:
        >>> from vllm_infra.sizing import size_model, render_json
        >>> payload = render_json(size_model("Qwen/Qwen3-8B", max_model_len=8192))
        >>> payload["choice"] == payload["options"][0]["instance_type"]
        True
    """
    return {
        "model": result.model.hf_id,
        "quantization": result.quantization,
        "kv_cache_dtype": result.kv_cache_dtype,
        "max_model_len": result.max_model_len,
        "max_num_seqs": result.max_num_seqs,
        "gpu_memory_utilization": result.gpu_memory_utilization,
        "region": result.region,
        "choice": result.choice.instance_type if result.choice else None,
        "options": [
            {
                "instance_type": option.instance_type,
                "gpu_model": option.gpu_model,
                "gpu_count": option.gpu_count,
                "tensor_parallel_size": option.tensor_parallel_size,
                "price_per_hour": option.price_per_hour,
                "price_verified": option.price_verified,
                "replicas_per_node": option.replicas_per_node,
                "memory": option.memory.as_dict(),
            }
            for option in result.options
        ],
        "rejections": [{"family": rejection.family, "reason": rejection.reason} for rejection in result.rejections],
        "notes": list(result.notes),
    }
