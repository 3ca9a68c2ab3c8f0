"""The ``single`` topology: one model, one replica — the production guide's simplest deployment."""

from __future__ import annotations

import pulumi

from vllm_infra.config import StackConfig
from vllm_infra.topologies.serving import serve_region


def build_single(stack_config: StackConfig, secrets) -> None:
    """Serve the stack's one model in its one region and export its in-cluster endpoint."""
    (region,) = stack_config.regions
    served = serve_region(stack_config, secrets, region)
    (deployment,) = served.deployments.values()
    model = stack_config.models[0]
    placement = stack_config.placement(model)
    pulumi.export("region", region.name)
    pulumi.export("clusterName", served.cluster.cluster_name)
    pulumi.export("namespace", served.namespace)
    pulumi.export("endpoint", deployment.url)
    pulumi.export("servedModel", model.served_name)
    pulumi.export("gpu", {"instanceType": placement.instance_type, "tensorParallelSize": placement.tensor_parallel_size})
    pulumi.export("estimatedGpuCostPerHour", stack_config.estimated_gpu_cost_per_hour())
