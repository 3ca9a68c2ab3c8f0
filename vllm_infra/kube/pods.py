"""Pod-spec pieces: GPU scheduling, emptyDir volumes and the scratch directory of read-only containers."""

from __future__ import annotations

from vllm_infra.kube.quantity import gib_quantity

__all__ = [
    "GPU_RESOURCE",
    "SCRATCH",
    "SCRATCH_ENV",
    "empty_dir_volume",
    "gpu_tolerations",
    "scratch_env",
    "scratch_volume",
]

GPU_RESOURCE = "nvidia.com/gpu"

# Where a read-only container writes: every cache directory of vLLM, PyTorch, Triton and FlashInfer points into this
# scratch emptyDir (the Hugging Face cache is the model-cache volume, HF_HOME).
SCRATCH = "/tmp"
SCRATCH_ENV = {
    "HOME": f"{SCRATCH}/home",
    "XDG_CACHE_HOME": f"{SCRATCH}/cache",
    "VLLM_CACHE_ROOT": f"{SCRATCH}/cache/vllm",
    "VLLM_CONFIG_ROOT": f"{SCRATCH}/config/vllm",
    "TRITON_CACHE_DIR": f"{SCRATCH}/cache/triton",
    "TORCHINDUCTOR_CACHE_DIR": f"{SCRATCH}/cache/inductor",
}


def gpu_tolerations() -> list[dict]:
    """Tolerate the ``nvidia.com/gpu`` NoSchedule taint that keeps other workloads off GPU nodes."""
    return [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]


def empty_dir_volume(name: str, size_gib: float, *, memory: bool = False) -> dict:
    """An emptyDir volume ``name`` bounded to ``size_gib`` GiB; ``memory`` backs it with RAM (tmpfs, counted against
    the container's memory limit), for ``/dev/shm`` or secrets that must not touch the node's disk.

    >>> empty_dir_volume("dshm", 8, memory=True)
    {'name': 'dshm', 'emptyDir': {'medium': 'Memory', 'sizeLimit': '8Gi'}}
    """
    empty_dir = {"medium": "Memory"} if memory else {}
    empty_dir["sizeLimit"] = gib_quantity(size_gib)
    return {"name": name, "emptyDir": empty_dir}


def scratch_env() -> list[dict]:
    """The environment that sends every cache into the scratch directory."""
    return [{"name": name, "value": value} for name, value in SCRATCH_ENV.items()]


def scratch_volume(size_gib: int) -> dict:
    """The scratch emptyDir mounted at ``SCRATCH``."""
    return empty_dir_volume("scratch", size_gib)
