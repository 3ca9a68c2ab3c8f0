"""Typed vLLM engine settings: the subset of ``vllm serve`` flags a platform team sets, checked before deploy."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from vllm_infra import vllm_release
from vllm_infra.config import engine_flags
from vllm_infra.config.base import ConfigModel

# Mirrors vLLM 0.33.0's QuantizationMethods literal (vllm/model_executor/layers/quantization/__init__.py), trimmed to
# the methods that serve pre-quantized checkpoints or quantize on the fly on NVIDIA GPUs.
Quantization = Literal[
    "awq",
    "awq_marlin",
    "gptq",
    "gptq_marlin",
    "fp8",
    "compressed-tensors",
    "modelopt",
    "modelopt_fp4",
    "mxfp4",
    "bitsandbytes",
    "experts_int8",
]
ModelDtype = Literal["auto", "half", "float16", "bfloat16", "float", "float32"]
KvCacheDtype = Literal["auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2"]

# Flags that carry secrets: on a command line they show up in the pod spec and the process list.
SECRET_FLAGS = {"--api-key": "the vllm-infra:apiKey secret", "--hf-token": "the vllm-infra:hfToken secret"}
# Flags that the library sets itself (generated from the flag table); setting them again through extraArgs would fight
# the typed setting.
OWNED_FLAGS = engine_flags.owned_flags()
RESERVED_FLAGS = engine_flags.reserved_reasons()


class EngineSpec(ConfigModel):
    """Settings of the vLLM engine for one model; each maps to one ``vllm serve`` flag of the pinned release, through
    one row of ``vllm_infra.config.engine_flags.ENGINE_FLAGS`` (a new field needs a row there).

    Defaults follow the production guide, updated for vLLM 0.33.0 (request logging is opt-in there; prefix caching and
    chunked prefill are on by default and are still written out so the pod spec says what runs).

    Example (stack file)::

        engine:
          maxModelLen: 8192
          gpuMemoryUtilization: 0.9
          maxNumSeqs: 256
    """

    tensor_parallel_size: Annotated[int, Field(ge=1, le=16)] | Literal["auto"] = Field(
        "auto", description="GPUs per replica (the pod's GPU limit); auto = the smallest that fits the instance."
    )
    max_model_len: int | None = Field(
        8192, ge=256, le=1_048_576, description="Longest prompt + completion in tokens; None = the model's own."
    )
    gpu_memory_utilization: float = Field(
        0.90, ge=0.5, le=0.98, description="Share of each GPU's memory vLLM may use (weights + KV cache)."
    )
    max_num_seqs: int = Field(256, ge=1, le=4096, description="Sequences batched at once per replica.")
    max_num_batched_tokens: int | None = Field(
        8192, ge=64, le=1_048_576, description="Tokens per scheduler step; None = vLLM's default."
    )
    enable_prefix_caching: bool = Field(True, description="Reuse the KV cache of shared prompt prefixes.")
    enable_chunked_prefill: bool = Field(True, description="Split long prefills so decodes keep flowing (TTFT).")
    quantization: Quantization | None = Field(None, description="Quantization method; None = from the checkpoint.")
    dtype: ModelDtype = "auto"
    kv_cache_dtype: KvCacheDtype = "auto"
    trust_remote_code: bool = Field(False, description="Run model code from the Hub; only for models you trust.")
    otlp_traces_endpoint: AnyHttpUrl | None = Field(None, description="OTLP/HTTP endpoint for request traces.")
    enable_log_requests: bool = Field(False, description="Log every request (opt-in since vLLM 0.12).")
    extra_args: tuple[str, ...] = Field(
        (), description="Further `vllm serve` flags; each must exist in the pinned vLLM release."
    )

    @field_validator("tensor_parallel_size")
    @classmethod
    def _power_of_two(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value & (value - 1):
            raise ValueError("must be a power of two (1, 2, 4, 8 or 16): GPU nodes carry 1, 2, 4 or 8 GPUs")
        return value

    @field_validator("extra_args")
    @classmethod
    def _extra_args_exist_in_release(cls, args: tuple[str, ...]) -> tuple[str, ...]:
        for arg in args:
            if not arg.startswith("-"):
                continue  # the value of the preceding flag
            # "--flag=value" and "--flag value" (one list item) both carry a value: only the flag is ever printed.
            flag = re.split(r"[=\s]", arg, maxsplit=1)[0]
            if flag in SECRET_FLAGS:
                raise ValueError(
                    f"{flag} would put a secret on the command line; it is passed from {SECRET_FLAGS[flag]} instead"
                )
            if flag in RESERVED_FLAGS:
                raise ValueError(f"{flag} cannot be set: {RESERVED_FLAGS[flag]}; remove it from extraArgs")
            if flag in OWNED_FLAGS:
                raise ValueError(f"{flag} is a typed setting: use {OWNED_FLAGS[flag]} instead of extraArgs")
            if not vllm_release.is_known_flag(flag):
                raise ValueError(
                    f"{flag} is not a flag of vLLM {vllm_release.VLLM_VERSION} (`vllm serve --help`); remove it"
                )
        return args

    @model_validator(mode="after")
    def _batched_tokens_fit(self) -> EngineSpec:
        if self.max_num_batched_tokens is None:
            return self
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"maxNumBatchedTokens ({self.max_num_batched_tokens}) must be at least maxNumSeqs ({self.max_num_seqs})"
            )
        if (
            not self.enable_chunked_prefill
            and self.max_model_len is not None
            and self.max_num_batched_tokens < self.max_model_len
        ):
            raise ValueError(
                f"with enableChunkedPrefill false, maxNumBatchedTokens ({self.max_num_batched_tokens}) must be at "
                f"least maxModelLen ({self.max_model_len}), or a long prompt can never be scheduled"
            )
        return self
