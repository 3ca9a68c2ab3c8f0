"""``Observability``: PodMonitors for vLLM (and the balancer), the SLO PrometheusRule and the Grafana dashboard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.config.observability import ObservabilitySpec
from vllm_infra.kube.labels import inference_pods_selector as inference_pod_selector
from vllm_infra.kube.labels import object_meta, standard_labels
from vllm_infra.observability import (
    MonitoredModel,
    ScrapeTarget,
    alert_rules,
    grafana_dashboard,
    pod_monitor_spec,
    vllm_scrape_target,
)

MONITORING_API_VERSION = "monitoring.coreos.com/v1"


@dataclass
class ObservabilityArgs:
    """Inputs of ``Observability``. Make the component wait for the app Namespace (and for the chart that installs
    the monitoring.coreos.com CRDs, where the stack installs it) with ``opts=ResourceOptions(depends_on=[...])``:
    that ``depends_on`` is handed to the children.

    Example::

        ObservabilityArgs(namespace="vllm", models=[MonitoredModel("llama-8b", "llama-3.1-8b-instruct", SloSpec())])
    """

    namespace: str
    """The namespace the vLLM pods run in (``vllm-infra:namespace``), as a plain string: it is written into PromQL
    and the dashboard. The PodMonitors and the PrometheusRule are created there."""
    models: Sequence[MonitoredModel]
    """The models to alert on, each ``MonitoredModel(name, served_model_name, slo)``
    (``observability.monitored_models(stack_config.models, spec)`` builds them); at least one."""
    spec: ObservabilitySpec = field(default_factory=ObservabilitySpec)
    """Where Prometheus and Grafana look (release label, monitoring namespace, dashboard label) and the scrape
    interval (``vllm-infra:observability``); by default kube-prometheus-stack's conventions."""
    balancer: ScrapeTarget | None = None
    """The balancer's pods to scrape as well (e.g. vllm-router's ``metrics`` port, from the strategy's
    ``scrape_target``); None (the default): no balancer, or one without Prometheus metrics (nginx)."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """Labels added to every object, beside the standard ones and ``release``; none by default."""


class Observability(pulumi.ComponentResource):
    """Monitoring of a stack's vLLM models with prometheus-operator (kube-prometheus-stack) and Grafana.

    Creates, named after the component ``name``:

    - PodMonitor ``<name>-vllm`` in the app namespace: every vLLM pod of the namespace (all models), port ``http``,
      ``/metrics`` (not behind the API key). A PodMonitor rather than a ServiceMonitor because the pods are the
      stable contract: topologies put different Services in front of them (a ClusterIP per model, a headless one for
      a balancer), a ServiceMonitor would scrape pods twice where two Services select them, and no extra "metrics"
      Service is needed (the production guide's ServiceMonitor needed one).
    - PodMonitor ``<name>-balancer`` (only with ``args.balancer``).
    - PrometheusRule ``<name>-slo``: the per-model SLO alerts (``observability.alerts``).
    - ConfigMap ``<namespace>-<name>-dashboard`` in the *monitoring* namespace, labelled for the Grafana sidecar. The
      sidecar only reads its own namespace unless configured with ``searchNamespace: ALL`` (the grafana chart's
      default is its own namespace; kube-prometheus-stack sets ALL), so the monitoring namespace works with both; the
      namespace prefix keeps two stacks' dashboards apart there.

    Monitors and rules carry ``release: <prometheusReleaseLabel>``, the label kube-prometheus-stack's Prometheus
    selects them by. The cluster needs the monitoring.coreos.com CRDs.

    Example::

        spec = stack_config.observability
        Observability("observability", ObservabilityArgs(
            namespace=stack_config.namespace,
            models=monitored_models(stack_config.models, spec),
            spec=spec,
            balancer=ScrapeTarget(selector_labels("router", "router"), port="metrics"),
        ), opts=pulumi.ResourceOptions(depends_on=[namespace]))
    """

    args: ObservabilityArgs
    """The inputs the component was built from."""
    pod_monitor_name: pulumi.Output[str]
    """The vLLM PodMonitor."""
    balancer_monitor_name: pulumi.Output[str] | None
    """The balancer's PodMonitor; None without ``args.balancer``."""
    rule_name: pulumi.Output[str]
    """The SLO PrometheusRule."""
    dashboard_config_map_name: pulumi.Output[str]
    """The Grafana dashboard's ConfigMap, in the monitoring namespace."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:observability:Observability", name, None, opts)
        self.args = args
        if not args.models:
            raise ValueError("Observability needs at least one model")
        spec = args.spec
        # The app-namespace objects wait for the Namespace, the dashboard for the monitoring namespace where the
        # stack's add-ons create it: both are in the component's depends_on.
        child = child_options(self, opts)
        labels = standard_labels("observability", name, args.extra_labels)
        prometheus_labels = {**labels, "release": spec.prometheus_release_label}

        pod_monitor = self._monitor(
            f"{name}-vllm", vllm_scrape_target(inference_pod_selector()), args, prometheus_labels, child
        )
        self.balancer_monitor_name = None
        if args.balancer is not None:
            balancer = self._monitor(f"{name}-balancer", args.balancer, args, prometheus_labels, child)
            self.balancer_monitor_name = balancer.metadata["name"]

        rule = k8s.apiextensions.CustomResource(
            f"{name}-slo",
            api_version=MONITORING_API_VERSION,
            kind="PrometheusRule",
            metadata=object_meta(f"{name}-slo", args.namespace, prometheus_labels),
            spec=alert_rules(list(args.models), args.namespace),
            opts=child,
        )

        dashboard_name = f"{args.namespace}-{name}-dashboard"
        dashboard = grafana_dashboard([model.served_model_name for model in args.models], args.namespace)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=object_meta(dashboard_name, spec.monitoring_namespace, {**labels, **spec.grafana_dashboard_label}),
            # The sidecar writes each key as a file; Grafana loads *.json files as dashboards.
            data={f"{dashboard_name}.json": json.dumps(dashboard, indent=1, sort_keys=True)},
            opts=child,
        )

        self.pod_monitor_name = pod_monitor.metadata["name"]
        self.rule_name = rule.metadata["name"]
        self.dashboard_config_map_name = config_map.metadata.name
        outputs = {
            "pod_monitor_name": self.pod_monitor_name,
            "rule_name": self.rule_name,
            "dashboard_config_map_name": self.dashboard_config_map_name,
        }
        if self.balancer_monitor_name is not None:
            outputs["balancer_monitor_name"] = self.balancer_monitor_name
        self.register_outputs(outputs)

    @staticmethod
    def _monitor(
        metadata_name: str,
        target: ScrapeTarget,
        args: ObservabilityArgs,
        labels: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            metadata_name,
            api_version=MONITORING_API_VERSION,
            kind="PodMonitor",
            metadata=object_meta(metadata_name, args.namespace, labels),
            spec=pod_monitor_spec(target, args.namespace, interval=args.spec.scrape_interval),
            opts=opts,
        )
