"""The offline plan of a stack as it was at a git ref: the base side of ``vllm-infra diff``.

The ref is checked out into a temporary worktree and planned there by a separate interpreter whose import path
starts at that worktree, so the base is the library *and* the stack file as they were at the ref — not the current
code planning an old stack file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from vllm_infra.config.errors import ConfigError


def _git(project_dir: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ConfigError([f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}"])
    return done.stdout.strip()


def default_base(project_dir: Path) -> str:
    """The merge base with main (or origin/main), as a pull request is reviewed; HEAD when there is no main."""
    for main in ("main", "origin/main"):
        try:
            return _git(project_dir, "merge-base", "HEAD", main)
        except ConfigError:
            continue
    return "HEAD"


def plan_at_ref(stack: str, ref: str, project_dir: Path) -> dict[str, Any] | None:
    """``plan_json`` of ``stack`` at ``ref``; None when the stack did not exist there (everything is then added).

    Raises ``ConfigError`` when the ref is unknown or the stack's config was invalid at the ref.
    """
    commit = _git(project_dir, "rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="vllm-infra-diff-") as scratch:
        worktree = Path(scratch) / "base"
        _git(project_dir, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
        try:
            relative = Path(stack).resolve().relative_to(project_dir.resolve()) if Path(stack).is_file() else None
            target = str(worktree / relative) if relative is not None else stack
            if relative is not None and not Path(target).is_file():
                return None
            env = {**os.environ, "PYTHONPATH": str(worktree) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            done = subprocess.run(
                [sys.executable, "-m", "vllm_infra.cli", "plan", target, "--json"],
                cwd=worktree, env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if done.returncode == 2 and "known stacks" in done.stderr:
                return None
            if done.returncode not in (0, 3):  # 3: the plan is fine, policies failed; still a base to compare
                raise ConfigError([f"planning {stack} at {ref} ({commit[:12]}) failed:\n{done.stderr.strip()}"])
            return json.loads(done.stdout)
        finally:
            _git(project_dir, "worktree", "remove", "--force", str(worktree))
