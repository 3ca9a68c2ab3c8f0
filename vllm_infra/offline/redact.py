"""Secret redaction for everything the offline tools print or write."""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

REDACTED = "[secret]"
# A value only known once the resource exists (an ARN, a generated name): `pulumi preview` cannot show it either.
UNKNOWN = "[unknown]"


def redact(value: Any) -> Any:
    """Return ``value`` with every Pulumi secret value replaced by ``"[secret]"`` (recursively, in dicts and lists);
    a secret map keeps its keys. Values computed during the update (unknown in a preview) become ``"[unknown]"``.

    >>> redact({"a": rpc.wrap_rpc_secret("hunter2"), "b": [1], "c": rpc.wrap_rpc_secret({"k": "v"})})
    {'a': '[secret]', 'b': [1], 'c': {'k': '[secret]'}}
    """
    if rpc.is_rpc_secret(value):
        return _blank(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def _blank(value: Any) -> Any:
    # Keep the shape of a secret map (its keys name what is inside, not the values) so rendered objects stay
    # schema-valid; every leaf value becomes the marker.
    if isinstance(value, dict):
        return {key: _blank(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_blank(item) for item in value]
    return REDACTED


def redact_kubernetes_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """Blank every value of a Secret's ``data``/``stringData``, whether or not it was marked secret upstream."""
    if manifest.get("kind") != "Secret":
        return manifest
    redacted = dict(manifest)
    for field_name in ("data", "stringData"):
        if isinstance(redacted.get(field_name), dict):
            redacted[field_name] = {key: REDACTED for key in redacted[field_name]}
    return redacted


def whole_numbers(value: Any) -> Any:
    """``value`` with whole floats as ints: the engine receives every number as a float (``3.0``); people and
    Kubernetes schemas read ``3``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


#: Keys that lead their object wherever they appear, as Kubernetes manifests are written by hand.
LEADING_KEYS = ("apiVersion", "kind", "metadata", "name", "namespace")


def stable_order(value: Any) -> Any:
    """``value`` with every mapping's keys in a fixed order: ``LEADING_KEYS`` first, the rest alphabetical.

    The engine's inputs arrive as a protobuf Struct, whose keys iterate in hash-table order: adding one key can
    reorder the others. A fixed order keeps printed plans and rendered files stable from change to change.

    >>> list(stable_order({"spec": 1, "kind": "Service", "data": 2, "apiVersion": "v1"}))
    ['apiVersion', 'kind', 'data', 'spec']
    """
    if isinstance(value, dict):
        keys = [key for key in LEADING_KEYS if key in value]
        keys += sorted(key for key in value if key not in LEADING_KEYS)
        return {key: stable_order(value[key]) for key in keys}
    if isinstance(value, list):
        return [stable_order(item) for item in value]
    return value
