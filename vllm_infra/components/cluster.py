"""``RegionalCluster``: one region's EKS cluster (adopted or created) and the providers every component there uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from vllm_infra.components.aws_iam import ServiceRole, service_role
from vllm_infra.components.options import child_options
from vllm_infra.config.region import GP3_STORAGE_CLASS, ClusterSpec, ExistingClusterSpec, NewClusterSpec
from vllm_infra.kube.labels import part_of_labels

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"]
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
PART_OF = part_of_labels()
#: Tags the EKS add-ons the stack installs with ``<project>/<stack>``: a later preview tells its own add-on from one
#: that was in the cluster before.
OWNER_TAG = "vllm-infra.io/stack"
POD_IDENTITY_AGENT_ADDON = "eks-pod-identity-agent"
EBS_CSI_ADDON = "aws-ebs-csi-driver"
# Marks the default StorageClass (Kubernetes: "Change the default StorageClass").
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def kubeconfig(
    cluster_name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
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


def network_policy_enabled(configuration_values: str | None) -> bool:
    """Whether a vpc-cni add-on's configuration values turn its network-policy agent on (``enableNetworkPolicy``).

    EKS takes the values as JSON or YAML; the schema of the vpc-cni add-on types the flag as the string
    ``"true"``/``"false"`` (``aws eks describe-addon-configuration --addon-name vpc-cni``). Unset means off.

    >>> network_policy_enabled('{"enableNetworkPolicy": "true"}'), network_policy_enabled(None)
    (True, False)
    """
    if not configuration_values:
        return False
    try:
        values = yaml.safe_load(configuration_values)
    except yaml.YAMLError:
        return False
    flag = values.get("enableNetworkPolicy") if isinstance(values, dict) else None
    return flag is True or str(flag).lower() == "true"


@dataclass
class RegionalClusterArgs:
    """Inputs of ``RegionalCluster``.

    Example::

        RegionalClusterArgs(region="us-east-1", cluster=ClusterSpec(existing=ExistingClusterSpec(name="ml-prod")))
    """

    region: str
    """The AWS region (``vllm-infra:regions[].name``): the region of the component's ``aws.Provider``."""
    cluster: ClusterSpec
    """The cluster (``vllm-infra:regions[].cluster``): ``existing`` to adopt one by name (never changed, except for
    what ``existing.install`` asks for), or ``create`` to own a new one."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags applied to every AWS resource through the region's provider (``default_tags``), beside ``managed-by``
    and ``app``; none by default."""
    check_network_policies: bool = False
    """The stack relies on NetworkPolicies (``vllm-infra:networkPolicies.enabled``). For an adopted cluster the
    ``vpc-cni`` add-on is then looked up and ``pulumi preview`` warns when its network-policy agent is off (the
    policies would be inert) or when it cannot be checked; ``cluster.existing.has.networkPolicyEnforcement`` skips
    the check. Created clusters always enforce them. False by default: no lookup for a stack without policies."""


