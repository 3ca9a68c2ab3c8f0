"""`vllm-infra render`: a folder per cluster, a clean output folder, Helm charts listed as not rendered."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.offline.test_secret_leak import run_cli
from vllm_infra.offline.redact import redact, whole_numbers
from vllm_infra.offline.render import (
    APPLY_ORDER,
    DEFAULT_CLUSTER,
    MARKER_FILE,
    NOT_RENDERED_FILE,
    RenderError,
    cluster_label,
    write_manifests,
)
from vllm_infra.offline.runner import PlannedResource

REGIONS = ["eu-west-1", "us-east-1", "us-west-2"]


def kubernetes_objects(plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and r.custom
            and not r.type.startswith("kubernetes:helm.sh/")]  # fmt: skip


def test_multi_region_gets_one_folder_per_region_with_nothing_lost(shipped_plans, tmp_path):
    plan = shipped_plans["multi-region"]
    result = write_manifests(plan, tmp_path)
    assert sorted(result.objects) == REGIONS
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == REGIONS
    files = sorted(tmp_path.glob("*/*.yaml"))
    assert len(files) == len(kubernetes_objects(plan)), "every object has its own file: no name collided"
    for region in REGIONS:
        # Each region's folder holds what that region's Kubernetes provider creates, and only that.
        provider = next(r.urn for r in plan.resources
                        if r.type == "pulumi:providers:kubernetes" and r.name == f"{region}-k8s")  # fmt: skip
        expected = sorted(r.inputs["metadata"].get("name", r.name) for r in kubernetes_objects(plan)
                          if r.provider.startswith(provider + "::"))  # fmt: skip
        rendered = sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in (tmp_path / region).glob("*.yaml"))
        assert rendered == expected


def test_files_are_numbered_in_apply_order(shipped_plans, tmp_path):
    write_manifests(shipped_plans["multi-region"], tmp_path)
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in sorted((tmp_path / "us-east-1").glob("*.yaml"))]
    assert kinds[0] == "Namespace"
    ranks = [APPLY_ORDER.index(k) if k in APPLY_ORDER else len(APPLY_ORDER) for k in kinds]
    assert ranks == sorted(ranks)
    assert kinds.index("ConfigMap") < kinds.index("Deployment")


def test_a_second_render_leaves_no_stale_file(shipped_plans, tmp_path):
    write_manifests(shipped_plans["multi-region"], tmp_path)
    result = write_manifests(shipped_plans["single"], tmp_path)
    assert result.removed_stale > 0
    present = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    marker = json.loads((tmp_path / MARKER_FILE).read_text())
    assert present == sorted([*marker["files"], MARKER_FILE])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["us-east-1"]


@pytest.mark.parametrize("intruder", ["notes.txt", "us-east-1/extra.yaml"])
def test_a_folder_with_other_files_is_refused_and_left_alone(shipped_plans, tmp_path, intruder):
    if intruder.startswith("us-east-1"):
        write_manifests(shipped_plans["single"], tmp_path)  # an earlier render, then a file of the user's
    (tmp_path / intruder).parent.mkdir(exist_ok=True)
    (tmp_path / intruder).write_text("mine")
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(RenderError, match=r"not empty .*nothing was deleted") as error:
        write_manifests(shipped_plans["single"], tmp_path)
    assert intruder in str(error.value)
    assert sorted(p for p in tmp_path.rglob("*")) == before and (tmp_path / intruder).read_text() == "mine"


def test_the_cli_refuses_a_foreign_folder_with_exit_2(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("render", "single", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "is not empty" in result.stderr and "keep.txt" in result.stderr and "Traceback" not in result.stderr


def test_helm_charts_are_listed_as_not_rendered_with_their_values(shipped_plans, tmp_path):
    plan = shipped_plans["multi-region"]
    result = run_cli("render", "multi-region", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    charts = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    # Per region: kube-prometheus-stack, prometheus-adapter, AWS Load Balancer Controller, cluster-autoscaler (the
    # stack file's addons) and the NVIDIA device plugin (AL2023 GPU nodes).
    assert len(charts) == 3 * 5
    assert f"not rendered ({len(charts)}" in result.stdout
    assert "us-east-1: Helm chart kube-prometheus-stack 88.5.0 from https://prometheus-community.github.io" in (
        result.stdout
    )
    listed = yaml.safe_load((tmp_path / NOT_RENDERED_FILE).read_text())["notRendered"]
    assert sorted(entry["name"] for entry in listed) == sorted(r.name for r in charts)
    for chart in charts:
        entry = next(e for e in listed if e["name"] == chart.name)
        assert entry["version"] == chart.inputs["version"]
        assert entry["repository"] == chart.inputs["repositoryOpts"]["repo"]
        assert entry["cluster"] == chart.name.split("-addons")[0].split("-nvidia")[0]
        values = yaml.safe_load((tmp_path / entry["valuesFile"]).read_text())
        assert values == whole_numbers(redact(chart.inputs["values"]))
        assert entry["chart"] == chart.inputs["chart"]
        release = chart.inputs.get("name", chart.name)
        assert entry["helmTemplate"].startswith(f"helm template {release} {chart.inputs['chart']} --repo ")
        assert f"-f {entry['valuesFile']}" in entry["helmTemplate"]


def _provider(inputs: dict) -> PlannedResource:
    return PlannedResource("urn:x", "pulumi:providers:kubernetes", "east-k8s", None, None, True, inputs)


def test_cluster_label_from_kubeconfig_identifier_or_provider_name():
    kubeconfig = {"users": [{"user": {"exec": {"args": ["eks", "get-token", "--region", "ap-south-1"]}}}]}
    assert cluster_label(_provider({"kubeconfig": json.dumps(kubeconfig)})) == "ap-south-1"
    # A created cluster's kubeconfig is unknown in a preview: the cluster identifier still names the region.
    assert cluster_label(_provider({"clusterIdentifier": "eks/eu-central-1/ml"})) == "eu-central-1"
    assert cluster_label(_provider({})) == "east-k8s"
    assert cluster_label(None) == DEFAULT_CLUSTER


def test_a_render_that_fails_leaves_the_previous_one_intact(shipped_plans, tmp_path, monkeypatch):
    import vllm_infra.offline.render as render

    write_manifests(shipped_plans["single"], tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real_manifest = render.manifest

    def failing_manifest(resource):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("a bug in rendering")
        return real_manifest(resource)

    monkeypatch.setattr(render, "manifest", failing_manifest)
    with pytest.raises(RuntimeError):
        write_manifests(shipped_plans["multi-region"], tmp_path)
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before
