"""Typed observability settings: where Prometheus and Grafana find the stack's monitors, rules and dashboard, and the
per-model service-level objectives the alerts are derived from.

In a stack file (all keys optional; the defaults fit a kube-prometheus-stack release named ``kube-prometheus-stack``
in the ``monitoring`` namespace)::

    vllm-infra:observability:
      prometheusReleaseLabel: monitoring
      defaultSlo:
        ttftP95Seconds: 2.0
        maxQueueDepth: 20
      sloOverrides:
        llama-70b:
          ttftP95Seconds: 5.0      # only the keys written here differ from defaultSlo
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, field_validator, model_validator

from vllm_infra.config.base import ConfigModel

__all__ = ["Duration", "ObservabilitySpec", "SloSpec", "duration_seconds"]

# A Prometheus duration as the monitoring.coreos.com CRDs accept it (units in descending order, no fractions), e.g.
# "30s", "5m", "1h30m". The pattern is the CRDs' own, minus the bare "0" (write "0s").
_DURATION_PATTERN = r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}

# Kubernetes label syntax (the release label value, the Grafana sidecar's label key and value).
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
# models[].name (vllm_infra/config/model.py's ResourceName).
_MODEL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]

# Alert rates use 5-minute windows; rate() needs several samples per window to be stable.
RATE_WINDOW_SECONDS = 300
_MIN_SCRAPES_PER_WINDOW = 4


def duration_seconds(duration: str) -> float:
    """Seconds in a Prometheus duration string.

    >>> duration_seconds("1h30m"), duration_seconds("30s"), duration_seconds("0s")
    (5400.0, 30.0, 0.0)
    """
    if not duration or not re.fullmatch(_DURATION_PATTERN, duration):
        raise ValueError("must be a Prometheus duration with units in descending order, e.g. 30s, 5m, 1h30m")
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(r"([0-9]+)(ms|[ywdhms])", duration)))


def _check_duration(value: str) -> str:
    duration_seconds(value)
    return value


#: A Prometheus duration string ("30s", "5m", "1h30m").
Duration = Annotated[str, AfterValidator(_check_duration)]


class SloSpec(ConfigModel):
    """Service-level objectives of one model; each threshold becomes one Prometheus alert (``null`` disables it).

    Thresholds are per model and measured the way vLLM reports them (its ``vllm:*`` series carry the served model
    name as ``model_name``):

    - ``ttftP95Seconds``: 95th percentile of time to first token over 5 minutes, across the model's pods. vLLM's TTFT
      histogram has bucket bounds at 0.5, 0.75, 1, 2.5, 5, 7.5, 10 s...; a threshold between two bounds is compared
      with a linearly interpolated estimate, a threshold on a bound exactly.
    - ``e2eP95Seconds``: 95th percentile of end-to-end request latency; off by default because it grows with the
      number of generated tokens, which the platform does not control.
    - ``maxQueueDepth``: requests waiting for a batch slot on one pod (``vllm:num_requests_waiting``); a sustained
      queue means the model needs more replicas (or the balancer is uneven).
    - ``maxKvCacheUsage``: fraction (0..1) of the KV cache in use on one pod; near 1 vLLM preempts running requests.
    - ``maxErrorRate``: fraction (0..1) of finished requests whose finish reason is ``error`` over 5 minutes. Client
      aborts are not errors.
    - ``maxRestartsPerHour``: restarts of one pod's vLLM container in the last hour (kube-state-metrics); each restart
      costs a full model load.
    - ``downFor``: how long a model may report no metrics at all (no pod serving, or none scraped) before a critical
      alert; ``null`` disables it (a model an autoscaler may scale to zero).
    - ``latencyFor`` / ``saturationFor`` / ``errorFor``: how long a condition must hold before its alert fires.

    Example (stack file)::

        defaultSlo:
          ttftP95Seconds: 1.0
          e2eP95Seconds: 30
          maxErrorRate: 0.005
    """

    ttft_p95_seconds: float | None = Field(
        2.0, gt=0, le=600, description="p95 time to first token, seconds; null disables the alert."
    )
    e2e_p95_seconds: float | None = Field(
        None,
        gt=0,
        le=3600,
        alias="e2eP95Seconds",  # to_camel would spell it e2EP95Seconds
        description="p95 end-to-end request latency, seconds; null (default) disables the alert.",
    )
    max_queue_depth: int | None = Field(
        20, ge=1, le=100000, description="Waiting requests on one pod; null disables the alert."
    )
    max_kv_cache_usage: float | None = Field(
        0.95, gt=0, le=1, description="KV-cache usage of one pod, 0..1; null disables the alert."
    )
    max_error_rate: float | None = Field(
        0.01, gt=0, lt=1, description="Fraction of requests finishing with an error over 5 minutes; null disables it."
    )
    max_restarts_per_hour: int | None = Field(
        2, ge=0, le=1000, description="vLLM container restarts of one pod in an hour; null disables the alert."
    )
    latency_for: Duration = Field("10m", description="`for` of the TTFT and end-to-end latency alerts.")
    saturation_for: Duration = Field("15m", description="`for` of the queue-depth and KV-cache alerts.")
    error_for: Duration = Field("5m", description="`for` of the error-rate alert.")
    down_for: Duration | None = Field(
        "15m",
        description="`for` of the no-metrics alert (longer than a replica takes to restart and load); null disables "
        "it, e.g. for a model an autoscaler may scale to zero.",
    )

    @model_validator(mode="after")
    def _e2e_covers_ttft(self) -> SloSpec:
        if (
            self.e2e_p95_seconds is not None
            and self.ttft_p95_seconds is not None
            and self.e2e_p95_seconds < self.ttft_p95_seconds
        ):
            raise ValueError(
                f"e2eP95Seconds ({self.e2e_p95_seconds:g}) is below ttftP95Seconds ({self.ttft_p95_seconds:g}): "
                "end-to-end latency includes the time to first token; raise e2eP95Seconds or lower ttftP95Seconds"
            )
        return self


class ObservabilitySpec(ConfigModel):
    """How the stack is monitored: PodMonitors, a PrometheusRule of SLO alerts and a Grafana dashboard ConfigMap.

    The defaults match kube-prometheus-stack's: its Prometheus selects monitors and rules whose ``release`` label is
    the Helm release name (``*SelectorNilUsesHelmValues: true``), and its Grafana sidecar loads ConfigMaps labelled
    ``grafana_dashboard: "1"``. PodMonitors and PrometheusRules need the monitoring.coreos.com CRDs
    (prometheus-operator): ``enabled`` unset means on exactly when they will exist — every region installs
    ``addons.kubePrometheusStack``, or ``external: true`` says the clusters have their own — and ``StackConfig``
    rejects ``enabled: true`` with neither (the objects would fail with "no matches for kind").

    ``sloOverrides`` is keyed by model ``name``; an override only changes the keys it sets, the rest come from
    ``defaultSlo``. Use :meth:`slo_for` to read a model's effective SLO and :meth:`check_model_names` to reject
    overrides for models the stack does not serve.

    Example (stack file)::

        vllm-infra:observability:
          monitoringNamespace: observability
          prometheusReleaseLabel: prom
          grafanaDashboardLabel: {grafana_dashboard: "1"}
          scrapeInterval: 15s
          sloOverrides:
            llama-70b: {ttftP95Seconds: 5}
    """

    enabled: bool | None = Field(
        None,
        description="Create the monitors, alert rules and dashboard; null = on where they can be applied (every "
        "region installs addons.kubePrometheusStack, or `external`).",
    )
    external: bool = Field(
        False,
        description="The clusters already run prometheus-operator (the monitoring.coreos.com CRDs) installed "
        "outside this stack.",
    )
    prometheus_release_label: str = Field(
        "kube-prometheus-stack",
        min_length=1,
        max_length=63,
        description="Value of the `release` label kube-prometheus-stack's monitor and rule selectors match.",
    )
    monitoring_namespace: Namespace = Field(
        "monitoring", description="Namespace of Prometheus and Grafana; the dashboard ConfigMap is created there."
    )
    grafana_dashboard_label: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        min_length=1,
        description="Label(s) the Grafana dashboard sidecar watches for.",
    )
    scrape_interval: Duration = Field("30s", description="How often Prometheus scrapes each vLLM and balancer pod.")
    default_slo: SloSpec = Field(default_factory=SloSpec, description="SLO of every model without an override.")
    slo_overrides: dict[str, SloSpec] = Field(
        default_factory=dict, description="Per-model changes to defaultSlo, keyed by models[].name."
    )

    @field_validator("prometheus_release_label")
    @classmethod
    def _release_is_a_label_value(cls, value: str) -> str:
        if not _LABEL_VALUE.match(value):
            raise ValueError(
                "prometheusReleaseLabel must be a Kubernetes label value (alphanumerics, '-', '_', '.', at most 63): "
                "set it to the Helm release name of kube-prometheus-stack"
            )
        return value

    @field_validator("grafana_dashboard_label")
    @classmethod
    def _dashboard_label_is_a_label(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"grafanaDashboardLabel {key}: {value!r} is not a Kubernetes label; set it to the sidecar's "
                    '`label`/`labelValue` (kube-prometheus-stack: grafana_dashboard: "1")'
                )
        return labels

    @field_validator("slo_overrides")
    @classmethod
    def _overrides_name_models(cls, overrides: dict[str, SloSpec]) -> dict[str, SloSpec]:
        for name in overrides:
            if not _MODEL_NAME.match(name):
                raise ValueError(
                    f"sloOverrides key {name!r} is not a model name: use the model's `name` (models[].name, a "
                    "lowercase DNS label), not its Hugging Face id or servedModelName"
                )
        return overrides

    @field_validator("scrape_interval")
    @classmethod
    def _scrape_interval_fits_rate_windows(cls, value: str) -> str:
        seconds = duration_seconds(value)
        longest = RATE_WINDOW_SECONDS / _MIN_SCRAPES_PER_WINDOW
        if not 5 <= seconds <= longest:
            raise ValueError(
                f"scrapeInterval must be between 5s and {longest:g}s: the alerts compute rates over 5-minute windows, "
                f"which need at least {_MIN_SCRAPES_PER_WINDOW} scrapes; shorter than 5s loads vLLM's API server"
            )
        return value

    @model_validator(mode="after")
    def _overrides_are_consistent(self) -> ObservabilitySpec:
        for name in self.slo_overrides:
            try:
                self.slo_for(name)
            except ValidationError as error:
                items = error.errors(include_url=False)
                reasons = "; ".join(item["msg"].removeprefix("Value error, ") for item in items)
                raise ValueError(f"sloOverrides.{name} combined with defaultSlo is invalid: {reasons}") from None
        return self

    def slo_for(self, model_name: str) -> SloSpec:
        """The effective SLO of ``model_name``: ``defaultSlo`` with the keys its override sets.

        >>> spec = ObservabilitySpec(sloOverrides={"big": {"ttftP95Seconds": 5}})
        >>> big = spec.slo_for("big")
        >>> big.ttft_p95_seconds, big.max_queue_depth, spec.slo_for("other").ttft_p95_seconds
        (5.0, 20, 2.0)
        """
        override = self.slo_overrides.get(model_name)
        if override is None:
            return self.default_slo
        merged = self.default_slo.model_dump(by_alias=True)
        merged.update(override.model_dump(by_alias=True, include=override.model_fields_set))
        return SloSpec.model_validate(merged)

    def check_model_names(self, model_names: Iterable[str]) -> None:
        """Raise ``ValueError`` if ``sloOverrides`` names a model that is not in ``model_names``.

        The stack config calls it with ``models[].name``: an override for a misspelt model would otherwise silently
        leave the real model on the default SLO.

        >>> ObservabilitySpec(sloOverrides={"lama": {}}).check_model_names(["llama"])
        Traceback (most recent call last):
        ...
        ValueError: observability.sloOverrides.lama: no model has this name; known models: llama
        """
        known = list(model_names)
        unknown = [name for name in self.slo_overrides if name not in known]
        if unknown:
            raise ValueError(
                f"observability.sloOverrides.{unknown[0]}: no model has this name; known models: {', '.join(known)}"
            )
