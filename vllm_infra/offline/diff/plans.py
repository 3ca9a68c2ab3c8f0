"""``diff_plans``: two plan documents in, a ``PlanDiff`` out — resources matched by URN, each pair walked input by
input, replacements decided by the force-new rules, and what will fail or hurt during ``pulumi up`` as warnings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from vllm_infra.kube.gvk import group_version_kind
from vllm_infra.kube.quantity import QuantityError, parse_quantity
from vllm_infra.offline.diff.model import CostDelta, PlanDiff, PropertyChange, ResourceChange
from vllm_infra.offline.diff.paths import Segment, is_prefix, parse_path
from vllm_infra.offline.diff.rules import AWS_UNORDERED, force_new_rules, replace_reason, rule_triggered
from vllm_infra.offline.diff.values import canonical, normalize
from vllm_infra.offline.diff.walk import Walk

if TYPE_CHECKING:
    from vllm_infra.offline.runner import Plan


#: The plan document key holding the stack's estimated GPU cost per hour (``None``/absent = unknown).
COST_KEY = "estimated_gpu_cost_per_hour"


def _quantity(text: Any) -> Decimal | None:
    """A Kubernetes quantity (``29Gi``, ``500M``, ``1.5e3``) in base units, or ``None``."""
    if text is None or isinstance(text, bool):
        return None
    try:
        return parse_quantity(text.strip() if isinstance(text, str) else text)
    except (QuantityError, TypeError):
        return None


def _ignored(path: str, patterns: Sequence[list[Segment]]) -> bool:
    segments = parse_path(path)
    return any(is_prefix(pattern, segments) for pattern in patterns)


def _resource_change(old_entry: Mapping[str, Any], new_entry: Mapping[str, Any]) -> ResourceChange | None:
    type_token = new_entry.get("type", "")
    old_inputs = normalize(old_entry.get("inputs") or {})
    new_inputs = normalize(new_entry.get("inputs") or {})
    ignore = [parse_path(p) for p in (new_entry.get("ignoreChanges") or old_entry.get("ignoreChanges") or [])]
    unordered = tuple(parse_path(p) for p in AWS_UNORDERED.get(type_token, ()))

    all_changes = Walk(unordered).diff(old_inputs, new_inputs, [])
    kept = [c for c in all_changes if not _ignored(c.path, ignore)]
    ignored = tuple(c.path for c in all_changes if _ignored(c.path, ignore))

    reasons: list[str] = []
    marked: dict[int, str] = {}
    for rule in force_new_rules(type_token, new_inputs):
        if any(is_prefix(pattern, rule.segments) for pattern in ignore):
            continue
        if not rule_triggered(rule, kept, old_inputs, new_inputs):
            continue
        reason = replace_reason(rule)
        reasons.append(reason)
        for position, change in enumerate(kept):
            path = parse_path(change.path)
            if is_prefix(rule.segments, path) or is_prefix(path, rule.segments):
                marked.setdefault(position, reason)
    changes = [PropertyChange(c.path, c.kind, c.old, c.new, c.flag, c.note, marked.get(i)) for i, c in enumerate(kept)]

    warnings: list[str] = []
    protect_old, protect_new = bool(old_entry.get("protect")), bool(new_entry.get("protect"))
    for option, before, after in (
        ("protect", protect_old, protect_new),
        ("provider", old_entry.get("provider"), new_entry.get("provider")),
        ("customTimeouts", old_entry.get("customTimeouts") or {}, new_entry.get("customTimeouts") or {}),
    ):
        if canonical(before) != canonical(after):
            changes.append(PropertyChange(f"({option})", "update", before, after, note=None))
    warnings += _warnings(type_token, new_inputs, kept, bool(reasons), protect_old)

    if not changes and not reasons:
        return None
    return ResourceChange(
        urn=new_entry["urn"],
        type=type_token,
        name=new_entry.get("name", ""),
        action="replace" if reasons else "update",
        changes=tuple(changes),
        replace_reasons=tuple(dict.fromkeys(reasons)),
        warnings=tuple(warnings),
        ignored=ignored,
        protect=protect_new,
    )


def _warnings(type_token: str, inputs: Mapping[str, Any], changes: Sequence[PropertyChange], replaced: bool,
              protected: bool) -> list[str]:  # fmt: skip
    warnings: list[str] = []
    gvk = group_version_kind(type_token, inputs)
    if replaced and protected:
        warnings.append(
            "⛔ protected: the replacement must delete it, which Pulumi refuses — `pulumi up` fails until it is "
            "unprotected (`pulumi state unprotect <urn>`) or the change is reverted"
        )
    if replaced and gvk is not None and isinstance((inputs.get("metadata") or {}).get("name"), str):
        warnings.append("metadata.name is fixed, so the old object is deleted before the new one is created (downtime)")
    if gvk is not None and gvk[2] == "PersistentVolumeClaim":
        for change in changes:
            if change.path != "spec.resources.requests.storage" or change.kind != "update":
                continue
            before, after = _quantity(change.old), _quantity(change.new)
            if before is not None and after is not None and after < before:
                warnings.append(
                    f"⛔ spec.resources.requests.storage shrinks {change.old} → {change.new}: the API server rejects "
                    "it (a claim can only grow); keep the size, or replace the claim deliberately"
                )
            elif before is not None and after is not None and after > before:
                warnings.append(
                    f"spec.resources.requests.storage grows {change.old} → {change.new} in place: the StorageClass "
                    "must allow volume expansion (allowVolumeExpansion: true)"
                )
    return warnings


def _as_document(plan: Any) -> Mapping[str, Any]:
    if isinstance(plan, Mapping):
        return plan
    # An offline Plan: its plan_json form, plus the ignoreChanges the JSON form does not carry (yet).
    from vllm_infra.offline.tree import plan_json

    document = plan_json(plan)
    by_urn = {r.urn: r for r in plan.resources}
    for entry in document["resources"]:
        ignore_changes = getattr(by_urn.get(entry["urn"]), "ignore_changes", None)
        if ignore_changes and "ignoreChanges" not in entry:
            entry["ignoreChanges"] = list(ignore_changes)
    return document


def _cost(document: Mapping[str, Any]) -> float | None:
    value = document.get(COST_KEY)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def diff_plans(old: Mapping[str, Any] | Plan, new: Mapping[str, Any] | Plan) -> PlanDiff:
    """Compare two plan documents (``plan_json`` output, e.g. ``vllm-infra plan STACK --json`` on two git refs).

    Resources are keyed by URN: only-new ones are created, only-old ones deleted, the others compared input by
    input. A change to a force-new property (``KUBERNETES_FORCE_NEW``, ``AWS_FORCE_NEW``) makes the resource a
    replacement; paths listed in the resource's ``ignoreChanges`` are dropped. Secrets (``"[secret]"``) compare by
    marker only. An offline ``Plan`` object is accepted too (converted with ``plan_json``).

    Example::

        diff = diff_plans(plan_json(plan_stack("single")), plan_json(plan_stack("single")))
        assert diff.empty
    """
    old_doc, new_doc = _as_document(old), _as_document(new)
    old_by_urn = {entry["urn"]: entry for entry in old_doc.get("resources") or []}
    new_by_urn = {entry["urn"]: entry for entry in new_doc.get("resources") or []}

    added = tuple(
        ResourceChange(urn, e.get("type", ""), e.get("name", ""), "create", protect=bool(e.get("protect")),
                       parent=e.get("parent"))
        for urn, e in sorted(new_by_urn.items()) if urn not in old_by_urn
    )  # fmt: skip
    removed = []
    for urn, entry in sorted(old_by_urn.items()):
        if urn in new_by_urn:
            continue
        warnings: tuple[str, ...] = ()
        if entry.get("protect"):
            warnings = (
                "⛔ protected: Pulumi refuses to delete it, so `pulumi up` fails; if the deletion is intended, run "
                "`pulumi state unprotect` first (for a model cache: the weights are lost)",
            )
        removed.append(
            ResourceChange(
                urn,
                entry.get("type", ""),
                entry.get("name", ""),
                "delete",
                warnings=warnings,
                protect=bool(entry.get("protect")),
                parent=entry.get("parent"),
            )
        )
    changed = tuple(
        change for urn in sorted(set(old_by_urn) & set(new_by_urn))
        if (change := _resource_change(old_by_urn[urn], new_by_urn[urn])) is not None
    )  # fmt: skip
    outputs = tuple(Walk().diff(normalize(old_doc.get("outputs") or {}), normalize(new_doc.get("outputs") or {}), []))
    return PlanDiff(
        stack=str(new_doc.get("stack") or old_doc.get("stack") or ""),
        added=added,
        removed=tuple(removed),
        changed=changed,
        outputs=outputs,
        cost=CostDelta(_cost(old_doc), _cost(new_doc)),
    )
