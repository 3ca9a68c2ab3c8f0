"""RegionalCluster: adopting or creating the EKS cluster, and the providers of the region."""

from __future__ import annotations

import copy
import json

import pytest

from tests.plans import EXISTING_CLUSTER, plan_config, single_model_config, write_stack
from vllm_infra.components.cluster import network_policy_enabled
from vllm_infra.offline.cloud import default_invokes, eks_addon_answer
from vllm_infra.offline.runner import plan_stack

NEW_CLUSTER = [
    {
        "name": "eu-west-1",
        "vpcCidr": "10.1.0.0/16",
        "cluster": {
            "create": {
                "name": "vllm-euw1",
                "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
                "adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"],
            }
        },
    }
]


def new_cluster_config(**model_overrides):
    config = single_model_config(**model_overrides)
    config["vllm-infra:regions"] = NEW_CLUSTER
    return config


def test_each_region_has_its_own_aws_provider(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    (provider,) = plan.by_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"


def test_kubernetes_provider_authenticates_with_aws_eks_get_token(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    (provider,) = plan.by_type("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert "token" not in user, "no long-lived token in the state"
    assert user["exec"]["command"] == "aws"
    args = user["exec"]["args"]
    assert args[:2] == ["eks", "get-token"]
    assert args[args.index("--cluster-name") + 1] == "ml-platform"
    assert args[args.index("--region") + 1] == "us-east-1"
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")
    # A kubeconfig edit must not replace every Kubernetes resource of the region.
    assert provider.inputs["clusterIdentifier"] == "eks/us-east-1/ml-platform"


def test_an_existing_cluster_is_looked_up_not_managed(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    assert plan.by_type("aws:eks/cluster:Cluster") == []
    (group,) = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["clusterName"] == "ml-platform"
    # The GPU nodes go to the cluster's own subnets, as the lookup reported them.
    assert group.inputs["subnetIds"] == ["subnet-0000000000offline1", "subnet-0000000000offline2"]


def test_a_created_cluster_is_private_audited_and_grants_admin_roles(tmp_path):
    plan = plan_config(tmp_path, new_cluster_config())
    cluster = plan.one("aws:eks/cluster:Cluster").inputs
    assert cluster["name"] == "vllm-euw1"
    assert cluster["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert {"api", "audit", "authenticator"} <= set(cluster["enabledClusterLogTypes"])
    entry = plan.one("aws:eks/accessEntry:AccessEntry").inputs
    assert entry["principalArn"] == "arn:aws:iam::123456789012:role/platform-admin"
    association = plan.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").inputs
    assert association["policyArn"].endswith(":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")


def test_a_created_cluster_gets_system_nodes_ebs_csi_and_a_gp3_class(tmp_path):
    plan = plan_config(tmp_path, new_cluster_config())
    groups = {g.name: g.inputs for g in plan.by_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups["eu-west-1-system"]["amiType"] == "AL2023_x86_64_STANDARD"
    addons = {a.inputs["addonName"]: a.inputs for a in plan.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    # NetworkPolicies are only enforced with the VPC CNI's policy agent on.
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addons["aws-ebs-csi-driver"]["podIdentityAssociations"][0]["serviceAccount"] == "ebs-csi-controller-sa"
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_gpu_node_role_has_the_worker_policies(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    role = plan.one("aws:iam/role:Role", "us-east-1-gpu-nodes")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policies = {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"} <= policies


# --- what an adopted cluster gets when the config asks (and nothing otherwise) --------------------------------------

INSTALL_ALL = {"podIdentityAgent": True, "ebsCsiDriver": True, "gp3StorageClass": True}


def adopted_config(*, has=None, install=None, **model_overrides):
    config = single_model_config(**model_overrides)
    cluster = {"name": "ml-platform"}
    if has is not None:
        cluster["has"] = has
    if install is not None:
        cluster["install"] = install
    config["vllm-infra:regions"] = [{**EXISTING_CLUSTER[0], "cluster": {"existing": cluster}}]
    return config


def by_name(plan, type_token):
    return {r.name: r for r in plan.by_type(type_token)}


def attachment_urns(plan, role_name):
    urns = {a.urn for a in plan.by_type(ATTACHMENT) if a.name.startswith(role_name + "-")}
    assert urns, role_name
    return urns


def test_an_adopted_cluster_gets_what_install_asks_for_and_the_cache_waits_for_it(tmp_path):
    plan = plan_config(tmp_path, adopted_config(install=INSTALL_ALL, cache={"storageClass": "gp3"}))
    addons = {a.inputs["addonName"]: a for a in plan.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert all(a.inputs["clusterName"] == "ml-platform" for a in addons.values())
    ebs = addons["aws-ebs-csi-driver"]
    assert ebs.inputs["podIdentityAssociations"][0]["serviceAccount"] == "ebs-csi-controller-sa"
    # The driver's pods get their role from the agent; the role is usable once its policy is attached.
    assert addons["eks-pod-identity-agent"].urn in ebs.depends_on
    assert attachment_urns(plan, "us-east-1-ebs-csi") <= set(ebs.depends_on)
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["metadata"]["name"] == "gp3"
    # Not made the default: the adopted cluster's default class stays what it was.
    assert "annotations" not in storage_class.inputs["metadata"]
    claim = plan.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.inputs["spec"]["storageClassName"] == "gp3"
    assert {storage_class.urn, ebs.urn} <= set(claim.depends_on)


def test_an_adopted_cluster_that_has_everything_gets_nothing_installed(tmp_path):
    has = {"podIdentityAgent": True, "ebsCsiDriver": True, "storageClasses": ["gp3"]}
    plan = plan_config(tmp_path, adopted_config(has=has, cache={"storageClass": "gp3"}))
    assert plan.by_type("aws:eks/addon:Addon") == []
    assert plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass") == []
    assert [r.name for r in plan.by_type("aws:iam/role:Role")] == ["us-east-1-gpu-nodes"]


def test_efs_waits_for_the_pod_identity_agent_the_stack_installs(tmp_path):
    config = adopted_config(install={"podIdentityAgent": True})
    config["vllm-infra:regions"][0]["cluster"]["existing"]["gpuSubnetIds"] = [
        "subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"
    ]  # fmt: skip
    config["vllm-infra:regions"][0]["addons"] = {"efsCsi": True}
    plan = plan_config(tmp_path, config)
    agent = next(a for a in plan.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "eks-pod-identity-agent")
    addons = plan.one("vllm-infra:cluster_addons:ClusterAddons")
    assert agent.urn in addons.depends_on


# --- IAM: every user of a role waits for its policy attachments -----------------------------------------------------

ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def test_cluster_and_node_groups_depend_on_their_roles_policy_attachments(tmp_path):
    plan = plan_config(tmp_path, new_cluster_config())
    cluster = plan.one("aws:eks/cluster:Cluster")
    assert attachment_urns(plan, "eu-west-1-cluster") <= set(cluster.depends_on)
    groups = by_name(plan, "aws:eks/nodeGroup:NodeGroup")
    assert attachment_urns(plan, "eu-west-1-system-nodes") <= set(groups["eu-west-1-system"].depends_on)
    gpu_groups = [g for name, g in groups.items() if name != "eu-west-1-system"]
    assert gpu_groups
    for group in gpu_groups:
        assert attachment_urns(plan, "eu-west-1-gpu-nodes") <= set(group.depends_on), group.name
        # ... and on the created cluster itself (its name is the cluster's output, not a copy of the config).
        assert cluster.urn in group.depends_on, group.name
    ebs = next(a for a in plan.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "aws-ebs-csi-driver")
    assert attachment_urns(plan, "eu-west-1-ebs-csi") <= set(ebs.depends_on)


def test_gpu_node_groups_of_an_adopted_cluster_depend_on_the_node_role_attachments(tmp_path):
    plan = plan_config(tmp_path, single_model_config(gpu={"capacityType": "spot"}))
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 2  # spot and its on-demand fallback
    for group in groups:
        assert attachment_urns(plan, "us-east-1-gpu-nodes") <= set(group.depends_on), group.name


# --- created clusters: endpoint access, CNI takeover, default class -------------------------------------------------


def test_a_created_cluster_endpoint_is_private_by_default_and_the_plan_says_where_pulumi_must_run(tmp_path):
    plan = plan_config(tmp_path, new_cluster_config())
    vpc = plan.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    (warning,) = [w for w in plan.warnings if "private API endpoint" in w]
    assert "inside its VPC" in warning and "cluster.create.publicAccessCidrs" in warning


def test_public_access_cidrs_open_the_endpoint_to_those_ranges_only(tmp_path):
    config = new_cluster_config()
    config["vllm-infra:regions"][0]["cluster"]["create"]["publicAccessCidrs"] = ["52.0.0.0/24", "3.4.5.6/32"]
    plan = plan_config(tmp_path, config)
    vpc = plan.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["endpointPrivateAccess"] is True
    assert vpc["publicAccessCidrs"] == ["52.0.0.0/24", "3.4.5.6/32"]
    assert not [w for w in plan.warnings if "private API endpoint" in w]


def test_a_created_cluster_takes_over_the_bootstrapped_vpc_cni_and_makes_gp3_the_default(tmp_path):
    plan = plan_config(tmp_path, new_cluster_config())
    cni = next(a for a in plan.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni")
    # EKS installs a self-managed VPC CNI into a new cluster; without OVERWRITE the add-on's create conflicts.
    assert cni.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    storage_class = plan.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}


# --- NetworkPolicies on adopted clusters: enforced, or said loudly ---------------------------------------------------


def plan_with_addons(tmp_path, config, addons):
    invokes = default_invokes()
    invokes.answers["aws:eks/getAddon:getAddon"] = eks_addon_answer(addons)
    return plan_stack(str(write_stack(tmp_path, config)), invokes=invokes)


def test_an_adopted_cluster_whose_vpc_cni_enforces_policies_plans_without_a_warning(tmp_path):
    plan = plan_with_addons(tmp_path, single_model_config(), {"vpc-cni": '{"enableNetworkPolicy": "true"}'})
    assert not [w for w in plan.warnings if "NetworkPolicies" in w or "NETWORK POLICIES" in w]


@pytest.mark.parametrize("values", [None, '{"enableNetworkPolicy": "false"}', "env:\n  WARM_IP_TARGET: '5'\n"])
def test_an_adopted_cluster_whose_vpc_cni_ignores_policies_is_warned_about_loudly(tmp_path, values):
    plan = plan_with_addons(tmp_path, single_model_config(), {"vpc-cni": values})
    (warning,) = [w for w in plan.warnings if "NETWORK POLICIES ARE NOT ENFORCED" in w]
    assert "ml-platform" in warning and "enableNetworkPolicy" in warning and "aws eks update-addon" in warning


def test_an_adopted_cluster_without_the_vpc_cni_add_on_is_warned_about(tmp_path):
    plan = plan_with_addons(tmp_path, single_model_config(), {})
    (warning,) = [w for w in plan.warnings if "vpc-cni EKS add-on was not found" in w]
    assert "cluster.existing.has.networkPolicyEnforcement: true" in warning


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["vllm-infra:regions"][0]["cluster"]["existing"].update({"has": {"networkPolicyEnforcement": True}}),
        lambda c: c.update({"vllm-infra:networkPolicies": {"enabled": False}}),
    ],
    ids=["declared-enforced", "no-network-policies"],
)
def test_the_vpc_cni_is_not_checked_when_enforcement_is_declared_or_policies_are_off(tmp_path, change):
    config = copy.deepcopy(single_model_config())
    change(config)
    plan = plan_with_addons(tmp_path, config, {"vpc-cni": None})
    assert not [w for w in plan.warnings if "NETWORK POLICIES" in w or "vpc-cni" in w]


@pytest.mark.parametrize(
    ("values", "enabled"),
    [('{"enableNetworkPolicy": "true"}', True), ("enableNetworkPolicy: 'true'", True),
     ('{"enableNetworkPolicy": "false"}', False), ("", False), (None, False), ("{not json", False)],
)  # fmt: skip
def test_network_policy_enabled_reads_json_or_yaml(values, enabled):
    assert network_policy_enabled(values) is enabled


# --- install never collides with an add-on the cluster already runs ------------------------------------------------


def test_installing_an_add_on_the_cluster_already_runs_fails_the_preview_naming_the_key(tmp_path):
    config = adopted_config(install=INSTALL_ALL, cache={"storageClass": "gp3"})
    with pytest.raises(Exception, match=r"cluster\.existing\.install\.podIdentityAgent") as raised:
        plan_with_addons(tmp_path, config, {"vpc-cni": None, "eks-pod-identity-agent": None})
    message = str(raised.value)
    assert "already runs the eks-pod-identity-agent EKS add-on" in message
    assert "cluster.existing.has.podIdentityAgent: true" in message


def test_the_stacks_own_add_ons_found_on_a_later_run_are_not_refused(tmp_path):
    config = adopted_config(install=INSTALL_ALL, cache={"storageClass": "gp3"})
    invokes = default_invokes()
    invokes.answers["aws:eks/getAddon:getAddon"] = eks_addon_answer(
        {"vpc-cni": '{"enableNetworkPolicy": "true"}', "eks-pod-identity-agent": None, "aws-ebs-csi-driver": None},
        tags={"vllm-infra.io/stack": "vllm-infra/test"},
    )
    plan = plan_stack(str(write_stack(tmp_path, config)), invokes=invokes)
    addons = {a.inputs["addonName"]: a.inputs for a in plan.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert all(a["tags"] == {"vllm-infra.io/stack": "vllm-infra/test"} for a in addons.values())
