"""Autoscaling settings of one model: HPA on per-pod vLLM metrics (via prometheus-adapter) or a KEDA ScaledObject."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vllm_infra.config.base import ConfigModel


class AutoscalingSpec(ConfigModel):
    """Replica bounds and the load signal. Scale up at once; scale down only after a quiet window.

    The signal is what the field learned to use: requests in flight (``vllm:num_requests_running``) and requests
    queued (``vllm:num_requests_waiting``) per pod — not GPU utilisation, which one request pegs. With an
    autoscaler, the Deployment's ``replicas`` is left to it (``pulumi up`` never fights it).

    Example::

        autoscaling:
          minReplicas: 2
          maxReplicas: 10
          targetRunningRequests: 50     # the production guide's target
    """

    engine: Literal["hpa", "keda"] = Field(
        "hpa", description="hpa (needs prometheus-adapter) or keda (ScaledObject with Prometheus triggers)."
    )
    min_replicas: int = Field(1, ge=0, le=1000, description="0 (scale to zero) only with keda and the router.")
    max_replicas: int = Field(ge=1, le=1000)
    target_running_requests: int = Field(
        50, ge=1, le=4096, description="Requests in flight per pod above which a replica is added."
    )
    target_waiting_requests: int = Field(
        5, ge=1, le=4096, description="Queued requests per pod above which a replica is added."
    )
    scale_down_window_seconds: int = Field(
        300, ge=0, le=3600, description="Quiet time before removing replicas; at least the model's cold start."
    )
    scale_up_percent_per_30s: int = Field(100, ge=1, le=1000, description="Growth allowed per 30 s (100 = double).")
    prometheus_address: str = Field(
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        description="keda: the Prometheus its triggers query.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be at least minReplicas ({self.min_replicas})")
        if self.min_replicas == 0 and self.engine != "keda":
            raise ValueError("minReplicas 0 (scale to zero) needs engine: keda; an HPA cannot scale to zero")
        return self
