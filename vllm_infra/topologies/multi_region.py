"""The ``multi-region`` topology: a complete regional deployment per region behind a health-checked global name."""

from __future__ import annotations

import pulumi

from vllm_infra.components.global_load_balancer import GlobalLoadBalancer, GlobalLoadBalancerArgs, RegionalEndpoint
from vllm_infra.config import StackConfig
from vllm_infra.topologies.serving import serve_region


def build_multi_region(stack_config: StackConfig, secrets) -> None:
    """Per region: cluster, GPU node groups, models, balancer (with its ACM certificate), monitoring and network
    policies — each region with its own AWS and Kubernetes providers. In front: Route 53 records (latency or
    failover) with a health check per region that asks for a real completion, and optionally Global Accelerator."""
    spec = stack_config.global_load_balancer
    assert spec is not None  # StackConfig requires it for this topology
    endpoints = []
    for region in stack_config.regions:
        served = serve_region(stack_config, secrets, region, with_balancer=True)
        assert served.balancer is not None
        endpoints.append(
            RegionalEndpoint(
                region=region.name,
                hostname=served.balancer.hostname,
                aws_provider=served.cluster.aws_provider,
                primary=region.primary,
            )
        )
    global_lb = GlobalLoadBalancer(
        "global",
        GlobalLoadBalancerArgs(spec=spec, endpoints=endpoints, name_prefix=f"vllm-{pulumi.get_stack()}"),
    )
    pulumi.export("endpoint", pulumi.Output.concat("https://" if spec.tls else "http://", global_lb.fqdn, "/v1"))
    pulumi.export("regions", [region.name for region in stack_config.regions])
    pulumi.export("policy", spec.policy)
    pulumi.export("servedModels", [model.served_name for model in stack_config.models])
    pulumi.export("estimatedGpuCostPerHour", stack_config.estimated_gpu_cost_per_hour())
