"""Cross-object checks between the library's own objects and what the add-on charts render (``tests.helm``): the
monitoring and autoscaling wiring only works when names, labels and addresses on both sides agree.

- ``monitors_are_selected``: every PodMonitor and PrometheusRule is picked up by a Prometheus the chart renders
  (prometheus-operator: a nil selector selects nothing, ``{}`` everything; a nil namespace selector means the
  Prometheus's own namespace only).
- ``dashboards_are_loaded``: every dashboard ConfigMap carries the label the Grafana sidecar watches, in a
  namespace it watches.
- ``prometheus_address_resolves``: every Prometheus address a ScaledObject trigger or prometheus-adapter queries
  is a rendered Service and port (Services the operator makes at run time, such as ``prometheus-operated``, are
  not seen: the library uses the chart's).
- ``hpa_metrics_are_served``: every Pods metric an HPA reads is a name prometheus-adapter's rules expose.
- ``objects_are_unique``: no object is created twice (by the plan and a chart, or two charts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.crossobject.checks import selector_matches
from tests.crossobject.cluster import Cluster, cluster_name
from tests.helm.charts import NOT_OBTAINABLE, PlannedChart, planned_charts, render_chart, vendored
from vllm_infra.offline.runner import Plan


@dataclass
class AddonView:
    """One cluster's planned objects with what its planned (and obtainable) charts render."""

    cluster: Cluster
    charts: list[PlannedChart] = field(default_factory=list)
    rendered: list[dict[str, Any]] = field(default_factory=list)

    def rendered_of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.rendered if obj.get("kind") == kind]

    def chart(self, name: str) -> PlannedChart | None:
        return next((c for c in self.charts if c.chart == name), None)


def addon_views(plan: Plan, clusters: list[Cluster]) -> list[AddonView]:
    """Each cluster with its charts rendered (objects get the release namespace where the template sets none, as
    Chart v4 applies them)."""
    views = {cluster.name: AddonView(cluster) for cluster in clusters}
    for chart in planned_charts(plan):
        view = views.get(cluster_name(plan, chart.resource))
        if view is None:
            continue
        view.charts.append(chart)
        if chart.key in NOT_OBTAINABLE:
            continue
        rendered = render_chart(vendored(chart.key), chart.values, release=chart.release, namespace=chart.namespace)
        for obj in rendered.objects:
            obj.setdefault("metadata", {}).setdefault("namespace", chart.namespace)
            view.rendered.append(obj)
    return list(views.values())


def _ns(obj: dict[str, Any]) -> str:
    return obj.get("metadata", {}).get("namespace", "default")


def _ref(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {_ns(obj)}/{obj['metadata']['name']}"


def monitors_are_selected(view: AddonView) -> list[str]:
    """Every PodMonitor / ServiceMonitor / PrometheusRule of the plan is selected by a rendered Prometheus."""
    prometheuses = view.rendered_of_kind("Prometheus")
    if not prometheuses:
        return []  # the stack relies on a Prometheus it does not install: nothing to compare with
    selectors = {
        "PodMonitor": ("podMonitorSelector", "podMonitorNamespaceSelector"),
        "ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
        "PrometheusRule": ("ruleSelector", "ruleNamespaceSelector"),
    }
    problems = []
    for kind, (selector_key, namespace_key) in selectors.items():
        for obj in view.cluster.of_kind(kind):
            labels = obj["metadata"].get("labels") or {}
            namespace_labels = view.cluster.namespace_labels(_ns(obj))
            picked = False
            for prometheus in prometheuses:
                spec = prometheus.get("spec") or {}
                namespace_selector = spec.get(namespace_key)
                in_namespace = (
                    _ns(obj) == _ns(prometheus) if namespace_selector is None
                    else selector_matches(namespace_selector, namespace_labels)
                )  # fmt: skip
                if in_namespace and selector_matches(spec.get(selector_key), labels):
                    picked = True
            if not picked:
                problems.append(f"{_ref(obj)} is selected by no Prometheus the chart renders "
                                f"({', '.join(_ref(p) for p in prometheuses)})")  # fmt: skip
    return problems


def _sidecar_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}


