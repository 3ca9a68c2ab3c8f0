"""Topologies: wiring of components for each shape of deployment. No logic of their own beyond composition."""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from vllm_infra.config import StackConfig
from vllm_infra.config.capacity import stack_gpu_quota_vcpus
from vllm_infra.topologies.balanced import build_balanced
from vllm_infra.topologies.multi_region import build_multi_region
from vllm_infra.topologies.single import build_single


def build_topology(stack_config: StackConfig, secrets) -> None:
    """Build the topology named by ``stack_config.topology`` and export its outputs."""
    builders: dict[str, Callable] = {
        "single": build_single,
        "load-balanced": build_balanced,
        "multi-model": build_balanced,
        "multi-region": build_multi_region,
    }
    builder = builders.get(stack_config.topology)
    if builder is None:
        raise NotImplementedError(f"topology {stack_config.topology!r} is not available yet")
    builder(stack_config, secrets)
    # Every topology: the EC2 vCPU quotas the GPU node groups need at their maximum, per region (a preflight check).
    pulumi.export("gpuQuotaVcpus", stack_gpu_quota_vcpus(stack_config))
