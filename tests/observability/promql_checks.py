"""Checks on PromQL text for the observability tests: lexical ones that need nothing, and parser-based ones
(``promql-parser``, a test-only dependency) that skip with a reason where it is not installed."""

from __future__ import annotations

import re

import pytest

from vllm_infra.observability import KUBE_STATE_METRICS_SERIES
from vllm_infra.vllm_release import is_known_metric

# Grafana's variables are not PromQL: substitute plausible values before parsing a dashboard query.
GRAFANA_SUBSTITUTIONS = {"$__rate_interval": "5m", "$__interval": "1m"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_METRIC_BEFORE_BRACE = re.compile(r"(?<![a-zA-Z0-9_:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
#: Removed from vLLM before 0.33 although the production guide still names them.
REMOVED_METRICS = (
    "vllm:gpu_cache_usage_perc",
    "vllm:avg_generation_throughput_toks_per_s",
    "vllm:avg_prompt_throughput_toks_per_s",
    "vllm:time_per_output_token_seconds",
)


def without_strings(expr: str) -> str:
    """``expr`` with every string literal replaced by ``""`` (brackets inside label values do not count)."""
    return _STRING.sub('""', expr)


def bracket_problems(expr: str) -> list[str]:
    """Unbalanced ``()``, ``{}``, ``[]`` and empty selectors ``{}`` outside string literals."""
    code = without_strings(expr)
    problems = []
    stack: list[str] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for char in code:
        if char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            problems.append(f"unmatched {char!r}")
    problems += [f"unclosed {char!r}" for char in stack]
    if re.search(r"\{\s*\}", code):
        problems.append("empty selector {}")
    return problems


def lexical_metric_names(expr: str) -> list[str]:
    """Metric names written as ``name{...}`` (every selector the library writes has matchers)."""
    return _METRIC_BEFORE_BRACE.findall(without_strings(expr))


def is_allowed_series(name: str) -> bool:
    """A series of the pinned vLLM release, or one of the kube-state-metrics series the library allows."""
    return is_known_metric(name) if name.startswith("vllm:") else name in KUBE_STATE_METRICS_SERIES


def parse(expr: str):
    """Parse ``expr`` with promql-parser (Grafana variables substituted); skip the test if it is not installed."""
    promql_parser = pytest.importorskip(
        "promql_parser", reason="promql-parser (test extra) is not installed; the lexical checks still ran"
    )
    for variable, value in GRAFANA_SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    return promql_parser.parse(expr)


def vector_selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """``(metric name, {label: (op, value)})`` of every vector selector in ``expr``, from the parsed AST."""
    tree = parse(expr)  # skips the test first if promql-parser is missing
    import promql_parser

    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: (str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers}
            found.append((node.name, matchers))

    promql_parser.walk(tree, pre_visit=visit)
    return found
