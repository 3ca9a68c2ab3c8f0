"""Shared fixtures: the offline plans of the shipped stacks, computed once per session."""

from __future__ import annotations

import os

import pytest

from tests.plans import PROJECT_DIR
from vllm_infra.offline.runner import Plan, plan_stack

SHIPPED_STACKS = sorted(p.stem.removeprefix("Pulumi.") for p in (PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))


@pytest.fixture(autouse=True)
def _project_dir_is_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stack names resolve against the project's Pulumi.yaml, wherever pytest was started from.
    monkeypatch.chdir(PROJECT_DIR)


@pytest.fixture(scope="session")
def shipped_plans() -> dict[str, Plan]:
    """The offline plan of every stack file under ``stacks/``."""
    cwd = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        return {stack: plan_stack(stack) for stack in SHIPPED_STACKS}
    finally:
        os.chdir(cwd)
