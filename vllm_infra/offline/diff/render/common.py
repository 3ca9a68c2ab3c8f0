"""What every renderer shares: the summary line, pairing for display, numbered notes, the order resources are
listed in and the folding of a component's new children into its line."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from vllm_infra.offline.diff.model import PlanDiff, PropertyChange, ResourceChange
from vllm_infra.offline.diff.rules import split_reason

ACTION_SYMBOL = {"create": "+", "delete": "-", "update": "~", "replace": "±"}


_SUMMARY_CHANGES_WIDTH = 100


def summary_line(diff: PlanDiff) -> str:
    """``1 to replace, 2 to update, 1 to create, 1 to delete · GPU ≈ $0.80/h → $1.60/h (+$0.80/h)`` or
    ``No changes.``"""
    if diff.empty:
        return "No changes."
    counts = diff.counts()
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    if diff.outputs:
        parts.append(f"{len(diff.outputs)} output{'s' if len(diff.outputs) != 1 else ''} changed")
    text = ", ".join(parts) or "no resource changes"
    if diff.cost.old is not None or diff.cost.new is not None:
        text += " · " + diff.cost.describe()
    if diff.blocking:
        text += f" · ⛔ {len(diff.blocking)} will fail `pulumi up`"
    return text


def _paired(changes: Sequence[PropertyChange]) -> list[PropertyChange]:
    # A list item replaced by one with another key (an alert group renamed with its model) is a removal and an
    # addition at the same path; shown as one change, its line diff holds only the lines that differ.
    removed = {c.path: c for c in changes if c.kind == "delete" and c.flag is None and isinstance(c.old, (dict, list))}
    paired: list[PropertyChange] = []
    used: set[str] = set()
    for change in changes:
        partner = removed.get(change.path)
        if change.kind == "add" and change.flag is None and isinstance(change.new, (dict, list)) and partner:
            paired.append(PropertyChange(change.path, "update", partner.old, change.new,
                                         replaces=change.replaces or partner.replaces))  # fmt: skip
            used.add(change.path)
    merged = iter(paired)
    out = []
    for change in changes:
        if change.path in used:
            if change.kind == "add":
                out.append(next(merged))
            continue
        out.append(change)
    return out


def for_display(diff: PlanDiff) -> PlanDiff:
    """``diff`` with each resource's removal-plus-addition at one path shown as one change."""

    def pair(resource: ResourceChange) -> ResourceChange:
        return dataclasses.replace(resource, changes=tuple(_paired(resource.changes)))

    return dataclasses.replace(diff, changed=tuple(pair(r) for r in diff.changed))


class Notes:
    """Numbered notes of a rendering: each reason or citation is printed once, lines refer to it as ``[n]``."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}

    def ref(self, text: str) -> str:
        """``[n]``, the number of ``text`` (numbered on first use)."""
        number = self.texts.setdefault(text, len(self.texts) + 1)
        return f"[{number}]"

    def refs(self, texts: Iterable[str]) -> str:
        """``[1][3]``: the references of ``texts``, each once."""
        return "".join(self.ref(text) for text in dict.fromkeys(texts))

    def lines(self, indent: str = "  ") -> list[str]:
        """The notes, one per line, in number order: ``<indent>[n] text``."""
        return [f"{indent}[{number}] {text}" for text, number in self.texts.items()]


def reason_note(reason: str) -> str:
    """The note text of a replacement reason: ``forces replacement: <claim> (source: <source>)``."""
    claim, source = split_reason(reason)
    return f"forces replacement: {claim}" + (f" (source: {source})" if source else "")


def resource_notes(resource: ResourceChange, notes: Notes, *, include_change_reasons: bool) -> str:
    """The ``⛔`` marker and note references after a resource's line (reasons its changes already cite are left
    out unless ``include_change_reasons``)."""
    explained = {change.replaces for change in resource.changes if change.replaces}
    reasons = [r for r in resource.replace_reasons if include_change_reasons or r not in explained]
    refs = notes.refs([*(reason_note(r) for r in reasons), *resource.warnings])
    blocked = " ⛔" if resource.blocking else ""
    return (blocked + (" " + refs if refs else "")) if blocked or refs else ""


def short_changes(resource: ResourceChange) -> str:
    """The changed flags and properties of an updated or replaced resource, in one line of at most about 100
    characters (``… n more``); empty for a create or delete."""
    if resource.action in ("create", "delete"):
        return ""
    names = []
    for change in resource.changes:
        counts = change.line_counts()
        if change.flag is not None:
            names.append(change.flag)
        elif counts is not None:
            names.append(f"{change.path} (+{counts[0]} −{counts[1]} lines)")
        else:
            names.append(change.path)
    text = ""
    for index, name in enumerate(names):
        candidate = f"{text}, {name}" if text else name
        if len(candidate) > _SUMMARY_CHANGES_WIDTH and text:
            return f"{text}, … {len(names) - index} more"
        text = candidate
    return text


def folded(resources: Sequence[ResourceChange]) -> list[tuple[ResourceChange, int]]:
    """``(resource, folded children)`` for the summaries: a resource created (deleted) together with its parent is
    counted on the line of its topmost created (deleted) ancestor — adding a model reads as its three components,
    not as every tag and object inside them. A blocked deletion always keeps its own line."""
    by_urn = {r.urn: r for r in resources if r.action in ("create", "delete")}

    def top(resource: ResourceChange) -> ResourceChange:
        while (parent := by_urn.get(resource.parent or "")) is not None and parent.action == resource.action:
            resource = parent
        return resource

    counts: dict[str, int] = {}
    kept = []
    for resource in resources:
        anchor = top(resource) if resource.action in ("create", "delete") and not resource.blocking else resource
        if anchor is resource:
            kept.append(resource)
        else:
            counts[anchor.urn] = counts.get(anchor.urn, 0) + 1
    return [(resource, counts.get(resource.urn, 0)) for resource in kept]


def folded_note(children: int) -> str:
    """``(with n resources inside)`` for a summary line that stands for ``children`` more resources."""
    return f"(with {children} resource{'s' if children != 1 else ''} inside)" if children else ""


def attention(diff: PlanDiff) -> list[ResourceChange]:
    """What a reviewer must see first: replacements, then deletions that will fail ``pulumi up``."""
    return [*diff.replacements, *(r for r in diff.removed if r.blocking)]


def summary_order(diff: PlanDiff) -> list[ResourceChange]:
    """Every resource in the order the summaries list them: ``attention`` first, then updates, creates, deletes."""
    return [*attention(diff), *diff.updates, *diff.added, *(r for r in diff.removed if not r.blocking)]
