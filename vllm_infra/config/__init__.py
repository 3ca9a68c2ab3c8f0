"""Typed stack configuration (pydantic v2): read once by the stack program, validated, handed down.

Top-down: ``StackConfig`` ▸ ``ModelSpec`` ▸ ``EngineSpec`` / ``CacheSpec`` / ``ResourceSpec`` / ``LifecycleSpec``.
"""

from vllm_infra.config.engine import EngineSpec
from vllm_infra.config.errors import ConfigError, config_key, validate_config
from vllm_infra.config.model import CacheSpec, LifecycleSpec, ModelSpec, ResourceSpec
from vllm_infra.config.stack import StackConfig
from vllm_infra.kube.quantity import gib as quantity_gib  # the package's one quantity parser (vllm_infra.kube.quantity)

__all__ = [
    "CacheSpec",
    "ConfigError",
    "EngineSpec",
    "LifecycleSpec",
    "ModelSpec",
    "ResourceSpec",
    "StackConfig",
    "config_key",
    "quantity_gib",
    "validate_config",
]
