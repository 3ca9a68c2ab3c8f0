"""The ``single`` topology: one model, one replica — the production guide's simplest deployment."""

from __future__ import annotations

import pulumi

from vllm_infra.config import StackConfig
from vllm_infra.topologies.base import StackSecrets
from vllm_infra.topologies.registry import register
from vllm_infra.topologies.serving import serve_region


class Single:
    """One replica of one model in one region, reached in-cluster (no balancer, so ``vllm-infra:balancer`` may not
    be set).

    Example (``stacks/Pulumi.single.yaml``)::

        vllm-infra:topology: single
    """

    name = "single"
    multi_region = False
    has_balancer = False
    several_models = False

    def validate(self, stack_config: StackConfig) -> list[str]:
        """One model with one replica (no autoscaling beyond one); other shapes are load-balanced or multi-model."""
        if len(stack_config.models) != 1 or stack_config.models[0].max_replicas != 1:
            return [
                (
                    "vllm-infra:topology: single serves one model with one replica; use topology load-balanced for "
                    "more replicas, multi-model for more models"
                )
            ]
        return []

    def build(self, stack_config: StackConfig, secrets: StackSecrets) -> None:
        """Serve the stack's one model in its one region and export its in-cluster endpoint."""
        (region,) = stack_config.regions
        served = serve_region(stack_config, secrets, region, with_balancer=self.has_balancer)
        (deployment,) = served.deployments.values()
        model = stack_config.models[0]
        placement = stack_config.placement(model)
        pulumi.export("region", region.name)
        pulumi.export("clusterName", served.cluster.cluster_name)
        pulumi.export("namespace", served.namespace)
        pulumi.export("endpoint", deployment.url)
        pulumi.export("servedModel", model.served_name)
        pulumi.export(
            "gpu", {"instanceType": placement.instance_type, "tensorParallelSize": placement.tensor_parallel_size}
        )
        pulumi.export("estimatedGpuCostPerHour", stack_config.estimated_gpu_cost_per_hour())


register(Single())
