"""What a non-editable install gets: every data file the package reads must be listed as package data."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_data_file_of_the_package_is_shipped() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vllm_infra"]
    tracked = subprocess.run(["git", "ls-files", "vllm_infra"], cwd=ROOT, capture_output=True, text=True, check=True)
    data_files = [
        Path(line).relative_to("vllm_infra").as_posix()
        for line in tracked.stdout.splitlines()
        if not line.endswith(".py")
    ]
    assert data_files, "no data files found: is this a git checkout?"
    # fnmatch's "*" also crosses "/", so anchor each glob on its own directory depth as setuptools does.
    unshipped = [
        name for name in data_files
        if not any(fnmatch(name, glob) and name.count("/") == glob.count("/") for glob in globs)
    ]  # fmt: skip
    assert not unshipped, f"add these to [tool.setuptools.package-data] in pyproject.toml: {unshipped}"
