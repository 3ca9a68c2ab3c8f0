"""The Grafana dashboard of a stack's models (Grafana's dashboard JSON model, as a dict).

The panels are the production guide's, rewritten for vLLM 0.33.0's series: the guide's ``vllm:gpu_cache_usage_perc``
is ``vllm:kv_cache_usage_perc`` now, its ``vllm:avg_generation_throughput_toks_per_s`` gauge is gone (throughput is
the rate of the ``vllm:generation_tokens_total`` / ``vllm:prompt_tokens_total`` counters), and
``vllm:time_per_output_token_seconds`` became ``vllm:request_time_per_output_token_seconds`` (per request) and
``vllm:inter_token_latency_seconds`` (per token).

Variables: ``datasource`` (any Prometheus data source), ``namespace`` (a hidden constant: the stack's namespace) and
``model_name`` (the stack's served model names, multi-select with "All"). Grafana escapes regex characters of
multi-value variables for Prometheus, so ``model_name=~"$model_name"`` matches names such as
``meta-llama/Llama-3.1-8B-Instruct`` literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from vllm_infra.observability.alerts import VLLM_CONTAINER
from vllm_infra.observability.promql import string

__all__ = ["DASHBOARD_SCHEMA_VERSION", "dashboard_uid", "grafana_dashboard", "panel_queries"]

#: Grafana 10.x/11.x write schemaVersion 39; newer Grafana migrates it on load.
DASHBOARD_SCHEMA_VERSION = 39
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Every vLLM query: this stack's namespace and the selected models.
_SCOPE = 'namespace="$namespace", model_name=~"$model_name"'
# Grafana picks a window of at least four scrape intervals: rate() stays defined at every zoom level.
_WINDOW = "$__rate_interval"


def _q(metric: str, extra: str = "") -> str:
    return f"{metric}{{{_SCOPE}{', ' + extra if extra else ''}}}"


def _rate(metric: str, extra: str = "") -> str:
    return f"rate({_q(metric, extra)}[{_WINDOW}])"


def _quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (model_name, le) ({_rate(histogram + '_bucket')}))"


# (title, unit, description, [(expr, legend)]) in reading order: traffic, latency, saturation, throughput, health.
_PANELS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "Request rate",
        "reqps",
        "Finished requests per second (all finish reasons).",
        [(f"sum by (model_name) ({_rate('vllm:request_success_total')})", "{{model_name}}")],
    ),
    (
        "Finished requests by reason",
        "reqps",
        "stop/length are normal ends; abort = client went away; error = server-side failure; repetition = vLLM "
        "stopped a repetitive generation.",
        [
            (
                f"sum by (model_name, finished_reason) ({_rate('vllm:request_success_total')})",
                "{{model_name}} {{finished_reason}}",
            )
        ],
    ),
    (
        "Time to first token (p50 / p95)",
        "s",
        "Queueing plus prefill: what a streaming user waits before the first token.",
        [
            (_quantile(0.5, "vllm:time_to_first_token_seconds"), "{{model_name}} p50"),
            (_quantile(0.95, "vllm:time_to_first_token_seconds"), "{{model_name}} p95"),
        ],
    ),
    (
        "Inter-token latency (p50 / p95) and time per output token (p95)",
        "s",
        "Decode speed: the gap between streamed tokens, and each request's average time per generated token.",
        [
            (_quantile(0.5, "vllm:inter_token_latency_seconds"), "{{model_name}} inter-token p50"),
            (_quantile(0.95, "vllm:inter_token_latency_seconds"), "{{model_name}} inter-token p95"),
            (_quantile(0.95, "vllm:request_time_per_output_token_seconds"), "{{model_name}} per output token p95"),
        ],
    ),
    (
        "End-to-end request latency (p50 / p95)",
        "s",
        "From arrival to the last token; grows with the number of generated tokens.",
        [
            (_quantile(0.5, "vllm:e2e_request_latency_seconds"), "{{model_name}} p50"),
            (_quantile(0.95, "vllm:e2e_request_latency_seconds"), "{{model_name}} p95"),
        ],
    ),
    (
        "Queue time (p95)",
        "s",
        "Time requests spend waiting for a batch slot.",
        [(_quantile(0.95, "vllm:request_queue_time_seconds"), "{{model_name}} p95")],
    ),
    (
        "Running and waiting requests",
        "short",
        "Running = in the current batch; waiting = queued for a slot (the autoscaling and capacity signal).",
        [
            (f"sum by (model_name) ({_q('vllm:num_requests_running')})", "{{model_name}} running"),
            (f"sum by (model_name) ({_q('vllm:num_requests_waiting')})", "{{model_name}} waiting"),
        ],
    ),
    (
        "KV-cache usage per pod",
        "percentunit",
        "Fraction of the KV cache in use (1 = full); near full, vLLM preempts running requests.",
        [(f"max by (model_name, pod) ({_q('vllm:kv_cache_usage_perc')})", "{{model_name}} {{pod}}")],
    ),
    (
        "Token throughput",
        "short",
        "Generated and prompt tokens per second (rates of vLLM's token counters).",
        [
            (f"sum by (model_name) ({_rate('vllm:generation_tokens_total')})", "{{model_name}} generated tok/s"),
            (f"sum by (model_name) ({_rate('vllm:prompt_tokens_total')})", "{{model_name}} prompt tok/s"),
        ],
    ),
    (
        "Preemptions",
        "short",
        "Requests evicted from the batch per second because the KV cache ran out; they are recomputed later.",
        [(f"sum by (model_name) ({_rate('vllm:num_preemptions_total')})", "{{model_name}}")],
    ),
    (
        "Prefix-cache hit rate",
        "percentunit",
        "Share of prompt tokens served from the prefix cache.",
        [
            (
                f"sum by (model_name) ({_rate('vllm:prefix_cache_hits_total')})"
                f" / sum by (model_name) ({_rate('vllm:prefix_cache_queries_total')})",
                "{{model_name}}",
            )
        ],
    ),
    (
        "vLLM container restarts (1h)",
        "short",
        "Restarts of each pod's vLLM container over the last hour (kube-state-metrics); each reloads the model.",
        [
            (
                'sum by (pod) (changes(kube_pod_container_status_restarts_total{namespace="$namespace", '
                f"container={string(VLLM_CONTAINER)}}}[1h]))",
                "{{pod}}",
            )
        ],
    ),
]


def dashboard_uid(namespace: str) -> str:
    """A stable dashboard uid per stack namespace, within Grafana's 40-character limit.

    >>> dashboard_uid("vllm")
    'vllm-infra-vllm'
    >>> len(dashboard_uid("a" * 63))
    40
    """
    uid = f"vllm-infra-{namespace}"
    if len(uid) <= 40:
        return uid
    return f"vllm-infra-{hashlib.sha256(namespace.encode()).hexdigest()[:29]}"


def _custom_value(value: str) -> str:
    # A custom variable's query is comma-separated; a comma inside a value is written "\,".
    return value.replace(",", "\\,")


def _templating(namespace: str, served_model_names: Sequence[str]) -> list[dict[str, Any]]:
    all_option = {"selected": True, "text": "All", "value": "$__all"}
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
        },
        {
            "name": "namespace",
            "type": "constant",
            "query": namespace,
            "hide": 2,
            "current": {"selected": True, "text": namespace, "value": namespace},
            "options": [{"selected": True, "text": namespace, "value": namespace}],
        },
        {
            "name": "model_name",
            "label": "Model",
            "type": "custom",
            "query": ",".join(_custom_value(name) for name in served_model_names),
            "multi": True,
            "includeAll": True,
            "hide": 0,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [all_option] + [{"selected": False, "text": n, "value": n} for n in served_model_names],
        },
    ]


def _panel(panel_id: int, title: str, unit: str, description: str, queries: list[tuple[str, str]]) -> dict:
    column = (panel_id - 1) % 2
    row = (panel_id - 1) // 2
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"h": 8, "w": 12, "x": 12 * column, "y": 8 * row},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {"refId": chr(ord("A") + index), "datasource": dict(_DATASOURCE), "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(queries)
        ],
    }


def grafana_dashboard(
    served_model_names: Sequence[str],
    namespace: str,
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """The dashboard JSON model for the models a stack serves in ``namespace``.

    ``served_model_names`` (the ``model_name`` label vLLM puts on its series) fill the ``model_name`` variable;
    ``namespace`` scopes every query and makes the uid (one dashboard per stack). ``title`` defaults to
    ``vLLM (<namespace>)``.

    >>> board = grafana_dashboard(["llama-3.1-8b-instruct"], "vllm")
    >>> board["uid"], board["title"], len(board["panels"])
    ('vllm-infra-vllm', 'vLLM (vllm)', 12)
    """
    if not served_model_names:
        raise ValueError("a dashboard needs at least one served model name")
    return {
        "id": None,
        "uid": dashboard_uid(namespace),
        "title": title or f"vLLM ({namespace})",
        "description": "vLLM serving: traffic, latency, saturation and health per model (generated by vllm-infra).",
        "tags": ["vllm", "vllm-infra"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": DASHBOARD_SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": _templating(namespace, served_model_names)},
        "panels": [_panel(index, *spec) for index, spec in enumerate(_PANELS, start=1)],
    }


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard's panels, in panel order (for review and tests).

    >>> any("vllm:kv_cache_usage_perc" in q for q in panel_queries(grafana_dashboard(["m"], "vllm")))
    True
    """
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
