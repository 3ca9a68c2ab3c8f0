"""Prometheus alerting rules derived from per-model SLOs (the ``spec`` of a PrometheusRule), as plain dicts.

Where the labels come from (vLLM 0.33.0, ``vllm/v1/metrics/loggers.py``): every engine series carries
``model_name`` (the *served* model name: the first ``--served-model-name``, else the model id) and ``engine`` (the
engine index inside the pod); ``vllm:request_success_total`` adds ``finished_reason`` (``stop``, ``length``,
``abort``, ``error``, ``repetition``). The PodMonitor adds ``namespace`` and ``pod``. Restarts come from
kube-state-metrics (``kube_pod_container_status_restarts_total{namespace, pod, container}``), which knows nothing of
vLLM's labels: those series are selected by the Deployment's pod names and the container name instead.

Every expression is scoped by ``namespace`` and the model, so two stacks (or two models) never share an alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from vllm_infra.config.observability import ObservabilitySpec, SloSpec
from vllm_infra.observability.promql import RATE_WINDOW, number, selector

__all__ = [
    "KUBE_STATE_METRICS_SERIES",
    "VLLM_CONTAINER",
    "MonitoredModel",
    "alert_rules",
    "model_rules",
    "monitored_models",
]

#: The vLLM container's name in every vLLM pod (``vllm_infra/components/vllm.py``); restarts are counted for it only,
#: not for the pre-warm Job's container.
VLLM_CONTAINER = "vllm"
#: The series outside vLLM's own that the alerts read, all from kube-state-metrics (shipped with kube-prometheus-stack).
KUBE_STATE_METRICS_SERIES = frozenset({"kube_pod_container_status_restarts_total"})

_MODEL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


class MonitoredModel(NamedTuple):
    """One model as the alerts see it.

    - ``name``: ``models[].name``, the Deployment's name: its pods are ``<name>-<hash>-<suffix>``.
    - ``served_model_name``: the ``model`` clients send; vLLM labels its series ``model_name="<this>"``.
    - ``slo``: the thresholds (``ObservabilitySpec.slo_for(name)``).

    >>> MonitoredModel("llama-8b", "meta-llama/Llama-3.1-8B-Instruct", SloSpec()).slo.ttft_p95_seconds
    2.0
    """

    name: str
    served_model_name: str
    slo: SloSpec


def monitored_models(models: Iterable, spec: ObservabilitySpec) -> list[MonitoredModel]:
    """``MonitoredModel`` of each ``ModelSpec`` in ``models``, with its effective SLO from ``spec``.

    >>> from vllm_infra.config import ModelSpec
    >>> spec = ObservabilitySpec(sloOverrides={"m": {"maxQueueDepth": 5}})
    >>> monitored_models([ModelSpec(name="m", model="org/m", weights_gib=1)], spec)[0].slo.max_queue_depth
    5
    """
    return [MonitoredModel(model.name, model.served_name, spec.slo_for(model.name)) for model in models]


def _rule(
    alert: str,
    expr: str,
    *,
    for_: str | None,
    severity: str,
    model: MonitoredModel,
    summary: str,
    description: str,
    runbook: str,
) -> dict:
    rule: dict = {
        "alert": alert,
        "expr": expr,
        # model_name on every alert, also on those computed from kube-state-metrics series (which lack it), so one
        # Alertmanager route can match a model's alerts whatever their source.
        "labels": {"severity": severity, "model_name": model.served_model_name},
        "annotations": {"summary": summary, "description": description, "runbook": runbook},
    }
    if for_ is not None:
        rule["for"] = for_
    return rule


def _quantile_over(histogram: str, matchers: dict[str, str]) -> str:
    buckets = selector(f"{histogram}_bucket", matchers)
    return f"histogram_quantile(0.95, sum by (namespace, model_name, le) (rate({buckets}[{RATE_WINDOW}])))"


def model_rules(model: MonitoredModel, namespace: str) -> list[dict]:
    """The alerting rules of one model in ``namespace``: one per SLO threshold that is set.

    >>> rules = model_rules(MonitoredModel("m", "org/m", SloSpec()), "vllm")
    >>> [rule["alert"] for rule in rules]  # doctest: +NORMALIZE_WHITESPACE
    ['VllmTimeToFirstTokenHigh', 'VllmQueueDepthHigh', 'VllmKvCacheNearlyFull', 'VllmErrorRateHigh',
     'VllmContainerRestarting', 'VllmMetricsAbsent']
    """
    if not _MODEL_NAME.match(model.name):
        raise ValueError(f"model name {model.name!r} is not a models[].name (a lowercase DNS label)")
    slo = model.slo
    served = model.served_model_name
    matchers = {"namespace": namespace, "model_name": served}
    where = f"{served} in {namespace}"
    pods = f"kubectl -n {namespace} get pods -l app.kubernetes.io/instance={model.name}"
    rules: list[dict] = []

    if slo.ttft_p95_seconds is not None:
        rules.append(_rule(
            "VllmTimeToFirstTokenHigh",
            f"{_quantile_over('vllm:time_to_first_token_seconds', matchers)} > {number(slo.ttft_p95_seconds)}",
            for_=slo.latency_for,
            severity="warning",
            model=model,
            summary=f"p95 time to first token of {served} is above {number(slo.ttft_p95_seconds)}s",
            description=(
                "p95 time to first token of {{ $labels.model_name }} in {{ $labels.namespace }} is "
                f"{{{{ $value | humanizeDuration }}}} (SLO {number(slo.ttft_p95_seconds)}s) for {slo.latency_for}."
            ),
            runbook=(
                "Requests wait for prefill. On the dashboard check waiting requests and KV-cache usage: if both are "
                "high, add replicas; long prompts raise TTFT on their own (compare prompt tokens/s); "
                "enable prefix caching for shared prompts."
            ),
        ))  # fmt: skip
    if slo.e2e_p95_seconds is not None:
        rules.append(_rule(
            "VllmRequestLatencyHigh",
            f"{_quantile_over('vllm:e2e_request_latency_seconds', matchers)} > {number(slo.e2e_p95_seconds)}",
            for_=slo.latency_for,
            severity="warning",
            model=model,
            summary=f"p95 end-to-end latency of {served} is above {number(slo.e2e_p95_seconds)}s",
            description=(
                "p95 end-to-end request latency of {{ $labels.model_name }} in {{ $labels.namespace }} is "
                f"{{{{ $value | humanizeDuration }}}} (SLO {number(slo.e2e_p95_seconds)}s) for {slo.latency_for}."
            ),
            runbook=(
                "Compare time per output token and generated tokens per request on the dashboard: slower decoding "
                "under load needs replicas; longer answers need a larger SLO or max_tokens limits."
            ),
        ))  # fmt: skip
    if slo.max_queue_depth is not None:
        waiting = selector("vllm:num_requests_waiting", matchers)
        rules.append(_rule(
            "VllmQueueDepthHigh",
            # Summed over the pod's engines (data parallelism runs several in one pod), compared per pod.
            f"sum by (namespace, model_name, pod) ({waiting}) > {number(slo.max_queue_depth)}",
            for_=slo.saturation_for,
            severity="warning",
            model=model,
            summary=f"Requests are queueing on a pod of {served}",
            description=(
                "{{ $labels.pod }} ({{ $labels.model_name }}, {{ $labels.namespace }}) has {{ $value }} requests "
                f"waiting for a batch slot (limit {number(slo.max_queue_depth)}) for {slo.saturation_for}."
            ),
            runbook=(
                "The model lacks capacity: add replicas or raise the autoscaler's maximum. If only one pod queues, "
                "the balancer spreads load unevenly. Check KV-cache usage: a full cache also keeps requests waiting."
            ),
        ))  # fmt: skip
    if slo.max_kv_cache_usage is not None:
        usage = selector("vllm:kv_cache_usage_perc", matchers)
        rules.append(_rule(
            "VllmKvCacheNearlyFull",
            # vllm:kv_cache_usage_perc is a fraction: 1 means 100 percent.
            f"max by (namespace, model_name, pod) ({usage}) > {number(slo.max_kv_cache_usage)}",
            for_=slo.saturation_for,
            severity="warning",
            model=model,
            summary=f"KV cache of a {served} pod is nearly full",
            description=(
                "KV-cache usage of {{ $labels.pod }} ({{ $labels.model_name }}, {{ $labels.namespace }}) is "
                f"{{{{ $value | humanizePercentage }}}} (limit {number(slo.max_kv_cache_usage * 100)}%) "
                f"for {slo.saturation_for}."
            ),
            runbook=(
                "vLLM preempts running requests when the cache is full (see preemptions on the dashboard). Add "
                "replicas, lower engine.maxNumSeqs or engine.maxModelLen, use engine.kvCacheDtype fp8, or give the "
                "model more GPU memory (engine.gpuMemoryUtilization, tensorParallelSize)."
            ),
        ))  # fmt: skip
    if slo.max_error_rate is not None:
        errors = selector("vllm:request_success_total", {**matchers, "finished_reason": "error"})
        finished = selector("vllm:request_success_total", matchers)
        rules.append(_rule(
            "VllmErrorRateHigh",
            # Errors over every finished request; client aborts ("abort") are not server errors.
            f"sum by (namespace, model_name) (rate({errors}[{RATE_WINDOW}]))"
            f" / sum by (namespace, model_name) (rate({finished}[{RATE_WINDOW}]))"
            f" > {number(slo.max_error_rate)}",
            for_=slo.error_for,
            severity="critical",
            model=model,
            summary=f"{served} fails more than {number(slo.max_error_rate * 100)}% of requests",
            description=(
                "{{ $value | humanizePercentage }} of the requests to {{ $labels.model_name }} in "
                "{{ $labels.namespace }} finished with an error over the last 5 minutes "
                f"(SLO {number(slo.max_error_rate * 100)}%)."
            ),
            runbook=(
                f"Read the engine's errors: kubectl -n {namespace} logs -l app.kubernetes.io/instance={model.name} "
                f"-c {VLLM_CONTAINER} --since=15m. Request-level internal errors (e.g. KV-transfer failures) are "
                "counted here; a dead engine restarts the pod (see the restart alert)."
            ),
        ))  # fmt: skip
    if slo.max_restarts_per_hour is not None:
        restarts = selector(
            "kube_pod_container_status_restarts_total",
            {"namespace": namespace, "container": VLLM_CONTAINER},
            # The Deployment's pods: <deployment>-<pod-template-hash>-<suffix>; exactly two more segments, so the
            # model "llama" does not match the pods of "llama-8b".
            regex={"pod": f"{model.name}-[a-z0-9]+-[a-z0-9]+"},
        )
        rules.append(_rule(
            "VllmContainerRestarting",
            # changes() counts restarts exactly; increase() extrapolates (2 restarts read as 2.02 > 2).
            f"sum by (namespace, pod) (changes({restarts}[1h])) > {number(slo.max_restarts_per_hour)}",
            for_=None,
            severity="warning",
            model=model,
            summary=f"A vLLM pod of {served} keeps restarting",
            description=(
                "The vLLM container of {{ $labels.pod }} in {{ $labels.namespace }} restarted {{ $value }} times "
                f"in the last hour (limit {number(slo.max_restarts_per_hour)}); each restart reloads the model."
            ),
            runbook=(
                f"kubectl -n {namespace} describe pod <pod>: OOMKilled -> raise resources.memory; liveness failures "
                "-> the engine is saturated or hung; CUDA/NCCL errors in the previous logs (kubectl logs --previous) "
                "-> check the node's GPU (Xid errors) and cordon it."
            ),
        ))  # fmt: skip
    if slo.down_for is not None:
        running = selector("vllm:num_requests_running", matchers)
        rules.append(_rule(
            "VllmMetricsAbsent",
            # absent() keeps the equality matchers (namespace, model_name) as the alert's labels.
            f"absent({running})",
            for_=slo.down_for,
            severity="critical",
            model=model,
            summary=f"No metrics from any pod of {served}",
            description=(
                f"Prometheus has no vLLM metrics for {where} for {slo.down_for}: no pod is serving the model, or "
                "none is scraped."
            ),
            runbook=(
                f"{pods}: pods Pending -> no GPU node (quota, instance type, taints); pods not Ready -> still loading "
                "or crashing. If pods serve, check the PodMonitor target in Prometheus (Status > Targets) and its "
                "release label."
            ),
        ))  # fmt: skip
    return rules


def alert_rules(models: Sequence[MonitoredModel | tuple[str, str, SloSpec]], namespace: str) -> dict:
    """The ``spec`` of a PrometheusRule: one group ``vllm-slo-<model>`` per model with at least one alert.

    ``models`` are ``MonitoredModel``s or plain ``(name, served_model_name, slo)`` tuples; ``namespace`` is the
    namespace the vLLM pods run in (every expression is scoped to it).

    Example::

        alert_rules([MonitoredModel("llama-8b", "llama-3.1-8b-instruct", SloSpec(ttftP95Seconds=1.5))], "vllm")
        # {"groups": [{"name": "vllm-slo-llama-8b", "rules": [{"alert": "VllmTimeToFirstTokenHigh",
        #   "expr": "histogram_quantile(0.95, sum by (namespace, model_name, le) (rate(
        #            vllm:time_to_first_token_seconds_bucket{namespace=\\"vllm\\", model_name=...}[5m]))) > 1.5", ...
    """
    groups = []
    for entry in models:
        model = MonitoredModel(*entry)
        rules = model_rules(model, namespace)
        if rules:
            groups.append({"name": f"vllm-slo-{model.name}", "rules": rules})
    return {"groups": groups}
