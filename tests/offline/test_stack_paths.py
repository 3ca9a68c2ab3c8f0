"""Stack arguments as people type them: `.yml` files, relative paths from any directory, missing files."""

from __future__ import annotations

import shutil

import pytest

from tests.plans import PROJECT_DIR
from vllm_infra.cli import main
from vllm_infra.config.errors import ConfigError
from vllm_infra.offline.stackfile import resolve_stack

SINGLE = PROJECT_DIR / "stacks" / "Pulumi.single.yaml"


def test_a_yml_stack_file_is_planned_as_its_stack(tmp_path, capsys):
    shutil.copy(SINGLE, tmp_path / "Pulumi.single.yml")
    assert main(["plan", str(tmp_path / "Pulumi.single.yml")]) == 0
    assert "Previewing update (single)" in capsys.readouterr().out


def test_a_relative_path_from_another_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "stacks").mkdir()
    shutil.copy(SINGLE, tmp_path / "stacks" / "Pulumi.single.yml")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["plan", "../stacks/Pulumi.single.yml"]) == 0
    assert "Previewing update (single)" in capsys.readouterr().out


def test_a_missing_file_is_named_as_the_user_meant_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "stacks/Pulumi.single.yml"]) == 2
    err = capsys.readouterr().err
    assert f"stack file {tmp_path / 'stacks' / 'Pulumi.single.yml'} does not exist" in err
    assert "Pulumi.stacks" not in err and ".yml.yaml" not in err


def test_a_stack_name_finds_a_yml_file_in_the_stack_config_dir(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nstackConfigDir: envs\n")
    (tmp_path / "envs").mkdir()
    shutil.copy(SINGLE, tmp_path / "envs" / "Pulumi.dev.yml")
    assert resolve_stack("dev", tmp_path) == ("dev", tmp_path / "envs" / "Pulumi.dev.yml", "demo")
    with pytest.raises(ConfigError, match="known stacks: dev"):
        resolve_stack("prod", tmp_path)