class RegionalCluster(pulumi.ComponentResource):
    """One region's EKS cluster and its providers.

    Provisions an ``aws.Provider`` for the region; either looks up an existing cluster or creates one (IAM role,
    private endpoint unless ``publicAccessCidrs`` opens it, access entries for admin roles, all control-plane logs,
    a system node group, the VPC CNI with NetworkPolicies enforced, the Pod Identity agent and EBS CSI driver
    add-ons, and an encrypted gp3 StorageClass, the cluster's default); a role for GPU nodes; and a Kubernetes
    provider with ``aws eks get-token`` auth. An existing cluster is never changed, except for what
    ``cluster.existing.install`` asks for (the Pod Identity agent, the EBS CSI driver, a gp3 StorageClass). Every
    Kubernetes component of the region is given ``k8s_provider`` explicitly, so nothing falls back to an ambient
    kubeconfig.

    Outputs for the region's other components: ``cluster_name`` (carries the created cluster as a dependency),
    ``node_role_arn`` with ``node_role_ready`` (the role and its policy attachments: GPU node groups depend on them),
    ``pod_identity_ready`` (what an add-on with a Pod Identity role waits for: the agent, where the stack installs
    it) and ``storage_ready`` (what a cache claim of the gp3 class waits for).

    Example::

        cluster = RegionalCluster("us-east-1", RegionalClusterArgs(
            region="us-east-1", cluster=ClusterSpec(existing=ExistingClusterSpec(name="ml-prod"))))
        GpuNodeGroup(..., opts=pulumi.ResourceOptions(provider=cluster.aws_provider,
                                                      depends_on=cluster.node_role_ready))
        VllmDeployment(..., opts=pulumi.ResourceOptions(provider=cluster.k8s_provider))
    """

    args: RegionalClusterArgs
    """The inputs the component was built from."""
    aws_provider: aws.Provider
    """The region's AWS provider (with the default tags)."""
    k8s_provider: k8s.Provider
    """The cluster's Kubernetes provider (``aws eks get-token`` auth)."""
    cluster_name: pulumi.Output[str]
    """The EKS cluster's name; for a created cluster it carries the cluster as a dependency."""
    node_role_arn: pulumi.Output[str]
    """The IAM role GPU nodes run as."""
    node_role_ready: list[pulumi.Resource]
    """The node role and its policy attachments: what a GPU node group waits for."""
    pod_identity_ready: list[pulumi.Resource]
    """What an add-on with a Pod Identity role waits for: the agent, where the stack installs it."""
    storage_ready: list[pulumi.Resource]
    """What a cache claim of the gp3 class waits for: the EBS CSI driver and the StorageClass, where installed."""
    subnet_ids: pulumi.Output[list[str]]
    """The subnets GPU node groups go to."""

    def __init__(self, name: str, args: RegionalClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:cluster:RegionalCluster", name, None, opts)
        self.args = args
        self._name, self._opts = name, opts
        self._owner_tags = {OWNER_TAG: f"{pulumi.get_project()}/{pulumi.get_stack()}"}
        self.aws_provider = aws.Provider(
            f"{name}-aws",
            region=args.region,
            default_tags={"tags": {"managed-by": "pulumi", "app": "vllm-infra", **args.tags}},
            opts=child_options(self, opts),
        )
        self._aws_opts = self._child(provider=self.aws_provider)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=self.aws_provider)).partition
        self.pod_identity_ready, self.storage_ready = [], []

        if args.cluster.create is not None:
            endpoint, ca_data, ready = self._create_cluster(name, args.cluster.create, partition)
            self.subnet_ids = pulumi.Output.from_input(list(args.cluster.create.subnet_ids))
        else:
            existing = args.cluster.existing
            assert existing is not None  # ClusterSpec: exactly one of existing or create
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
            self._install_into_existing(name, existing, partition)
            ready = []
            if args.check_network_policies and not existing.has.network_policy_enforcement:
                self._warn_unless_network_policies_enforced(existing.name)

        node_role = service_role(
            f"{name}-gpu-nodes", "ec2.amazonaws.com", NODE_POLICIES, partition, opts=self._aws_opts
        )
        self.node_role_arn = node_role.arn
        self.node_role_ready = node_role.ready
        self.k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig(self.cluster_name, endpoint, ca_data, args.region),
            # Names the cluster independently of the kubeconfig text, so a kubeconfig change (endpoint rotation,
            # credentials) does not replace every Kubernetes resource of the region.
            cluster_identifier=f"eks/{args.region}/{args.cluster.name}",
            opts=self._child(depends_on=ready),
        )
        if args.cluster.create is not None:
            self.storage_ready.append(self._storage_class(name, default=True))
        elif args.cluster.existing.install.gp3_storage_class:  # type: ignore[union-attr]
            self.storage_ready.append(self._storage_class(name, default=False))
        self.register_outputs(
            {"cluster_name": self.cluster_name, "node_role_arn": self.node_role_arn, "region": args.region,
             "subnet_ids": self.subnet_ids}
        )  # fmt: skip

    def _child(self, **extra) -> pulumi.ResourceOptions:
        # Children wait for what the component was told to wait for, and inherit its providers as children.
        return child_options(self, self._opts, **extra)

    def _create_cluster(self, name: str, spec: NewClusterSpec, partition: pulumi.Output[str]):
        aws_opts = self._aws_opts
        cluster_role = service_role(
            f"{name}-cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"], partition,
            tag_session=True, opts=self._aws_opts,
        )  # fmt: skip
        public_cidrs = [str(cidr) for cidr in spec.public_access_cidrs]
        vpc_config: dict = {
            "subnet_ids": list(spec.subnet_ids),
            "endpoint_private_access": True,
            "endpoint_public_access": bool(public_cidrs),
        }
        if public_cidrs:
            # Without the list EKS opens the public endpoint to 0.0.0.0/0.
            vpc_config["public_access_cidrs"] = public_cidrs
        else:
            pulumi.log.warn(
                f"cluster {spec.name} ({name}) gets a private API endpoint only: `pulumi up` must run inside its VPC, "
                "or reach it through a VPN, VPC peering, Transit Gateway or Direct Connect — elsewhere the Kubernetes "
                "provider cannot connect and every Kubernetes resource waits until it times out. To run Pulumi from "
                "outside, list the runner's public egress CIDRs in cluster.create.publicAccessCidrs",
                resource=self,
            )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=spec.name,
            role_arn=cluster_role.arn,
            version=spec.kubernetes_version,
            vpc_config=vpc_config,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            # EKS checks the role's permissions on create and needs them to delete the cluster's ENIs on destroy.
            opts=self._child(provider=self.aws_provider, depends_on=cluster_role.ready),
        )
        # The created cluster as a dependency: node groups and add-ons that take the name wait for it to exist.
        self.cluster_name = cluster.name
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
            f"{name}-system-nodes", "ec2.amazonaws.com", NODE_POLICIES, partition, opts=self._aws_opts,
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
            opts=self._child(
                provider=self.aws_provider, ignore_changes=["scalingConfig.desiredSize"], depends_on=system_role.ready
            ),
        )
        aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name="vpc-cni",
            # The stack's NetworkPolicies are inert unless the VPC CNI's network-policy agent enforces them.
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            # EKS bootstraps a self-managed VPC CNI into a new cluster (CreateCluster bootstrapSelfManagedAddons,
            # default true); with NONE "creation of the add-on might fail" on the differing values, OVERWRITE takes
            # it over (EKS API Reference, CreateAddon resolveConflicts).
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="PRESERVE",
            opts=aws_opts,
        )
        agent = self._pod_identity_agent(name, cluster.name, depends_on=[system_nodes])
        ebs_addon = self._ebs_csi_driver(name, cluster.name, partition, depends_on=[system_nodes, agent])
        return cluster.endpoint, cluster.certificate_authority.data, [cluster, ebs_addon]

    def _install_into_existing(self, name: str, spec: ExistingClusterSpec, partition: pulumi.Output[str]) -> None:
        # Only what `install` asks for; the validator made sure none of it is declared as present under `has`.
        self._refuse_addons_installed_elsewhere(spec)
        agent = None
        if spec.install.pod_identity_agent:
            agent = self._pod_identity_agent(name, self.cluster_name, depends_on=[])
        if spec.install.ebs_csi_driver:
            # Claims wait for the driver (storage_ready); the rest of the region's Kubernetes objects need not.
            self._ebs_csi_driver(name, self.cluster_name, partition, depends_on=[agent] if agent else [])

    def _pod_identity_agent(
        self, name: str, cluster_name: pulumi.Input[str], depends_on: list[pulumi.Resource]
    ) -> aws.eks.Addon:
        agent = aws.eks.Addon(
            f"{name}-pod-identity-agent", cluster_name=cluster_name, addon_name=POD_IDENTITY_AGENT_ADDON,
            tags=self._owner_tags, opts=self._child(provider=self.aws_provider, depends_on=depends_on),
        )  # fmt: skip
        self.pod_identity_ready.append(agent)
        return agent

    def _ebs_csi_driver(
        self, name: str, cluster_name: pulumi.Input[str], partition: pulumi.Output[str],
        depends_on: list[pulumi.Resource],
    ) -> aws.eks.Addon:  # fmt: skip
        ebs_role: ServiceRole = service_role(
            f"{name}-ebs-csi", "pods.eks.amazonaws.com", [EBS_CSI_POLICY], partition,
            tag_session=True, opts=self._aws_opts,
        )  # fmt: skip
        addon = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster_name,
            addon_name=EBS_CSI_ADDON,
            tags=self._owner_tags,
            pod_identity_associations=[{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}],
            # The controller's first calls need the policy attached; the add-on outlives neither.
            opts=self._child(provider=self.aws_provider, depends_on=[*depends_on, *ebs_role.ready]),
        )
        self.storage_ready.append(addon)
        return addon

    def _storage_class(self, name: str, *, default: bool) -> k8s.storage.v1.StorageClass:
        metadata: dict = {"name": GP3_STORAGE_CLASS, "labels": dict(PART_OF)}
        if default:
            # On a cluster the stack owns, claims without a class (the Prometheus volume) get gp3 too: EKS 1.30 and
            # later create no default class.
            metadata["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
        return k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=metadata,
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            # Bind where the first consumer (the pre-warm Job, placed on the model's GPU nodes) runs.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=self._child(provider=self.k8s_provider),
        )

    def _find_addon(self, cluster_name: str, addon_name: str) -> tuple[aws.eks.GetAddonResult | None, str]:
        # A plain (blocking) invoke, so that an absent add-on (the data source fails) can be told apart from an
        # error of the program. Returns the add-on, or None and the reason.
        try:
            return aws.eks.get_addon(
                cluster_name=cluster_name, addon_name=addon_name,
                opts=pulumi.InvokeOptions(provider=self.aws_provider),
            ), ""  # fmt: skip
        except Exception as error:  # noqa: BLE001 (absent, or not readable: either way not found)
            return None, str(error)

    def _refuse_addons_installed_elsewhere(self, spec: ExistingClusterSpec) -> None:
        # Creating an EKS add-on that exists fails in the middle of `pulumi up` (ResourceInUseException); said at
        # preview time, with the key that fixes it. The stack's own add-on (a later run) carries its owner tag.
        wanted = [
            ("podIdentityAgent", POD_IDENTITY_AGENT_ADDON, spec.install.pod_identity_agent),
            ("ebsCsiDriver", EBS_CSI_ADDON, spec.install.ebs_csi_driver),
        ]
        for key, addon_name, install in wanted:
            if not install:
                continue
            found, _ = self._find_addon(spec.name, addon_name)
            if found is not None and (found.tags or {}).get(OWNER_TAG) != self._owner_tags[OWNER_TAG]:
                raise pulumi.RunError(
                    f"cluster.existing.install.{key} ({self._name}): cluster {spec.name} already runs the "
                    f"{addon_name} EKS add-on, not created by this stack, and creating it again fails on AWS. "
                    f"Declare it instead: cluster.existing.has.{key}: true, and remove install.{key}"
                )

    def _warn_unless_network_policies_enforced(self, cluster_name: str) -> None:
        # The lookup fails when the cluster runs the VPC CNI self-managed, or another CNI.
        addon, reason = self._find_addon(cluster_name, "vpc-cni")
        if addon is None:
            pulumi.log.warn(
                f"cluster {cluster_name} ({self._name}): the vpc-cni EKS add-on was not found ({reason}), so nothing "
                "checks that the stack's NetworkPolicies are enforced — with a self-managed VPC CNI they are only if "
                "its network-policy agent runs (enableNetworkPolicy). If Calico, Cilium or the agent enforce them, "
                "declare cluster.existing.has.networkPolicyEnforcement: true",
                resource=self,
            )
            return
        if not network_policy_enabled(addon.configuration_values):
            pulumi.log.warn(
                f"NETWORK POLICIES ARE NOT ENFORCED on cluster {cluster_name} ({self._name}): its vpc-cni add-on runs "
                "without enableNetworkPolicy, so the stack's default-deny NetworkPolicies are accepted but inert and "
                "every pod can reach the vLLM pods and their API key. Turn the agent on (it keeps the add-on's other "
                f"values only if you pass them too): aws eks update-addon --cluster-name {cluster_name} --addon-name "
                'vpc-cni --configuration-values \'{"enableNetworkPolicy": "true"}\'',
                resource=self,
            )
