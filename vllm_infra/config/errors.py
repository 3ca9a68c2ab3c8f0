"""Turns pydantic validation errors into messages a platform engineer can act on.

A message names the Pulumi config key as it is written in the stack file (``vllm-infra:models[0].engine.maxModelLen``),
the bad value and what is allowed, e.g.::

    vllm-infra:models[0].engine.gpuMemoryUtilization: got 1.2; must be at most 0.98
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from vllm_infra.config.base import ConfigModel

NAMESPACE = "vllm-infra"


class ConfigError(ValueError):
    """The stack configuration is invalid; ``problems`` holds one human message per bad key."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


def config_key(location: Iterable[Any]) -> str:
    """Render a pydantic error location as the Pulumi config key the user wrote.

    >>> config_key(("models", 0, "engine", "maxModelLen"))
    'vllm-infra:models[0].engine.maxModelLen'
    """
    key = ""
    for part in location:
        if isinstance(part, int):
            key += f"[{part}]"
        elif key:
            key += f".{part}"
        else:
            key = f"{NAMESPACE}:{part}"
    return key or NAMESPACE


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_message(message: str) -> str:
    # pydantic prefixes custom validator messages with "Value error, "; the key already says where.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _location_without_union_tags(location: Sequence[Any]) -> list[Any]:
    # Discriminated unions add their tag (e.g. "function-after[...]") to the location; keys only make sense to users.
    return [part for part in location if isinstance(part, int) or ("[" not in str(part) and "(" not in str(part))]


def explain(error: ValidationError) -> ConfigError:
    """Convert a pydantic ``ValidationError`` raised while reading the stack config into a ``ConfigError``."""
    problems = []
    items = error.errors(include_url=False)
    nested = {tuple(item["loc"][:n]) for item in items for n in range(1, len(item["loc"]))}
    for item in items:
        if item["type"] == "too_short" and tuple(item["loc"]) in nested:
            continue  # a list whose items were all invalid: the items' own errors say why
        key = config_key(_location_without_union_tags(item["loc"]))
        message = _clean_message(item["msg"])
        if not item["loc"]:
            # Cross-field rules of the whole stack name their own keys, one problem per line.
            for line in message.splitlines():
                if line[:1].isspace() and problems:
                    problems[-1] += "\n" + line  # continuation of the previous problem
                else:
                    problems.append(line if line.startswith(f"{NAMESPACE}:") else f"{NAMESPACE}: {line}")
            continue
        if item["type"] == "missing":
            problems.append(f"{key}: required but not set")
        elif item["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key (check the spelling against the config reference in README.md)")
        elif "input" in item and not isinstance(item["input"], (dict, list)):
            problems.append(f"{key}: got {_describe(item['input'])}; {message[:1].lower() + message[1:]}")
        else:
            problems.append(f"{key}: {message}")
    return ConfigError(problems)


def validate_config(model: type[ConfigModel], data: Any) -> Any:
    """Validate ``data`` into ``model``, raising ``ConfigError`` with config-key messages on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise explain(error) from None
