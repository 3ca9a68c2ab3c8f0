"""The stack program that ``pulumi up`` runs — the only code that reads Pulumi config.

It reads every key of the ``vllm-infra`` namespace once, validates them into a ``StackConfig`` (a bad value stops the
program before any resource is registered, with a message naming the key), reads the secrets as Pulumi secret Outputs,
and hands both to the topology the config names.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from vllm_infra.config import ConfigError, StackConfig, validate_config
from vllm_infra.config.capacity import stack_gpu_quota_vcpus
from vllm_infra.config.errors import NAMESPACE, nearest
from vllm_infra.topologies import StackSecrets, topology_for

API_KEY = "apiKey"
HF_TOKEN = "hfToken"
SECRET_KEYS = (API_KEY, HF_TOKEN)


class InvalidStackConfig(pulumi.RunError):
    """Raised by the stack program for invalid config: Pulumi prints the message alone, without a traceback."""

    def __init__(self, error: ConfigError):
        super().__init__(str(error))
        self.problems = error.problems


def _namespace_keys() -> set[str]:
    # The CLI passes config in the PULUMI_CONFIG environment variable; the Automation API and the offline runner set
    # it in the runtime instead. Listing both lets unknown keys (typos) be rejected rather than ignored.
    return {key.split(":", 1)[1] for key in _all_config_keys() if key.startswith(f"{NAMESPACE}:")}


def _all_config_keys() -> set[str]:
    return set(runtime_config.get_config_env()) | set(runtime_config.CONFIG.get())


def _normalized(namespace: str) -> str:
    return re.sub(r"[^a-z0-9]", "", namespace.lower())


def _edit_distance(a: str, b: str) -> int:
    # Levenshtein distance: insertions, deletions and substitutions, one character each.
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def is_misspelt_namespace(namespace: str) -> bool:
    """Whether ``namespace`` is a near miss of ``vllm-infra``: the same letters up to case and separators
    (``vllm_infra``, ``VLLM-INFRA``, ``vllminfra``) or at most two letters off (``vllm-infr``, ``vlm-infra``). Pulumi
    would hand its keys to no program, so they would be silently ignored. Unrelated namespaces (``aws``, ``pulumi``,
    ``kubernetes``, ``vllm``, your own project's such as ``vllm-infra-ops``) are not.

    >>> [is_misspelt_namespace(n) for n in ("vllm_infra", "vllm-infr", "VLLM-INFRA", "vllm-infra", "aws", "vllm")]
    [True, True, True, False, False, False]
    """
    if namespace == NAMESPACE:
        return False
    return _edit_distance(_normalized(namespace), _normalized(NAMESPACE)) <= 2


def _misspelt_namespace_problems(known_keys: list[str]) -> list[str]:
    problems = []
    for full_key in sorted(_all_config_keys()):
        namespace, _, key = full_key.partition(":")
        if not key or not is_misspelt_namespace(namespace):
            continue
        right = key if key in known_keys else (nearest(key.split(".")[0], known_keys) or key)
        # The value is never printed: the key may be a secret (vllm_infra:apiKey).
        problems.append(
            f"{full_key}: the namespace is {namespace!r}, not {NAMESPACE!r}, so the program would never read this "
            f"key; write it as {NAMESPACE}:{right}"
        )
    return problems


def _decode(raw: str) -> Any:
    # Pulumi hands structured values (lists, maps) over as JSON text and scalars as plain text; pydantic converts
    # scalar text ("3", "true") itself, so only JSON documents are decoded here.
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def read_stack_config(config: pulumi.Config | None = None) -> tuple[StackConfig, StackSecrets]:
    """Read and validate the whole ``vllm-infra`` config namespace.

    Raises ``ConfigError`` naming every bad key. ``apiKey`` is required (every ``/v1`` route is authenticated);
    ``hfToken`` is optional (needed for gated repositories). A non-secret key stored as a secret is rejected, since
    its value would end up in plain text in Kubernetes objects.

    Example::

        stack_config, secrets = read_stack_config()
    """
    config = config or pulumi.Config(NAMESPACE)
    known_keys = [info.alias or name for name, info in StackConfig.model_fields.items()] + list(SECRET_KEYS)
    problems: list[str] = _misspelt_namespace_problems(known_keys)
    data: dict[str, Any] = {}
    for key in sorted(_namespace_keys() - set(SECRET_KEYS)):
        if runtime_config.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.append(f"{NAMESPACE}:{key}: is stored as a secret but is not one; set it without --secret")
            continue
        data[key] = _decode(config.require(key))

    api_key = config.get_secret(API_KEY)
    if api_key is None:
        problems.append(
            f"{NAMESPACE}:{API_KEY}: required but not set; run `pulumi config set --secret {NAMESPACE}:{API_KEY} "
            "<key>` (clients send it as `Authorization: Bearer <key>`)"
        )
    try:
        stack_config = validate_config(StackConfig, data, extra_top_level_keys=SECRET_KEYS)
    except ConfigError as error:
        problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    assert api_key is not None  # a missing key is one of the problems above
    return stack_config, StackSecrets(api_key=api_key, hf_token=config.get_secret(HF_TOKEN))


def build_topology(stack_config: StackConfig, secrets: StackSecrets) -> None:
    """Build the registered topology named by ``stack_config.topology`` (its components and exports), then export
    what every topology shares: ``gpuQuotaVcpus``, the EC2 vCPU quotas its GPU node groups need at their maximum, per
    region (a preflight check)."""
    topology_for(stack_config.topology).build(stack_config, secrets)
    pulumi.export("gpuQuotaVcpus", stack_gpu_quota_vcpus(stack_config))


def main() -> None:
    """Entry point of the Pulumi program: validate the config, then build the topology it names."""
    try:
        stack_config, secrets = read_stack_config()
    except ConfigError as error:
        raise InvalidStackConfig(error) from None
    for warning in stack_config.warnings():
        pulumi.log.warn(warning)
    build_topology(stack_config, secrets)
