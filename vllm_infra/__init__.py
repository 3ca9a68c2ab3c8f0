"""vllm-infra: Pulumi components that put vLLM into production on Kubernetes (AWS EKS).

Import the components into your own Pulumi program::

    from vllm_infra import ModelSpec, VllmDeployment, VllmDeploymentArgs

Everything is documented where it is declared; ``vllm_infra.config`` holds the typed settings.
"""

from vllm_infra.components.cluster import RegionalCluster, RegionalClusterArgs
from vllm_infra.components.device_plugin import NvidiaDevicePlugin
from vllm_infra.components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from vllm_infra.components.model_cache import ModelCache, ModelCacheArgs
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs, SecretKeyRef
from vllm_infra.components.vllm import VllmDeployment, VllmDeploymentArgs, vllm_serve_args
from vllm_infra.config import CacheSpec, EngineSpec, LifecycleSpec, ModelSpec, ResourceSpec, StackConfig
from vllm_infra.config.capacity import GpuSpec, place_model, replica_resources
from vllm_infra.sizing.placement import GpuPlacement

__all__ = [
    "CacheSpec",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "GpuPlacement",
    "GpuSpec",
    "NvidiaDevicePlugin",
    "RegionalCluster",
    "RegionalClusterArgs",
    "place_model",
    "replica_resources",
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
