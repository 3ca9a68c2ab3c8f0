"""Finding and reading Pulumi stack files (``stacks/Pulumi.<stack>.yaml``) without the Pulumi CLI."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vllm_infra.config.errors import NAMESPACE, ConfigError

# Offline there is no passphrase or KMS key to decrypt `secure:` values with; they become this opaque stand-in,
# marked secret like the real value, so the plan shows where secrets flow without ever holding one.
OFFLINE_SECRET = "offline-placeholder-secret"
SECRET_CONFIG_KEYS = ("apiKey", "hfToken")


@dataclass
class StackFile:
    """A stack's config as the Pulumi runtime receives it: flat ``namespace:key`` strings plus the secret keys."""

    stack: str
    path: Path
    project: str
    config: dict[str, str]
    secret_keys: list[str]
    warnings: list[str] = field(default_factory=list)


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) holding ``Pulumi.yaml``."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise ConfigError([f"no Pulumi.yaml found in {here} or above; run from the project or pass a stack file path"])


def _project_settings(project_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}


_STACK_FILE_NAME = re.compile(r"Pulumi\.(?P<stack>.+)\.ya?ml")


def _looks_like_path(stack: str) -> bool:
    return "/" in stack or os.sep in stack or stack.endswith((".yaml", ".yml"))


def stack_name_of(path: Path) -> str:
    """The stack a stack file configures: ``Pulumi.<stack>.yaml`` or ``.yml``; any other file name, its stem.

    >>> stack_name_of(Path("stacks/Pulumi.single.yml")), stack_name_of(Path("/tmp/dev.yaml"))
    ('single', 'dev')
    """
    match = _STACK_FILE_NAME.fullmatch(path.name)
    return match.group("stack") if match else path.stem


def resolve_stack(stack: str, project_dir: Path | None = None) -> tuple[str, Path, str]:
    """Resolve ``stack`` — a stack name or a path to a stack file — to ``(stack name, file path, project name)``.

    Anything with a ``/`` or ending in ``.yaml``/``.yml`` is a path, relative to the working directory (as a shell
    user means it); a missing file is reported as such, with its absolute path. A name is looked up as
    ``Pulumi.<name>.yaml`` (or ``.yml``) in the project's ``stackConfigDir``.

    Example (run in the project's directory)::

        resolve_stack("single")  # ('single', PosixPath('.../stacks/Pulumi.single.yaml'), 'vllm-infra')
    """
    if _looks_like_path(stack):
        candidate = Path(stack).expanduser()
        if not candidate.is_file():
            raise ConfigError([f"stack file {candidate.absolute()} does not exist (a relative path is taken from "
                               f"the working directory {Path.cwd()})"])  # fmt: skip
        try:
            project = _project_settings(find_project_dir(candidate.resolve().parent)).get("name", NAMESPACE)
        except ConfigError:
            project = NAMESPACE
        return stack_name_of(candidate), candidate, project
    project_dir = project_dir or find_project_dir()
    settings = _project_settings(project_dir)
    config_dir = project_dir / settings.get("stackConfigDir", ".")
    for suffix in (".yaml", ".yml"):
        path = config_dir / f"Pulumi.{stack}{suffix}"
        if path.is_file():
            return stack, path, settings.get("name", NAMESPACE)
    known = sorted({stack_name_of(p) for p in (*config_dir.glob("Pulumi.*.yaml"), *config_dir.glob("Pulumi.*.yml"))})
    raise ConfigError([f"stack {stack!r}: no {config_dir / f'Pulumi.{stack}.yaml'}; known stacks: "
                       f"{', '.join(known) or 'none'}"])  # fmt: skip


def _yaml_problem(error: yaml.YAMLError) -> str:
    # PyYAML's own text quotes the offending line, which may hold a secret (`apiKey: sk-...`): positions only.
    if not isinstance(error, yaml.MarkedYAMLError):
        return "the file cannot be parsed"
    parts = []
    for text, mark in ((error.context, error.context_mark), (error.problem, error.problem_mark)):
        if text:
            parts.append(f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text)
    return "; ".join(parts) or "the file cannot be parsed"


def load_stack_file(stack: str, project_dir: Path | None = None, *, project: str | None = None) -> StackFile:
    """Read a stack file into the flat config the Pulumi runtime expects.

    Structured values become JSON text (as the CLI passes them). ``secure:`` values become an opaque offline stand-in
    marked secret. A plaintext value for a secret key is accepted with a warning — and still treated as a secret.
    ``project`` overrides the project found beside the file (a user's own program names its own project): keys
    without a namespace belong to it.
    """
    name, path, found_project = resolve_stack(stack, project_dir)
    project = project or found_project
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError([f"{path}: not valid YAML: {_yaml_problem(error)}"]) from None
    entries = document.get("config") or {}
    if not isinstance(entries, dict):
        raise ConfigError([f"{path}: `config` must be a mapping of keys to values"])
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    warnings: list[str] = []
    for key, value in entries.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = OFFLINE_SECRET
            secret_keys.append(full_key)
            continue
        short = full_key.split(":", 1)[1] if full_key.startswith(f"{NAMESPACE}:") else None
        if short in SECRET_CONFIG_KEYS:
            warnings.append(
                f"{full_key} is stored in plain text in {path.name}; use `pulumi config set --secret {full_key} ...`"
            )
            secret_keys.append(full_key)
        config[full_key] = value if isinstance(value, str) else json.dumps(value)
    return StackFile(stack=name, path=path, project=project, config=config, secret_keys=secret_keys, warnings=warnings)
