"""``Autoscaler``: scales one model's vLLM Deployment on requests in flight and queued per pod."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.options import child_options
from vllm_infra.config import ModelSpec
from vllm_infra.config.autoscaling import AutoscalingSpec
from vllm_infra.kube.labels import object_meta, standard_labels

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
# The vllm-router's request counter: the only signal that exists while a model has no pods at all.
ROUTER_REQUESTS = "vllm_router_requests_total"


def adapter_metric_name(series: str) -> str:
    """The custom-metrics API name prometheus-adapter gives a vLLM series (``:`` is not allowed there).

    >>> adapter_metric_name("vllm:num_requests_running")
    'vllm_num_requests_running'
    """
    return series.replace(":", "_")


def prometheus_adapter_rules() -> list[dict]:
    """prometheus-adapter ``rules.custom`` that expose the per-pod vLLM series the HPA scales on."""
    return [
        {
            "seriesQuery": f'{series}{{namespace!="",pod!=""}}',
            "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
            "name": {"matches": f"^{series}$", "as": adapter_metric_name(series)},
            "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        }
        for series in (RUNNING, WAITING)
    ]


def scaling_behavior(spec: AutoscalingSpec) -> dict:
    """Scale up at once (no stabilization), down only after the quiet window, half the replicas a minute at most —
    the production guide's behaviour, with the window checked against the model's cold start at config time."""
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": spec.scale_up_percent_per_30s, "periodSeconds": 30},
                {"type": "Pods", "value": 2, "periodSeconds": 30},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": spec.scale_down_window_seconds,
            "selectPolicy": "Min",
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        },
    }


@dataclass
class AutoscalerArgs:
    """Inputs of ``Autoscaler``.

    Example::

        AutoscalerArgs(namespace="vllm", deployment_name=deployment.deployment_name, model=spec)
    """

    namespace: pulumi.Input[str]
    """The namespace of the Deployment; the HPA or ScaledObject goes there too, and KEDA's queries select the
    model's series by it (the stack's ``vllm-infra:namespace``)."""
    deployment_name: pulumi.Input[str]
    """The ``metadata.name`` of the vLLM Deployment to scale (``VllmDeployment.deployment_name``)."""
    model: ModelSpec
    """The model (``vllm-infra:models[]``): its ``autoscaling`` settings (required: engine, bounds, targets, the
    scale-down window) and its served name, which labels its vLLM metrics."""


class Autoscaler(pulumi.ComponentResource):
    """An HPA (``engine: hpa``) or a KEDA ScaledObject (``engine: keda``) for one model.

    - HPA: two per-pod metrics through prometheus-adapter (see ``prometheus_adapter_rules``): requests running
      (target ``targetRunningRequests``) and waiting (``targetWaitingRequests``); the larger recommendation wins.
    - KEDA: the same two signals as Prometheus queries over the model's pods; with ``minReplicas: 0`` a third trigger
      on the router's request counter wakes the model, since a model with no pods has no vLLM metrics.

    Example::

        Autoscaler("llama-8b", AutoscalerArgs(namespace="vllm", deployment_name=deployment.deployment_name,
                                              model=spec))
    """

    args: AutoscalerArgs
    """The inputs the component was built from."""

    def __init__(self, name: str, args: AutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:autoscaler:Autoscaler", name, None, opts)
        self.args = args
        model, spec = args.model, args.model.autoscaling
        assert spec is not None, "Autoscaler needs a model with autoscaling settings"
        labels = standard_labels("autoscaler", model.name)
        metadata = object_meta(model.name, args.namespace, labels)
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.deployment_name}
        child = child_options(self, opts)
        if spec.engine == "hpa":
            resource = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=metadata,
                spec={
                    "scaleTargetRef": target,
                    "minReplicas": spec.min_replicas,
                    "maxReplicas": spec.max_replicas,
                    "metrics": [
                        self._pods_metric(RUNNING, spec.target_running_requests),
                        self._pods_metric(WAITING, spec.target_waiting_requests),
                    ],
                    "behavior": scaling_behavior(spec),
                },
                opts=child,
            )
        else:
            resource = k8s.apiextensions.CustomResource(
                f"{name}-scaledobject",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                metadata=metadata,
                spec={
                    "scaleTargetRef": {"name": args.deployment_name},
                    "minReplicaCount": spec.min_replicas,
                    "maxReplicaCount": spec.max_replicas,
                    "pollingInterval": 15,
                    # Only used on the way to zero: never shorter than the window (itself >= the cold start).
                    "cooldownPeriod": spec.scale_down_window_seconds,
                    "advanced": {"horizontalPodAutoscalerConfig": {"behavior": scaling_behavior(spec)}},
                    "triggers": self._keda_triggers(args, spec),
                },
                opts=child,
            )
        self.resource = resource
        self.register_outputs({"name": model.name, "engine": spec.engine})

    @staticmethod
    def _pods_metric(series: str, average: int) -> dict:
        return {
            "type": "Pods",
            "pods": {
                "metric": {"name": adapter_metric_name(series)},
                "target": {"type": "AverageValue", "averageValue": str(average)},
            },
        }

    @staticmethod
    def _keda_triggers(args: AutoscalerArgs, spec: AutoscalingSpec) -> list[dict]:
        selector = pulumi.Output.format('namespace="{0}",model_name="{1}"', args.namespace, args.model.served_name)

        def trigger(name: str, query: pulumi.Input[str], threshold: int, activation: str | None = None) -> dict:
            metadata: dict = {"serverAddress": spec.prometheus_address, "query": query, "threshold": str(threshold)}
            if activation is not None:
                metadata["activationThreshold"] = activation
            return {"type": "prometheus", "name": name, "metricType": "AverageValue", "metadata": metadata}

        triggers = [
            trigger(
                "running", pulumi.Output.format("sum({0}{{{1}}})", RUNNING, selector), spec.target_running_requests
            ),
            trigger(
                "waiting", pulumi.Output.format("sum({0}{{{1}}})", WAITING, selector), spec.target_waiting_requests
            ),
        ]
        if spec.min_replicas == 0:
            wake = pulumi.Output.format('sum(rate({0}{{namespace="{1}"}}[2m]))', ROUTER_REQUESTS, args.namespace)
            # Activation only: any request wakes the model from zero; the huge per-replica target keeps this
            # trigger from ever asking for more than one replica (the vLLM triggers size the fleet once it runs).
            triggers.append(trigger("router-requests", wake, 1_000_000, activation="0"))
        return triggers
