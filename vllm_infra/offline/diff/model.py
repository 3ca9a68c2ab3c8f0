"""The diff model: ``PlanDiff`` holds ``ResourceChange``s, each holding ``PropertyChange``s, and the ``CostDelta``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vllm_infra.offline.diff.lines import unified_line_diff
from vllm_infra.offline.diff.values import MISSING, display, jsonable


@dataclass(frozen=True)
class PropertyChange:
    """One changed property: its path, ``kind`` (``update``/``add``/``delete``), old and new values (``MISSING``
    when absent; secrets are ``"[secret]"``), and for container flags the flag name (``--max-model-len``).

    ``replaces`` holds the force-new rule it triggers (a reason string) when it forces a replacement.

    Example::

        PropertyChange("spec.template.spec.containers[0].args[27]", "update", "8192", "16384", flag="--max-model-len")
        # describe() -> '--max-model-len 8192 → 16384'
    """

    path: str
    kind: str
    old: Any = MISSING
    new: Any = MISSING
    flag: str | None = None
    note: str | None = None
    replaces: str | None = None

    def line_diff(self) -> list[str] | None:
        """A unified diff (``@@`` hunks, ``+``/``-``/space lines, no file headers) when the property is text: a
        multi-line string (an nginx.conf), a long JSON document in a string (a Grafana dashboard) or a long
        structured value added or removed whole (an alert group) — JSON pretty-printed first. None otherwise.

        >>> PropertyChange("data.conf", "update", "a\\nb\\n", "a\\nc\\n").line_diff()
        ['@@ -1,2 +1,2 @@', ' a', '-b', '+c']
        """
        # A container flag is a value, never text; unified_line_diff decides for everything else.
        return None if self.flag is not None else unified_line_diff(self.old, self.new)

    def line_counts(self) -> tuple[int, int] | None:
        """``(added, removed)`` lines of ``line_diff``, or None when the property is not diffed by line."""
        lines = self.line_diff()
        if lines is None:
            return None
        return (sum(1 for line in lines if line.startswith("+")), sum(1 for line in lines if line.startswith("-")))

    def describe(self) -> str:
        """A one-line human description: ``--max-model-len 8192 → 16384``, ``spec.replicas: 1 → 2``,
        ``data["nginx.conf"]: +12 −2 lines`` for text diffed by line."""
        if self.flag is not None:
            return _describe_flag(self)
        counts = self.line_counts()
        if counts is not None:
            verb = {"add": "added, ", "delete": "removed, "}.get(self.kind, "")
            return f"{self.path}: {verb}+{counts[0]} −{counts[1]} lines"
        if self.note:
            return f"{self.path}: {self.note}"
        if self.kind == "add":
            return f"{self.path}: + {display(self.new)}"
        if self.kind == "delete":
            return f"{self.path}: - {display(self.old)}"
        return f"{self.path}: {display(self.old)} → {display(self.new)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (absent values as ``null`` with ``kind`` telling which side is absent)."""
        out: dict[str, Any] = {"path": self.path, "kind": self.kind}
        out.update(old=jsonable(self.old), new=jsonable(self.new))
        for key in ("flag", "note", "replaces"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        lines = self.line_diff()
        if lines is not None:
            out["lineDiff"] = lines
        return out


def _describe_flag(change: PropertyChange) -> str:
    def flag_text(value: Any, flag: str) -> str:
        return flag if value is None or value is True else f"{flag} {display(value)}"

    if change.kind == "add":
        return f"+ {flag_text(change.new, change.flag or '')}"
    if change.kind == "delete":
        return f"- {flag_text(change.old, change.flag or '')}"
    if change.note:
        return f"{change.flag}: {change.note}"
    if "→" in (change.flag or ""):  # a switch flipped: --enable-x → --no-enable-x
        return change.flag or ""
    return f"{change.flag} {display(change.old)} → {display(change.new)}"


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource: ``action`` is ``create``, ``delete``, ``update`` or ``replace``.

    ``changes`` lists property changes (updates and replacements), ``replace_reasons`` why a replacement is forced,
    ``warnings`` what will go wrong or hurt (a protected resource that must be deleted, a PVC shrink the API server
    rejects, downtime of delete-before-replace), ``ignored`` the changed paths dropped by ``ignoreChanges``.
    """

    urn: str
    type: str
    name: str
    action: str
    changes: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    protect: bool = False
    #: The parent's URN (creates and deletes only): the summaries fold a component's new children into its line.
    parent: str | None = None

    @property
    def blocking(self) -> bool:
        """True when ``pulumi up`` will fail on this resource as planned (see ``warnings``)."""
        return any(w.startswith("⛔") for w in self.warnings)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "changes": [c.to_json() for c in self.changes],
            "replaceReasons": list(self.replace_reasons),
            "warnings": list(self.warnings),
            "ignored": list(self.ignored),
            "protect": self.protect,
        }


@dataclass(frozen=True)
class CostDelta:
    """Estimated GPU cost per hour of each plan (``None`` = the plan has no estimate)."""

    old: float | None
    new: float | None

    @property
    def known(self) -> bool:
        """Both sides have an estimate."""
        return self.old is not None and self.new is not None

    @property
    def delta(self) -> float | None:
        """``new - old`` in $/h, or ``None`` when either side is unknown."""
        return round(self.new - self.old, 4) if self.old is not None and self.new is not None else None

    def describe(self) -> str:
        """``GPU ≈ $0.80/h → $1.60/h (+$0.80/h)``, ``GPU ≈ $0.80/h (unchanged)``; unknown sides print as
        ``unknown``."""

        def money(value: float | None) -> str:
            return "unknown" if value is None else f"${value:,.2f}/h"

        if self.old is not None and self.old == self.new:
            return f"GPU ≈ {money(self.new)} (unchanged)"
        text = f"GPU ≈ {money(self.old)} → {money(self.new)}"
        if self.delta is not None:
            sign = "+" if self.delta >= 0 else "−"
            text += f" ({sign}${abs(self.delta):,.2f}/h)"
        return text


@dataclass(frozen=True)
class PlanDiff:
    """The difference between two plans. ``added``/``removed``/``changed`` are sorted by URN; ``changed`` holds
    updates and replacements. ``empty`` is true when nothing at all differs.

    Example::

        diff = diff_plans(old_document, new_document)
        [r.name for r in diff.replacements]
    """

    stack: str
    added: tuple[ResourceChange, ...] = ()
    removed: tuple[ResourceChange, ...] = ()
    changed: tuple[ResourceChange, ...] = ()
    outputs: tuple[PropertyChange, ...] = ()
    cost: CostDelta = field(default_factory=lambda: CostDelta(None, None))

    @property
    def replacements(self) -> tuple[ResourceChange, ...]:
        """Resources that will be replaced (deleted and created again)."""
        return tuple(r for r in self.changed if r.action == "replace")

    @property
    def updates(self) -> tuple[ResourceChange, ...]:
        """Resources updated in place."""
        return tuple(r for r in self.changed if r.action == "update")

    @property
    def blocking(self) -> tuple[ResourceChange, ...]:
        """Resources on which ``pulumi up`` will fail as planned (protected deletions, rejected updates)."""
        return tuple(r for r in (*self.changed, *self.removed) if r.blocking)

    @property
    def empty(self) -> bool:
        """Nothing differs: no resource, output or cost change."""
        cost_changed = self.cost.old != self.cost.new
        return not (self.added or self.removed or self.changed or self.outputs or cost_changed)

    def counts(self) -> dict[str, int]:
        """``{"replace": n, "update": n, "create": n, "delete": n}``."""
        return {
            "replace": len(self.replacements),
            "update": len(self.updates),
            "create": len(self.added),
            "delete": len(self.removed),
        }


def iter_changes(diff: PlanDiff) -> Iterable[tuple[ResourceChange, PropertyChange]]:
    """Every (resource, property change) pair of a diff, in rendering order (for custom reports)."""
    for resource in (*diff.replacements, *diff.updates):
        for change in resource.changes:
            yield resource, change
