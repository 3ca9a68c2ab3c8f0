"""SLO alert rules: every series exists in the pinned vLLM (or is an allowed kube-state-metrics one), every
expression parses and is scoped to the stack's namespace and the model, and the configured thresholds are the ones
in the expressions."""

from __future__ import annotations

import json
import re

import pytest

from tests.observability.promql_checks import (
    REMOVED_METRICS,
    bracket_problems,
    is_allowed_series,
    lexical_metric_names,
    parse,
    vector_selectors,
)
from vllm_infra.config.observability import ObservabilitySpec, SloSpec
from vllm_infra.observability import (
    KUBE_STATE_METRICS_SERIES,
    VLLM_CONTAINER,
    MonitoredModel,
    alert_rules,
    model_rules,
    monitored_models,
)
from vllm_infra.vllm_release import unknown_metrics_in_promql

NAMESPACE = "vllm"
# Every alert switched on, with values that are easy to find in the expressions.
ALL_ON = SloSpec(
    ttftP95Seconds=1.5,
    e2eP95Seconds=45,
    maxQueueDepth=17,
    maxKvCacheUsage=0.93,
    maxErrorRate=0.02,
    maxRestartsPerHour=3,
)
MODELS = [
    MonitoredModel("llama-8b", "meta-llama/Llama-3.1-8B-Instruct", ALL_ON),
    MonitoredModel("qwen-7b", "qwen", SloSpec()),
]


def all_rules() -> list[dict]:
    return [rule for group in alert_rules(MODELS, NAMESPACE)["groups"] for rule in group["rules"]]


def expressions() -> list[str]:
    return [rule["expr"] for rule in all_rules()]


def by_alert(rules: list[dict]) -> dict[str, dict]:
    return {rule["alert"]: rule for rule in rules}


def test_one_group_per_model_with_every_configured_alert():
    groups = alert_rules(MODELS, NAMESPACE)["groups"]
    assert [group["name"] for group in groups] == ["vllm-slo-llama-8b", "vllm-slo-qwen-7b"]
    assert set(by_alert(groups[0]["rules"])) == {
        "VllmTimeToFirstTokenHigh",
        "VllmRequestLatencyHigh",
        "VllmQueueDepthHigh",
        "VllmKvCacheNearlyFull",
        "VllmErrorRateHigh",
        "VllmContainerRestarting",
        "VllmMetricsAbsent",
    }
    # The default SLO leaves the end-to-end alert off: it depends on answer length, which the platform does not set.
    assert "VllmRequestLatencyHigh" not in by_alert(groups[1]["rules"])


@pytest.mark.parametrize("expr", expressions())
def test_every_vllm_series_exists_in_the_pinned_release(expr):
    assert unknown_metrics_in_promql(expr) == []


@pytest.mark.parametrize("expr", expressions())
def test_every_series_is_vllm_or_an_allowed_kube_state_metric(expr):
    names = lexical_metric_names(expr)
    assert names, expr
    assert [name for name in names if not is_allowed_series(name)] == []


def test_the_guides_removed_metrics_appear_nowhere():
    text = json.dumps(alert_rules(MODELS, NAMESPACE))
    for removed in REMOVED_METRICS:
        assert removed not in text


@pytest.mark.parametrize("expr", expressions())
def test_promql_is_balanced_and_has_no_empty_selector(expr):
    assert bracket_problems(expr) == []


@pytest.mark.parametrize("expr", expressions())
def test_promql_parses_and_every_selector_is_scoped(expr):
    parse(expr)  # raises on a syntax error
    selectors = vector_selectors(expr)
    assert selectors
    for name, matchers in selectors:
        assert is_allowed_series(name), name
        assert matchers.get("namespace") == ("Equal", NAMESPACE), (name, matchers)
        if name.startswith("vllm:"):
            # vLLM labels its series with the served model name (vllm/v1/metrics/loggers.py, labelnames).
            assert matchers["model_name"][0] == "Equal", matchers
            assert matchers["model_name"][1] in {m.served_model_name for m in MODELS}


def test_parser_check_bites():
    for broken in ("sum(rate(vllm:num_requests_running[5m])", "vllm:num_requests_running{} > > 1"):
        with pytest.raises(ValueError):
            parse(broken)
    assert bracket_problems('sum(rate(x{a="("}[5m])') == ["unclosed '('"]
    assert bracket_problems("x{}") == ["empty selector {}"]


