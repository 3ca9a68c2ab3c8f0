"""The ``load-balanced`` and ``multi-model`` topologies: replicas (autoscaled) of one or several models behind one
balancer, in one region."""

from __future__ import annotations

import pulumi

from vllm_infra.config import StackConfig
from vllm_infra.topologies.serving import serve_region


def build_balanced(stack_config: StackConfig, secrets) -> None:
    """Serve the stack's models behind the balancer and export the public endpoint.

    load-balanced: one model, N replicas or an autoscaler, behind nginx (least connections), the router or a
    session-affine Service. multi-model: several models, each on its own GPU tier, behind the vllm-router, which
    routes each request by its ``model`` and lists every model on ``/v1/models``.
    """
    (region,) = stack_config.regions
    served = serve_region(stack_config, secrets, region, with_balancer=True)
    pulumi.export("region", region.name)
    pulumi.export("clusterName", served.cluster.cluster_name)
    pulumi.export("namespace", served.namespace)
    pulumi.export("balancer", stack_config.balancer.strategy)
    pulumi.export("endpointHostname", served.balancer.hostname)
    pulumi.export("servedModels", [model.served_name for model in stack_config.models])
    pulumi.export(
        "gpu",
        {
            model.name: {
                "instanceType": stack_config.placement(model).instance_type,
                "tensorParallelSize": stack_config.placement(model).tensor_parallel_size,
            }
            for model in stack_config.models
        },
    )
    pulumi.export("estimatedGpuCostPerHour", stack_config.estimated_gpu_cost_per_hour())
