"""Plan diff: synthetic plan documents for each rule of the walk and the force-new tables, and real plans of the
stack program to prove there are no perpetual diffs and that config changes show up as what Pulumi would do."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc

from tests.plans import PROJECT_DIR, plan_config, single_model_config, write_stack
from vllm_infra.offline.diff import (
    AWS_FORCE_NEW,
    KUBERNETES_FORCE_NEW,
    MISSING,
    CostDelta,
    diff_plans,
    force_new_rules,
    format_path,
    parse_path,
    render_json,
    render_markdown,
    render_text,
)
from vllm_infra.offline.tree import plan_json

STACK_URN = "urn:pulumi:dev::vllm-infra::"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"


def entry(type_token: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One resource of a plan document, as plan_json writes it."""
    return {"urn": f"{STACK_URN}{type_token}::{name}", "type": type_token, "name": name, "parent": None,
            "provider": None, "inputs": inputs, "protect": False, "customTimeouts": {}, "dependsOn": [], **extra}


def document(*resources: dict[str, Any], outputs: dict | None = None, cost: Any = None) -> dict[str, Any]:
    doc = {"stack": "dev", "project": "vllm-infra", "resources": list(resources), "outputs": outputs or {},
           "warnings": []}  # fmt: skip
    if cost is not None:
        doc["estimated_gpu_cost_per_hour"] = cost
    return doc


def k8s(kind: str, api_version: str, name: str, spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    inputs = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "vllm"}, **top}
    if spec is not None:
        inputs["spec"] = spec
    return entry(f"kubernetes:{group_version}:{kind}", name, inputs)


def deployment(args: list[str] | None = None, env: list[dict] | None = None, selector: dict | None = None,
               replicas: float = 1.0) -> dict[str, Any]:  # fmt: skip
    labels = {"app": "vllm"}
    container = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0",
                 "args": args or ["org/m", "--port", "8000", "--max-model-len", "8192", "--enable-prefix-caching"],
                 "env": env or [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}  # fmt: skip
    spec = {"replicas": replicas, "selector": {"matchLabels": dict(selector or labels)},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}  # fmt: skip
    return k8s("Deployment", "apps/v1", "llama", spec)


def changed(old: dict, new: dict):
    """The only changed resource of a two-document diff."""
    diff = diff_plans(document(old), document(new))
    assert not diff.added and not diff.removed
    (resource,) = diff.changed
    return resource


def mutate(resource: dict, fn) -> dict:
    copy_ = copy.deepcopy(resource)
    fn(copy_["inputs"])
    return copy_


# --- basics -----------------------------------------------------------------------------------------------------------


def test_identical_documents_have_no_changes():
    doc = document(deployment(), k8s("Service", "v1", "llama", {"type": "ClusterIP"}), cost=0.8)
    diff = diff_plans(doc, copy.deepcopy(doc))
    assert diff.empty
    assert render_text(diff) == "Plan diff (dev): No changes."
    assert render_markdown(diff) == "**Plan diff** `dev`: No changes.\n"
    assert render_json(diff)["empty"] is True and render_json(diff)["resources"] == []


def test_added_removed_and_changed_are_keyed_by_urn_and_sorted():
    a, b, c = (k8s("ConfigMap", "v1", n, data={"k": "v"}) for n in ("a", "b", "c"))
    diff = diff_plans(document(a, b), document(c, mutate(b, lambda i: i["metadata"].update(labels={"x": "1"}))))
    assert [r.name for r in diff.added] == ["c"] and [r.name for r in diff.removed] == ["a"]
    assert [(r.name, r.action) for r in diff.changed] == [("b", "update")]
    assert diff.counts() == {"replace": 0, "update": 1, "create": 1, "delete": 1}


def test_output_is_deterministic_whatever_the_input_order():
    old = document(deployment(), k8s("ConfigMap", "v1", "a", data={"k": "v"}))
    new = document(
        k8s("ConfigMap", "v1", "b", data={"k": "v"}),
        mutate(deployment(), lambda i: i["spec"].update(replicas=2.0)),
    )
    shuffled = copy.deepcopy(new)
    shuffled["resources"].reverse()
    for render in (render_text, render_markdown, lambda d: json.dumps(render_json(d))):
        assert render(diff_plans(old, new)) == render(diff_plans(old, shuffled))


