"""Policy rules for vLLM on Kubernetes: the production checklist and this library's rules as plain functions.

Each rule is a ``Policy``: call it on a ``Resource`` (or on the stack's resources) and get ``Violation`` objects whose
messages name the field and the fix. ``evaluate`` runs every rule of ``ALL_POLICIES``; the CrossGuard pack in
``policy_pack/`` wraps the same functions (``vllm_infra.policies.crossguard``) so ``pulumi preview --policy-pack
policy_pack`` enforces them.

Example::

    from vllm_infra.offline.runner import plan_stack
    from vllm_infra.policies import evaluate

    for violation in evaluate(plan_stack("single").resources):
        print(violation)   # [mandatory] images-pinned: web: container 'web': ... pin a release tag ...
"""

from vllm_infra.policies.model import (
    EnforcementLevel,
    Policy,
    Resource,
    Violation,
    opted_out_twin,
    resource_policy,
    stack_policy,
)
from vllm_infra.policies.opt_out import opt_out_annotations, opted_out_setting
from vllm_infra.policies.rules import (
    ALL_POLICIES,
    api_key_from_secret,
    as_resource,
    autoscaled_replicas_unset,
    autoscaler_bounds,
    evaluate,
    gpu_limit_matches_parallelism,
    images_pinned,
    model_cache_protected,
    model_cache_protected_opted_out,
    network_policy_opted_out,
    network_policy_selects_vllm,
    pdb_covers_deployments,
    policy_named,
    resources_from_plan,
    secret_values_are_secrets,
    vllm_probes,
)

__all__ = [
    "ALL_POLICIES",
    "EnforcementLevel",
    "Policy",
    "Resource",
    "Violation",
    "api_key_from_secret",
    "as_resource",
    "autoscaled_replicas_unset",
    "autoscaler_bounds",
    "evaluate",
    "gpu_limit_matches_parallelism",
    "images_pinned",
    "opt_out_annotations",
    "opted_out_setting",
    "opted_out_twin",
    "model_cache_protected",
    "model_cache_protected_opted_out",
    "network_policy_opted_out",
    "network_policy_selects_vllm",
    "pdb_covers_deployments",
    "policy_named",
    "resource_policy",
    "resources_from_plan",
    "secret_values_are_secrets",
    "stack_policy",
    "vllm_probes",
]
