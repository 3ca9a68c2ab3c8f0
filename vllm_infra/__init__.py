"""vllm-infra: Pulumi components that put vLLM into production on Kubernetes (AWS EKS).

Import the components into your own Pulumi program::

    from vllm_infra import ModelSpec, VllmDeployment, VllmDeploymentArgs

Everything is documented where it is declared; ``vllm_infra.config`` holds the typed settings.
"""

from vllm_infra.components.model_cache import ModelCache, ModelCacheArgs
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs, SecretKeyRef
from vllm_infra.components.vllm import VllmDeployment, VllmDeploymentArgs, vllm_serve_args
from vllm_infra.config import CacheSpec, EngineSpec, LifecycleSpec, ModelSpec, ResourceSpec, StackConfig

__all__ = [
    "CacheSpec",
    "EngineSpec",
    "InferenceSecrets",
    "InferenceSecretsArgs",
    "LifecycleSpec",
    "ModelCache",
    "ModelCacheArgs",
    "ModelSpec",
    "ResourceSpec",
    "SecretKeyRef",
    "StackConfig",
    "VllmDeployment",
    "VllmDeploymentArgs",
    "vllm_serve_args",
]
