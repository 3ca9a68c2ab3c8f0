"""The ``service`` strategy: no balancer pods; the client-facing Service selects the vLLM pods with ClientIP
session affinity (the production guide's prefix-cache option). Its settings: ``vllm-infra:balancer.service``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from vllm_infra.balancers.base import BalancerContext, BalancerPods
from vllm_infra.balancers.registry import register
from vllm_infra.balancers.settings import StrategySettings

if TYPE_CHECKING:
    from vllm_infra.config.balancer import BalancerSpec
    from vllm_infra.config.stack import StackConfig
    from vllm_infra.observability.monitors import ScrapeTarget


class ServiceSettings(StrategySettings):
    """service: how long each client sticks to one vLLM pod.

    Example::

        balancer:
          strategy: service
          service:
            sessionAffinityTimeoutSeconds: 1800
    """

    session_affinity_timeout_seconds: int = Field(
        3600, ge=60, le=86400, description="How long a client sticks to one pod (ClientIP session affinity)."
    )


class ServiceStrategy:
    """A plain Service over one model's vLLM pods, each client sticking to one pod for
    ``service.sessionAffinityTimeoutSeconds``. No pods, so nothing to scrape and no edge API-key check."""

    name = "service"
    routes_by_model = False
    wakes_from_zero = False
    edge_health_check = False
    settings_field = "service"
    settings_model = ServiceSettings
    kubernetes_api_rules: tuple[dict, ...] = ()

    def build(self, ctx: BalancerContext) -> BalancerPods:
        """The Service's selector (the vLLM pods) and its ClientIP affinity; no resource of its own."""
        (backend,) = ctx.args.backends
        return BalancerPods(
            health_path="/health",
            service_selector=backend.selector,
            service_spec={
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {
                    "clientIP": {"timeoutSeconds": ctx.args.spec.service.session_affinity_timeout_seconds}
                },
            },
        )

    def traffic(self, spec: BalancerSpec, *, multi_model: bool) -> None:
        """None: no balancer pods (clients reach vLLM on 8000 directly)."""
        return None

    def scrape_target(self, object_name: str) -> ScrapeTarget | None:
        """None: nothing but vLLM to scrape."""
        return None

    def validate(self, stack_config: StackConfig) -> list[str]:
        """No rule beyond the shared ones."""
        return []


register(ServiceStrategy())
