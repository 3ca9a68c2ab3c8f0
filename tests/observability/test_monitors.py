"""PodMonitor / ServiceMonitor spec builders: camelCase specs that the upstream CRD schemas accept."""

from __future__ import annotations

import jsonschema
import pytest

from tests.offline.kube_schema import validate_object
from vllm_infra.observability import (
    METRICS_PATH,
    VLLM_PORT_NAME,
    ScrapeTarget,
    pod_monitor_spec,
    service_monitor_spec,
    vllm_scrape_target,
)

SELECTOR = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/component": "inference"}


def test_vllm_is_scraped_on_its_http_port_at_metrics():
    spec = pod_monitor_spec(vllm_scrape_target(SELECTOR), "vllm", interval="15s")
    assert spec == {
        "selector": {"matchLabels": SELECTOR},
        "namespaceSelector": {"matchNames": ["vllm"]},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "scheme": "http", "interval": "15s"}],
    }
    # /metrics is not behind vLLM's API key: no credentials in the endpoint.
    endpoint = spec["podMetricsEndpoints"][0]
    assert not {"authorization", "bearerTokenSecret", "basicAuth"} & set(endpoint)
    assert (VLLM_PORT_NAME, METRICS_PATH) == ("http", "/metrics")


def test_balancer_target_uses_the_given_port_name_and_path():
    target = ScrapeTarget({"app.kubernetes.io/name": "vllm-router"}, port="metrics", path="/prom")
    endpoint = service_monitor_spec(target, "vllm")["endpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/prom")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"selector": {}, "port": "http"}, "non-empty pod selector"),
        ({"selector": SELECTOR, "port": "8000"}, "port *name*"),
        ({"selector": SELECTOR, "port": "Metrics"}, "port *name*"),
        ({"selector": SELECTOR, "port": "a-very-long-port-name"}, "port *name*"),
        ({"selector": SELECTOR, "port": "http", "path": "metrics"}, "start with '/'"),
    ],
)
def test_bad_targets_are_rejected_with_the_reason(kwargs, fragment):
    with pytest.raises(ValueError) as raised:
        ScrapeTarget(**kwargs)
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("kind", "builder"), [("PodMonitor", pod_monitor_spec), ("ServiceMonitor", service_monitor_spec)]
)
def test_specs_validate_against_the_crd_schemas(kind, builder):
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": kind,
        "metadata": {"name": "vllm", "namespace": "vllm"},
        "spec": builder(vllm_scrape_target(SELECTOR), "vllm", interval="30s"),
    }
    validate_object(obj)
    # ...and the schema check bites on a snake_case key.
    endpoints = "podMetricsEndpoints" if kind == "PodMonitor" else "endpoints"
    obj["spec"][endpoints][0]["scrape_interval"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="scrape_interval"):
        validate_object(obj)
