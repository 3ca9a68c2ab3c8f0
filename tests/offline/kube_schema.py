"""Validation of rendered objects: Kubernetes kinds against the official schemas (kubernetes-validate, strict),
custom resources against the upstream CRD schemas vendored in ``tests/data/crd-schemas`` (see its SOURCE.md)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

# The oldest Kubernetes minor the library supports on EKS and the newest schema kubernetes-validate ships:
# every object must be valid on both.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
CRD_SCHEMA_DIR = Path(__file__).resolve().parents[1] / "data" / "crd-schemas"


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    group, version = api_version.split("/", 1)
    path = CRD_SCHEMA_DIR / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    # Python's `re` rejects a trailing inline flag in one upstream pattern (`^(?i)(abort|warn)?$`): move it first.
    text = re.sub(r'"\^\(\?i\)', '"(?i)^', path.read_text())
    schema = json.loads(text)
    return jsonschema.Draft7Validator(schema)


def validate_object(obj: dict[str, Any]) -> None:
    """Raise if ``obj`` is not a valid object of its kind (strict: unknown fields are errors)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    if group and "." in group and not group.endswith(".k8s.io"):
        validator = _crd_validator(api_version, kind)
        if validator is None:
            raise LookupError(f"no schema for {api_version} {kind} under {CRD_SCHEMA_DIR}")
        validator.validate(obj)
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
