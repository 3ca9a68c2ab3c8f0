"""Synthetic plan documents for the diff tests: resources as ``plan_json`` writes them."""

from __future__ import annotations

import copy
from typing import Any

from vllm_infra.offline.diff import diff_plans

STACK_URN = "urn:pulumi:dev::vllm-infra::"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"


def entry(type_token: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One resource of a plan document, as plan_json writes it."""
    return {
        "urn": f"{STACK_URN}{type_token}::{name}",
        "type": type_token,
        "name": name,
        "parent": None,
        "provider": None,
        "inputs": inputs,
        "protect": False,
        "customTimeouts": {},
        "dependsOn": [],
        **extra,
    }


def document(*resources: dict[str, Any], outputs: dict | None = None, cost: Any = None) -> dict[str, Any]:
    doc = {"stack": "dev", "project": "vllm-infra", "resources": list(resources), "outputs": outputs or {},
           "warnings": []}  # fmt: skip
    if cost is not None:
        doc["estimated_gpu_cost_per_hour"] = cost
    return doc


def k8s(kind: str, api_version: str, name: str, spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    inputs = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "vllm"}, **top}
    if spec is not None:
        inputs["spec"] = spec
    return entry(f"kubernetes:{group_version}:{kind}", name, inputs)


def deployment(args: list[str] | None = None, env: list[dict] | None = None, selector: dict | None = None,
               replicas: float = 1.0) -> dict[str, Any]:  # fmt: skip
    labels = {"app": "vllm"}
    container = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0",
                 "args": args or ["org/m", "--port", "8000", "--max-model-len", "8192", "--enable-prefix-caching"],
                 "env": env or [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}  # fmt: skip
    spec = {"replicas": replicas, "selector": {"matchLabels": dict(selector or labels)},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}  # fmt: skip
    return k8s("Deployment", "apps/v1", "llama", spec)


def changed(old: dict, new: dict):
    """The only changed resource of a two-document diff."""
    diff = diff_plans(document(old), document(new))
    assert not diff.added and not diff.removed
    (resource,) = diff.changed
    return resource


def mutate(resource: dict, fn) -> dict:
    copy_ = copy.deepcopy(resource)
    fn(copy_["inputs"])
    return copy_


def node_group(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "clusterName": "ml-platform",
        "nodeRoleArn": "arn:aws:iam::123456789012:role/gpu-nodes",
        "subnetIds": ["subnet-a", "subnet-b"],
        "instanceTypes": ["g6.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "capacityType": "ON_DEMAND",
        "diskSize": 200.0,
        "scalingConfig": {"minSize": 1.0, "maxSize": 2.0, "desiredSize": 1.0},
        "launchTemplate": {"id": "lt-1", "version": "1"},
        "labels": {"gpu": "L4"},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    }
    inputs.update(overrides.pop("inputs", {}))
    return entry(NODE_GROUP, "gpu", inputs, **overrides)


def cluster(**inputs: Any) -> dict[str, Any]:
    base = {"name": "ml-platform", "roleArn": "arn:aws:iam::1:role/eks", "version": "1.32",
            "vpcConfig": {"subnetIds": ["subnet-a", "subnet-b"], "endpointPublicAccess": True}}  # fmt: skip
    base.update(inputs)
    return entry(CLUSTER, "eks", base)
