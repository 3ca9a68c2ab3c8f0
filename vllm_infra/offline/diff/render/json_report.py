"""The diff as a JSON-ready document (``vllm-infra diff --format json``)."""

from __future__ import annotations

from typing import Any

from vllm_infra.offline.diff.model import PlanDiff
from vllm_infra.offline.diff.render.common import summary_line


def render_json(diff: PlanDiff) -> dict[str, Any]:
    """The diff as a JSON-ready dict: ``{"stack", "empty", "summary", "counts", "cost", "replacements",
    "resources", "outputs"}``; ``resources`` holds every changed, created and deleted resource (replacements first).

    Example::

        json.dumps(render_json(diff), indent=2)
    """
    ordered = [*diff.replacements, *diff.updates, *diff.added, *diff.removed]
    return {
        "stack": diff.stack,
        "empty": diff.empty,
        "summary": summary_line(diff),
        "counts": diff.counts(),
        "cost": {"old": diff.cost.old, "new": diff.cost.new, "delta": diff.cost.delta},
        "replacements": [r.urn for r in diff.replacements],
        "blocking": [r.urn for r in diff.blocking],
        "resources": [r.to_json() for r in ordered],
        "outputs": [c.to_json() for c in diff.outputs],
    }
