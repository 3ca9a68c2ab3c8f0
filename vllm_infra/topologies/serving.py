"""The serving unit every topology shares: a namespace, the secrets, and a cache + vLLM Deployment per model."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from vllm_infra.components.kube import object_meta, standard_labels
from vllm_infra.components.model_cache import ModelCache, ModelCacheArgs
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs
from vllm_infra.components.vllm import VllmDeployment, VllmDeploymentArgs
from vllm_infra.config import StackConfig


@dataclass
class ServedModels:
    """What ``serve_models`` created: the namespace name and one ``VllmDeployment`` per model, by model name."""

    namespace: pulumi.Output[str]
    deployments: dict[str, VllmDeployment]


def serve_models(
    stack_config: StackConfig,
    secrets,
    *,
    autoscaled: bool = False,
    opts: pulumi.ResourceOptions | None = None,
) -> ServedModels:
    """Create the namespace, ``InferenceSecrets``, and for each model a ``ModelCache`` and a ``VllmDeployment`` that
    waits for the cache to be filled. ``opts`` (e.g. a region's Kubernetes provider) apply to every resource."""
    opts = opts or pulumi.ResourceOptions()
    namespace = k8s.core.v1.Namespace(
        stack_config.namespace,
        metadata=object_meta(stack_config.namespace, None, standard_labels("namespace", stack_config.namespace)),
        opts=opts,
    )
    namespace_name = namespace.metadata.name
    inference_secrets = InferenceSecrets(
        "secrets",
        InferenceSecretsArgs(namespace=namespace_name, api_key=secrets.api_key, hf_token=secrets.hf_token),
        opts=opts,
    )
    deployments = {}
    for model in stack_config.models:
        cache = ModelCache(
            model.name,
            ModelCacheArgs(
                namespace=namespace_name,
                model=model,
                image=stack_config.vllm_image,
                hf_token=inference_secrets.hf_token,
            ),
            opts=opts,
        )
        deployments[model.name] = VllmDeployment(
            model.name,
            VllmDeploymentArgs(
                namespace=namespace_name,
                model=model,
                image=stack_config.vllm_image,
                api_key=inference_secrets.api_key,
                cache_claim_name=cache.claim_name,
                pre_warmed=model.cache.prewarm,
                hf_token=inference_secrets.hf_token,
                autoscaled=autoscaled,
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[cache.ready])),
        )
    return ServedModels(namespace=namespace_name, deployments=deployments)
