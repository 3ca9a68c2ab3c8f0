"""The ``multi-region`` topology: a complete regional deployment per region behind a health-checked global name."""

from __future__ import annotations

import pulumi

from vllm_infra.balancers.registry import names_where as strategies_where
from vllm_infra.balancers.registry import strategy_for
from vllm_infra.components.global_load_balancer import GlobalLoadBalancer, GlobalLoadBalancerArgs, RegionalEndpoint
from vllm_infra.config import StackConfig
from vllm_infra.config.global_lb import validate_regions
from vllm_infra.registry import choices_phrase
from vllm_infra.topologies.base import StackSecrets
from vllm_infra.topologies.registry import register
from vllm_infra.topologies.serving import serve_region


class MultiRegion:
    """One model served in two or more regions, each with its own cluster, balancer (with its ACM certificate),
    monitoring and network policies, behind ``vllm-infra:globalLoadBalancer`` (Route 53 latency or failover records
    with a health check per region that asks for a real completion, optionally Global Accelerator).

    Example (``stacks/Pulumi.multi-region.yaml``)::

        vllm-infra:topology: multi-region
        vllm-infra:globalLoadBalancer:
          hostedZoneId: Z0123456789ABCDEFGHIJ
          domainName: llm.example.com
          policy: latency
    """

    name = "multi-region"
    multi_region = True
    has_balancer = True
    several_models = False

    def validate(self, stack_config: StackConfig) -> list[str]:
        """The global load balancer (required, consistent with the regions), at least two regions, a balancer the
        health checks can ask for a completion behind an internet-facing NLB; then TLS for public regions."""
        problems = self._global_problems(stack_config)
        if problems:
            return problems
        assert stack_config.global_load_balancer is not None  # _global_problems requires it
        if stack_config.balancer.exposure.public and not stack_config.global_load_balancer.tls:
            return [
                (
                    "vllm-infra:globalLoadBalancer.tls: internet-facing regional load balancers need TLS (plain HTTP "
                    "would carry the API key and every prompt in clear text); set tls: true (an ACM certificate per "
                    "region)"
                )
            ]
        return []

    @staticmethod
    def _global_problems(stack_config: StackConfig) -> list[str]:
        problems = []
        region_names = [region.name for region in stack_config.regions]
        if stack_config.global_load_balancer is None:
            problems.append(
                "vllm-infra:globalLoadBalancer: required by topology multi-region (hostedZoneId, domainName, policy)"
            )
        else:
            primaries = [region.name for region in stack_config.regions if region.primary]
            problems += validate_regions(stack_config.global_load_balancer, region_names, primaries)
        if len(region_names) < 2:
            problems.append("vllm-infra:regions: topology multi-region needs at least two regions")
        balancer = stack_config.balancer
        if not strategy_for(balancer.strategy).edge_health_check or not balancer.enforce_api_key:
            checked = choices_phrase(strategies_where("edge_health_check"))
            problems.append(
                f"vllm-infra:balancer: multi-region needs strategy {checked} "
                "with enforceApiKey: the global health check asks the balancer's /healthz/model for a real "
                "completion, authenticated at the edge"
            )
        if balancer.exposure.kind != "load-balancer" or balancer.exposure.internal:
            problems.append(
                "vllm-infra:balancer.exposure: multi-region needs an internet-facing load-balancer exposure: Route 53 "
                "health checks and alias records point at each region's NLB"
            )
        return problems

    def build(self, stack_config: StackConfig, secrets: StackSecrets) -> None:
        """Serve every region behind its balancer, then the global records (and accelerator) in front of them."""
        spec = stack_config.global_load_balancer
        assert spec is not None  # validate requires it
        endpoints = []
        for region in stack_config.regions:
            served = serve_region(stack_config, secrets, region, with_balancer=self.has_balancer)
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


register(MultiRegion())
