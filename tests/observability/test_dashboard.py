"""The Grafana dashboard: the production guide's panels on series that exist in the pinned vLLM, valid PromQL,
and the variables Grafana needs."""

from __future__ import annotations

import json

import pytest

from tests.observability.promql_checks import (
    REMOVED_METRICS,
    bracket_problems,
    is_allowed_series,
    lexical_metric_names,
    parse,
    vector_selectors,
)
from vllm_infra.observability import grafana_dashboard, panel_queries
from vllm_infra.observability.dashboard import dashboard_uid
from vllm_infra.vllm_release import unknown_metrics_in_promql

SERVED = ["meta-llama/Llama-3.1-8B-Instruct", "qwen, the second"]
BOARD = grafana_dashboard(SERVED, "vllm")
QUERIES = panel_queries(BOARD)


def panel_titled(fragment: str) -> dict:
    (panel,) = [p for p in BOARD["panels"] if fragment.lower() in p["title"].lower()]
    return panel


@pytest.mark.parametrize("expr", QUERIES)
def test_every_target_names_only_series_of_the_pinned_release(expr):
    assert unknown_metrics_in_promql(expr) == []
    names = lexical_metric_names(expr)
    assert names and all(is_allowed_series(name) for name in names), names


@pytest.mark.parametrize("expr", QUERIES)
def test_every_target_is_plausible_promql(expr):
    assert bracket_problems(expr) == []
    parse(expr)
    for name, matchers in vector_selectors(expr):
        assert matchers["namespace"] == ("Equal", "$namespace"), (name, matchers)
        if name.startswith("vllm:"):
            assert matchers["model_name"] == ("Re", "$model_name"), (name, matchers)


def test_the_guides_removed_metrics_appear_nowhere():
    text = json.dumps(BOARD)
    for removed in REMOVED_METRICS:
        assert removed not in text


@pytest.mark.parametrize(
    ("title", "series"),
    [
        ("Request rate", ["vllm:request_success_total"]),
        ("Time to first token", ["vllm:time_to_first_token_seconds_bucket"]),
        (
            "Inter-token latency",
            ["vllm:inter_token_latency_seconds_bucket", "vllm:request_time_per_output_token_seconds_bucket"],
        ),
        ("End-to-end", ["vllm:e2e_request_latency_seconds_bucket"]),
        ("Running and waiting", ["vllm:num_requests_running", "vllm:num_requests_waiting"]),
        ("KV-cache usage", ["vllm:kv_cache_usage_perc"]),
        # The guide's avg throughput gauge is gone: throughput is the rate of the token counters.
        ("Token throughput", ["vllm:generation_tokens_total", "vllm:prompt_tokens_total"]),
        ("Preemptions", ["vllm:num_preemptions_total"]),
        ("by reason", ["vllm:request_success_total"]),
    ],
)
def test_the_production_guides_panels_are_there(title, series):
    panel = panel_titled(title)
    exprs = " ".join(target["expr"] for target in panel["targets"])
    for name in series:
        assert name in exprs, (title, name)


def test_quantile_panels_show_p50_and_p95():
    ttft = [t["expr"] for t in panel_titled("Time to first token")["targets"]]
    assert any(e.startswith("histogram_quantile(0.5,") for e in ttft)
    assert any(e.startswith("histogram_quantile(0.95,") for e in ttft)
    e2e = " ".join(t["expr"] for t in panel_titled("End-to-end")["targets"])
    assert "histogram_quantile(0.95," in e2e
    reasons = panel_titled("by reason")["targets"][0]
    assert "finished_reason" in reasons["expr"] and "{{finished_reason}}" in reasons["legendFormat"]
    throughput = " ".join(t["expr"] for t in panel_titled("Token throughput")["targets"])
    assert "rate(vllm:generation_tokens_total" in throughput


def test_variables_datasource_namespace_and_model_name():
    variables = {v["name"]: v for v in BOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "constant" and variables["namespace"]["query"] == "vllm"
    model = variables["model_name"]
    assert model["multi"] and model["includeAll"]
    # Commas inside a value are escaped in a custom variable's comma-separated query.
    assert model["query"] == "meta-llama/Llama-3.1-8B-Instruct,qwen\\, the second"
    assert [o["value"] for o in model["options"]][1:] == SERVED
    for panel in BOARD["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]


def test_panels_have_unique_ids_refids_units_and_do_not_overlap():
    panels = BOARD["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        assert panel["fieldConfig"]["defaults"]["unit"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs)
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        cell = (grid["x"], grid["y"])
        assert cell not in cells
        cells.add(cell)
    assert panel_titled("KV-cache usage")["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert panel_titled("Time to first token")["fieldConfig"]["defaults"]["unit"] == "s"


def test_dashboard_is_json_and_its_uid_is_stable_and_short():
    assert json.loads(json.dumps(BOARD)) == BOARD
    assert BOARD["uid"] == dashboard_uid("vllm") == grafana_dashboard(["x"], "vllm")["uid"]
    assert dashboard_uid("staging") != dashboard_uid("vllm")
    long_uid = dashboard_uid("n" * 63)
    assert len(long_uid) <= 40 and long_uid != dashboard_uid("m" * 63)


def test_a_dashboard_needs_models():
    with pytest.raises(ValueError, match="served model"):
        grafana_dashboard([], "vllm")
