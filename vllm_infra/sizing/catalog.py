"""Typed, validated access to the GPU instance and model catalogs shipped with the package.

The two YAML files next to this module (``gpu_instances.yaml`` and ``models.yaml``) are the
only data the sizer reads. They are loaded once with :mod:`importlib.resources` and
:func:`yaml.safe_load`, validated into frozen pydantic models and cached.

Example:
    >>> from vllm_infra.sizing.catalog import gpu_instances, lookup_model
    >>> gpu_instances()["g6.xlarge"].gpu_model
    'L4'
    >>> lookup_model("meta-llama/Llama-3.1-8B-Instruct").num_key_value_heads
    8
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

__all__ = [
    "GpuModel",
    "Interconnect",
    "ModelDtype",
    "CheckpointQuantization",
    "AttentionKind",
    "GpuInstanceType",
    "ModelArchitecture",
    "gpu_instances",
    "model_catalog",
    "lookup_model",
    "lookup_instance_type",
    "catalog_metadata",
    "UnknownCatalogEntryError",
]

GpuModel = Literal["A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100", "H200"]
"""GPU models that appear in the AWS catalog."""

Interconnect = Literal["nvlink", "pcie", "none"]
"""GPU-to-GPU link inside one instance ("none" for single-GPU sizes)."""

ModelDtype = Literal["bfloat16", "float16", "float32"]
"""``torch_dtype`` from a model's config.json."""

CheckpointQuantization = Literal["fp8", "awq", "gptq", "mxfp4"]
"""Weight quantization formats the sizer knows the byte cost of."""

AttentionKind = Literal["gqa", "mla"]
"""``gqa`` covers MHA, GQA and MQA (K and V per KV head); ``mla`` is DeepSeek's latent attention."""

_PACKAGE = "vllm_infra.sizing"
_GPU_CATALOG_FILE = "gpu_instances.yaml"
_MODEL_CATALOG_FILE = "models.yaml"


