"""Text rendering of a plan in the shape of ``pulumi preview``: a resource tree, outputs, diagnostics, a summary."""

from __future__ import annotations

import json
from collections import defaultdict

from vllm_infra.offline.redact import redact, whole_numbers
from vllm_infra.offline.runner import Plan, PlannedResource

# The stack output every topology exports with the GPU node cost of its minimum replicas.
COST_OUTPUT = "estimatedGpuCostPerHour"


def _children(plan: Plan) -> dict[str | None, list[PlannedResource]]:
    children: dict[str | None, list[PlannedResource]] = defaultdict(list)
    for resource in plan.resources:
        children[resource.parent].append(resource)
    return children


def _rows(plan: Plan) -> list[tuple[str, PlannedResource]]:
    children = _children(plan)
    rows: list[tuple[str, PlannedResource]] = []

    def walk(resource: PlannedResource, prefix: str, is_last: bool, depth: int) -> None:
        branch = "" if depth == 0 else prefix + ("└─ " if is_last else "├─ ")
        rows.append((branch, resource))
        kids = children.get(resource.urn, [])
        child_prefix = "" if depth == 0 else prefix + ("   " if is_last else "│  ")
        for index, kid in enumerate(kids):
            walk(kid, child_prefix, index == len(kids) - 1, depth + 1)

    for root in children.get(None, []):
        walk(root, "", True, 0)
    return rows


def _info(resource: PlannedResource) -> str:
    notes = []
    if resource.protect:
        notes.append("protected")
    if resource.custom_timeouts:
        notes.append("waits up to " + "/".join(sorted(set(resource.custom_timeouts.values()))))
    return ", ".join(notes)


def render_tree(plan: Plan, *, details: bool = False) -> str:
    """The plan as ``pulumi preview`` would print it for a first ``pulumi up`` (everything is a create)."""
    rows = _rows(plan)
    type_width = max(len(branch + r.type) for branch, r in rows) + 2
    name_width = max(len(r.name) for _, r in rows) + 2
    lines = [
        f"Previewing update ({plan.stack}) — offline: Pulumi mock runtime, nothing is created",
        "",
        f"     {'Type':<{type_width}}{'Name':<{name_width}}Plan    Info",
    ]
    for branch, resource in rows:
        lines.append(f" +   {branch + resource.type:<{type_width}}{resource.name:<{name_width}}create  {_info(resource)}".rstrip())
        if details and resource.inputs:
            body = json.dumps(whole_numbers(redact(resource.inputs)), indent=2, sort_keys=True)
            lines.extend("         " + line for line in body.splitlines())
    if plan.warnings:
        lines += ["", "Diagnostics:"]
        lines += [f"  warning: {warning}" for warning in plan.warnings]
    if plan.outputs:
        lines += ["", "Outputs:"]
        for key, value in sorted(redact(plan.outputs).items()):
            lines.append(f"    {key}: {json.dumps(value)}")
    lines += ["", "Resources:", f"    + {len(plan.resources)} to create"]
    cost = plan.outputs.get(COST_OUTPUT)
    if isinstance(cost, (int, float)):
        lines += ["", f"Estimated GPU cost: ${cost:,.2f}/h (on-demand list prices, us-east-1; minimum replicas)"]
    return "\n".join(lines)


def plan_json(plan: Plan) -> dict:
    """The machine-readable plan: ``{"stack", "resources": [{"urn", "type", "name", "parent", "provider", "inputs",
    ...}], "outputs", "warnings"}``, secrets as ``"[secret]"``."""
    return {
        "stack": plan.stack,
        "project": plan.project,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "provider": r.provider,
                "inputs": redact(r.inputs),
                "protect": r.protect,
                "customTimeouts": r.custom_timeouts,
                "ignoreChanges": r.ignore_changes,
                "dependsOn": r.depends_on,
            }
            for r in plan.resources
        ],
        "outputs": redact(plan.outputs),
        "warnings": plan.warnings,
        "estimated_gpu_cost_per_hour": plan.outputs.get(COST_OUTPUT),
    }
