"""Labels, label selectors and object metadata: the Kubernetes recommended ``app.kubernetes.io/*`` labels, applied
the same way to every object of the library.

``selector_labels`` selects a workload's pods and never grows (Deployment selectors are immutable);
``standard_labels`` adds the descriptive ones. Example::

    meta = object_meta("llama-8b", "vllm", standard_labels("inference", "llama-8b", {MODEL_LABEL: "llama-8b"}))
    spec = {"selector": label_selector(selector_labels("inference", "llama-8b")), ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pulumi

__all__ = [
    "INSTANCE_LABEL",
    "MODEL_LABEL",
    "PART_OF",
    "PART_OF_LABEL",
    "component_pods_selector",
    "inference_pods_selector",
    "label_selector",
    "object_meta",
    "part_of_labels",
    "selector_labels",
    "standard_labels",
]

PART_OF = "vllm-infra"
PART_OF_LABEL = "app.kubernetes.io/part-of"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MODEL_LABEL = "vllm-infra.io/model"


def selector_labels(component: str, instance: str) -> dict[str, str]:
    """Labels that select a workload's pods. Deployment selectors are immutable, so this set never grows.

    >>> selector_labels("inference", "llama-8b")["app.kubernetes.io/instance"]
    'llama-8b'
    """
    return {
        "app.kubernetes.io/name": "vllm" if component == "inference" else f"vllm-{component}",
        INSTANCE_LABEL: instance,
        "app.kubernetes.io/component": component,
    }


def component_pods_selector(component: str) -> dict[str, str]:
    """Labels every pod of a library component carries, whatever its instance (model or balancer name).

    >>> component_pods_selector("cache")
    {'app.kubernetes.io/name': 'vllm-cache', 'app.kubernetes.io/component': 'cache'}
    """
    labels = selector_labels(component, "")
    del labels[INSTANCE_LABEL]
    return labels


def inference_pods_selector() -> dict[str, str]:
    """Labels every vLLM pod carries, whatever its model (the multi-model router and monitoring select on them)."""
    return component_pods_selector("inference")


def part_of_labels() -> dict[str, str]:
    """The one label of objects shared by the whole installation (namespaces, storage classes), which belong to no
    component instance: ``app.kubernetes.io/part-of: vllm-infra``."""
    return {PART_OF_LABEL: PART_OF}


def standard_labels(component: str, instance: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Selector labels plus the recommended descriptive ones (part-of, managed-by) and any ``extra``."""
    labels = {
        **selector_labels(component, instance),
        **part_of_labels(),
        "app.kubernetes.io/managed-by": "pulumi",
    }
    labels.update(extra or {})
    return labels


def label_selector(labels: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """A ``LabelSelector`` that matches exactly the objects carrying all of ``labels`` (``matchLabels``).

    >>> label_selector({"app": "vllm"})
    {'matchLabels': {'app': 'vllm'}}
    """
    return {"matchLabels": dict(labels)}


def object_meta(name: str, namespace: pulumi.Input[str] | None, labels: Mapping[str, str], **extra: Any) -> dict:
    """Metadata with an explicit name: deterministic names keep previews readable and references stable.

    ``namespace`` None leaves it out (cluster-scoped objects); ``extra`` adds fields such as ``annotations``.
    """
    meta: dict[str, Any] = {"name": name, "labels": dict(labels), **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta
