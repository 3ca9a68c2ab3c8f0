"""``diff_plans`` on real plans of the stack program (no perpetual diffs; config changes show up as what
Pulumi would do), cost and outputs, and the documented examples of the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.offline.diff.documents import document
from tests.plans import PROJECT_DIR, plan_config, single_model_config, write_stack
from vllm_infra.offline.diff import CostDelta, diff_plans, render_markdown, render_text
from vllm_infra.offline.tree import plan_json

# --- cost and outputs -------------------------------------------------------------------------------------------------


def test_cost_delta():
    diff = diff_plans(document(cost=0.8), document(cost=1.6))
    assert not diff.empty and diff.cost.delta == pytest.approx(0.8)
    assert "GPU ≈ $0.80/h → $1.60/h (+$0.80/h)" in render_markdown(diff)
    assert CostDelta(None, 2.0).describe() == "GPU ≈ unknown → $2.00/h" and CostDelta(None, 2.0).delta is None
    assert CostDelta(1.5, 1.5).describe() == "GPU ≈ $1.50/h (unchanged)"
    assert diff_plans(document(), document()).cost == CostDelta(None, None)
    assert diff_plans(document(cost="n/a"), document(cost=True)).cost == CostDelta(None, None)


def test_outputs_are_diffed():
    diff = diff_plans(document(outputs={"endpoint": "http://a"}), document(outputs={"endpoint": "http://b"}))
    (change,) = diff.outputs
    assert (change.path, change.old, change.new) == ("endpoint", "http://a", "http://b")
    assert "### Outputs" in render_markdown(diff)


# --- real plans of the stack program ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_plan(tmp_path_factory):
    return plan_config(tmp_path_factory.mktemp("base"), single_model_config())


def plan_with(tmp_path, **model_overrides):
    return plan_config(tmp_path, single_model_config(**model_overrides))


def test_the_same_stack_planned_twice_has_no_perpetual_diff(base_plan, tmp_path):
    again = plan_with(tmp_path)
    assert diff_plans(plan_json(base_plan), plan_json(again)).empty
    assert diff_plans(base_plan, again).empty  # Plan objects, with their ignoreChanges


def test_a_plan_from_another_process_matches(base_plan, tmp_path):
    # The old side of a PR diff comes from `vllm-infra plan --json` run elsewhere (another git ref).
    stack = write_stack(tmp_path, single_model_config())
    result = subprocess.run([sys.executable, "-m", "vllm_infra.cli", "plan", str(stack), "--json"],
                            capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    diff = diff_plans(json.loads(result.stdout), plan_json(base_plan))
    assert diff.empty, render_text(diff)


def test_max_model_len_change_is_exactly_one_args_change(base_plan, tmp_path):
    diff = diff_plans(plan_json(base_plan), plan_json(plan_with(tmp_path, engine={"maxModelLen": 16384})))
    assert not diff.added and not diff.removed and not diff.replacements and not diff.outputs
    (resource,) = diff.changed
    assert resource.type == "kubernetes:apps/v1:Deployment" and resource.action == "update"
    (change,) = resource.changes
    assert change.flag == "--max-model-len" and (change.old, change.new) == ("8192", "16384")
    assert change.path.startswith("spec.template.spec.containers[0].args[")
    assert "--max-model-len 8192 → 16384" in render_text(diff)


def test_storage_class_change_flags_the_cache_replacement(base_plan, tmp_path):
    diff = diff_plans(base_plan, plan_with(tmp_path, cache={"storageClass": "gp3-fast"}))
    (resource,) = diff.replacements
    assert resource.type == "kubernetes:core/v1:PersistentVolumeClaim"
    assert any("spec.storageClassName" in reason for reason in resource.replace_reasons)
    assert resource.blocking  # the cache is protected: Pulumi cannot delete it to replace it
    assert render_markdown(diff).index("⚠ Replacements") < render_markdown(diff).index("PersistentVolumeClaim")


def test_renaming_the_model_deletes_and_creates(base_plan, tmp_path):
    diff = diff_plans(base_plan, plan_with(tmp_path, name="llama-8b-v2"))
    assert diff.added and diff.removed and not diff.replacements
    assert {r.name.removeprefix("us-east-1-") for r in diff.added} >= {"llama-8b-v2", "llama-8b-v2-cache"}
    assert {r.name.removeprefix("us-east-1-") for r in diff.removed} >= {"llama-8b", "llama-8b-cache"}
    (blocked,) = diff.blocking  # the old protected cache
    assert blocked.type == "kubernetes:core/v1:PersistentVolumeClaim" and blocked.action == "delete"


DOCUMENTED_MODULES = ["lines", "model", "paths", "rules"]


@pytest.mark.parametrize("module", DOCUMENTED_MODULES)
def test_the_documented_examples_hold(module: str) -> None:
    import doctest
    import importlib

    results = doctest.testmod(importlib.import_module(f"vllm_infra.offline.diff.{module}"))
    assert results.attempted > 0
    assert results.failed == 0
