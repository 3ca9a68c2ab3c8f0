"""Observability config: production defaults, per-model overrides, and errors that name the key and the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vllm_infra.config import ConfigError, validate_config
from vllm_infra.config.observability import ObservabilitySpec, SloSpec, duration_seconds


def problem(data: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        validate_config(ObservabilitySpec, data)
    (only,) = raised.value.problems
    return only


def test_defaults_fit_kube_prometheus_stack_and_production_slos():
    spec = ObservabilitySpec()
    # Unset: the stack decides from its add-ons (tests/config/test_stack_addons.py); nothing claims external CRDs.
    assert spec.enabled is None and spec.external is False
    assert spec.prometheus_release_label == "kube-prometheus-stack"
    assert spec.monitoring_namespace == "monitoring"
    assert spec.grafana_dashboard_label == {"grafana_dashboard": "1"}
    slo = spec.default_slo
    assert (slo.ttft_p95_seconds, slo.max_queue_depth, slo.max_kv_cache_usage) == (2.0, 20, 0.95)
    assert (slo.max_error_rate, slo.max_restarts_per_hour, slo.e2e_p95_seconds) == (0.01, 2, None)


def test_keys_are_camel_case_like_every_stack_key():
    spec = ObservabilitySpec.model_validate(
        {
            "prometheusReleaseLabel": "prom",
            "monitoringNamespace": "observability",
            "grafanaDashboardLabel": {"grafana_dashboard": "true"},
            "scrapeInterval": "15s",
            "defaultSlo": {"e2eP95Seconds": 30, "maxKvCacheUsage": 0.9, "saturationFor": "20m"},
        }
    )
    assert spec.default_slo.e2e_p95_seconds == 30
    assert spec.default_slo.saturation_for == "20m"
    assert "e2eP95Seconds" in spec.default_slo.model_dump(by_alias=True)


def test_an_override_changes_only_the_keys_it_sets():
    spec = ObservabilitySpec.model_validate(
        {"defaultSlo": {"maxQueueDepth": 8}, "sloOverrides": {"llama-70b": {"ttftP95Seconds": 5, "downFor": None}}}
    )
    big = spec.slo_for("llama-70b")
    assert big.ttft_p95_seconds == 5 and big.down_for is None
    assert big.max_queue_depth == 8, "not reset to the SloSpec default"
    assert spec.slo_for("other") == spec.default_slo


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"defaultSlo": {"maxKvCacheUsage": 1.5}}, "vllm-infra:defaultSlo.maxKvCacheUsage", "got 1.5"),
        ({"defaultSlo": {"maxErrorRate": 1}}, "vllm-infra:defaultSlo.maxErrorRate", "less than 1"),
        ({"defaultSlo": {"ttftP95Seconds": 0}}, "vllm-infra:defaultSlo.ttftP95Seconds", "must be more than 0"),
        ({"defaultSlo": {"maxQueueDepth": 0}}, "vllm-infra:defaultSlo.maxQueueDepth", "must be at least 1"),
        ({"defaultSlo": {"latencyFor": "10 minutes"}}, "vllm-infra:defaultSlo.latencyFor", "e.g. 30s, 5m"),
        ({"defaultSlo": {"e2eP95Seconds": 1}}, "vllm-infra:defaultSlo", "e2eP95Seconds (1) is below ttftP95Seconds"),
        ({"scrapeInterval": "2m"}, "vllm-infra:scrapeInterval", "5-minute windows"),
        ({"scrapeInterval": "1s"}, "vllm-infra:scrapeInterval", "between 5s and 75s"),
        ({"prometheusReleaseLabel": "my release"}, "vllm-infra:prometheusReleaseLabel", "Helm release name"),
        ({"monitoringNamespace": "Monitoring"}, "vllm-infra:monitoringNamespace", "got 'Monitoring'"),
        ({"grafanaDashboardLabel": {}}, "vllm-infra:grafanaDashboardLabel", "at least 1"),
        ({"grafanaDashboardLabel": {"bad key": "1"}}, "vllm-infra:grafanaDashboardLabel", "sidecar"),
        ({"sloOverrides": {"meta-llama/Llama-3.1-8B": {}}}, "vllm-infra:sloOverrides", "models[].name"),
        ({"sloOverrides": {"m": {"maxQueDepth": 3}}}, "vllm-infra:sloOverrides.m.maxQueDepth", "unknown key"),
        (
            {"defaultSlo": {"e2eP95Seconds": 10}, "sloOverrides": {"m": {"ttftP95Seconds": 20}}},
            "vllm-infra",
            "sloOverrides.m combined with defaultSlo is invalid: e2eP95Seconds (10) is below ttftP95Seconds (20)",
        ),
    ],
)
def test_errors_name_the_key_and_the_fix(data, key, fragment):
    message = problem(data)
    assert message.startswith(key + ":"), message
    assert fragment in message, message


def test_overrides_for_unknown_models_are_reported_with_the_known_ones():
    spec = ObservabilitySpec.model_validate({"sloOverrides": {"lama-8b": {"ttftP95Seconds": 1}}})
    with pytest.raises(ValueError, match=r"observability\.sloOverrides\.lama-8b: no model has this name; known models"):
        spec.check_model_names(["llama-8b"])
    spec.check_model_names(["lama-8b", "llama-8b"])


def test_specs_are_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        SloSpec().ttft_p95_seconds = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("250ms", 0.25)]
)
def test_durations(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "5", "m5", "5m1h", "1.5m", "5 m"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        duration_seconds(text)
