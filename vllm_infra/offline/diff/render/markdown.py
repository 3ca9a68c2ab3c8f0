"""The Markdown renderings, for pull-request comments: the full diff and the one-row-per-resource summary."""

from __future__ import annotations

from typing import Any

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
from vllm_infra.offline.diff.values import MISSING, display

_COLLAPSE_ROWS = 8
_COLLAPSE_RESOURCES = 10
_CELL_LIMIT = 80


def _md_code(text: str) -> str:
    text = text.replace("\n", "⏎").replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_value(value: Any) -> str:
    return "—" if value is MISSING else _md_code(display(value, _CELL_LIMIT))


def render_markdown(diff: PlanDiff) -> str:
    """A short PR comment: a summary line, a "⚠ Replacements" section first (with why, and what will block
    ``pulumi up``), then the changes per resource as compact tables (long ones collapsed in ``<details>``), text
    properties as collapsed ``diff`` blocks, created and deleted resources as lists, changed stack outputs, and the
    reasons and sources once, as numbered notes.

    Example::

        comment = render_markdown(diff_plans(base_document, head_document))
    """
    diff = for_display(diff)
    lines = [_headline(diff)]
    if diff.empty:
        return lines[0] + "\n"
    notes = Notes()
    first = attention(diff)
    if first:
        heading = "⚠ Replacements" + (" and blocked changes" if diff.blocking else "")
        lines += ["", f"### {heading}", ""]
        for resource in first:
            lines += _md_attention(resource, notes)
    if diff.updates:
        lines += ["", "### Updates"]
        for resource in diff.updates:
            refs = resource_notes(resource, notes, include_change_reasons=False)
            lines += ["", f"**~** `{resource.type}` **{resource.name}**{refs}", ""]
            lines += _md_changes_table(resource)
            lines += _md_line_diffs(resource)
            if resource.ignored:
                lines += ["", f"_ignored by ignoreChanges: {', '.join(_md_code(p) for p in resource.ignored)}_"]
    for heading, items in (("Creates", diff.added), ("Deletes", [r for r in diff.removed if not r.blocking])):
        if not items:
            continue
        bullets = [f"- `{r.type}` **{r.name}**" for r in items]
        lines += ["", f"### {heading} ({len(items)})", ""]
        lines += _md_collapse(bullets, f"{len(items)} resources", _COLLAPSE_RESOURCES)
    if diff.outputs:
        lines += ["", "### Outputs", "", "| output | old | new |", "| --- | --- | --- |"]
        lines += [f"| {_md_code(c.path)} | {_md_value(c.old)} | {_md_value(c.new)} |" for c in diff.outputs]
    lines += _notes_section(notes)
    return "\n".join(lines) + "\n"


def render_markdown_summary(diff: PlanDiff) -> str:
    """The diff as one table row per resource (``vllm-infra diff --format markdown --summary``), notes below.

    Example::

        comment = render_markdown_summary(diff_plans(base_document, head_document))
    """
    diff = for_display(diff)
    lines = [_headline(diff)]
    if diff.empty:
        return lines[0] + "\n"
    notes = Notes()
    lines += ["", "| | resource | type | changes |", "| --- | --- | --- | --- |"]
    for resource, children in folded(summary_order(diff)):
        changes = (short_changes(resource) or folded_note(children)).replace("|", "\\|")
        refs = resource_notes(resource, notes, include_change_reasons=True)
        lines.append(f"| {ACTION_SYMBOL[resource.action]} {resource.action} | **{resource.name}** | "
                     f"`{resource.type}` | {changes}{refs} |")  # fmt: skip
    lines += _notes_section(notes)
    return "\n".join(lines) + "\n"


def _md_line_diffs(resource: ResourceChange) -> list[str]:
    lines: list[str] = []
    for change in resource.changes:
        diff_lines = change.line_diff()
        if diff_lines is None:
            continue
        counts = change.line_counts() or (0, 0)
        fence = "````" if any(line.lstrip(" +-").startswith("```") for line in diff_lines) else "```"
        lines += ["", "<details>", f"<summary><code>{change.path}</code>: +{counts[0]} −{counts[1]} lines</summary>",
                  "", f"{fence}diff", *diff_lines, fence, "", "</details>"]  # fmt: skip
    return lines


def _md_attention(resource: ResourceChange, notes: Notes) -> list[str]:
    lines = [f"- **{resource.action}** `{resource.type}` **{resource.name}**"
             f"{resource_notes(resource, notes, include_change_reasons=False)}"]  # fmt: skip
    for change in resource.changes:
        if change.replaces:
            ref = notes.ref(reason_note(change.replaces))
            lines.append(f"  - {_md_change_inline(change)} — **forces replacement** {ref}")
    others = [c for c in resource.changes if not c.replaces]
    if others:
        table = _md_changes_table(ResourceChange(resource.urn, resource.type, resource.name, "update", tuple(others)))
        summary = f"{len(others)} other change{'s' if len(others) != 1 else ''}"
        lines += ["", *(f"  {line}" if line else "" for line in _md_collapse(table, summary, 0))]
    lines += [f"  {line}" if line else "" for line in _md_line_diffs(resource)]
    return lines


def _md_change_inline(change: PropertyChange) -> str:
    if change.flag is not None:
        return f"{_md_code(change.path)} {_md_code(change.describe())}"
    counts = change.line_counts()
    if counts is not None:
        return f"{_md_code(change.path)}: +{counts[0]} −{counts[1]} lines"
    if change.kind == "add":
        return f"{_md_code(change.path)}: + {_md_value(change.new)}"
    if change.kind == "delete":
        return f"{_md_code(change.path)}: − {_md_value(change.old)}"
    return f"{_md_code(change.path)}: {_md_value(change.old)} → {_md_value(change.new)}"


def _md_changes_table(resource: ResourceChange) -> list[str]:
    rows = ["| property | old | new |", "| --- | --- | --- |"]
    for change in resource.changes:
        switch_flipped = change.flag is not None and "→" in change.flag
        label = _md_code(change.path)
        if change.flag is not None and not switch_flipped:
            label += " " + _md_code(change.flag)
        old, new = _md_value(change.old), _md_value(change.new)
        counts = change.line_counts()
        if counts is not None:
            old = "—" if change.old is MISSING else "_text_"
            new = "—" if change.new is MISSING else f"_+{counts[0]} −{counts[1]} lines, below_"
        if change.flag is not None and not switch_flipped:
            # A switch (a flag without a value) is just present or absent.
            if change.kind == "add" and change.new is None:
                new = "_set_"
            if change.kind == "delete" and change.old is None:
                old = "_set_"
        if change.note:
            new += f" _({change.note})_"
        rows.append(f"| {label} | {old} | {new} |")
    return _md_collapse(rows, f"{len(resource.changes)} property changes", _COLLAPSE_ROWS, header=2)


def _md_collapse(lines: list[str], summary: str, limit: int, header: int = 0) -> list[str]:
    if len(lines) - header <= limit:
        return lines
    return ["<details>", f"<summary>{summary}</summary>", "", *lines, "", "</details>"]


def _headline(diff: PlanDiff) -> str:
    title = f"**Plan diff** `{diff.stack}`: " if diff.stack else "**Plan diff**: "
    return title + summary_line(diff)


def _notes_section(notes: Notes) -> list[str]:
    return ["", "#### Notes", "", *notes.lines(indent="- ")] if notes.texts else []
