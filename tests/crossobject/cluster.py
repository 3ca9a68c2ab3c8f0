"""A plan seen as the clusters it creates objects in: per cluster, the Kubernetes objects (as ``vllm-infra render``
writes them) and the EKS node groups (``aws:eks/nodeGroup:NodeGroup`` inputs) — what the cross-object checks read.

A multi-region plan holds one cluster per region, each with its own ``vllm`` namespace: a selector in one cluster must
never be satisfied by a pod of another, so objects are grouped by the cluster their provider talks to (the
``RegionalCluster`` component that owns the provider).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vllm_infra.offline.redact import redact, whole_numbers
from vllm_infra.offline.render import manifest
from vllm_infra.offline.runner import Plan, PlannedResource

NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
# Workload kinds and where their pod template sits.
TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass
class Cluster:
    """One cluster's planned objects and node groups. ``objects`` may be mutated by tests (negative checks)."""

    name: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    node_groups: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        """Objects of any of ``kinds``."""
        return [obj for obj in self.objects if obj["kind"] in kinds]

    def find(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object of ``kind`` named ``name`` in ``namespace`` (None for cluster-scoped kinds), or None."""
        for obj in self.of_kind(kind):
            meta = obj.get("metadata", {})
            if meta.get("name") == name and (namespace is None or meta.get("namespace", "default") == namespace):
                return obj
        return None

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """The labels of ``namespace``: the planned Namespace's, plus ``kubernetes.io/metadata.name`` which the API
        server sets on every namespace (Kubernetes 1.22+)."""
        labels = {"kubernetes.io/metadata.name": namespace}
        planned = self.find("Namespace", None, namespace)
        if planned is not None:
            labels.update(planned["metadata"].get("labels") or {})
        return labels

    def pod_templates(self) -> list[PodTemplate]:
        """Every pod the cluster's workloads create (one entry per workload), and bare Pods."""
        templates = []
        for obj in self.objects:
            path = TEMPLATE_PATHS.get(obj["kind"])
            if path is None and obj["kind"] != "Pod":
                continue
            template: Any = obj
            for key in path or ():
                template = template.get(key) or {}
            templates.append(PodTemplate(owner=obj, template=template))
        return templates


@dataclass
class PodTemplate:
    """A pod as its workload will create it: the owner object and its (live, mutable) pod template."""

    owner: dict[str, Any]
    template: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.owner["kind"]

    @property
    def name(self) -> str:
        return self.owner["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.owner["metadata"].get("namespace", "default")

    @property
    def labels(self) -> dict[str, str]:
        return (self.template.get("metadata") or {}).get("labels") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.template.get("spec") or {}

    @property
    def ref(self) -> str:
        """``Deployment vllm/llama-3-1-8b``: how problems name the pod's owner."""
        return f"{self.kind} {self.namespace}/{self.name}"

    def containers(self, *, init: bool = True) -> Iterator[dict[str, Any]]:
        """The regular containers, then (``init``) the init containers."""
        yield from self.spec.get("containers") or []
        if init:
            yield from self.spec.get("initContainers") or []

    def named_ports(self) -> dict[str, tuple[int, str]]:
        """Container port name → (number, protocol), over every container."""
        return {
            port["name"]: (int(port["containerPort"]), port.get("protocol", "TCP"))
            for container in self.containers()
            for port in container.get("ports") or []
            if "name" in port
        }

    def port_numbers(self) -> set[tuple[int, str]]:
        """Every (containerPort, protocol) the pod declares."""
        return {
            (int(port["containerPort"]), port.get("protocol", "TCP"))
            for container in self.containers()
            for port in container.get("ports") or []
        }


def cluster_name(plan: Plan, resource: PlannedResource) -> str:
    """The name of the cluster ``resource`` is created in: the component owning its provider (``us-east-1``)."""
    # A provider reference is "<provider urn>::<id>"; the provider's parent is the cluster component.
    if not resource.provider:
        return "default"
    provider_urn = resource.provider.rsplit("::", 1)[0]
    provider = next((r for r in plan.resources if r.urn == provider_urn), None)
    if provider is None or provider.parent is None:
        return "default"
    return provider.parent.rsplit("::", 1)[-1]


def clusters(plan: Plan) -> list[Cluster]:
    """The plan's clusters, each with its Kubernetes objects (secrets redacted) and node groups, in plan order."""
    by_urn = {resource.urn: resource for resource in plan.resources}

    def cluster_of(provider_ref: str | None) -> str:
        if not provider_ref:
            return "default"
        provider = by_urn.get(provider_ref.rsplit("::", 1)[0])
        if provider is None or provider.parent is None:
            return "default"
        return provider.parent.rsplit("::", 1)[-1]

    found: dict[str, Cluster] = {}
    for resource in plan.resources:
        if resource.type == NODE_GROUP_TYPE:
            name = cluster_of(resource.provider)
            found.setdefault(name, Cluster(name)).node_groups.append(whole_numbers(redact(resource.inputs)))
        elif resource.type.startswith("kubernetes:"):
            obj = manifest(resource)
            if obj is not None:
                found.setdefault(cluster_of(resource.provider), Cluster(cluster_of(resource.provider))).objects.append(
                    obj
                )
    return list(found.values())


def copy_cluster(cluster: Cluster) -> Cluster:
    """A deep copy, for a test to break."""
    return copy.deepcopy(cluster)
