"""Synthetic Kubernetes resources, shaped as the engine receives them (camelCase, numbers as floats)."""

from __future__ import annotations

import copy
from typing import Any

from pulumi.runtime import rpc

from vllm_infra.policies import Resource

NAMESPACE = "vllm"
SELECTOR = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "llama"}
URN_PREFIX = "urn:pulumi:dev::vllm-infra::"


def urn(type_token: str, name: str) -> str:
    """A URN for a top-level resource."""
    return f"{URN_PREFIX}{type_token}::{name}"


def probe(path: str = "/health") -> dict[str, Any]:
    """An httpGet probe on the named port."""
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10.0, "failureThreshold": 3.0}


def vllm_container(tp: int = 1, gpus: Any = "1", **overrides: Any) -> dict[str, Any]:
    """A compliant vLLM server container with ``--tensor-parallel-size tp`` and ``gpus`` GPUs."""
    container: dict[str, Any] = {
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.33.0",
        "args": ["org/model", "--port", "8000", "--tensor-parallel-size", str(tp), "--max-model-len", "8192"],
        "env": [
            {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "api-key"}}},
            {"name": "HF_HOME", "value": "/data/huggingface"},
        ],
        "resources": {"requests": {"cpu": "3", "nvidia.com/gpu": gpus}, "limits": {"nvidia.com/gpu": gpus}},
        "startupProbe": probe(),
        "readinessProbe": probe(),
        "livenessProbe": probe(),
    }
    container.update(overrides)
    return container


def deployment(
    name: str = "llama",
    *,
    containers: list[dict[str, Any]] | None = None,
    replicas: float | None = 1.0,
    namespace: str = NAMESPACE,
    labels: dict[str, str] | None = None,
    ignore_changes: tuple[str, ...] = (),
) -> Resource:
    """An apps/v1 Deployment running ``containers`` (default: one compliant vLLM container)."""
    pod_labels = dict(labels or SELECTOR)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(pod_labels)},
        "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": containers or [vllm_container()]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    inputs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(pod_labels)},
        "spec": spec,
    }
    return Resource(
        "kubernetes:apps/v1:Deployment",
        inputs,
        urn("kubernetes:apps/v1:Deployment", name),
        name,
        ignore_changes=ignore_changes,
    )


def pdb(name: str = "llama-pdb", selector: Any = None, namespace: str = NAMESPACE) -> Resource:
    """A policy/v1 PodDisruptionBudget selecting ``selector`` (default: the vLLM pods)."""
    inputs = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": selector if selector is not None else {"matchLabels": dict(SELECTOR)},
            "maxUnavailable": 1.0,
        },
    }
    token = "kubernetes:policy/v1:PodDisruptionBudget"
    return Resource(token, inputs, urn(token, name), name)


def network_policy(name: str = "llama-ingress", pod_selector: Any = None, namespace: str = NAMESPACE) -> Resource:
    """A NetworkPolicy whose podSelector is ``pod_selector`` (default: the vLLM pods)."""
    inputs = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": pod_selector if pod_selector is not None else {"matchLabels": dict(SELECTOR)}},
    }
    token = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    return Resource(token, inputs, urn(token, name), name)


def secret(name: str = "api-key", *, string_data: Any = None, data: Any = None) -> Resource:
    """A core/v1 Secret; values default to a Pulumi secret."""
    inputs: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}}
    inputs["stringData"] = string_data if string_data is not None else {"api-key": rpc.wrap_rpc_secret("sk-123")}
    if data is not None:
        inputs["data"] = data
    return Resource("kubernetes:core/v1:Secret", inputs, urn("kubernetes:core/v1:Secret", name), name)


def hpa(spec: dict[str, Any], name: str = "llama-hpa", namespace: str = NAMESPACE) -> Resource:
    """An autoscaling/v2 HorizontalPodAutoscaler with ``spec`` (scaleTargetRef defaults to Deployment llama)."""
    full = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama"}, **spec}
    inputs = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
              "metadata": {"name": name, "namespace": namespace}, "spec": full}  # fmt: skip
    token = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    return Resource(token, inputs, urn(token, name), name)


def scaled_object(spec: dict[str, Any], name: str = "llama-keda", *, typed: bool = True) -> Resource:
    """A KEDA ScaledObject, as a typed CRD resource or a generic ``CustomResource``."""
    full = {"scaleTargetRef": {"name": "llama"}, "triggers": [{"type": "prometheus", "metadata": {}}], **spec}
    inputs = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
              "metadata": {"name": name, "namespace": NAMESPACE}, "spec": full}  # fmt: skip
    token = "kubernetes:keda.sh/v1alpha1:ScaledObject" if typed else "kubernetes:apiextensions.k8s.io:CustomResource"
    return Resource(token, inputs, urn(token, name), name)


def cache_claim(name: str = "llama-cache", *, protect: bool = True, component: str = "cache") -> Resource:
    """A PersistentVolumeClaim labelled as a model cache."""
    inputs = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/component": component}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "29Gi"}}},
    }
    token = "kubernetes:core/v1:PersistentVolumeClaim"
    return Resource(token, inputs, urn(token, name), name, protect=protect)


def with_container(resource: Resource, **changes: Any) -> Resource:
    """A copy of a Deployment whose first container has ``changes`` applied (``None`` deletes a key)."""
    inputs = copy.deepcopy(dict(resource.inputs))
    container = inputs["spec"]["template"]["spec"]["containers"][0]
    for key, value in changes.items():
        if value is None:
            container.pop(key, None)
        else:
            container[key] = value
    return Resource(resource.type, inputs, resource.urn, resource.name, resource.protect, resource.ignore_changes)