class GpuInstanceType(BaseModel):
    """One AWS EC2 GPU instance type, as the sizer needs it.

    Memory is in GiB (2**30 bytes). ``usable_gib_per_gpu`` is the device memory CUDA reports to
    PyTorch, which is what vLLM multiplies by ``gpu_memory_utilization``; ``gpu_memory_gib`` is
    the nominal (marketing) size. ``price_per_hour`` is the us-east-1 Linux on-demand price.

    Example:
        >>> from vllm_infra.sizing import gpu_instances
        >>> g6 = gpu_instances()["g6.12xlarge"]
        >>> (g6.gpu_count, g6.gpu_model, g6.usable_gib_per_gpu, g6.interconnect)
        (4, 'L4', 22.0, 'pcie')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9-]+\.[a-z0-9]+$", description="e.g. 'g6e.12xlarge'")
    gpu_model: GpuModel
    gpu_count: PositiveInt
    gpu_memory_gib: PositiveFloat = Field(description="Nominal memory per GPU, GiB")
    usable_gib_per_gpu: PositiveFloat = Field(description="Memory CUDA reports per GPU, GiB")
    vcpus: PositiveInt
    memory_gib: PositiveFloat = Field(description="Host RAM, GiB")
    memory_mib: PositiveInt = Field(description="Host RAM as EC2 reports it (MemoryInfo.SizeInMiB), MiB")
    default_enis: PositiveInt = Field(description="Network interfaces of the default network card (defaultMaxENIs)")
    ipv4_per_eni: PositiveInt = Field(description="IPv4 addresses per network interface (ipv4AddressesPerInterface)")
    price_per_hour: PositiveFloat = Field(description="USD, on-demand, Linux, us-east-1")
    price_verified: bool = True
    interconnect: Interconnect
    regions: tuple[str, ...] = Field(min_length=1)
    vllm_default_max_num_batched_tokens: PositiveInt = Field(
        description="vLLM 0.33 default max_num_batched_tokens (API server) on this GPU"
    )

    @property
    def family(self) -> str:
        """Instance family, the part before the dot (``"p5"`` for ``"p5.48xlarge"``)."""
        return self.name.split(".", 1)[0]

    @property
    def total_usable_gib(self) -> float:
        """Usable GPU memory summed over all GPUs of the instance, GiB."""
        return self.usable_gib_per_gpu * self.gpu_count

    def offered_in(self, region: str) -> bool:
        """Whether the catalog lists this instance type in ``region``."""
        return region in self.regions

    @model_validator(mode="after")
    def _check_consistency(self) -> GpuInstanceType:
        if self.usable_gib_per_gpu > self.gpu_memory_gib:
            raise ValueError(
                f"{self.name}: usable_gib_per_gpu {self.usable_gib_per_gpu} exceeds "
                f"nominal gpu_memory_gib {self.gpu_memory_gib}"
            )
        if self.memory_mib != self.memory_gib * 1024:
            raise ValueError(f"{self.name}: memory_mib {self.memory_mib} is not memory_gib {self.memory_gib:g} × 1024")
        if self.gpu_count == 1 and self.interconnect != "none":
            raise ValueError(f"{self.name}: a single-GPU instance has interconnect 'none'")
        if self.gpu_count > 1 and self.interconnect == "none":
            raise ValueError(f"{self.name}: a multi-GPU instance needs 'nvlink' or 'pcie'")
        return self


class ModelArchitecture(BaseModel):
    """The architecture numbers that decide how much GPU memory a model needs under vLLM.

    Field names follow Hugging Face ``config.json``. The same model validates a catalog entry
    and a model the user describes in their own configuration (unknown keys are rejected so a
    typo does not silently fall back to a default).

    Memory-relevant fields:
        * ``total_params`` (all experts included for MoE) and ``quantization`` /
          ``unquantized_params`` decide weight bytes.
        * ``num_hidden_layers``, ``num_key_value_heads``, ``head_dim`` (or, for MLA,
          ``kv_lora_rank`` + ``qk_rope_head_dim``) decide KV-cache bytes per token.
        * ``hidden_size`` and ``vocab_size`` scale the activation/sampler overhead.
        * ``num_attention_heads`` and ``num_key_value_heads`` restrict tensor-parallel sizes.

    Example:
        >>> from vllm_infra.sizing import ModelArchitecture
        >>> custom = ModelArchitecture(
        ...     hf_id="acme/tiny-llama", total_params=1_100_000_000, num_hidden_layers=22,
        ...     num_attention_heads=32, num_key_value_heads=4, head_dim=64, hidden_size=2048,
        ...     vocab_size=32000, max_position_embeddings=2048, dtype="bfloat16")
        >>> custom.embedding_params
        131072000
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hf_id: str = Field(min_length=1, description="Hugging Face repo id or any display name")
    total_params: PositiveInt
    active_params: PositiveInt | None = Field(
        default=None, description="MoE: parameters used per token (informational)"
    )
    num_experts: PositiveInt | None = None
    num_experts_per_token: PositiveInt | None = None
    num_hidden_layers: PositiveInt
    num_attention_heads: PositiveInt
    num_key_value_heads: PositiveInt
    head_dim: PositiveInt
    hidden_size: PositiveInt
    intermediate_size: PositiveInt | None = Field(
        default=None, description="Informational; per-expert size for MoE models"
    )
    vocab_size: PositiveInt
    max_position_embeddings: PositiveInt
    tie_word_embeddings: bool = False
    dtype: ModelDtype = "bfloat16"
    quantization: CheckpointQuantization | None = Field(
        default=None, description="Set when the checkpoint itself is pre-quantized"
    )
    quantization_group_size: PositiveInt | None = None
    unquantized_params: NonNegativeInt | None = Field(
        default=None,
        description="Parameters a quantized model keeps 16-bit; default: embedding + lm_head",
    )
    attention: AttentionKind = "gqa"
    kv_lora_rank: PositiveInt | None = None
    qk_rope_head_dim: PositiveInt | None = None
    sliding_window: PositiveInt | None = Field(
        default=None, description="Informational; the sizer treats all layers as full attention"
    )
    notes: str = ""

    @field_validator("hf_id")
    @classmethod
    def _strip_id(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("hf_id must not be blank")
        return stripped

    @model_validator(mode="after")
    def _check_architecture(self) -> ModelArchitecture:
        problems: list[str] = []
        if self.num_attention_heads % self.num_key_value_heads != 0:
            problems.append(
                f"num_attention_heads ({self.num_attention_heads}) must be divisible by "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        if self.active_params is not None and self.active_params > self.total_params:
            problems.append(f"active_params ({self.active_params}) exceeds total_params ({self.total_params})")
        if (self.num_experts is None) != (self.num_experts_per_token is None):
            problems.append("num_experts and num_experts_per_token go together")
        if (
            self.num_experts is not None
            and self.num_experts_per_token is not None
            and self.num_experts_per_token > self.num_experts
        ):
            problems.append("num_experts_per_token exceeds num_experts")
        if self.attention == "mla":
            if self.kv_lora_rank is None or self.qk_rope_head_dim is None:
                problems.append("attention 'mla' needs kv_lora_rank and qk_rope_head_dim")
        elif self.kv_lora_rank is not None or self.qk_rope_head_dim is not None:
            problems.append("kv_lora_rank / qk_rope_head_dim only apply to attention 'mla'")
        if self.quantization_group_size is not None and self.quantization not in ("awq", "gptq"):
            problems.append("quantization_group_size only applies to awq/gptq checkpoints")
        if self.unquantized_params is not None and self.unquantized_params > self.total_params:
            problems.append(
                f"unquantized_params ({self.unquantized_params}) exceeds total_params ({self.total_params})"
            )
        if self.embedding_params > self.total_params:
            problems.append(
                f"vocab_size x hidden_size ({self.embedding_params} embedding parameters) "
                f"exceeds total_params ({self.total_params}); check the parameter count"
            )
        if problems:
            raise ValueError(f"{self.hf_id}: " + "; ".join(problems))
        return self

    @property
    def embedding_params(self) -> int:
        """Input embedding plus lm_head parameters (counted once when they are tied)."""
        copies = 1 if self.tie_word_embeddings else 2
        return copies * self.vocab_size * self.hidden_size

    @property
    def is_moe(self) -> bool:
        """Whether the model is a mixture of experts."""
        return self.num_experts is not None

    @property
    def is_prequantized(self) -> bool:
        """Whether the checkpoint's weights are already quantized."""
        return self.quantization is not None


def _read_yaml(filename: str) -> dict[str, Any]:
    text = resources.files(_PACKAGE).joinpath(filename).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"{filename}: expected a mapping at the top level")
    return loaded


@cache
def _gpu_catalog_document() -> dict[str, Any]:
    return _read_yaml(_GPU_CATALOG_FILE)


@cache
def _model_catalog_document() -> dict[str, Any]:
    return _read_yaml(_MODEL_CATALOG_FILE)


@cache
def gpu_instances() -> Mapping[str, GpuInstanceType]:
    """All GPU instance types in the packaged catalog, keyed by name, in catalog order.

    The mapping is read-only and cached: the YAML is parsed and validated once per process.

    Example:
        >>> from vllm_infra.sizing import gpu_instances
        >>> gpu_instances()["p5.48xlarge"].gpu_count
        8
    """
    document = _gpu_catalog_document()
    gpu_specs: dict[str, dict[str, Any]] = document["gpus"]
    instances: dict[str, GpuInstanceType] = {}
    for name, entry in document["instances"].items():
        fields = dict(entry)
        gpu_model = fields.pop("gpu")
        if gpu_model not in gpu_specs:
            raise ValueError(f"{_GPU_CATALOG_FILE}: {name} uses unknown gpu {gpu_model!r}")
        spec = gpu_specs[gpu_model]
        instances[name] = GpuInstanceType(
            name=name,
            gpu_model=gpu_model,
            gpu_memory_gib=spec["nominal_gib"],
            usable_gib_per_gpu=spec["usable_gib"],
            vllm_default_max_num_batched_tokens=spec["vllm_default_max_num_batched_tokens"],
            **fields,
        )
    return MappingProxyType(instances)


@cache
def model_catalog() -> Mapping[str, ModelArchitecture]:
    """All models in the packaged catalog, keyed by Hugging Face id, in catalog order.

    Example:
        >>> from vllm_infra.sizing import model_catalog
        >>> model_catalog()["deepseek-ai/DeepSeek-V3"].attention
        'mla'
    """
    document = _model_catalog_document()
    models = {hf_id: ModelArchitecture(hf_id=hf_id, **fields) for hf_id, fields in document["models"].items()}
    return MappingProxyType(models)


def catalog_metadata() -> dict[str, dict[str, Any]]:
    """Header blocks of both catalogs (sources, dates, conventions) for reports and audits.

    Example:
        >>> from vllm_infra.sizing.catalog import catalog_metadata
        >>> catalog_metadata()["gpu_instances"]["catalog_compiled"]
        '2026-11-28'
    """
    gpu_document = _gpu_catalog_document()
    model_document = _model_catalog_document()
    return {
        "gpu_instances": {
            key: value for key, value in gpu_document.items() if key not in ("gpus", "instances", "region_sets")
        },
        "models": {key: value for key, value in model_document.items() if key != "models"},
    }


class UnknownCatalogEntryError(KeyError):
    """Raised for a model id or instance type that is not in the catalog.

    Subclasses :class:`KeyError` (it is a failed lookup) but prints its message without the
    quotes ``KeyError`` adds, because the message is meant for people.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    # Compare case-insensitively (users type "llama-3.1-8b-instruct") but suggest real names.
    by_lower = {candidate.lower(): candidate for candidate in known}
    suggestions = [
        by_lower[match] for match in difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    ]
    if not suggestions:
        # A bare name ("Llama-3.1-8B-Instruct") compares better with the part after the slash.
        by_tail = {candidate.split("/")[-1].lower(): candidate for candidate in known}
        tail = name.lower().split("/")[-1]
        suggestions = [by_tail[match] for match in difflib.get_close_matches(tail, list(by_tail), n=5, cutoff=0.5)]
    message = f"unknown {kind} {name!r}"
    if suggestions:
        message += "; did you mean: " + ", ".join(suggestions)
    return message + f" ({len(known)} in the catalog)"


def lookup_model(hf_id: str) -> ModelArchitecture:
    """Return the catalog architecture for ``hf_id``.

    Matching is exact first, then case-insensitive. An unknown id raises :class:`KeyError`
    (:class:`UnknownCatalogEntryError`) whose message lists the closest catalog ids, so a typo
    gets a useful answer.

    Example:
        >>> from vllm_infra.sizing import lookup_model
        >>> lookup_model("qwen/qwen3-8b").hf_id
        'Qwen/Qwen3-8B'
        >>> lookup_model("meta-llama/Llama-3.1-8B")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vllm_infra.sizing.catalog.UnknownCatalogEntryError: unknown model 'meta-llama/Llama-3.1-8B'; ...Instruct...
    """
    catalog = model_catalog()
    if hf_id in catalog:
        return catalog[hf_id]
    for known_id, architecture in catalog.items():
        if known_id.lower() == hf_id.strip().lower():
            return architecture
    raise UnknownCatalogEntryError(_unknown_name_message("model", hf_id, list(catalog)))


def lookup_instance_type(name: str) -> GpuInstanceType:
    """Return the catalog entry for an EC2 instance type name, with suggestions when unknown.

    Example:
        >>> from vllm_infra.sizing.catalog import lookup_instance_type
        >>> lookup_instance_type("g6e.xlarge").gpu_model
        'L40S'
    """
    catalog = gpu_instances()
    key = name.strip().lower()
    if key in catalog:
        return catalog[key]
    raise UnknownCatalogEntryError(_unknown_name_message("instance type", name, list(catalog)))
