"""Turns pydantic validation errors into messages a platform engineer can act on, in this library's words.

A message names the Pulumi config key as it is written in the stack file (``vllm-infra:models[0].engine.maxModelLen``),
the bad value (unless it may be a secret) and what is allowed, e.g.::

    vllm-infra:models[0].engine.gpuMemoryUtilization: got 1.2; must be at most 0.98
    vllm-infra:models[0].engine.maxModelLenght: unknown key; did you mean maxModelLen? (...)

Every pydantic error type the config can raise is translated here (``_PHRASES``); a pattern constraint is described by
``PATTERN_DESCRIPTIONS``; unknown keys and misspelt choices get the nearest known spelling (``difflib``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from vllm_infra.config.base import ConfigModel

NAMESPACE = "vllm-infra"

# What each pattern of the config means, in words. A new pattern needs an entry here (a test walks the config models).
PATTERN_DESCRIPTIONS: dict[str, str] = {
    r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$": (
        "must be a DNS label of at most 40 characters: lower-case letters, digits and '-', starting with a letter "
        "(e.g. llama-8b)"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$": (
        "must be a Hugging Face repository id, organisation/name (e.g. meta-llama/Llama-3.1-8B-Instruct)"
    ),
    r"^[A-Za-z0-9._/-]{1,100}$": "must be a commit hash or tag: letters, digits and ._/- (at most 100 characters)",
    r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$": (
        "must start with a letter or digit and use only letters, digits and ._:/@+- (at most 200 characters)"
    ),
    r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$": "must be an AWS region name such as us-east-1",
    r"^subnet-[0-9a-f]{8,17}$": "must be a subnet id such as subnet-0a1b2c3d4e5f60001",
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$": "must be an IAM role ARN such as arn:aws:iam::123456789012:role/admin",
    r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$": (
        "must be an EKS cluster name: letters, digits, '-' and '_', starting with a letter or digit (at most 100)"
    ),
    r"^1\.[0-9]{2}$": "must be a Kubernetes minor version such as 1.33",
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$": (
        "must be a Kubernetes namespace name: lower-case letters, digits and '-', at most 63 characters"
    ),
    r"^[a-z0-9-]+\.[a-z0-9]+$": "must be an EC2 instance type such as g6e.12xlarge",
    r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$": (
        "must be a Kubernetes object name such as gp3: lower-case letters, digits, '-' and '.' (at most 253)"
    ),
    r"^ELBSecurityPolicy-[A-Za-z0-9-]+$": (
        "must be an ELB security policy name such as ELBSecurityPolicy-TLS13-1-2-2021-06"
    ),
}

# Parts of a key or shapes of a value that say "this may be a secret": such values are never printed.
_SECRET_KEY_WORDS = ("key", "token", "secret", "password", "passwd", "credential", "auth", "extraargs")
_SECRET_VALUE = re.compile(r"(sk-|hf_|ghp_|gho_|github_pat_|xox[abp]-|AKIA|ASIA|eyJ)|-----BEGIN|[A-Za-z0-9+/_=-]{32,}")


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


def may_be_secret(location: Sequence[Any], value: Any = None) -> bool:
    """Whether the value at ``location`` must not be printed: its key sounds like a secret (``apiKey``, ``token``),
    it is a vLLM flag list (``extraArgs``, where a value may follow ``--api-key``), or it looks like one (``sk-...``,
    ``hf_...``, a long random string).

    >>> may_be_secret(("models", 0, "engine", "extraArgs", 1)), may_be_secret(("models", 0, "name"), "llama")
    (True, False)
    """
    if any(word in str(part).lower() for part in location if not isinstance(part, int) for word in _SECRET_KEY_WORDS):
        return True
    return isinstance(value, str) and _SECRET_VALUE.search(value) is not None


def nearest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word`` (case-insensitive, ``difflib`` ratio ≥ ``cutoff``), or None.

    >>> nearest("maxModelLenght", ["maxModelLen", "maxNumSeqs"]), nearest("zzz", ["models"])
    ('maxModelLen', None)
    """
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_message(message: str) -> str:
    # pydantic prefixes custom validator messages with "Value error, "; the key already says where.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


