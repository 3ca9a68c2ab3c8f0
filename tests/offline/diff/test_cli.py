"""`vllm-infra diff`: the review of a change, from two stack files or against a git ref."""

from __future__ import annotations

import json

import yaml

from tests.conftest import SHIPPED_STACKS
from tests.offline.test_secret_leak import run_cli
from tests.plans import PROJECT_DIR


def variant(tmp_path, name: str, edit) -> str:
    document = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.single.yaml").read_text())
    edit(document["config"])
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def model(config):
    return config["vllm-infra:models"][0]


def test_changing_max_model_len_is_a_short_in_place_update(tmp_path):
    new = variant(tmp_path, "longer", lambda c: model(c)["engine"].update(maxModelLen=16384))
    result = run_cli("diff", str(PROJECT_DIR / "stacks" / "Pulumi.single.yaml"), new, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("**Plan diff** `single`: 1 to update")
    assert "`--max-model-len` | `8192` | `16384`" in out
    assert "Replacement" not in out and "replace" not in out.split("### Updates")[0].lower().replace("to update", "")
    assert len(out.splitlines()) < 20, "a reviewer reads it at a glance"


def test_changing_the_instance_type_is_flagged_as_a_replacement_with_its_cost(tmp_path):
    new = variant(tmp_path, "bigger", lambda c: model(c)["gpu"].update(instanceType="g6e.xlarge"))
    result = run_cli("diff", str(PROJECT_DIR / "stacks" / "Pulumi.single.yaml"), new, "--format", "json")
    diff = json.loads(result.stdout)
    assert any(urn.endswith("aws:eks/nodeGroup:NodeGroup::us-east-1-llama-3-1-8b-on-demand")
               for urn in diff["replacements"])  # fmt: skip
    assert diff["cost"]["old"] == 0.8 and diff["cost"]["new"] == 1.86
    markdown = run_cli("diff", str(PROJECT_DIR / "stacks" / "Pulumi.single.yaml"), new, "--format", "markdown").stdout
    replacements = markdown.split("### ⚠ Replacements")[1].split("###")[0]
    assert "NodeGroup" in replacements and "forces replacement" in replacements
    assert "$0.80/h → $1.86/h (+$1.06/h)" in markdown.splitlines()[0]


def test_the_same_stack_planned_twice_has_no_diff(tmp_path):
    same = str(PROJECT_DIR / "stacks" / "Pulumi.single.yaml")
    result = run_cli("diff", same, same, "--exit-code")
    assert result.returncode == 0 and "No changes" in result.stdout
    changed = variant(tmp_path, "changed", lambda c: model(c)["engine"].update(maxNumSeqs=128))
    assert run_cli("diff", same, changed, "--exit-code").returncode == 1


def test_against_a_git_ref_the_base_is_planned_from_that_commit():
    # HEAD against the working tree: in a clean checkout (CI) nothing differs, across two separate processes.
    result = run_cli("diff", "single", "--base", "HEAD", "--format", "json")
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    assert diff["base"] == "HEAD" and diff["policy_violations"] == []
    assert set(diff) >= {"summary", "replacements", "resources", "cost"}


def test_plan_fails_with_exit_3_on_a_broken_stack(tmp_path):
    # Pipeline parallelism through extraArgs doubles the GPUs the engine uses; the pod still asks for one.
    broken = variant(tmp_path, "pp", lambda c: model(c)["engine"].update(
        {"extraArgs": ["--pipeline-parallel-size", "2"]}))  # fmt: skip
    result = run_cli("plan", broken)
    assert result.returncode == 3
    assert "[mandatory] vllm-gpu-limit-matches-parallelism" in result.stdout
    for stack in SHIPPED_STACKS:
        assert run_cli("plan", stack).returncode == 0, stack
