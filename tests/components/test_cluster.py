"""RegionalCluster: adopting or creating the EKS cluster, and the providers of the region."""

from __future__ import annotations

import json

from tests.plans import plan_config, single_model_config

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
    policies = {a.inputs["policyArn"].rsplit("/", 1)[-1] for a in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"} <= policies
