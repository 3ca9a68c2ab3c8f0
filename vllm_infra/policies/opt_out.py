"""Explicit opt-outs: how a documented switch of the stack config turns a policy from mandatory into advisory.

Some rules of the production checklist have a documented way out: ``networkPolicies.enabled: false`` (the CNI does
not enforce NetworkPolicies, or another tool owns them), ``cache.protect: false`` (a scratch stack whose caches may go).
The components record such a choice on the object it concerns, as an annotation naming the policy and the setting::

    metadata:
      annotations:
        opt-out.vllm-infra.io/vllm-network-policy: "networkPolicies.enabled: false"

A policy declared with ``opt_out=True`` then skips annotated resources, and its advisory twin ``<name>-opted-out``
reports them instead, quoting the setting. The annotation travels with the resource's inputs, so the offline
``evaluate`` and the CrossGuard pack on a real ``pulumi preview`` read the same thing and judge alike. Only policies
declared opt-outable honour it: annotating a Deployment cannot excuse an unpinned image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.runtime import rpc

ANNOTATION_PREFIX = "opt-out.vllm-infra.io/"
OPTED_OUT_SUFFIX = "-opted-out"


def opt_out_annotations(opt_outs: Mapping[str, str]) -> dict[str, str]:
    """Annotations recording that the stack config opted out of policies: ``{policy name: config setting}``.

    >>> opt_out_annotations({"model-cache-protected": "cache.protect: false"})
    {'opt-out.vllm-infra.io/model-cache-protected': 'cache.protect: false'}
    """
    return {f"{ANNOTATION_PREFIX}{policy}": setting for policy, setting in sorted(opt_outs.items())}


def _plain(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def opted_out_setting(inputs: Mapping[str, Any], policy: str) -> str | None:
    """The config setting that opted ``inputs`` (a Kubernetes object's inputs) out of ``policy``, or None.

    >>> opted_out_setting({"metadata": {"annotations": opt_out_annotations({"p": "x: false"})}}, "p")
    'x: false'
    """
    metadata = _plain(inputs.get("metadata"))
    annotations = _plain(metadata.get("annotations")) if isinstance(metadata, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    setting = _plain(annotations.get(f"{ANNOTATION_PREFIX}{policy}"))
    return setting if isinstance(setting, str) and setting else None
