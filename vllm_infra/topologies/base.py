"""What a topology provides: the ``Topology`` protocol, and the ``StackSecrets`` the stack program hands its ``build``.

Nothing here imports components or the config at run time: ``config/stack.py`` validates against the registry, which
imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pulumi

if TYPE_CHECKING:
    from vllm_infra.config.stack import StackConfig


@dataclass(frozen=True)
class StackSecrets:
    """The stack's secrets as Pulumi secret Outputs; their values never leave Secret objects.

    - ``api_key``: ``vllm-infra:apiKey``, required (vLLM and the balancer check it on every ``/v1`` request);
    - ``hf_token``: ``vllm-infra:hfToken``, or None (only gated Hugging Face repositories need it).
    """

    api_key: pulumi.Output[str]
    hf_token: pulumi.Output[str] | None


@runtime_checkable
class Topology(Protocol):
    """One shape of deployment, registered by name (``topologies.register``): the ``vllm-infra:topology`` value.

    Attributes, read by the rules every topology shares (``StackConfig``) and by the serving code:

    - ``name``: the ``vllm-infra:topology`` value;
    - ``multi_region``: runs in several regions behind ``vllm-infra:globalLoadBalancer`` (the only kind that may set
      that key, and the kind the one-region rule points to); False = exactly one region;
    - ``has_balancer``: puts ``vllm-infra:balancer`` in front of the pods (the strategy's rules apply; scale to zero
      and the AWS Load Balancer Controller depend on it); False = the key may not be set;
    - ``several_models``: may serve more than one model (the one-model rule points to these).

    Example (a topology in its own module)::

        class OneRegion:
            name = "one-region"
            multi_region = False
            has_balancer = False
            several_models = True

            def validate(self, stack_config):
                return []

            def build(self, stack_config, secrets):
                (region,) = stack_config.regions
                served = serve_region(stack_config, secrets, region)
                pulumi.export("namespace", served.namespace)

        register(OneRegion())
    """

    name: str
    multi_region: bool
    has_balancer: bool
    several_models: bool

    def validate(self, stack_config: StackConfig) -> list[str]:
        """Stack-level problems specific to this topology (config-key messages with the fix); [] when none. Runs
        after the shared rules on names and the region count, before the other shared rules (models, balancer)."""
        ...

    def build(self, stack_config: StackConfig, secrets: StackSecrets) -> None:
        """Register the topology's components for a valid ``stack_config`` and ``pulumi.export`` its outputs."""
        ...
