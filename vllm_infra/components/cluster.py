"""``RegionalCluster``: one region's EKS cluster (adopted or created) and the providers every component there uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from vllm_infra.components.aws_iam import service_role
from vllm_infra.config.region import ClusterSpec, NewClusterSpec

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"]
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


def kubeconfig(cluster_name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str],
               region: str) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with ``aws eks get-token`` (exec plugin): no long-lived token in the state."""
    def render(values: list) -> str:
        name, server, certificate = values
        return json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": certificate}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                "interactiveMode": "Never",
            }}}],
        })  # fmt: skip

    return pulumi.Output.all(cluster_name, endpoint, ca_data).apply(render)


@dataclass
class RegionalClusterArgs:
    """Inputs of ``RegionalCluster``: the region and ``cluster`` (``existing`` to adopt by name, ``create`` to own).

    ``tags`` are applied to every AWS resource through the region's provider (``default_tags``).
    """

    region: str
    cluster: ClusterSpec
    tags: dict[str, str] = field(default_factory=dict)


class RegionalCluster(pulumi.ComponentResource):
    """One region's EKS cluster and its providers.

    Provisions an ``aws.Provider`` for the region; either looks up an existing cluster (never managed) or creates one
    (IAM role, private endpoint, access entries for admin roles, all control-plane logs, a system node group, the
    Pod Identity agent and EBS CSI driver add-ons, and an encrypted gp3 StorageClass); a role for GPU nodes; and a
    Kubernetes provider with ``aws eks get-token`` auth. Every Kubernetes component of the region is given
    ``k8s_provider`` explicitly, so nothing falls back to an ambient kubeconfig.

    Example::

        cluster = RegionalCluster("us-east-1", RegionalClusterArgs(
            region="us-east-1", cluster=ClusterSpec(existing=ExistingClusterSpec(name="ml-prod"))))
        VllmDeployment(..., opts=pulumi.ResourceOptions(provider=cluster.k8s_provider))
    """

    aws_provider: aws.Provider
    k8s_provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: RegionalClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:cluster:RegionalCluster", name, None, opts)
        self.aws_provider = aws.Provider(
            f"{name}-aws",
            region=args.region,
            default_tags={"tags": {"managed-by": "pulumi", "app": "vllm-infra", **args.tags}},
            opts=pulumi.ResourceOptions(parent=self),
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=self.aws_provider)).partition

        if args.cluster.create is not None:
            endpoint, ca_data, self.subnet_ids, ready = self._create_cluster(name, args.cluster.create, partition)
            self.cluster_name = pulumi.Output.from_input(args.cluster.create.name)
        else:
            existing = args.cluster.existing
            found = aws.eks.get_cluster_output(
                name=existing.name, opts=pulumi.InvokeOutputOptions(provider=self.aws_provider)
            )
            endpoint, ca_data = found.endpoint, found.certificate_authorities[0].data
            self.cluster_name = found.name
            self.subnet_ids = (
                pulumi.Output.from_input(list(existing.gpu_subnet_ids))
                if existing.gpu_subnet_ids
                else found.vpc_config.subnet_ids
            )
            ready = []

        node_role = service_role(
            f"{name}-gpu-nodes", "ec2.amazonaws.com", NODE_POLICIES, partition, parent=self, provider=self.aws_provider
        )
        self.node_role_arn = node_role.arn
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig(self.cluster_name, endpoint, ca_data, args.region),
            # Names the cluster independently of the kubeconfig text, so a kubeconfig change (endpoint rotation,
            # credentials) does not replace every Kubernetes resource of the region.
            cluster_identifier=f"eks/{args.region}/{args.cluster.name}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        if args.cluster.create is not None:
            self._storage_class(name)
        self.register_outputs(
            {"cluster_name": self.cluster_name, "node_role_arn": self.node_role_arn, "region": args.region}
        )

    def _create_cluster(self, name: str, spec: NewClusterSpec, partition: pulumi.Output[str]):
        aws_opts = pulumi.ResourceOptions(parent=self, provider=self.aws_provider)
        cluster_role = service_role(
            f"{name}-cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"], partition,
            tag_session=True, parent=self, provider=self.aws_provider,
        )  # fmt: skip
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=spec.name,
            role_arn=cluster_role.arn,
            version=spec.kubernetes_version,
            vpc_config={
                "subnet_ids": list(spec.subnet_ids),
                "endpoint_private_access": True,
                "endpoint_public_access": spec.public_endpoint,
            },
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            opts=aws_opts,
        )
        for index, role_arn in enumerate(spec.admin_role_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{index}", cluster_name=cluster.name, principal_arn=role_arn, type="STANDARD",
                opts=aws_opts,
            )  # fmt: skip
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{index}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=pulumi.Output.concat(
                    "arn:", partition, ":eks::aws:cluster-access-policy/", CLUSTER_ADMIN_POLICY
                ),
                access_scope={"type": "cluster"},
                opts=aws_opts,
            )
        system_role = service_role(
            f"{name}-system-nodes", "ec2.amazonaws.com", NODE_POLICIES, partition, parent=self,
            provider=self.aws_provider,
        )  # fmt: skip
        system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_group_name_prefix="system-",
            node_role_arn=system_role.arn,
            subnet_ids=list(spec.subnet_ids),
            instance_types=[spec.system_nodes.instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            scaling_config={
                "min_size": spec.system_nodes.min_size,
                "max_size": spec.system_nodes.max_size,
                "desired_size": spec.system_nodes.min_size,
            },
            update_config={"max_unavailable": 1},
            labels={"vllm-infra.io/node-role": "system"},
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.aws_provider, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name="vpc-cni",
            # The stack's NetworkPolicies are inert unless the VPC CNI's network-policy agent enforces them.
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_update="PRESERVE",
            opts=pulumi.ResourceOptions(parent=self, provider=self.aws_provider),
        )
        aws.eks.Addon(
            f"{name}-pod-identity-agent", cluster_name=cluster.name, addon_name="eks-pod-identity-agent",
            opts=pulumi.ResourceOptions(parent=self, provider=self.aws_provider, depends_on=[system_nodes]),
        )  # fmt: skip
        ebs_role = service_role(
            f"{name}-ebs-csi", "pods.eks.amazonaws.com", ["service-role/AmazonEBSCSIDriverPolicy"], partition,
            tag_session=True, parent=self, provider=self.aws_provider,
        )  # fmt: skip
        ebs_addon = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster.name,
            addon_name="aws-ebs-csi-driver",
            pod_identity_associations=[{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}],
            opts=pulumi.ResourceOptions(parent=self, provider=self.aws_provider, depends_on=[system_nodes]),
        )
        return (
            cluster.endpoint,
            cluster.certificate_authority.data,
            pulumi.Output.from_input(list(spec.subnet_ids)),
            [cluster, ebs_addon],
        )

    def _storage_class(self, name: str) -> None:
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={"name": "gp3", "labels": {"app.kubernetes.io/part-of": "vllm-infra"}},
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            # Bind where the first consumer (the pre-warm Job, placed on the model's GPU nodes) runs.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider),
        )
