"""The ``load-balanced`` topology: replicas (fixed or autoscaled) of one model behind one balancer, in one region."""

from __future__ import annotations

from vllm_infra.config import StackConfig
from vllm_infra.topologies.base import StackSecrets
from vllm_infra.topologies.registry import register
from vllm_infra.topologies.serving import serve_one_region_behind_balancer


class LoadBalanced:
    """One model, N replicas or an autoscaler, behind the balancer: ``affinity`` by default (nginx keeping each
    conversation on one pod under a load cap), or nginx least connections, the vllm-router or a session-affine
    Service. Its rules are all shared ones (one region, one model, the balancer's strategy and TLS).

    Example (``stacks/Pulumi.load-balanced.yaml``)::

        vllm-infra:topology: load-balanced
        vllm-infra:balancer:
          strategy: affinity
    """

    name = "load-balanced"
    multi_region = False
    has_balancer = True
    several_models = False

    def validate(self, stack_config: StackConfig) -> list[str]:
        """No rules of its own: [] always."""
        return []

    def build(self, stack_config: StackConfig, secrets: StackSecrets) -> None:
        """Serve the model behind the balancer and export the public endpoint."""
        serve_one_region_behind_balancer(stack_config, secrets)


register(LoadBalanced())
