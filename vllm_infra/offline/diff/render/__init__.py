"""The renderings of a ``PlanDiff``: plain text for terminals, Markdown for pull-request comments (each in full and
as a one-line-per-resource summary), and a JSON document."""

from vllm_infra.offline.diff.render.common import summary_line
from vllm_infra.offline.diff.render.json_report import render_json
from vllm_infra.offline.diff.render.markdown import render_markdown, render_markdown_summary
from vllm_infra.offline.diff.render.text import render_text, render_text_summary

__all__ = [
    "render_json", "render_markdown", "render_markdown_summary", "render_text", "render_text_summary", "summary_line",
]  # fmt: skip
