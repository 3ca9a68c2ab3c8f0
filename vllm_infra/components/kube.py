"""The one place where recurring Kubernetes pieces are built: labels, object metadata, probes, GPU scheduling.

Components compose these instead of writing their own dictionaries, so every object of the library carries the same
labels and every HTTP probe has the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pulumi

PART_OF = "vllm-infra"
MODEL_LABEL = "vllm-infra.io/model"
GPU_RESOURCE = "nvidia.com/gpu"


def group_version_kind(type_token: str, inputs: Mapping[str, Any] | None = None) -> tuple[str, str, str] | None:
    """``(group, version, kind)`` of a Kubernetes resource from its Pulumi type token, with ``apiVersion``/``kind``
    in its inputs taking precedence (a ``CustomResource`` carries them); the legacy group is ``core``. None for
    anything that is not a Kubernetes resource.

    >>> group_version_kind("kubernetes:apps/v1:Deployment"), group_version_kind("kubernetes:core/v1:Service")
    (('apps', 'v1', 'Deployment'), ('core', 'v1', 'Service'))
    """
    if not type_token.startswith("kubernetes:"):
        return None
    parts = type_token.split(":", 2)
    group, _, version = parts[1].partition("/") if len(parts) == 3 else ("", "", "")
    kind = parts[2] if len(parts) == 3 else ""
    api_version = (inputs or {}).get("apiVersion")
    if isinstance(api_version, str) and api_version:
        api_group, _, api_version_only = api_version.rpartition("/")
        group, version = api_group or "core", api_version_only
    input_kind = (inputs or {}).get("kind")
    if isinstance(input_kind, str) and input_kind:
        kind = input_kind
    if not (group and version and kind):
        return None
    return group, version, kind


def selector_labels(component: str, instance: str) -> dict[str, str]:
    """Labels that select a workload's pods. Deployment selectors are immutable, so this set never grows.

    >>> selector_labels("inference", "llama-8b")["app.kubernetes.io/instance"]
    'llama-8b'
    """
    return {
        "app.kubernetes.io/name": "vllm" if component == "inference" else f"vllm-{component}",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def inference_pods_selector() -> dict[str, str]:
    """Labels every vLLM pod carries, whatever its model (the multi-model router and monitoring select on them)."""
    labels = selector_labels("inference", "")
    del labels["app.kubernetes.io/instance"]
    return labels


def standard_labels(component: str, instance: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Selector labels plus the recommended descriptive ones (part-of, managed-by) and any ``extra``."""
    labels = {
        **selector_labels(component, instance),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    labels.update(extra or {})
    return labels


def object_meta(name: str, namespace: pulumi.Input[str] | None, labels: Mapping[str, str], **extra: Any) -> dict:
    """Metadata with an explicit name: deterministic names keep previews readable and references stable."""
    meta: dict[str, Any] = {"name": name, "labels": dict(labels), **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def http_probe(path: str, port: str, *, period_seconds: int, timeout_seconds: int, failure_threshold: int) -> dict:
    """An HTTP GET probe against a named container port."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_seconds,
        "timeoutSeconds": timeout_seconds,
        "failureThreshold": failure_threshold,
    }


def startup_probe(path: str, port: str, budget_seconds: int, period_seconds: int = 10) -> dict:
    """A startup probe that allows ``budget_seconds`` before the kubelet gives up; liveness waits until it passes."""
    return http_probe(
        path,
        port,
        period_seconds=period_seconds,
        timeout_seconds=5,
        failure_threshold=max(1, math.ceil(budget_seconds / period_seconds)),
    )


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


def restricted_security_context(run_as_user: int, read_only_root: bool) -> dict:
    """A container security context that satisfies the Kubernetes "restricted" Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(run_as_user: int) -> dict:
    """The pod-level part: volumes group-owned by the user's group, re-chowned only when the root of the volume is
    not already (a recursive chown of hundreds of GiB of weights would delay every start)."""
    return {"fsGroup": run_as_user, "fsGroupChangePolicy": "OnRootMismatch"}


def scratch_env() -> list[dict]:
    """The environment that sends every cache into the scratch directory."""
    return [{"name": name, "value": value} for name, value in SCRATCH_ENV.items()]


def scratch_volume(size_gib: int) -> dict:
    """The scratch emptyDir mounted at ``SCRATCH``."""
    return {"name": "scratch", "emptyDir": {"sizeLimit": f"{size_gib}Gi"}}


def gpu_tolerations() -> list[dict]:
    """Tolerate the ``nvidia.com/gpu`` NoSchedule taint that keeps other workloads off GPU nodes."""
    return [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]


def minutes(seconds: int) -> str:
    """A Pulumi custom-timeout string, rounded up to whole minutes."""
    return f"{math.ceil(seconds / 60)}m"
