"""Every shipped stack, read as the engine and AWS would run it: IAM roles are complete before their users, caches
name StorageClasses that exist, Pod Identity roles have the agent — and the created-cluster example plans end to end."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import SHIPPED_STACKS
from tests.plans import PROJECT_DIR

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def stack_regions(stack: str) -> list[dict]:
    document = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return document["vllm-infra:regions"]


def test_the_created_cluster_example_is_a_shipped_stack():
    assert "eks-created" in SHIPPED_STACKS
    (region,) = stack_regions("eks-created")
    assert "create" in region["cluster"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_user_of_an_iam_role_depends_on_all_its_policy_attachments(shipped_plans, stack):
    plan = shipped_plans[stack]
    attachments: dict[str, set[str]] = {role.urn: set() for role in plan.by_type(ROLE)}
    for attachment in plan.by_type(ATTACHMENT):
        (role_urn,) = [urn for urn in attachment.depends_on if urn in attachments]
        attachments[role_urn].add(attachment.urn)
    users = 0
    for resource in plan.resources:
        if resource.type in (ROLE, ATTACHMENT) or not resource.custom:
            continue
        for role_urn in set(resource.depends_on) & set(attachments):
            missing = attachments[role_urn] - set(resource.depends_on)
            assert not missing, f"{resource.type} {resource.name} uses {role_urn} before {sorted(missing)}"
            users += 1
    assert users >= 1  # at least the GPU node groups


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_cache_claim_names_a_class_the_stack_creates_or_the_cluster_declares(shipped_plans, stack):
    plan = shipped_plans[stack]
    created = {c.inputs["metadata"]["name"] for c in plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    declared = {
        name
        for region in stack_regions(stack)
        for name in region["cluster"].get("existing", {}).get("has", {}).get("storageClasses", [])
    }
    claims = plan.by_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert claims
    for claim in claims:
        storage_class = claim.inputs["spec"].get("storageClassName")
        assert storage_class in created | declared, (claim.name, storage_class)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_pod_identity_association_has_the_agent(shipped_plans, stack):
    plan = shipped_plans[stack]
    addons = plan.by_type("aws:eks/addon:Addon")
    declared = {
        region["cluster"]["existing"]["name"]
        for region in stack_regions(stack)
        if region["cluster"].get("existing", {}).get("has", {}).get("podIdentityAgent")
    }
    agents = {a.inputs["clusterName"] for a in addons if a.inputs["addonName"] == "eks-pod-identity-agent"}
    for addon in addons:
        if addon.inputs.get("podIdentityAssociations"):
            assert addon.inputs["clusterName"] in agents | declared, (addon.name, addon.inputs["clusterName"])


def test_the_created_cluster_example_creates_everything_its_workload_needs(shipped_plans):
    plan = shipped_plans["eks-created"]
    cluster = plan.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["name"] == "vllm-usw2"
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert any("private API endpoint" in w for w in plan.warnings)
    addons = {a.inputs["addonName"] for a in plan.by_type("aws:eks/addon:Addon")}
    assert addons == {"vpc-cni", "eks-pod-identity-agent", "aws-ebs-csi-driver", "aws-efs-csi-driver"}
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert {g.name for g in groups} >= {"us-west-2-system"} and len(groups) >= 2
    # Every node group, the EFS add-on and its mount targets wait for the cluster they go into.
    for resource in [*groups, *plan.by_type("aws:eks/addon:Addon")]:
        assert cluster.urn in resource.depends_on, resource.name
    subnets = {t.inputs["subnetId"] for t in plan.by_type("aws:efs/mountTarget:MountTarget")}
    (region,) = stack_regions("eks-created")
    assert subnets == set(region["cluster"]["create"]["subnetIds"])
    # The Kubernetes provider (and so every Kubernetes object) waits for the cluster and its storage driver.
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    assert cluster.urn in provider.depends_on
