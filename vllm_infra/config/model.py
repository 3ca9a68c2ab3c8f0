"""Typed description of one served model: what to serve, on what, how it is cached, started and drained."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from vllm_infra.config.autoscaling import AutoscalingSpec
from vllm_infra.config.base import ConfigModel
from vllm_infra.config.capacity import GpuSpec
from vllm_infra.config.engine import EngineSpec
from vllm_infra.kube.quantity import GIB, QuantityError, parse_quantity
from vllm_infra.sizing import ModelArchitecture, UnknownCatalogEntryError, lookup_model, weight_bytes
from vllm_infra.sizing.memory import GIB as GIB_BYTES  # an int; the quantity parser's GIB is a Decimal

# Kubernetes object names derived from a model name get suffixes ("-cache", "-prewarm", "-pdb"); 40 characters
# keeps every derived name under the 63-character DNS label limit.
ResourceName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"),
]
# The library's floors for one replica. Memory: /dev/shm (2 GiB per GPU by default) counts against the limit, and the
# server process with torch and the CUDA runtime loaded needs a few GiB more; below 4 GiB a replica is OOM-killed
# while it loads. CPU: the API server, the tokenizer and the engine's scheduler loop each keep a core busy under load.
MIN_REPLICA_MEMORY_GIB = 4
MIN_REPLICA_CPU = 1


def _number_as_text(value: Any) -> Any:
    # YAML turns `cpu: 8` into a number; Kubernetes accepts both spellings.
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _memory_quantity(text: str) -> str:
    try:
        amount = parse_quantity(text)
    except QuantityError as error:
        raise ValueError(f"{error}; write memory in bytes with a binary unit, e.g. 32Gi (Gi = 2^30 bytes)") from None
    if amount <= 0:
        raise ValueError("must be positive; write memory in bytes with a binary unit, e.g. 32Gi")
    if amount < MIN_REPLICA_MEMORY_GIB * GIB:
        unit = re.sub(r"^[+-]?[0-9.]+", "", text)
        fractions = {"m": "milli (1/1000)", "u": "micro (1/10^6)", "n": "nano (1/10^9)"}
        why = f"{text} is {amount.normalize():f} bytes"
        if unit in fractions:
            why = f"'{unit}' means {fractions[unit]}, so {why}"
        raise ValueError(
            f"{why}, below the {MIN_REPLICA_MEMORY_GIB}Gi a vLLM replica needs (/dev/shm counts against the limit, "
            "and the server with torch and CUDA loaded takes a few GiB); write e.g. 32Gi, or leave it unset for the "
            "replica's share of the node"
        )
    return text


def _cpu_quantity(text: str) -> str:
    try:
        cores = parse_quantity(text)
    except QuantityError as error:
        raise ValueError(f"{error}; write CPU in cores, e.g. 8 or 7500m (m = 1/1000 core)") from None
    if re.search(r"[KMGTPE]i$", text):
        raise ValueError("CPU is counted in cores, not bytes; write e.g. 8 or 7500m (m = 1/1000 core)")
    if cores < MIN_REPLICA_CPU:
        raise ValueError(
            f"is {cores.normalize()} CPU, below the {MIN_REPLICA_CPU} CPU a vLLM replica needs (the API server, the "
            "tokenizer and the scheduler loop); write e.g. 8, or leave it unset for the replica's share of the node"
        )
    return text


MemoryQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_memory_quantity)]
CpuQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_cpu_quantity)]


class CacheSpec(ConfigModel):
    """The model-weight cache: one PersistentVolumeClaim per model, filled once by a pre-warm Job.

    Every replica reads weights from it instead of downloading them from the Hugging Face Hub, which is slow and is
    rate-limited (HTTP 429) exactly when many replicas scale out at once.

    Example::

        cache:
          storageClass: efs-sc
          accessMode: ReadWriteMany
    """

    storage_class: str | None = Field(None, description="StorageClass of the claim; None = the cluster's default.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        "ReadWriteOnce", description="ReadWriteMany (e.g. EFS) is needed for more than one replica."
    )
    size_gib: int | None = Field(None, ge=1, le=65536, description="Claim size; None = weights × 1.25 + 10 GiB.")
    prewarm: bool = Field(True, description="Download the pinned revision once, before any replica starts.")
    prewarm_timeout_minutes: int = Field(120, ge=5, le=1440, description="How long `pulumi up` waits for it.")
    protect: bool = Field(True, description="Pulumi refuses to delete the claim (and its weights) until unset.")


class ResourceSpec(ConfigModel):
    """CPU, memory and shared memory of one vLLM replica (GPUs follow from the tensor-parallel size).

    Unset values are derived from the GPU instance: each replica gets its share of the node (minus what the kubelet
    and daemonsets keep), so a 70B model with 8 tensor-parallel workers is not squeezed into a small default and a
    small model does not ask for more than a small node has.
    """

    cpu: CpuQuantity | None = Field(
        None, description="CPU request (cores: 8, 7500m); no CPU limit is set, so the tokenizer is never throttled."
    )
    memory: MemoryQuantity | None = Field(
        None, description="Memory request and limit (bytes: 32Gi), at least 4Gi; includes /dev/shm."
    )
    shm_size_gib: int | None = Field(
        None, ge=1, le=512, description="Memory-backed /dev/shm (NCCL, tensor-parallel workers); None = 2 GiB per GPU."
    )


class LifecycleSpec(ConfigModel):
    """How a replica starts and stops.

    Stopping: the pod is removed from Service endpoints, waits ``preStopSeconds`` so every balancer has noticed, then
    vLLM drains in-flight requests for up to ``drainSeconds`` (``--shutdown-timeout``) before exiting. The grace period
    is the sum plus a margin, so a rolling update never cuts a stream shorter than ``drainSeconds``.
    """

    startup_budget_seconds: int | None = Field(
        None, ge=60, le=14400, description="How long a replica may take to serve; None = derived from model size."
    )
    pre_stop_seconds: int = Field(15, ge=0, le=120, description="Wait for endpoint removal to propagate.")
    drain_seconds: int = Field(300, ge=0, le=3600, description="Longest in-flight request allowed to finish.")


class SecuritySpec(ConfigModel):
    """How the vLLM and pre-warm containers run: as an unprivileged user, without privilege escalation or Linux
    capabilities, with the RuntimeDefault seccomp profile and, by default, a read-only root filesystem (every cache
    vLLM, PyTorch and Triton write goes to a scratch emptyDir).
    """

    run_as_user: int = Field(2000, ge=1, le=2**31 - 1, description="UID (the vLLM image's `vllm` user is 2000).")
    read_only_root_filesystem: bool = Field(
        True, description="false if a model's custom code writes outside the redirected cache directories."
    )
    scratch_size_gib: int = Field(20, ge=1, le=1024, description="Size of /tmp (compile and kernel caches).")


class ModelSpec(ConfigModel):
    """One model served by vLLM: its Hub id and pinned revision, replicas, engine settings, cache and resources.

    Example (stack file)::

        models:
          - name: llama-8b
            model: meta-llama/Llama-3.1-8B-Instruct
            revision: 0e9e39f249a16976918f6564b8830bc894c89659
            engine:
              maxModelLen: 8192
    """

    name: ResourceName = Field(description="Kubernetes name of this model's objects (DNS label, <= 40 chars).")
    model: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")] = (
        Field(description="Hugging Face repository id, e.g. meta-llama/Llama-3.1-8B-Instruct.")
    )
    revision: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{1,100}$")] | None = Field(
        None, description="Commit (or tag) of the repository; pin a commit so every replica serves the same weights."
    )
    served_model_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")] | None = (
        Field(None, description="The `model` clients send; None = the repository id. Letters, digits and ._:/@+-.")
    )
    weights_gib: float | None = Field(
        None, gt=0, le=4096, description="Size of the weights on disk; None = computed from the model catalog."
    )
    replicas: int = Field(1, ge=1, le=512, description="Replicas when no autoscaler owns the count.")
    autoscaling: AutoscalingSpec | None = Field(None, description="Scale on load instead of a fixed replica count.")
    architecture: ModelArchitecture | None = Field(
        None, description="For a model outside the catalog: the numbers of its config.json (snake_case, as there)."
    )
    engine: EngineSpec = Field(default_factory=EngineSpec)
    gpu: GpuSpec = Field(default_factory=GpuSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    lifecycle: LifecycleSpec = Field(default_factory=LifecycleSpec)
    security: SecuritySpec = Field(default_factory=SecuritySpec)
    node_selector: dict[str, str] = Field(default_factory=dict, description="Extra node labels the pods require.")

    _catalog_weights_gib: float | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _architecture_names_its_model(cls, data: Any) -> Any:
        # The architecture block describes this model; its id is the model's, so users need not repeat it.
        if isinstance(data, dict) and isinstance(data.get("architecture"), dict):
            model_id = data.get("model")
            data = {**data, "architecture": {"hf_id": model_id, **data["architecture"]}}
        return data

    @field_validator("revision")
    @classmethod
    def _no_floating_revision(cls, value: str | None) -> str | None:
        if value in {"main", "master", "latest"}:
            raise ValueError(f"{value!r} moves; pin a commit hash so every replica serves the same weights")
        return value

    @model_validator(mode="after")
    def _cache_can_be_shared(self) -> ModelSpec:
        if self.cache.access_mode == "ReadWriteOnce" and self.max_replicas > 1:
            raise ValueError(
                f"cache.accessMode: ReadWriteOnce cannot be shared by {self.max_replicas} replicas (pods on other "
                "nodes hang on Multi-Attach): set cache.accessMode: ReadWriteMany with an RWX storage class (e.g. "
                "EFS), or at most one replica"
            )
        return self

    @model_validator(mode="after")
    def _weights_known(self) -> ModelSpec:
        if self.weights_gib is None:
            architecture = self.architecture_or_none
            if architecture is None:
                raise ValueError(
                    f"model: {self.model!r} is not in the model catalog ({self._catalog_hint()}); describe it under "
                    "`architecture`, or set weightsGib (the size of its weights on disk) and pin gpu.instanceType and "
                    "engine.tensorParallelSize"
                )
            try:
                self._catalog_weights_gib = weight_bytes(architecture, self.engine.quantization) / GIB_BYTES
            except ValueError as error:
                raise ValueError(f"engine.quantization: {error}; or set weightsGib to skip the estimate") from None
        return self

    @model_validator(mode="after")
    def _scale_down_outlasts_cold_start(self) -> ModelSpec:
        if self.autoscaling is None:
            return self
        if "replicas" in self.model_fields_set:
            raise ValueError(
                "replicas: with autoscaling the autoscaler owns the replica count (the Deployment leaves it out so "
                "`pulumi up` never resets it); remove replicas and set autoscaling.minReplicas, where the fleet starts"
            )
        cold_start = self.cold_start_seconds
        if self.autoscaling.scale_down_window_seconds < cold_start:
            raise ValueError(
                f"autoscaling.scaleDownWindowSeconds {self.autoscaling.scale_down_window_seconds} is shorter than "
                f"the model's cold start (~{cold_start} s for {self.weight_size_gib:.0f} GiB of weights): a replica "
                f"removed now cannot be back in time for the next burst; set it to at least {cold_start}"
            )
        return self

    def _catalog_hint(self) -> str:
        try:
            lookup_model(self.model)
        except UnknownCatalogEntryError as error:
            return str(error)
        return "known"

    @property
    def architecture_or_none(self) -> ModelArchitecture | None:
        """The model's architecture: the configured one, else the catalog's, else None."""
        if self.architecture is not None:
            return self.architecture
        try:
            return lookup_model(self.model)
        except UnknownCatalogEntryError:
            return None

    @property
    def served_name(self) -> str:
        """The model name clients put in requests."""
        return self.served_model_name or self.model

    @property
    def weight_size_gib(self) -> float:
        """Weights on disk in GiB: the configured value, else the model catalog's estimate."""
        if self.weights_gib is not None:
            return self.weights_gib
        assert self._catalog_weights_gib is not None  # set by _weights_known
        return self._catalog_weights_gib

    @property
    def max_replicas(self) -> int:
        """The most replicas that can run: the autoscaler's maximum, else ``replicas``."""
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas

    @property
    def initial_replicas(self) -> int:
        """Replicas the stack starts with (and sizes its GPU nodes for): the autoscaler's minimum, else ``replicas``."""
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def cold_start_seconds(self) -> int:
        """Expected seconds from scheduling to serving on a node that has the image: ~120 s of engine start
        (compile, CUDA graphs) plus weights at ~200 MiB/s from the cache volume (5 s per GiB), or another 10 s per
        GiB when each replica downloads them. The startup probe budget is more generous: it is a limit, not an
        estimate."""
        per_gib = 5 if self.cache.prewarm else 15
        return int(math.ceil((120 + per_gib * self.weight_size_gib) / 30) * 30)

    @property
    def cache_size_gib(self) -> int:
        """Claim size: the configured value, else the weights with 25% headroom (tokenizer, revisions) plus 10 GiB."""
        if self.cache.size_gib is not None:
            return self.cache.size_gib
        return math.ceil(self.weight_size_gib * 1.25 + 10)

    @property
    def startup_budget_seconds(self) -> int:
        """Seconds a replica may take from start to serving.

        300 s covers engine start, torch.compile and CUDA-graph capture; weights stream from the cache volume at a
        conservative ~100 MiB/s (network storage, cold page cache) → ~10 s per GiB; without a pre-warmed cache each
        replica also downloads them (another ~10 s per GiB).
        """
        if self.lifecycle.startup_budget_seconds is not None:
            return self.lifecycle.startup_budget_seconds
        per_gib = 10 if self.cache.prewarm else 20
        return int(math.ceil((300 + per_gib * self.weight_size_gib) / 60) * 60)
