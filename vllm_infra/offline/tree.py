"""Text rendering of a plan in the shape of ``pulumi preview``: a resource tree, outputs, diagnostics, a summary."""

from __future__ import annotations

import json
import shlex
from collections import defaultdict
from typing import Any

import yaml

from vllm_infra.offline.redact import redact, stable_order, whole_numbers
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
        row = f" +   {branch + resource.type:<{type_width}}{resource.name:<{name_width}}create  {_info(resource)}"
        lines.append(row.rstrip())
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
                "inputs": stable_order(redact(r.inputs)),
                "protect": r.protect,
                "customTimeouts": r.custom_timeouts,
                "ignoreChanges": r.ignore_changes,
                "dependsOn": r.depends_on,
            }
            for r in plan.resources
        ],
        "outputs": stable_order(redact(plan.outputs)),
        "warnings": plan.warnings,
        "estimated_gpu_cost_per_hour": plan.outputs.get(COST_OUTPUT),
    }


class _ReadableDumper(yaml.SafeDumper):
    """YAML for people: multi-line strings as literal blocks (an nginx.conf reads as the file it is)."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ReadableDumper.add_representer(str, _represent_text)


def _readable(value: Any) -> Any:
    # A JSON document held in a string (a kubeconfig, a dashboard) is shown pretty-printed, still as a string.
    if isinstance(value, str) and value[:1] in "{[" and len(value) > 80:
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)) and "\n" not in value:
            return json.dumps(parsed, indent=2, sort_keys=True)
        return value
    if isinstance(value, dict):
        return {key: _readable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    return value


def render_resource(resource: PlannedResource, plan: Plan | None = None) -> str:
    """One resource for a person (``vllm-infra plan --show``): its identity and options, then its inputs as YAML —
    the Kubernetes object itself for a Kubernetes resource — with multi-line strings as literal blocks, JSON strings
    pretty-printed and lists one item a line (a container's args). Secrets as ``[secret]``.

    Example::

        print(render_resource(plan.one("kubernetes:core/v1:ConfigMap", "us-east-1-gateway-nginx")))
    """
    from vllm_infra.offline.render import manifest

    lines = [f"{resource.type} {resource.name}", f"  urn:      {resource.urn}"]
    if resource.parent:
        lines.append(f"  parent:   {resource.parent}")
    if resource.provider:
        lines.append(f"  provider: {resource.provider.rsplit('::', 1)[0]}")
    if resource.protect:
        lines.append("  protect:  true")
    if resource.custom_timeouts:
        timeouts = ", ".join(f"{op} {value}" for op, value in sorted(resource.custom_timeouts.items()))
        lines.append(f"  customTimeouts: {timeouts}")
    if resource.ignore_changes:
        lines.append(f"  ignoreChanges: {', '.join(resource.ignore_changes)}")
    if resource.depends_on:
        lines.append("  dependsOn:")
        lines += [f"    - {urn}" for urn in resource.depends_on]
    body = manifest(resource) or stable_order(whole_numbers(redact(resource.inputs)))
    if body:
        lines += ["", yaml.dump(_readable(body), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True,
                                width=120).rstrip()]  # fmt: skip
    for container, argv in _command_lines(body):
        lines += ["", f"# container {container}: command line, one flag (with its value) a line"]
        lines += [f"  {shlex.join(words)}" for words in argv_lines(argv)]
    return "\n".join(lines)


def argv_lines(argv: list[str]) -> list[list[str]]:
    """A command line grouped for reading: each flag with its value (``--port 8000``), positionals alone.

    >>> argv_lines(["serve", "--port", "8000", "--enable-x", "--name=a"])
    [['serve'], ['--port', '8000'], ['--enable-x'], ['--name=a']]
    """
    groups: list[list[str]] = []
    for item in argv:
        is_flag = item.startswith("-") and len(item) > 1 and not item.lstrip("-").replace(".", "").isdigit()
        previous = groups[-1] if groups else None
        if previous and not is_flag and len(previous) == 1 and previous[0].startswith("-") and "=" not in previous[0]:
            previous.append(item)
        else:
            groups.append([item])
    return groups


def _command_lines(value: Any) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("containers", "initContainers") and isinstance(item, list):
                for container in item:
                    if not isinstance(container, dict):
                        continue
                    argv = [*(container.get("command") or []), *(container.get("args") or [])]
                    if len(argv) > 3 and all(isinstance(word, str) for word in argv):
                        found.append((str(container.get("name", "?")), argv))
            else:
                found += _command_lines(item)
    elif isinstance(value, list):
        for item in value:
            found += _command_lines(item)
    return found
