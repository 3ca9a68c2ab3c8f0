"""The stack's monitors, dashboards and autoscalers agree with what the add-on charts render — and each check fails
when one side is renamed."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import SHIPPED_STACKS
from tests.crossobject.addons import (
    ADDON_CHECKS,
    addon_views,
    dashboards_are_loaded,
    hpa_metrics_are_served,
    monitors_are_selected,
    objects_are_unique,
    prometheus_address_resolves,
)
from tests.crossobject.cluster import clusters


@pytest.fixture(scope="module")
def views(shipped_plans):
    return {stack: addon_views(plan, clusters(plan)) for stack, plan in shipped_plans.items()}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
@pytest.mark.parametrize("check", sorted(ADDON_CHECKS))
def test_addon_check_holds_on_every_shipped_cluster(views, stack, check):
    problems = [f"[{v.cluster.name}] {p}" for v in views[stack] for p in ADDON_CHECKS[check](v)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", ["load-balanced", "multi-model", "multi-region"])
def test_the_monitoring_stacks_render_what_the_checks_compare(views, stack):
    for view in views[stack]:
        assert view.rendered_of_kind("Prometheus"), view.cluster.name
        assert view.cluster.of_kind("PodMonitor") and view.cluster.of_kind("PrometheusRule"), view.cluster.name


def _view(views, stack):
    return copy.deepcopy(views[stack][0])


def test_a_prometheus_selecting_other_monitors_fails(views):
    view = _view(views, "load-balanced")
    view.rendered_of_kind("Prometheus")[0]["spec"]["podMonitorSelector"] = {"matchLabels": {"team": "platform"}}
    assert any("PodMonitor" in p for p in monitors_are_selected(view))


def test_a_prometheus_watching_only_its_own_namespace_fails(views):
    view = _view(views, "load-balanced")
    view.rendered_of_kind("Prometheus")[0]["spec"].pop("ruleNamespaceSelector")
    assert any("PrometheusRule vllm/" in p for p in monitors_are_selected(view))


def test_a_dashboard_without_the_sidecar_label_fails(views):
    view = _view(views, "load-balanced")
    dashboard = next(c for c in view.cluster.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"])
    dashboard["metadata"]["labels"]["grafana_dashboard"] = "true"
    assert any("watched by no Grafana" in p for p in dashboards_are_loaded(view))


def test_a_scaled_object_querying_the_wrong_port_fails(views):
    view = _view(views, "multi-model")
    trigger = view.cluster.of_kind("ScaledObject")[0]["spec"]["triggers"][0]
    trigger["metadata"]["serverAddress"] = "http://kube-prometheus-stack-prometheus.monitoring.svc:9091"
    assert any("has no port 9091" in p for p in prometheus_address_resolves(view))


def test_an_adapter_querying_a_missing_service_fails(views):
    view = _view(views, "load-balanced")
    view.chart("prometheus-adapter").values["prometheus"]["url"] = "http://prometheus.monitoring.svc"
    assert any("no Service monitoring/prometheus is rendered" in p for p in prometheus_address_resolves(view))


def test_an_hpa_metric_the_adapter_does_not_serve_fails(views):
    view = _view(views, "load-balanced")
    hpa = view.cluster.of_kind("HorizontalPodAutoscaler")[0]
    hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "vllm:num_requests_running"
    assert any("vllm:num_requests_running" in p for p in hpa_metrics_are_served(view))


def test_an_object_both_the_plan_and_a_chart_create_fails(views):
    view = _view(views, "load-balanced")
    service = next(
        o for o in view.rendered_of_kind("Service") if o["metadata"]["name"] == "kube-prometheus-stack-prometheus"
    )
    view.cluster.objects.append(copy.deepcopy(service))
    problems = objects_are_unique(view)
    assert any("Service monitoring/kube-prometheus-stack-prometheus is created by" in p for p in problems), problems


def test_cluster_scoped_objects_collide_across_namespaces(views):
    view = _view(views, "load-balanced")
    role = copy.deepcopy(view.rendered_of_kind("ClusterRole")[0])
    role["metadata"]["namespace"] = "elsewhere"  # ignored by the API server for a cluster-scoped kind
    view.rendered.append(role)
    assert any(p.startswith(f"ClusterRole {role['metadata']['name']} ") for p in objects_are_unique(view))
