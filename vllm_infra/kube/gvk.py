"""Group, version and kind of a Kubernetes resource, from its Pulumi type token (``kubernetes:apps/v1:Deployment``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["group_version_kind"]


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