# --- walking the config models along an error location ------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation admits: Annotated and Optional/Union unwrapped, None dropped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    if annotation is type(None):
        return []
    return [annotation]


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    # Keys as the stack file writes them (aliases), with the Python names accepted too (populate_by_name).
    fields = {}
    for name, info in model.model_fields.items():
        fields[name] = info.annotation
        if info.alias:
            fields[info.alias] = info.annotation
    return fields


def _step(types_here: list[Any], part: Any) -> list[Any] | None:
    """The types found one step down from ``types_here`` along ``part``; None when ``part`` is no key there."""
    found = []
    for candidate in types_here:
        origin = typing.get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(part, str):
            annotation = _model_fields(candidate).get(part)
            if annotation is not None:
                found += _unwrap(annotation)
        elif origin in (dict, Mapping) and isinstance(part, str):
            found += _unwrap(typing.get_args(candidate)[1])
        elif origin in (tuple, list, Sequence) and isinstance(part, int):
            found += _unwrap(typing.get_args(candidate)[0])
    return found or None


def _walk(model: type[BaseModel], location: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(key parts, types at the end)``: the location without pydantic's union tags (``constrained-int``,
    ``literal['auto']``, ``function-after[...]``), and the types of the value it points at."""
    here: list[Any] = [model]
    kept: list[Any] = []
    for index, part in enumerate(location):
        below = _step(here, part)
        if below is not None:
            kept.append(part)
            here = below
        elif index == len(location) - 1 and not _looks_like_tag(part):
            kept.append(part)  # an unknown key: it is what the user wrote
            here = []
        # else: a union member's tag; the key stays where it is
    return kept, here


def _looks_like_tag(part: Any) -> bool:
    text = str(part)
    return "[" in text or "(" in text or text.startswith("constrained-") or text in {"int", "str", "float", "bool"}


def _known_keys(model: type[BaseModel], location: Sequence[Any]) -> list[str]:
    _, here = _walk(model, location)
    keys: list[str] = []
    for candidate in here:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                keys.append(info.alias or name)
    return keys


def config_patterns(model: type[BaseModel]) -> set[str]:
    """Every regular-expression constraint reachable from ``model`` (for the test that each has a description)."""
    found: set[str] = set()
    seen: set[Any] = set()

    def visit(annotation: Any, metadata: Sequence[Any] = ()) -> None:
        for item in metadata:
            pattern = getattr(item, "pattern", None)
            if isinstance(pattern, str):
                found.add(pattern)
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            visit(base, extra)
            return
        if origin is not None:
            for arg in typing.get_args(annotation):
                visit(arg)
            return
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in seen:
            seen.add(annotation)
            for info in annotation.model_fields.values():
                visit(info.annotation, info.metadata)

    visit(model)
    return found


# --- the library's words --------------------------------------------------------------------------------------------


def _choices(ctx: Mapping[str, Any]) -> list[str]:
    # pydantic's "expected" reads "'a', 'b' or 'c'" (strings quoted, numbers bare).
    parts = re.split(r", | or ", str(ctx.get("expected", "")))
    return [part.strip().strip("'") for part in parts if part.strip()]


def _one_of(choices: list[str]) -> str:
    if len(choices) <= 2:
        return "must be " + " or ".join(choices)
    return "must be one of " + ", ".join(choices)


def _list_length(item: Mapping[str, Any], key_parts: Sequence[Any]) -> str:
    ctx = item.get("ctx") or {}
    noun = str(key_parts[-1]).rstrip("s") if key_parts else "entr"
    least = ctx.get("min_length")
    if item["type"] == "too_long":
        return f"must list at most {ctx.get('max_length')} {noun}{'s' if ctx.get('max_length') != 1 else ''}"
    return f"must list at least {least} {noun}{'s' if least != 1 else ''}"


_PHRASES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "int_parsing": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "finite_number": lambda ctx: "must be a finite number",
    "decimal_parsing": lambda ctx: "must be a number",
    "bool_parsing": lambda ctx: "must be true or false",
    "bool_type": lambda ctx: "must be true or false",
    "string_type": lambda ctx: "must be text (a string)",
    "string_too_short": lambda ctx: f"must be at least {ctx.get('min_length')} characters long",
    "string_too_long": lambda ctx: f"must be at most {ctx.get('max_length')} characters long",
    "string_pattern_mismatch": lambda ctx: PATTERN_DESCRIPTIONS.get(
        str(ctx.get("pattern")), f"does not have the required form (regular expression {ctx.get('pattern')})"
    ),
    "greater_than_equal": lambda ctx: f"must be at least {ctx.get('ge')}",
    "greater_than": lambda ctx: f"must be more than {ctx.get('gt')}",
    "less_than_equal": lambda ctx: f"must be at most {ctx.get('le')}",
    "less_than": lambda ctx: f"must be less than {ctx.get('lt')}",
    "multiple_of": lambda ctx: f"must be a multiple of {ctx.get('multiple_of')}",
    "literal_error": lambda ctx: _one_of(_choices(ctx)),
    "enum": lambda ctx: _one_of(_choices(ctx)),
    "tuple_type": lambda ctx: "must be a list",
    "list_type": lambda ctx: "must be a list",
    "set_type": lambda ctx: "must be a list",
    "frozen_set_type": lambda ctx: "must be a list",
    "dict_type": lambda ctx: "must be a map of keys to values",
    "model_type": lambda ctx: "must be a map of settings (key: value)",
    "model_attributes_type": lambda ctx: "must be a map of settings (key: value)",
    "ip_v4_network": lambda ctx: "must be an IPv4 network in CIDR form, e.g. 10.0.0.0/16",
    "ip_v4_interface": lambda ctx: "must be an IPv4 network in CIDR form, e.g. 10.0.0.0/16",
    "ip_v4_address": lambda ctx: "must be an IPv4 address, e.g. 172.20.0.1",
    "url_parsing": lambda ctx: "must be an http(s) URL, e.g. http://otel-collector.observability:4318",
    "url_scheme": lambda ctx: "must be an http(s) URL, e.g. http://otel-collector.observability:4318",
    "url_type": lambda ctx: "must be an http(s) URL, e.g. http://otel-collector.observability:4318",
    "url_syntax_violation": lambda ctx: "must be an http(s) URL, e.g. http://otel-collector.observability:4318",
    "url_too_long": lambda ctx: "is too long for a URL",
    "json_invalid": lambda ctx: "is not valid JSON",
    "none_required": lambda ctx: "must be empty (null)",
}


def _phrase(item: Mapping[str, Any], key_parts: Sequence[Any]) -> str:
    kind = item["type"]
    if kind in ("too_short", "too_long"):
        return _list_length(item, key_parts)
    if kind in _PHRASES:
        return _PHRASES[kind](item.get("ctx") or {})
    if kind not in ("value_error", "assertion_error"):
        # A pydantic check this table does not know yet: say so in our words rather than leak pydantic's.
        return "is not a value this key takes (the config reference in README.md says what it takes)"
    # One of the library's own validators: its message is already in the library's words.
    message = _clean_message(item["msg"])
    if message[1:2].islower():
        return message[:1].lower() + message[1:]  # "Must be ..." reads on after "got X; ", an acronym stays
    return message


def _merge_union(phrases: list[str]) -> str:
    # A value failing every member of a union (`int | Literal["auto"]`): one message naming every allowed form.
    unique = list(dict.fromkeys(phrases))
    if len(unique) > 1 and all(p.startswith("must be ") for p in unique):
        rest = [p.removeprefix("must be ").removeprefix("one of ") for p in unique]
        return "must be " + " or ".join(rest)
    return "; ".join(unique)


def explain(
    error: ValidationError, model: type[BaseModel] | None = None, extra_top_level_keys: Sequence[str] = ()
) -> ConfigError:
    """Convert a pydantic ``ValidationError`` raised while reading the stack config into a ``ConfigError``.

    ``model`` is the validated model (it says which keys exist, for "did you mean"); ``extra_top_level_keys`` are
    keys read outside it (the secrets).
    """
    model = model or _model_of(error)
    items = error.errors(include_url=False)
    nested = {tuple(item["loc"][:n]) for item in items for n in range(1, len(item["loc"]))}
    problems: list[str] = []
    grouped: dict[tuple, list[Mapping[str, Any]]] = {}
    for item in items:
        if item["type"] == "too_short" and tuple(item["loc"]) in nested:
            continue  # a list whose items were all invalid: the items' own errors say why
        if not item["loc"]:
            _stack_rule_lines(model, _clean_message(item["msg"]), problems)
            continue
        key_parts, _ = _walk(model, item["loc"]) if model else (list(item["loc"]), [])
        grouped.setdefault(tuple(key_parts), []).append(item)
    for grouped_key, group in grouped.items():
        problems.append(_problem(model, list(grouped_key), group, extra_top_level_keys))
    return ConfigError(problems)


def _model_of(error: ValidationError) -> type[BaseModel] | None:
    # pydantic names the model in `title`; only ours are walked.
    for candidate in _all_config_models():
        if candidate.__name__ == error.title:
            return candidate
    return None


def _all_config_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack: list[type[BaseModel]] = list(ConfigModel.__subclasses__())
    while stack:
        candidate = stack.pop()
        found.append(candidate)
        stack.extend(candidate.__subclasses__())
    return found


_RELATIVE_KEY = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*): ")
_STACK_LINE_KEY = re.compile(rf"{re.escape(NAMESPACE)}:(?P<path>[A-Za-z0-9_.\[\]]*): ")


def _parts(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def _with_relative_key(model: type[BaseModel] | None, key_parts: list[Any], message: str) -> tuple[list[Any], str]:
    """A cross-field rule of a nested model that starts with the key it is about (``cache.accessMode: ...``) is
    reported against that key: ``vllm-infra:models[0].cache.accessMode: ...`` rather than ``...models[0]: ...``."""
    match = _RELATIVE_KEY.match(message)
    if model is None or match is None:
        return key_parts, message
    candidate = key_parts + match["key"].split(".")
    kept, found = _walk(model, candidate)
    if kept != candidate or not found:
        return key_parts, message
    return candidate, message[match.end() :]


def _stack_rule_lines(model: type[BaseModel] | None, message: str, problems: list[str]) -> None:
    # Cross-field rules of the whole stack name their own keys, one problem per line.
    for line in message.splitlines():
        if line[:1].isspace() and problems:
            problems[-1] += "\n" + line  # continuation of the previous problem
            continue
        match = _STACK_LINE_KEY.match(line)
        if match is None:
            problems.append(line if line.startswith(f"{NAMESPACE}:") else f"{NAMESPACE}: {line}")
            continue
        key_parts, rest = _with_relative_key(model, _parts(match["path"]), line[match.end() :])
        problems.append(f"{config_key(key_parts)}: {rest}")


def _problem(
    model: type[BaseModel] | None,
    key_parts: list[Any],
    group: list[Mapping[str, Any]],
    extra_top_level_keys: Sequence[str],
) -> str:
    key = config_key(key_parts)
    first = group[0]
    if first["type"] == "missing":
        return f"{key}: required but not set"
    if first["type"] == "extra_forbidden":
        known = _known_keys(model, key_parts[:-1]) if model else []
        if len(key_parts) == 1:
            known += list(extra_top_level_keys)
        suggestion = nearest(str(key_parts[-1]), known)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        return f"{key}: unknown key{hint} (the config reference in README.md lists every key)"
    phrase = _merge_union([_phrase(item, key_parts) for item in group])
    if first["type"] in ("value_error", "assertion_error") and isinstance(first.get("input"), dict):
        key_parts, phrase = _with_relative_key(model, key_parts, phrase)
        key = config_key(key_parts)
    if first["type"] == "literal_error" and isinstance(first.get("input"), str):
        suggestion = nearest(first["input"], _choices(first.get("ctx") or {}))
        if suggestion:
            phrase += f"; did you mean {suggestion}?"
    value = first.get("input")
    if isinstance(value, (dict, list, tuple)) or "input" not in first or phrase.startswith("got "):
        return f"{key}: {phrase}"  # a structure is not repeated; a validator that quotes the value did so already
    if may_be_secret(key_parts, value):
        return f"{key}: {phrase} (the value is not shown: it may be a secret)"
    return f"{key}: got {_describe(value)}; {phrase}"


def validate_config(model: type[ConfigModel], data: Any, *, extra_top_level_keys: Sequence[str] = ()) -> Any:
    """Validate ``data`` into ``model``, raising ``ConfigError`` with config-key messages on failure.

    ``extra_top_level_keys`` are keys of the namespace read outside ``model`` (the secrets), offered as "did you
    mean" suggestions for an unknown top-level key.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise explain(error, model, extra_top_level_keys) from None