def test_numbers_compare_as_numbers_but_not_as_booleans():
    old = k8s("ConfigMap", "v1", "a", spec={"n": 1, "flag": True})
    assert diff_plans(document(old), document(mutate(old, lambda i: i["spec"].update(n=1.0)))).empty
    resource = changed(old, mutate(old, lambda i: i["spec"].update(flag=1)))
    assert [c.path for c in resource.changes] == ["spec.flag"]


def test_secrets_compare_by_marker_and_never_print():
    old = k8s("Secret", "v1", "key", stringData={"api-key": "[secret]"})
    raw = mutate(old, lambda i: i["stringData"].update({"api-key": rpc.wrap_rpc_secret("sk-DO-NOT-PRINT")}))
    assert diff_plans(document(old), document(raw)).empty
    leaked = mutate(old, lambda i: i["stringData"].update({"api-key": "sk-plain"}))
    diff = diff_plans(document(old), document(leaked))
    (change,) = diff.changed[0].changes
    assert (change.old, change.new) == ("[secret]", "sk-plain")
    everything = render_text(diff) + render_markdown(diff) + json.dumps(render_json(diff))
    raw_diff = diff_plans(document(leaked), document(raw))
    assert "sk-DO-NOT-PRINT" not in everything + render_markdown(raw_diff) + json.dumps(render_json(raw_diff))


def test_unknown_values_show_as_unknown():
    old = entry(NODE_GROUP, "ng", {"nodeRoleArn": "[unknown]", "clusterName": "c"})
    assert diff_plans(document(old), document(copy.deepcopy(old))).empty
    resource = changed(old, mutate(old, lambda i: i.update(nodeRoleArn="arn:aws:iam::1:role/x")))
    assert resource.changes[0].old == "[unknown]"


# --- lists ----------------------------------------------------------------------------------------------------------


def test_container_args_show_the_flag_that_changed():
    old = deployment()
    new = mutate(old, lambda i: i["spec"]["template"]["spec"]["containers"][0]["args"].__setitem__(4, "16384"))
    resource = changed(old, new)
    (change,) = resource.changes
    assert change.path == "spec.template.spec.containers[0].args[4]"
    assert change.describe() == "--max-model-len 8192 → 16384"
    assert resource.action == "update"


def test_flags_added_removed_flipped_and_reordered():
    base = ["org/m", "--port", "8000", "--enable-prefix-caching", "--dtype", "auto"]
    old = deployment(args=base)
    new = deployment(args=["org/m", "--port", "8000", "--no-enable-prefix-caching", "--quantization", "awq"])
    described = [c.describe() for c in changed(old, new).changes]
    assert described == ["--enable-prefix-caching → --no-enable-prefix-caching", "+ --quantization awq",
                         "- --dtype auto"]  # fmt: skip
    reordered = deployment(args=["org/m", "--dtype", "auto", "--port", "8000", "--enable-prefix-caching"])
    (change,) = changed(old, reordered).changes
    assert change.note == "same flags, order changed"
    (model,) = changed(old, deployment(args=["org/other", *base[1:]])).changes
    assert (model.path, model.old, model.new) == ("spec.template.spec.containers[0].args[0]", "org/m", "org/other")


def test_named_list_items_pair_by_name_not_position():
    old = deployment()
    new = deployment(env=[{"name": "A", "value": "1"}, {"name": "NEW", "value": "x"}, {"name": "B", "value": "3"}])
    changes = changed(old, new).changes
    assert [(c.path, c.kind) for c in changes] == [
        ("spec.template.spec.containers[0].env[1]", "add"),
        ("spec.template.spec.containers[0].env[2].value", "update"),
    ]


def test_paths_use_pulumi_property_path_syntax():
    old = k8s("ConfigMap", "v1", "a", data={"x": "1"})
    old["inputs"]["metadata"]["labels"] = {"tier": "gpu"}
    new = mutate(old, lambda i: i["metadata"]["labels"].update({"app.kubernetes.io/name": "vllm"}))
    (change,) = changed(old, new).changes
    assert change.path == 'metadata.labels["app.kubernetes.io/name"]'
    assert parse_path(change.path) == ["metadata", "labels", "app.kubernetes.io/name"]
    assert format_path(parse_path('a[0]["b.c"][*].d')) == 'a[0]["b.c"][*].d'


