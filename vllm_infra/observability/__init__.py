"""Observability builders: PodMonitor/ServiceMonitor specs, SLO alert rules and the Grafana dashboard.

Pure functions returning plain dicts (no Pulumi): ``vllm_infra.components.observability`` turns them into resources,
and anyone can render them for review. Every ``vllm:`` series they name exists in the pinned vLLM release
(``vllm_infra.vllm_release.unknown_metrics_in_promql`` says so in the tests).
"""

from vllm_infra.observability.alerts import (
    KUBE_STATE_METRICS_SERIES,
    VLLM_CONTAINER,
    MonitoredModel,
    alert_rules,
    model_rules,
    monitored_models,
)
from vllm_infra.observability.dashboard import dashboard_uid, grafana_dashboard, panel_queries
from vllm_infra.observability.monitors import (
    METRICS_PATH,
    VLLM_PORT_NAME,
    ScrapeTarget,
    pod_monitor_spec,
    service_monitor_spec,
    vllm_scrape_target,
)

__all__ = [
    "KUBE_STATE_METRICS_SERIES",
    "METRICS_PATH",
    "VLLM_CONTAINER",
    "VLLM_PORT_NAME",
    "MonitoredModel",
    "ScrapeTarget",
    "alert_rules",
    "dashboard_uid",
    "grafana_dashboard",
    "model_rules",
    "monitored_models",
    "panel_queries",
    "pod_monitor_spec",
    "service_monitor_spec",
    "vllm_scrape_target",
]
