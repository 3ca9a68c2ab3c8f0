"""The static checks, run by pytest so CI runs them: ``ruff check`` (lint), ``ruff format --check`` and ``mypy``, each
configured in pyproject.toml, each on the whole checkout, each failing with the tool's own report.

They run as the venv's own tools (``sys.executable -m ...``) from the checkout's root and write nothing into it:
ruff without its cache, mypy with its cache in the system temp directory (one per checkout, so a re-run takes
about a second instead of about ten).

To fix what they report: ``ruff check --fix .`` and ``ruff format .`` (review the diff), and mypy's messages by hand.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _assert_clean(result: subprocess.CompletedProcess[str], command: str) -> None:
    assert result.returncode == 0, f"`{command}` failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"


@pytest.mark.slow
def test_ruff_finds_nothing_to_report():
    _assert_clean(_run("ruff", "check", "--no-cache", "--output-format", "concise", "."), "ruff check .")


@pytest.mark.slow
def test_the_code_is_formatted_as_ruff_format_would():
    _assert_clean(_run("ruff", "format", "--no-cache", "--check", "."), "ruff format --check .")


@pytest.mark.slow
def test_mypy_finds_no_type_errors():
    # Outside the checkout, so the tree stays clean; keyed by the checkout's path so two checkouts never share one.
    key = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"vllm-infra-mypy-cache-{key}"
    # The packages to check come from [tool.mypy] in pyproject.toml.
    _assert_clean(_run("mypy", "--cache-dir", str(cache), "--no-pretty"), "mypy")