# --- Kubernetes replacements ------------------------------------------------------------------------------------------


def test_deployment_selector_change_is_a_replacement_template_change_is_not():
    old = deployment()
    replaced = changed(old, deployment(selector={"app": "vllm", "tier": "gpu"}))
    assert replaced.action == "replace" and "spec.selector" in replaced.replace_reasons[0]
    assert any("deleted before the new one is created" in w for w in replaced.warnings)
    updated = changed(old, mutate(old, lambda i: i["spec"]["template"]["metadata"]["labels"].update(v="2")))
    assert updated.action == "update"


@pytest.mark.parametrize(
    "kind, api_version, spec_change, action",
    [
        ("PodDisruptionBudget", "policy/v1", {"selector": {"matchLabels": {"app": "x"}}}, "update"),
        ("PodDisruptionBudget", "policy/v1beta1", {"selector": {"matchLabels": {"app": "x"}}}, "replace"),
        ("Service", "v1", {"clusterIP": "10.0.0.9"}, "replace"),
        ("Service", "v1", {"type": "NodePort"}, "update"),
        ("Job", "batch/v1", {"template": {"spec": {"restartPolicy": "Never"}}}, "replace"),
        ("Job", "batch/v1", {"backoffLimit": 6}, "update"),
        ("StatefulSet", "apps/v1", {"serviceName": "other"}, "replace"),
        ("PersistentVolumeClaim", "v1", {"accessModes": ["ReadWriteMany"]}, "replace"),
        ("PersistentVolumeClaim", "v1", {"volumeName": "pv-1"}, "replace"),
    ],
)
def test_kubernetes_immutable_fields(kind, api_version, spec_change, action):
    old = k8s(kind, api_version, "x", {"selector": {"matchLabels": {"app": "vllm"}}, "accessModes": ["ReadWriteOnce"],
                                       "type": "ClusterIP", "backoffLimit": 4})  # fmt: skip
    assert changed(old, mutate(old, lambda i: i["spec"].update(spec_change))).action == action


def test_name_or_namespace_change_replaces_any_kind():
    old = k8s("ConfigMap", "v1", "a", data={"k": "v"})
    assert changed(old, mutate(old, lambda i: i["metadata"].update(namespace="other"))).action == "replace"
    assert changed(old, mutate(old, lambda i: i["metadata"].update(name="b"))).action == "replace"


def test_pvc_storage_grows_in_place_and_cannot_shrink():
    old = k8s("PersistentVolumeClaim", "v1", "cache", {"resources": {"requests": {"storage": "29Gi"}}})
    grow = changed(old, mutate(old, lambda i: i["spec"]["resources"]["requests"].update(storage="50Gi")))
    assert grow.action == "update" and not grow.blocking and "allowVolumeExpansion" in grow.warnings[0]
    shrink = changed(old, mutate(old, lambda i: i["spec"]["resources"]["requests"].update(storage="20000Mi")))
    assert shrink.action == "update" and shrink.blocking and "can only grow" in shrink.warnings[0]


def test_secret_data_keys_replace_with_the_providers_defaults():
    old = k8s("Secret", "v1", "key", stringData={"api-key": "[secret]"})
    new = mutate(old, lambda i: i["stringData"].update(extra="[secret]"))
    assert changed(old, new).action == "replace"


def test_protected_resources_block_replacement_and_deletion():
    claim = k8s("PersistentVolumeClaim", "v1", "cache", {"storageClassName": "gp3"})
    claim["protect"] = True
    replaced = changed(claim, mutate(claim, lambda i: i["spec"].update(storageClassName="io2")))
    assert replaced.action == "replace" and replaced.blocking
    diff = diff_plans(document(claim), document())
    (removed,) = diff.removed
    assert removed.blocking and diff.blocking == (removed,)
    markdown = render_markdown(diff)
    assert "### ⚠ Replacements and blocked changes" in markdown and "protected" in markdown


