"""What changes between two offline plans: resources added, removed, updated or replaced, property by property.

``diff_plans(old, new)`` compares two ``plan_json`` documents (``vllm-infra plan STACK --json``), so the old side can
come from another git ref::

    git worktree add /tmp/base origin/main
    (cd /tmp/base && python -m vllm_infra.cli plan single --json) > base.json
    git worktree remove /tmp/base

    diff = diff_plans(json.load(open("base.json")), plan_json(plan_stack("single")))
    print(render_markdown(diff))   # a PR comment

Resources are matched by URN. A changed URN (a renamed model, a new parent) is a delete plus a create, exactly as
Pulumi sees it without aliases. Within a resource, changes are listed per property path in Pulumi's property-path
syntax (``spec.template.spec.containers[0].args[5]``, ``metadata.labels["app.kubernetes.io/name"]``) — the syntax
``ignoreChanges`` uses, so paths a resource lists in ``ignoreChanges`` are dropped as the engine would drop them.

One module per concern:

- ``values``: absence (``MISSING``), normalisation of secrets, unknowns and numbers, display text;
- ``paths``: Pulumi property paths (format, parse, match);
- ``model``: ``PlanDiff``, ``ResourceChange``, ``PropertyChange``, ``CostDelta``;
- ``lines``: line diffs of text and JSON properties;
- ``walk`` and ``argv``: the structural walk, and container command lines read as flags;
- ``rules``: the providers' force-new tables and the replacement reasons;
- ``plans``: ``diff_plans``, resources matched by URN, warnings of what will fail ``pulumi up``;
- ``render``: text, Markdown and JSON renderings, full and summary.
"""

from vllm_infra.offline.diff.lines import LINE_DIFF_CONTEXT, LINE_DIFF_JSON_CHARS
from vllm_infra.offline.diff.model import CostDelta, PlanDiff, PropertyChange, ResourceChange, iter_changes
from vllm_infra.offline.diff.paths import WILDCARD, Segment, format_path, parse_path
from vllm_infra.offline.diff.plans import COST_KEY, diff_plans
from vllm_infra.offline.diff.render import (
    render_json,
    render_markdown,
    render_markdown_summary,
    render_text,
    render_text_summary,
    summary_line,
)
from vllm_infra.offline.diff.rules import (
    AWS_FORCE_NEW,
    AWS_UNORDERED,
    KUBERNETES_FORCE_NEW,
    KUBERNETES_METADATA_FORCE_NEW,
    REASON_SOURCE_SEPARATOR,
    ForceNew,
    force_new_rules,
    split_reason,
)
from vllm_infra.offline.diff.values import MISSING, UNKNOWN_TEXT, display

__all__ = [
    "AWS_FORCE_NEW", "AWS_UNORDERED", "COST_KEY", "KUBERNETES_FORCE_NEW", "KUBERNETES_METADATA_FORCE_NEW",
    "LINE_DIFF_CONTEXT", "LINE_DIFF_JSON_CHARS", "MISSING", "REASON_SOURCE_SEPARATOR", "UNKNOWN_TEXT", "WILDCARD",
    "CostDelta", "ForceNew", "PlanDiff", "PropertyChange", "ResourceChange", "Segment",
    "diff_plans", "display", "force_new_rules", "format_path", "iter_changes", "parse_path", "render_json",
    "render_markdown", "render_markdown_summary", "render_text", "render_text_summary", "split_reason",
    "summary_line",
]  # fmt: skip
