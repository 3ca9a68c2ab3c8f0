"""Replacement rules: the providers' force-new tables decide replacements, with their sources."""

from __future__ import annotations

import copy

import pytest

from tests.offline.diff.documents import changed, cluster, deployment, document, k8s, mutate, node_group
from vllm_infra.offline.diff import AWS_FORCE_NEW, KUBERNETES_FORCE_NEW, diff_plans, force_new_rules, render_markdown

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


def test_a_replacement_reason_splits_back_into_its_claim_and_source():
    from vllm_infra.offline.diff import ForceNew, split_reason
    from vllm_infra.offline.diff.rules import replace_reason

    rule = ForceNew("computeConfig.nodeRoleArn", "CustomizeDiff in cluster.go", when="changed_from_set")
    assert split_reason(replace_reason(rule)) == (
        "computeConfig.nodeRoleArn (changed from a set value) is immutable",
        "CustomizeDiff in cluster.go",
    )