def dashboards_are_loaded(view: AddonView) -> list[str]:
    """Every dashboard ConfigMap of the plan (a ``.json`` data key) is watched by the rendered Grafana's dashboard
    sidecar (its LABEL / LABEL_VALUE, NAMESPACE ``ALL`` or listing the ConfigMap's namespace)."""
    sidecars = [
        _sidecar_env(container)
        for deployment in view.rendered_of_kind("Deployment")
        for container in deployment["spec"]["template"]["spec"].get("containers") or []
        if container.get("name") == "grafana-sc-dashboard"
    ]  # fmt: skip
    if not sidecars:
        return []
    problems = []
    for config_map in view.cluster.of_kind("ConfigMap"):
        if not any(key.endswith(".json") for key in config_map.get("data") or {}):
            continue
        labels = config_map["metadata"].get("labels") or {}
        if not any(
            env.get("LABEL") in labels
            and (not env.get("LABEL_VALUE") or labels[env["LABEL"]] == env["LABEL_VALUE"])
            and (env.get("NAMESPACE") == "ALL" or _ns(config_map) in env.get("NAMESPACE", "").split(","))
            for env in sidecars
        ):
            problems.append(f"{_ref(config_map)} is watched by no Grafana dashboard sidecar ({sidecars})")
    return problems


def _service_port(view: AddonView, url: str, default_port: int | None = None) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or default_port
    labels = host.split(".")
    if len(labels) < 2 or labels[2:3] not in ([], ["svc"]):
        return f"{url}: not a cluster Service address (<service>.<namespace>.svc)"
    name, namespace = labels[0], labels[1]
    candidates = [*view.rendered, *view.cluster.of_kind("Service")]
    service = next(
        (s for s in candidates if s.get("kind") == "Service" and s["metadata"]["name"] == name and _ns(s) == namespace),
        None,
    )
    if service is None:
        return f"{url}: no Service {namespace}/{name} is rendered or planned"
    ports = [p["port"] for p in service["spec"].get("ports") or []]
    if port not in ports:
        return f"{url}: Service {namespace}/{name} has no port {port} (it has {ports})"
    return None


def prometheus_address_resolves(view: AddonView) -> list[str]:
    """The Prometheus every KEDA trigger and prometheus-adapter queries is a Service the plan or its charts have."""
    if not view.rendered_of_kind("Prometheus"):
        return []
    problems = []
    for scaler in view.cluster.of_kind("ScaledObject"):
        for trigger in scaler["spec"].get("triggers") or []:
            if trigger.get("type") == "prometheus":
                why = _service_port(view, trigger["metadata"]["serverAddress"], 80)
                if why:
                    problems.append(f"{_ref(scaler)} trigger {trigger.get('name')}: {why}")
    adapter = view.chart("prometheus-adapter")
    if adapter is not None:
        prometheus = adapter.values.get("prometheus") or {}
        why = _service_port(view, prometheus.get("url", ""), int(prometheus.get("port", 9090)))
        if why:
            problems.append(f"prometheus-adapter values: {why}")
    return problems


def hpa_metrics_are_served(view: AddonView) -> list[str]:
    """Every ``Pods`` metric an HPA reads is exposed by the planned prometheus-adapter's rules (``name.as``)."""
    adapter = view.chart("prometheus-adapter")
    rules = ((adapter.values.get("rules") or {}).get("custom") or []) if adapter else []
    served = {rule.get("name", {}).get("as") for rule in rules}
    problems = []
    for hpa in view.cluster.of_kind("HorizontalPodAutoscaler"):
        for metric in hpa["spec"].get("metrics") or []:
            if metric.get("type") != "Pods":
                continue
            name = metric["pods"]["metric"]["name"]
            if adapter is None:
                problems.append(f"{_ref(hpa)} reads Pods metric {name} and no prometheus-adapter is planned")
            elif name not in served:
                problems.append(f"{_ref(hpa)} reads Pods metric {name}; the adapter's rules serve {sorted(served)}")
    return problems


CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService", "StorageClass",
    "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PersistentVolume",
}  # fmt: skip


def objects_are_unique(view: AddonView) -> list[str]:
    """No two objects of one cluster — the plan's own and every chart's — have the same kind, namespace and name:
    two Pulumi resources applying one object fight over its fields (server-side apply conflicts) and deleting either
    deletes it."""
    seen: dict[tuple[str, str, str], str] = {}
    problems = []
    sources = [("the plan", obj) for obj in view.cluster.objects]
    for obj in view.rendered:
        chart = obj.get("metadata", {}).get("labels", {}).get("helm.sh/chart", "a chart")
        sources.append((chart, obj))
    for source, obj in sources:
        kind = obj["kind"]
        key = (kind, "" if kind in CLUSTER_SCOPED else _ns(obj), obj["metadata"]["name"])
        if key in seen:
            problems.append(f"{kind} {key[1] + '/' if key[1] else ''}{key[2]} is created by {seen[key]} and {source}")
        else:
            seen[key] = source
    return problems


ADDON_CHECKS = {
    "objects_are_unique": objects_are_unique,
    "monitors_are_selected": monitors_are_selected,
    "dashboards_are_loaded": dashboards_are_loaded,
    "prometheus_address_resolves": prometheus_address_resolves,
    "hpa_metrics_are_served": hpa_metrics_are_served,
}
