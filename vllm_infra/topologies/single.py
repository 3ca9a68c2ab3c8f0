"""The ``single`` topology: one model, one replica — the production guide's simplest deployment."""

from __future__ import annotations

import pulumi

from vllm_infra.config import StackConfig
from vllm_infra.topologies.serving import serve_models


def build_single(stack_config: StackConfig, secrets) -> None:
    """Serve the stack's one model and export its in-cluster endpoint."""
    served = serve_models(stack_config, secrets)
    (deployment,) = served.deployments.values()
    pulumi.export("namespace", served.namespace)
    pulumi.export("endpoint", deployment.url)
    pulumi.export("servedModel", stack_config.models[0].served_name)
