"""The plain-text renderings, for terminals and logs: the full diff and the one-line-per-resource summary."""

from __future__ import annotations

from vllm_infra.offline.diff.model import PlanDiff, PropertyChange, ResourceChange
from vllm_infra.offline.diff.render.common import (
    ACTION_SYMBOL,
    Notes,
    attention,
    folded,
    folded_note,
    for_display,
    reason_note,
    resource_notes,
    short_changes,
    summary_line,
    summary_order,
)


def render_text(diff: PlanDiff) -> str:
    """A plain-text diff for terminals and logs: summary, replacements first, then per-resource changes; text
    properties (an nginx.conf, a dashboard's JSON) as line diffs; why a resource is replaced or blocked, and the
    source of each rule, once in numbered notes at the end.

    Example::

        print(render_text(diff_plans(old, new)))
    """
    diff = for_display(diff)
    lines = [_headline(diff)]
    if diff.empty:
        return lines[0]
    notes = Notes()
    first = attention(diff)
    if first:
        lines += ["", "⚠ Replacements" + (" and blocked changes:" if diff.blocking else ":")]
        for resource in first:
            lines += _text_resource(resource, notes)
    rest = [*diff.updates, *diff.added, *(r for r in diff.removed if not r.blocking)]
    if rest:
        lines += ["", "Changes:"]
        for resource in rest:
            lines += _text_resource(resource, notes)
    if diff.outputs:
        lines += ["", "Outputs:"] + [f"    {change.describe()}" for change in diff.outputs]
    lines += _notes_section(notes)
    return "\n".join(lines)


def _text_resource(resource: ResourceChange, notes: Notes) -> list[str]:
    header = f"  {ACTION_SYMBOL[resource.action]} {resource.type} {resource.name} ({resource.action})"
    lines = [header + resource_notes(resource, notes, include_change_reasons=False)]
    for change in resource.changes:
        suffix = " " + notes.ref(reason_note(change.replaces)) if change.replaces else ""
        lines.append(f"      {_CHANGE_SYMBOL[change.kind]} {_change_line(change)}{suffix}")
        lines += [f"          {line}" for line in change.line_diff() or ()]
    if resource.ignored:
        lines.append(f"      (ignoreChanges: {', '.join(resource.ignored)})")
    return lines


_CHANGE_SYMBOL = {"update": "~", "add": "+", "delete": "-"}


def render_text_summary(diff: PlanDiff) -> str:
    """The diff in one line per resource (``vllm-infra diff --summary``): symbol, action, type, name and which
    properties change; replacement reasons and blockers as numbered notes.

    Example::

        print(render_text_summary(diff_plans(old, new)))
    """
    diff = for_display(diff)
    lines = [_headline(diff)]
    if diff.empty:
        return lines[0]
    notes = Notes()
    rows = folded(summary_order(diff))
    type_width = max(len(r.type) for r, _ in rows)
    name_width = max(len(r.name) for r, _ in rows)
    lines.append("")
    for resource, children in rows:
        changes = short_changes(resource) or folded_note(children)
        refs = resource_notes(resource, notes, include_change_reasons=True)
        row = f"  {ACTION_SYMBOL[resource.action]} {resource.action:<7} {resource.type:<{type_width}}  "
        row += f"{resource.name:<{name_width}}  {changes}{refs}"
        lines.append(row.rstrip())
    if diff.outputs:
        lines.append(f"  outputs: {', '.join(change.path for change in diff.outputs)}")
    lines += _notes_section(notes)
    return "\n".join(lines)


def _change_line(change: PropertyChange) -> str:
    # The line starts with the change's symbol (+ ~ -), so the description does not repeat it.
    text = change.describe()
    if change.flag is not None:
        text = f"{change.path}: {text}"
    if change.kind in ("add", "delete") and change.line_counts() is None:
        text = text.replace(f": {'+' if change.kind == 'add' else '-'} ", ": ", 1)
    return text


def _headline(diff: PlanDiff) -> str:
    return f"Plan diff ({diff.stack}): {summary_line(diff)}"


def _notes_section(notes: Notes) -> list[str]:
    return ["", "Notes:", *notes.lines()] if notes.texts else []
