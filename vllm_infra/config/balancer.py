"""The request balancer in front of the vLLM pods, and how it is exposed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vllm_infra.balancing.nginx import NginxSettings
from vllm_infra.balancing.router import RouterSettings
from vllm_infra.config.base import ConfigModel


class ExposureSpec(ConfigModel):
    """How clients reach the balancer: an AWS Network Load Balancer (Service type LoadBalancer, through the AWS Load
    Balancer Controller), an Ingress (ALB), or only inside the cluster.

    Example::

        exposure:
          kind: load-balancer
          internal: true
    """

    kind: Literal["load-balancer", "ingress", "cluster-ip"] = "load-balancer"
    internal: bool = Field(False, description="Internal (VPC-only) load balancer instead of internet-facing.")
    ingress_class_name: str = Field("alb", description="ingress: the IngressClass (AWS Load Balancer Controller).")
    host: str | None = Field(None, description="ingress: the host name to route; None = any.")
    idle_timeout_seconds: int = Field(
        600, ge=60, le=4000, description="Load balancer idle timeout: long enough for a streamed generation."
    )


class BalancerSpec(ConfigModel):
    """The balancer: ``nginx`` (least connections, the production guide's), ``router`` (vllm-router: cache-aware
    prefix routing, and routing by ``model`` for multi-model), or ``service`` (a plain Service with ClientIP
    session affinity, the guide's prefix-cache option).

    Example::

        balancer:
          strategy: nginx
          replicas: 2
    """

    strategy: Literal["nginx", "router", "service"] = "nginx"
    replicas: int = Field(2, ge=1, le=50, description="Balancer pods (nginx/router); two survive a node loss.")
    exposure: ExposureSpec = Field(default_factory=ExposureSpec)
    enforce_api_key: bool = Field(
        True, description="nginx: reject requests without the API key at the edge (vLLM checks it again)."
    )
    session_affinity_timeout_seconds: int = Field(
        3600, ge=60, le=86400, description="service: how long a client sticks to one pod."
    )
    nginx: NginxSettings = Field(default_factory=NginxSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
