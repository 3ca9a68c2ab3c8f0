"""The ``multi-model`` topology: several models, each on its own GPU tier, behind one balancer, in one region."""

from __future__ import annotations

from vllm_infra.config import StackConfig
from vllm_infra.topologies.base import StackSecrets
from vllm_infra.topologies.registry import register
from vllm_infra.topologies.serving import serve_one_region_behind_balancer


class MultiModel:
    """Several models behind a balancer that routes each request by its ``model`` (the vllm-router) and lists every
    model on ``/v1/models``. Its rules are all shared ones (one region, a strategy that routes by model, TLS).

    Example (``stacks/Pulumi.multi-model.yaml``)::

        vllm-infra:topology: multi-model
        vllm-infra:balancer:
          strategy: router
    """

    name = "multi-model"
    multi_region = False
    has_balancer = True
    several_models = True

    def validate(self, stack_config: StackConfig) -> list[str]:
        """No rules of its own: [] always."""
        return []

    def build(self, stack_config: StackConfig, secrets: StackSecrets) -> None:
        """Serve every model behind the balancer and export the public endpoint."""
        serve_one_region_behind_balancer(stack_config, secrets)


register(MultiModel())