def test_resource_option_changes_are_listed():
    old = k8s("ConfigMap", "v1", "a", data={"k": "v"})
    new = dict(copy.deepcopy(old), protect=True)
    (change,) = changed(old, new).changes
    assert (change.path, change.old, change.new) == ("(protect)", False, True)


# --- AWS force-new table ----------------------------------------------------------------------------------------------


def node_group(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "clusterName": "ml-platform",
        "nodeRoleArn": "arn:aws:iam::123456789012:role/gpu-nodes",
        "subnetIds": ["subnet-a", "subnet-b"],
        "instanceTypes": ["g6.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "capacityType": "ON_DEMAND",
        "diskSize": 200.0,
        "scalingConfig": {"minSize": 1.0, "maxSize": 2.0, "desiredSize": 1.0},
        "launchTemplate": {"id": "lt-1", "version": "1"},
        "labels": {"gpu": "L4"},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
    }
    inputs.update(overrides.pop("inputs", {}))
    return entry(NODE_GROUP, "gpu", inputs, **overrides)


@pytest.mark.parametrize(
    "change",
    [
        {"instanceTypes": ["g6.2xlarge"]},
        {"amiType": "AL2023_ARM_64_NVIDIA"},
        {"capacityType": "SPOT"},
        {"diskSize": 300.0},
        {"subnetIds": ["subnet-a", "subnet-c"]},
        {"nodeRoleArn": "arn:aws:iam::123456789012:role/other"},
        {"clusterName": "other"},
        {"nodeGroupName": "gpu-2"},
        {"launchTemplate": {"id": "lt-2", "version": "1"}},
        {"region": "us-west-2"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_node_group_force_new_properties(change):
    old = node_group()
    resource = changed(old, node_group(inputs=change))
    assert resource.action == "replace"
    assert all("terraform-provider-aws" in reason for reason in resource.replace_reasons)


@pytest.mark.parametrize(
    "change",
    [
        {"scalingConfig": {"minSize": 1.0, "maxSize": 4.0, "desiredSize": 2.0}},
        {"labels": {"gpu": "L40S"}},
        {"launchTemplate": {"id": "lt-1", "version": "2"}},
        {"version": "1.33"},
        {"taints": []},
    ],
    ids=lambda change: next(iter(change)),
)
def test_node_group_in_place_properties(change):
    assert changed(node_group(), node_group(inputs=change)).action == "update"


def test_node_group_instance_type_change_is_flagged_on_the_property():
    old, new = node_group(), node_group(inputs={"instanceTypes": ["g6.2xlarge"]})
    (change,) = changed(old, new).changes
    assert change.path == "instanceTypes[0]" and change.replaces and "node_group.go" in change.replaces
    assert "— **forces replacement**" in render_markdown(diff_plans(document(old), document(new)))


def test_desired_size_change_is_dropped_when_ignored():
    old = node_group(ignoreChanges=["scalingConfig.desiredSize"])
    new = node_group(ignoreChanges=["scalingConfig.desiredSize"],
                     inputs={"scalingConfig": {"minSize": 1.0, "maxSize": 2.0, "desiredSize": 2.0}})  # fmt: skip
    assert diff_plans(document(old), document(new)).empty
    not_ignored = changed(node_group(), node_group(inputs={"scalingConfig": {"minSize": 1.0, "maxSize": 2.0,
                                                                               "desiredSize": 2.0}}))  # fmt: skip
    assert [c.path for c in not_ignored.changes] == ["scalingConfig.desiredSize"]


def test_ignore_changes_on_a_force_new_property_prevents_the_replacement():
    old = node_group(ignoreChanges=["instanceTypes"])
    new = node_group(ignoreChanges=["instanceTypes"], inputs={"instanceTypes": ["g6.2xlarge"]})
    assert diff_plans(document(old), document(new)).empty


def test_set_typed_properties_ignore_order():
    old = node_group()
    assert diff_plans(document(old), document(node_group(inputs={"subnetIds": ["subnet-b", "subnet-a"]}))).empty


def cluster(**inputs: Any) -> dict[str, Any]:
    base = {"name": "ml-platform", "roleArn": "arn:aws:iam::1:role/eks", "version": "1.32",
            "vpcConfig": {"subnetIds": ["subnet-a", "subnet-b"], "endpointPublicAccess": True}}  # fmt: skip
    base.update(inputs)
    return entry(CLUSTER, "eks", base)


@pytest.mark.parametrize(
    "old, new, action",
    [
        ({}, {"name": "other"}, "replace"),
        ({}, {"roleArn": "arn:aws:iam::1:role/other"}, "replace"),
        ({}, {"version": "1.33"}, "update"),
        # EKS can change control-plane subnets in place since terraform-provider-aws 5.25.0 (PR #34209).
        ({}, {"vpcConfig": {"subnetIds": ["subnet-a", "subnet-c"], "endpointPublicAccess": True}}, "update"),
        ({}, {"kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16"}}, "replace"),
        ({}, {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}}}, "update"),
        ({"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}}}, {}, "replace"),
        ({}, {"computeConfig": {"enabled": True, "nodeRoleArn": "arn:r1"}}, "update"),
        ({"computeConfig": {"nodeRoleArn": "arn:r1"}}, {"computeConfig": {"nodeRoleArn": "arn:r2"}}, "replace"),
    ],
)
def test_cluster_force_new_properties(old, new, action):
    assert changed(cluster(**old), cluster(**new)).action == action


def test_force_new_tables_cite_their_sources():
    for rules in (*KUBERNETES_FORCE_NEW.values(), *AWS_FORCE_NEW.values()):
        for rule in rules:
            assert rule.source and rule.when in {"changed", "removed", "changed_from_set"}
    assert [r.path for r in force_new_rules("kubernetes:policy/v1:PodDisruptionBudget")] == [
        "metadata.name", "metadata.namespace"]  # fmt: skip


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


# --- rendering --------------------------------------------------------------------------------------------------------


def test_markdown_puts_replacements_first_and_collapses_long_tables():
    old_dep = deployment(env=[{"name": f"E{i}", "value": "0"} for i in range(12)])
    new_dep = deployment(env=[{"name": f"E{i}", "value": "1|2"} for i in range(12)])
    old_ng, new_ng = node_group(), node_group(inputs={"instanceTypes": ["g6e.xlarge"]})
    markdown = render_markdown(diff_plans(document(old_dep, old_ng), document(new_dep, new_ng)))
    assert markdown.index("### ⚠ Replacements") < markdown.index("### Updates")
    assert "<details>" in markdown and "<summary>12 property changes</summary>" in markdown
    assert "`1\\|2`" in markdown  # pipes cannot break the table
    assert markdown.splitlines()[0].startswith("**Plan diff** `dev`: 1 to replace, 1 to update")


def test_json_rendering_is_serialisable_and_lists_replacements():
    old, new = node_group(), node_group(inputs={"diskSize": 400.0})
    data = render_json(diff_plans(document(old), document(new)))
    json.dumps(data)
    assert data["replacements"] == [old["urn"]] and data["resources"][0]["action"] == "replace"
    assert data["resources"][0]["changes"][0] == {
        "path": "diskSize", "kind": "update", "old": 200, "new": 400,
        "replaces": data["resources"][0]["replaceReasons"][0]}  # fmt: skip


# --- property: a document never differs from itself, and differs whenever its JSON does ----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab-", max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text("xyz", max_size=2), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_values, json_values)
def test_diff_is_empty_exactly_when_inputs_are_equal(a, b):
    old = k8s("ConfigMap", "v1", "a", spec={"v": a})
    assert diff_plans(document(old), document(copy.deepcopy(old))).empty
    new = k8s("ConfigMap", "v1", "a", spec={"v": b})
    equal = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    diff = diff_plans(document(old), document(new))
    assert diff.empty is equal
    for change in (diff.changed[0].changes if diff.changed else ()):
        assert change.old is not MISSING or change.new is not MISSING


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


def test_a_replacement_reason_splits_back_into_its_claim_and_source():
    from vllm_infra.offline.diff import ForceNew, split_reason
    from vllm_infra.offline.diff.rules import replace_reason

    rule = ForceNew("computeConfig.nodeRoleArn", "CustomizeDiff in cluster.go", when="changed_from_set")
    assert split_reason(replace_reason(rule)) == (
        "computeConfig.nodeRoleArn (changed from a set value) is immutable", "CustomizeDiff in cluster.go")
