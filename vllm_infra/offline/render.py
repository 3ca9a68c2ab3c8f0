"""Kubernetes manifests from a plan: what ``vllm-infra render`` writes for review or ``kubectl apply --dry-run``.

One folder per cluster: the Kubernetes provider a resource uses decides which cluster receives it, and the folder is
named after that cluster's region (``us-east-1/``), so the three regions of ``multi-region`` never collide and each
folder is what one ``kubectl --context ... apply --dry-run=server -f`` takes.

Registrations that are not Kubernetes objects — Helm charts (``kubernetes:helm.sh/v4:Chart``, expanded by the
provider only during ``pulumi up``), ``yaml``/``kustomize`` components — cannot be rendered offline. They are listed
as not rendered, with the chart, version, repository and the values (secrets redacted) written beside them, so a
reviewer can run ``helm template`` on exactly what ``pulumi up`` would install.

The output folder is cleaned before writing, but only when everything in it was written by an earlier render (the
marker file lists it); anything else in it is refused, so a typo in ``--out`` never deletes a user's files.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vllm_infra.kube.gvk import group_version_kind
from vllm_infra.offline.redact import redact, redact_kubernetes_secret, stable_order, whole_numbers
from vllm_infra.offline.runner import Plan, PlannedResource

#: Written last into every output folder: which files this render wrote (the licence to delete them next time).
MARKER_FILE = ".vllm-infra-render.json"
#: The list of registrations that were not rendered, in the output folder's root.
NOT_RENDERED_FILE = "NOT-RENDERED.yaml"
#: Folder of resources that name no provider (Pulumi's default provider: the ambient kubeconfig).
DEFAULT_CLUSTER = "default-provider"

#: The order ``kubectl apply -f DIR`` (which reads files in name order) should create kinds in, so a Namespace exists
#: before what lives in it and a ConfigMap before the pods that mount it: Helm's InstallOrder (helm/helm
#: pkg/releaseutil/kind_sorter.go, release-3.0). Other kinds (custom resources) follow, as Helm does.
APPLY_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget", "Secret",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "ServiceAccount",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList",
    "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
    "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "Ingress", "APIService",
)  # fmt: skip

# Kubernetes registrations that are not objects the API server stores: the provider expands them at `pulumi up`.
_NOT_OBJECT_PREFIXES = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")


class RenderError(Exception):
    """The output folder cannot be used (not empty and not an earlier render's); the message says why and what to
    do."""


@dataclass(frozen=True)
class NotRendered:
    """A Kubernetes registration that is not an object (a Helm chart, a YAML/kustomize component).

    ``values_file`` is the path (relative to the output folder) of its values, written for review; None when it has
    none.
    """

    cluster: str
    type: str
    name: str
    chart: str | None = None
    release: str | None = None
    version: str | None = None
    repository: str | None = None
    namespace: str | None = None
    values_file: str | None = None

    def describe(self) -> str:
        """``us-east-1: Helm chart kube-prometheus-stack 88.5.0 from https://... (values: us-east-1/helm/x.yaml)``."""
        if self.type.startswith("kubernetes:helm.sh/"):
            what = f"Helm chart {self.chart or '?'} {self.version or '(unpinned)'}"
            if self.repository:
                what += f" from {self.repository}"
        else:
            what = f"{self.type} {self.name}"
        text = f"{self.cluster}: {what} (resource {self.name})"
        if self.values_file:
            text += f", values in {self.values_file}"
        return text

    def helm_template_command(self) -> str | None:
        """The ``helm template`` command that shows what the chart would create, or None for a non-chart."""
        if not self.type.startswith("kubernetes:helm.sh/") or not self.chart:
            return None
        words = ["helm", "template", self.release or self.name, self.chart]
        if self.repository:
            words += ["--repo", self.repository]
        if self.version:
            words += ["--version", self.version]
        if self.namespace:
            words += ["--namespace", self.namespace]
        if self.values_file:
            words += ["-f", self.values_file]
        return shlex.join(words)

    def to_json(self) -> dict[str, Any]:
        """A YAML/JSON-ready dict (absent fields left out)."""
        out = {"cluster": self.cluster, "type": self.type, "name": self.name, "chart": self.chart,
               "release": self.release, "version": self.version, "repository": self.repository,
               "namespace": self.namespace,
               "valuesFile": self.values_file, "helmTemplate": self.helm_template_command()}  # fmt: skip
        return {key: value for key, value in out.items() if value is not None}


@dataclass
class RenderResult:
    """What ``write_manifests`` wrote: object files per cluster folder and the registrations it could not render."""

    out_dir: Path
    objects: dict[str, list[Path]] = field(default_factory=dict)
    not_rendered: list[NotRendered] = field(default_factory=list)
    removed_stale: int = 0

    @property
    def written(self) -> list[Path]:
        """Every object file written, cluster by cluster."""
        return [path for paths in self.objects.values() for path in paths]


def is_kubernetes_object(resource: PlannedResource) -> bool:
    """True when the resource is one object the API server stores (typed or ``CustomResource``)."""
    if not resource.type.startswith("kubernetes:") or resource.type.startswith(_NOT_OBJECT_PREFIXES):
        return False
    return resource.custom and group_version_kind(resource.type, resource.inputs) is not None


def is_unrenderable_registration(resource: PlannedResource) -> bool:
    """True for a Kubernetes registration that is not an object: a Helm chart or release, a YAML or kustomize
    component, any other Kubernetes component the provider expands itself."""
    if not resource.type.startswith("kubernetes:"):
        return False
    return resource.type.startswith(_NOT_OBJECT_PREFIXES) or not resource.custom


def manifest(resource: PlannedResource) -> dict[str, Any] | None:
    """The Kubernetes object a resource would create (secrets redacted), or None if it is not a Kubernetes object.

    Typed resources carry apiVersion/kind in their inputs; custom resources too. Helm charts and providers are not
    objects (see ``not_rendered``).
    """
    if not is_kubernetes_object(resource):
        return None
    gvk = group_version_kind(resource.type, resource.inputs)
    assert gvk is not None
    group, version, kind = gvk
    body = redact(resource.inputs)
    ordered: dict[str, Any] = {"apiVersion": version if group == "core" else f"{group}/{version}", "kind": kind}
    ordered.update({key: value for key, value in body.items() if key not in ordered})
    if isinstance(ordered.get("metadata"), dict) and "name" not in ordered["metadata"]:
        # Auto-named by Pulumi (logical name plus a random suffix at create time); offline, the logical name stands
        # in for it, as it does wherever other objects reference this one in the plan.
        ordered["metadata"] = {"name": resource.name, **ordered["metadata"]}
    return redact_kubernetes_secret(stable_order(whole_numbers(ordered)))


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plan, in plan order (all clusters together)."""
    return [m for m in (manifest(r) for r in plan.resources) if m is not None]


def _provider_urn(reference: str | None) -> str | None:
    # A provider reference is "<provider urn>::<provider id>"; the URN itself contains "::" too.
    return reference.rsplit("::", 1)[0] if reference else None


def _kubeconfig_region(kubeconfig: Any) -> str | None:
    if isinstance(kubeconfig, str):
        try:
            kubeconfig = yaml.safe_load(kubeconfig)  # JSON is YAML
        except yaml.YAMLError:
            return None
    if not isinstance(kubeconfig, Mapping):
        return None
    for user in kubeconfig.get("users") or []:
        args = (((user or {}).get("user") or {}).get("exec") or {}).get("args") or []
        for flag, value in itertools.pairwise(args):
            if flag == "--region" and isinstance(value, str):
                return value
    return None


def cluster_label(provider: PlannedResource | None) -> str:
    """The folder name of the cluster a Kubernetes provider talks to: the AWS region of its ``aws eks get-token``
    kubeconfig, else the region in a ``eks/<region>/<cluster>`` cluster identifier, else the provider's own name.

    >>> from vllm_infra.offline.runner import PlannedResource
    >>> cluster_label(PlannedResource("urn", "pulumi:providers:kubernetes", "east-k8s", None, None, True,
    ...                               {"clusterIdentifier": "eks/us-east-1/ml"}))
    'us-east-1'
    """
    if provider is None:
        return DEFAULT_CLUSTER
    inputs = redact(provider.inputs)
    region = _kubeconfig_region(inputs.get("kubeconfig"))
    identifier = inputs.get("clusterIdentifier")
    if region is None and isinstance(identifier, str):
        match = re.fullmatch(r"eks/([a-z0-9-]+)/.+", identifier)
        region = match.group(1) if match else None
    return _safe_name(region or provider.name)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "cluster"


def clusters(plan: Plan) -> dict[str, list[PlannedResource]]:
    """The plan's Kubernetes resources (objects and charts) grouped by cluster folder, folders sorted by name.

    Two providers that resolve to the same region (two clusters in one region) get their provider names appended.
    """
    providers = {r.urn: r for r in plan.resources if r.type == "pulumi:providers:kubernetes"}
    by_provider: dict[str | None, list[PlannedResource]] = {}
    for resource in plan.resources:
        if is_kubernetes_object(resource) or is_unrenderable_registration(resource):
            by_provider.setdefault(_provider_urn(resource.provider), []).append(resource)
    labels: dict[str | None, str] = {urn: cluster_label(providers.get(urn) if urn else None) for urn in by_provider}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    for urn, label in list(labels.items()):
        if counts[label] > 1 and urn is not None:
            labels[urn] = _safe_name(f"{label}-{providers[urn].name if urn in providers else urn.rsplit('::', 1)[-1]}")
    return {labels[urn]: resources for urn, resources in sorted(by_provider.items(), key=lambda kv: labels[kv[0]])}


def _chart_entry(cluster: str, resource: PlannedResource, values_file: str | None) -> NotRendered:
    inputs = redact(resource.inputs)
    chart, release = inputs.get("chart"), inputs.get("name")  # a Chart's `name` is its release name
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    return NotRendered(
        cluster=cluster, type=resource.type, name=resource.name,
        chart=chart if isinstance(chart, str) else None,
        release=release if isinstance(release, str) else None,
        version=inputs.get("version") if isinstance(inputs.get("version"), str) else None,
        repository=repository if isinstance(repository, str) else None,
        namespace=inputs.get("namespace") if isinstance(inputs.get("namespace"), str) else None,
        values_file=values_file,
    )  # fmt: skip


def _files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink())


def prepare_out_dir(out_dir: Path) -> int:
    """Make ``out_dir`` ready for a render: create it, or empty it when it holds only an earlier render's files.

    Returns how many stale files were removed. Raises ``RenderError`` when it holds anything else (nothing is
    deleted then).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise RenderError(f"--out {out_dir} is a file, not a directory")
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        return 0
    present = _files_under(out_dir)
    if not present:
        return 0
    marker = out_dir / MARKER_FILE
    listed: set[str] = set()
    if marker.is_file():
        try:
            listed = set(json.loads(marker.read_text()).get("files") or [])
        except (ValueError, AttributeError):
            listed = set()
    foreign = [p for p in present if p != marker and p.relative_to(out_dir).as_posix() not in listed]
    if not marker.is_file() or foreign:
        shown = ", ".join(p.relative_to(out_dir).as_posix() for p in (foreign or present)[:5])
        more = f" and {len(foreign or present) - 5} more" if len(foreign or present) > 5 else ""
        why = "it was not written by `vllm-infra render`"
        if marker.is_file():
            why = "files were added since the last render"
        raise RenderError(
            f"--out {out_dir} is not empty and {why} ({shown}{more}); nothing was deleted. "
            "Choose a new or empty directory, or remove those files."
        )
    for path in present:
        path.unlink()
    for directory in sorted((d for d in out_dir.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
        directory.rmdir()
    return len(present) - 1


def _apply_rank(obj: Mapping[str, Any]) -> int:
    kind = obj.get("kind")
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)


def _dump(document: Any, width: int = 80) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=width)


def write_manifests(plan: Plan, out_dir: Path) -> RenderResult:
    """Write every Kubernetes object as ``<cluster>/NNN-<kind>-<namespace>-<name>.yaml`` (the number is the apply
    order within a cluster, ``APPLY_ORDER``, then plan order), each chart's values as
    ``<cluster>/not-rendered/<name>.values.yaml``, the list of what was not rendered as ``NOT-RENDERED.yaml``, and
    the marker file.

    Raises ``RenderError`` when ``out_dir`` holds files an earlier render did not write.

    Example::

        result = write_manifests(plan_stack("multi-region"), Path("k8s"))
        sorted(result.objects)   # ['eu-west-1', 'us-east-1', 'us-west-2']
    """
    # Everything is rendered in memory first, so a failure leaves the folder as it was; the marker is written even
    # when a write fails half-way, so the next render may still clean up what this one wrote.
    result = RenderResult(out_dir=out_dir)
    files: dict[str, str] = {}
    for cluster, resources in clusters(plan).items():
        paths = result.objects.setdefault(cluster, [])
        objects = []
        for resource in resources:
            obj = manifest(resource)
            if obj is not None:
                objects.append(obj)
                continue
            values = redact(resource.inputs).get("values")
            values_file = None
            if values:
                values_file = f"{cluster}/not-rendered/{_safe_name(resource.name)}.values.yaml"
                files[values_file] = _dump(stable_order(whole_numbers(values)))
            result.not_rendered.append(_chart_entry(cluster, resource, values_file))
        for index, obj in enumerate(sorted(objects, key=_apply_rank)):
            metadata = obj.get("metadata", {})
            parts = [f"{index:03d}", obj["kind"].lower(), metadata.get("namespace"), metadata.get("name")]
            relative = f"{cluster}/" + "-".join(_safe_name(str(part)) for part in parts if part) + ".yaml"
            files[relative] = _dump(obj)
            paths.append(out_dir / relative)
    if result.not_rendered:
        note = ("Not Kubernetes objects: the provider expands these during `pulumi up`, so they are not rendered "
                "here. Review each chart with its helmTemplate command (run from this folder).")  # fmt: skip
        # Wide lines: each helmTemplate command stays on one line, ready to copy.
        listing = {"note": note, "notRendered": [entry.to_json() for entry in result.not_rendered]}
        files[NOT_RENDERED_FILE] = _dump(listing, width=10_000)

    result.removed_stale = prepare_out_dir(out_dir)
    written: list[str] = []
    try:
        for relative, text in files.items():
            path = out_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(relative)
    finally:
        marker = {"writtenBy": "vllm-infra render", "stack": plan.stack, "files": sorted(written)}
        (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    return result
