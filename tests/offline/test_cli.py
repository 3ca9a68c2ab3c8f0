"""The offline plan a new user runs first: `vllm-infra plan single` and `render`."""

from __future__ import annotations

import json

import yaml

from tests.offline.test_secret_leak import run_cli


def test_plan_prints_the_resource_tree_with_a_summary():
    result = run_cli("plan", "single")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("pulumi:pulumi:Stack" in line and "vllm-infra-single" in line for line in lines)
    deployment_line = next(line for line in lines if "kubernetes:apps/v1:Deployment" in line)
    assert "└─" in deployment_line or "├─" in deployment_line
    created = sum(1 for line in lines if line.startswith(" +   "))
    assert f"+ {created} to create" in result.stdout


def test_plan_json_lists_every_resource_with_its_parent():
    plan = json.loads(run_cli("plan", "single", "--json").stdout)
    assert plan["stack"] == "single"
    urns = {r["urn"] for r in plan["resources"]}
    for resource in plan["resources"]:
        assert set(resource) >= {"urn", "type", "name", "parent", "inputs"}
        assert resource["parent"] is None or resource["parent"] in urns
    assert sum(r["parent"] is None for r in plan["resources"]) == 1


def test_render_writes_one_yaml_file_per_kubernetes_object(tmp_path):
    result = run_cli("render", "single", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    kinds = sorted(yaml.safe_load(p.read_text())["kind"] for p in (tmp_path / "us-east-1").glob("*.yaml"))
    # No PodMonitor/PrometheusRule/dashboard: the single stack installs no monitoring stack, so observability is off.
    assert kinds == sorted(
        [
            "Namespace",
            "Secret",
            "Secret",
            "PersistentVolumeClaim",
            "Job",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            *["NetworkPolicy"] * 5,
            "StorageClass",
        ]  # gp3: the single stack installs it into the adopted cluster (cluster.existing.install)
    )


def test_every_rendered_object_is_named_and_references_resolve(tmp_path):
    assert run_cli("render", "load-balanced", "--out", str(tmp_path)).returncode == 0
    objects = [yaml.safe_load(p.read_text()) for p in sorted((tmp_path / "us-east-1").glob("*.yaml"))]
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    gateway = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "vllm-gateway")
    for volume in gateway["spec"]["template"]["spec"]["volumes"]:
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in names


def test_unknown_stack_names_the_known_ones():
    result = run_cli("plan", "no-such-stack")
    assert result.returncode == 2
    assert "known stacks:" in result.stderr and "single" in result.stderr


def test_plan_shows_the_estimated_gpu_cost():
    result = run_cli("plan", "single")
    assert "Estimated GPU cost: $0.80/h" in result.stdout  # one g6.xlarge, us-east-1 on-demand
    plan = json.loads(run_cli("plan", "single", "--json").stdout)
    assert plan["estimated_gpu_cost_per_hour"] == 0.8
    kubernetes = [r for r in plan["resources"] if r["type"].startswith("kubernetes:")]
    assert all(r["provider"] and "pulumi:providers:kubernetes" in r["provider"] for r in kubernetes)


def test_size_ranks_options_with_the_choice_first():
    result = run_cli("size", "meta-llama/Llama-3.1-8B-Instruct", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    first = answer["options"][0]
    assert first["instance_type"] == "g6.xlarge" and first["tensor_parallel_size"] == 1
    prices = [option["price_per_hour"] for option in answer["options"]]
    assert prices == sorted(prices)


def test_size_with_quantization_and_context():
    result = run_cli("size", "meta-llama/Llama-3.1-70B-Instruct", "--quantization", "awq", "--max-model-len", "16384")
    assert result.returncode == 0, result.stderr
    assert "choice:" in result.stdout


def test_size_of_an_unknown_model_suggests_catalog_ids():
    result = run_cli("size", "meta-llama/Llama-3.1-8B")
    assert result.returncode == 2
    assert "did you mean: meta-llama/Llama-3.1-8B-Instruct" in result.stderr