def test_configured_thresholds_and_durations_are_in_the_rules():
    rules = by_alert(model_rules(MODELS[0], NAMESPACE))
    assert rules["VllmTimeToFirstTokenHigh"]["expr"].endswith(") > 1.5")
    assert "vllm:time_to_first_token_seconds_bucket" in rules["VllmTimeToFirstTokenHigh"]["expr"]
    assert "histogram_quantile(0.95," in rules["VllmTimeToFirstTokenHigh"]["expr"]
    assert rules["VllmRequestLatencyHigh"]["expr"].endswith(") > 45")
    assert rules["VllmQueueDepthHigh"]["expr"].endswith(") > 17")
    assert rules["VllmKvCacheNearlyFull"]["expr"].endswith(") > 0.93")
    assert rules["VllmErrorRateHigh"]["expr"].endswith(") > 0.02")
    assert rules["VllmContainerRestarting"]["expr"].endswith(") > 3")
    assert rules["VllmTimeToFirstTokenHigh"]["for"] == ALL_ON.latency_for
    assert rules["VllmQueueDepthHigh"]["for"] == ALL_ON.saturation_for
    assert rules["VllmErrorRateHigh"]["for"] == ALL_ON.error_for
    assert rules["VllmMetricsAbsent"]["for"] == ALL_ON.down_for


def test_thresholds_follow_overrides_from_config():
    spec = ObservabilitySpec.model_validate(
        {
            "defaultSlo": {"ttftP95Seconds": 0.75, "errorFor": "2m"},
            "sloOverrides": {"big": {"ttftP95Seconds": 5, "maxKvCacheUsage": None}},
        }
    )
    from vllm_infra.config import ModelSpec

    models = [
        ModelSpec(name="small", model="org/small", weights_gib=1),
        ModelSpec(name="big", model="org/big", served_model_name="big-chat", weights_gib=140),
    ]
    groups = {g["name"]: by_alert(g["rules"]) for g in alert_rules(monitored_models(models, spec), NAMESPACE)["groups"]}
    assert groups["vllm-slo-small"]["VllmTimeToFirstTokenHigh"]["expr"].endswith("> 0.75")
    assert groups["vllm-slo-big"]["VllmTimeToFirstTokenHigh"]["expr"].endswith("> 5")
    assert 'model_name="big-chat"' in groups["vllm-slo-big"]["VllmTimeToFirstTokenHigh"]["expr"]
    assert 'model_name="org/small"' in groups["vllm-slo-small"]["VllmTimeToFirstTokenHigh"]["expr"]
    # The override switched one alert off and kept the default's other keys.
    assert "VllmKvCacheNearlyFull" not in groups["vllm-slo-big"]
    assert "VllmKvCacheNearlyFull" in groups["vllm-slo-small"]
    assert groups["vllm-slo-big"]["VllmErrorRateHigh"]["for"] == "2m"


def test_every_alert_has_severity_summary_description_and_runbook():
    for rule in all_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["labels"]["model_name"]
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"][key].strip(), (rule["alert"], key)
    critical = {rule["alert"] for rule in all_rules() if rule["labels"]["severity"] == "critical"}
    assert critical == {"VllmErrorRateHigh", "VllmMetricsAbsent"}


def test_error_rate_counts_errors_not_client_aborts():
    expr = by_alert(model_rules(MODELS[0], NAMESPACE))["VllmErrorRateHigh"]["expr"]
    numerator, denominator = expr.split(" / ")
    assert 'finished_reason="error"' in numerator
    assert "finished_reason" not in denominator
    assert "abort" not in expr


def test_restarts_come_from_kube_state_metrics_for_the_model_pods_only():
    expr = by_alert(model_rules(MODELS[0], NAMESPACE))["VllmContainerRestarting"]["expr"]
    assert set(lexical_metric_names(expr)) <= KUBE_STATE_METRICS_SERIES
    assert f'container="{VLLM_CONTAINER}"' in expr
    pattern = re.search(r'pod=~"([^"]+)"', expr).group(1)
    # Prometheus anchors regex matchers: fullmatch is the same test.
    assert re.fullmatch(pattern, "llama-8b-7d9f8c6b5d-x2k4q")
    assert not re.fullmatch(pattern, "llama-8b-v2-7d9f8c6b5d-x2k4q"), "another model's pods"
    assert not re.fullmatch(pattern, "llama-8b-prewarm-x2k4q-extra")


def test_a_model_with_every_alert_disabled_has_no_group():
    off = SloSpec(
        ttftP95Seconds=None,
        maxQueueDepth=None,
        maxKvCacheUsage=None,
        maxErrorRate=None,
        maxRestartsPerHour=None,
        downFor=None,
    )
    assert alert_rules([("quiet", "quiet", off)], NAMESPACE) == {"groups": []}


def test_served_names_with_quotes_are_escaped():
    expr = by_alert(model_rules(MonitoredModel("m", 'we"ird\\name', SloSpec()), NAMESPACE))["VllmQueueDepthHigh"]
    assert bracket_problems(expr["expr"]) == []
    ((_, matchers),) = vector_selectors(expr["expr"])
    assert matchers["model_name"] == ("Equal", 'we"ird\\name')


def test_a_model_name_that_is_not_a_dns_label_is_rejected():
    with pytest.raises(ValueError, match=re.escape("models[].name")):
        model_rules(MonitoredModel("Llama 8B", "x", SloSpec()), NAMESPACE)
