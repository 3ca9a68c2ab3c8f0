"""Kubernetes manifests from a plan: what ``vllm-infra render`` writes for review or ``kubectl apply --dry-run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vllm_infra.components.kube import group_version_kind
from vllm_infra.offline.redact import redact, redact_kubernetes_secret, whole_numbers
from vllm_infra.offline.runner import Plan, PlannedResource

def manifest(resource: PlannedResource) -> dict[str, Any] | None:
    """The Kubernetes object a resource would create (secrets redacted), or None if it is not a Kubernetes object.

    Typed resources carry apiVersion/kind in their inputs; custom resources too. Helm charts and providers are not
    objects and are skipped.
    """
    if resource.type.startswith("kubernetes:helm") or resource.type.startswith("pulumi:providers:"):
        return None
    gvk = group_version_kind(resource.type, resource.inputs)
    if gvk is None:
        return None
    group, version, kind = gvk
    body = redact(resource.inputs)
    ordered = {"apiVersion": version if group == "core" else f"{group}/{version}", "kind": kind}
    ordered.update({key: value for key, value in body.items() if key not in ordered})
    if isinstance(ordered.get("metadata"), dict) and "name" not in ordered["metadata"]:
        # Auto-named by Pulumi (logical name plus a random suffix at create time); offline, the logical name stands
        # in for it, as it does wherever other objects reference this one in the plan.
        ordered["metadata"] = {"name": resource.name, **ordered["metadata"]}
    return redact_kubernetes_secret(whole_numbers(ordered))


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plan, in registration order."""
    return [m for m in (manifest(r) for r in plan.resources) if m is not None]


def write_manifests(plan: Plan, out_dir: Path) -> list[Path]:
    """Write one YAML file per object, named ``NN-<kind>-<namespace>-<name>.yaml`` so the apply order is kept."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, obj in enumerate(manifests(plan)):
        metadata = obj.get("metadata", {})
        parts = [f"{index:03d}", obj["kind"].lower(), metadata.get("namespace"), metadata.get("name")]
        path = out_dir / ("-".join(str(part) for part in parts if part) + ".yaml")
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
