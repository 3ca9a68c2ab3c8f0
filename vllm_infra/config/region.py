"""Regions and their EKS clusters: adopt an existing cluster by name, or create one on given subnets."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from vllm_infra.config.addons import EFS_STORAGE_CLASS, AddonsSpec
from vllm_infra.config.base import ConfigModel

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]
RoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")]
# A Kubernetes object name (DNS subdomain), as StorageClass names are.
StorageClassName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]

#: The StorageClass the stack creates on clusters it creates (and on adopted ones with install.gp3StorageClass).
GP3_STORAGE_CLASS = "gp3"


class ExistingClusterHas(ConfigModel):
    """What an adopted cluster already runs, as you declare it: the stack relies on it and never changes it.

    Declaring is the contract that keeps ``pulumi up`` from failing half-way: an EKS add-on or a StorageClass that
    the stack tried to create although it exists fails on AWS (``ResourceInUseException``) or in Kubernetes
    (``AlreadyExists``). Whatever the cluster has goes here; whatever it lacks goes under ``install``.

    Example::

        has:
          podIdentityAgent: true         # the eks-pod-identity-agent add-on runs
          storageClasses: [gp3, gp2]
    """

    pod_identity_agent: bool = Field(
        False, description="The EKS Pod Identity agent runs (the eks-pod-identity-agent add-on or its DaemonSet)."
    )
    ebs_csi_driver: bool = Field(False, description="The EBS CSI driver runs (the aws-ebs-csi-driver add-on or Helm).")
    storage_classes: tuple[StorageClassName, ...] = Field(
        (), description="StorageClasses that exist in the cluster; model caches may name them."
    )
    network_policy_enforcement: bool = Field(
        False,
        description="NetworkPolicies are enforced by something the stack cannot see (Calico, Cilium, a self-managed "
        "VPC CNI with its policy agent): skips the check of the vpc-cni add-on's enableNetworkPolicy.",
    )


class ExistingClusterInstall(ConfigModel):
    """What the stack installs into an adopted cluster (and deletes on ``pulumi destroy``). Each must be absent
    from the cluster: creating an EKS add-on that exists fails on AWS. Declare what exists under ``has`` instead.

    - ``podIdentityAgent``: the ``eks-pod-identity-agent`` EKS add-on, which gives pods the IAM roles of their Pod
      Identity associations (the EBS and EFS CSI drivers' roles);
    - ``ebsCsiDriver``: the ``aws-ebs-csi-driver`` EKS add-on with its IAM role (``AmazonEBSCSIDriverPolicy``,
      through Pod Identity);
    - ``gp3StorageClass``: the StorageClass ``gp3`` (encrypted EBS gp3, bound where the first pod runs; not the
      cluster's default class, which stays whatever it was).

    Example::

        install: {podIdentityAgent: true, ebsCsiDriver: true, gp3StorageClass: true}
    """

    pod_identity_agent: bool = Field(False, description="Install the eks-pod-identity-agent EKS add-on.")
    ebs_csi_driver: bool = Field(False, description="Install the aws-ebs-csi-driver EKS add-on and its IAM role.")
    gp3_storage_class: bool = Field(False, description="Create StorageClass gp3 (needs the EBS CSI driver).")


class ExistingClusterSpec(ConfigModel):
    """An EKS cluster managed elsewhere: looked up by name, never changed. GPU node groups are added to it, and what
    the stack needs but the cluster lacks is installed when ``install`` asks for it.

    Example::

        existing:
          name: ml-platform
          has: {podIdentityAgent: true}
          install: {ebsCsiDriver: true, gp3StorageClass: true}
    """

    name: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")]
    gpu_subnet_ids: tuple[SubnetId, ...] = Field(
        (), description="Subnets of the GPU nodes; empty = the cluster's own subnets."
    )
    has: ExistingClusterHas = Field(
        default_factory=ExistingClusterHas, description="What the cluster already runs (declared, never changed)."
    )
    install: ExistingClusterInstall = Field(
        default_factory=ExistingClusterInstall, description="What the stack installs into the cluster."
    )

    @model_validator(mode="after")
    def _has_or_install(self) -> ExistingClusterSpec:
        problems = []
        for field, what in (("podIdentityAgent", "pod_identity_agent"), ("ebsCsiDriver", "ebs_csi_driver")):
            if getattr(self.has, what) and getattr(self.install, what):
                problems.append(
                    f"install.{field} and has.{field} are both set: installing an EKS add-on the cluster already "
                    f"runs fails on AWS; keep has.{field} (the cluster has it) or install.{field} (it does not)"
                )
        if self.install.gp3_storage_class and GP3_STORAGE_CLASS in self.has.storage_classes:
            problems.append(
                "install.gp3StorageClass is set but has.storageClasses lists gp3: creating a StorageClass that "
                "exists fails; keep one of them"
            )
        if self.install.ebs_csi_driver and not (self.has.pod_identity_agent or self.install.pod_identity_agent):
            problems.append(
                "install.ebsCsiDriver: the driver's IAM role reaches its pods through EKS Pod Identity, which needs "
                "the eks-pod-identity-agent add-on: set install.podIdentityAgent: true (the stack installs it), or "
                "has.podIdentityAgent: true if the cluster already runs it"
            )
        if self.install.gp3_storage_class and not (self.has.ebs_csi_driver or self.install.ebs_csi_driver):
            problems.append(
                "install.gp3StorageClass: volumes of class gp3 are made by the EBS CSI driver (ebs.csi.aws.com): "
                "set install.ebsCsiDriver: true, or has.ebsCsiDriver: true if the cluster already runs it"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def storage_classes(self) -> frozenset[str]:
        """The StorageClasses that exist once the stack is up: declared ones and the one it creates."""
        created = {GP3_STORAGE_CLASS} if self.install.gp3_storage_class else set()
        return frozenset(self.has.storage_classes) | created


class SystemNodesSpec(ConfigModel):
    """The small on-demand node group for cluster add-ons (CoreDNS, the balancer, controllers)."""

    instance_type: str = "m7i.large"
    min_size: int = Field(2, ge=1, le=100)
    max_size: int = Field(4, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> SystemNodesSpec:
        if self.max_size < self.min_size:
            raise ValueError(f"maxSize ({self.max_size}) must be at least minSize ({self.min_size})")
        return self


class NewClusterSpec(ConfigModel):
    """An EKS cluster this stack creates and owns: IAM roles, access entries, control-plane logs, system nodes,
    the VPC CNI (NetworkPolicies enforced), the Pod Identity agent, the EBS CSI driver and a gp3 StorageClass
    (the cluster's default) for model caches.

    The API endpoint is private unless ``publicAccessCidrs`` lists who may reach it from the internet: with a
    private endpoint, ``pulumi up`` must run inside the VPC (or reach it through a VPN, peering, Transit Gateway or
    Direct Connect), since the Kubernetes provider talks to the API server. ``0.0.0.0/0`` leaves IAM authentication
    as the only guard of the control plane and is refused unless ``publicAccessFromAnywhere: true`` says so.

    Example::

        create:
          name: vllm-use1
          subnetIds: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
          publicAccessCidrs: [192.0.2.10/32]     # the CI runner's egress address
    """

    name: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")]
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")] = "1.33"
    subnet_ids: tuple[SubnetId, ...] = Field(min_length=2, description="At least two subnets in different AZs.")
    admin_role_arns: tuple[RoleArn, ...] = Field((), description="IAM roles given cluster-admin access entries.")
    public_access_cidrs: tuple[IPv4Network, ...] = Field(
        (),
        description="Who reaches the API endpoint from the internet; empty = private endpoint only (Pulumi must "
        "then run inside the VPC or reach it through VPN/peering).",
    )
    public_access_from_anywhere: bool = Field(
        False, description="Acknowledge a public endpoint open to 0.0.0.0/0 (guarded by IAM authentication only)."
    )
    system_nodes: SystemNodesSpec = Field(default_factory=SystemNodesSpec)

    @model_validator(mode="before")
    @classmethod
    def _public_endpoint_was_replaced(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("publicEndpoint" in data or "public_endpoint" in data):
            raise ValueError(
                "publicEndpoint was replaced by publicAccessCidrs: list the CIDRs of the machines that run Pulumi "
                "and kubectl (empty = private endpoint only)"
            )
        return data

    @field_validator("public_access_cidrs")
    @classmethod
    def _public_cidrs(cls, cidrs: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        # EKS refuses reserved addresses in public access CIDRs ("The block cannot include reserved addresses":
        # EKS User Guide, "Configure network access to cluster API server endpoint"); machines on private
        # addresses inside the VPC use the private endpoint, which stays on.
        reserved = [str(cidr) for cidr in cidrs if cidr.prefixlen > 0 and not cidr.is_global]
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} is not a public (internet-routable) range; EKS refuses reserved addresses. "
                "Machines inside the VPC reach the private endpoint without it; list public egress addresses only"
            )
        return cidrs

    @model_validator(mode="after")
    def _anywhere_is_acknowledged(self) -> NewClusterSpec:
        anywhere = any(cidr.prefixlen == 0 for cidr in self.public_access_cidrs)
        if anywhere and not self.public_access_from_anywhere:
            raise ValueError(
                "publicAccessCidrs contains 0.0.0.0/0: the Kubernetes API of the cluster would be reachable from the "
                "whole internet, guarded by IAM authentication alone. List your runners' egress CIDRs instead, or "
                "set publicAccessFromAnywhere: true to accept it"
            )
        if self.public_access_from_anywhere and not anywhere:
            raise ValueError(
                "publicAccessFromAnywhere: true only applies with 0.0.0.0/0 in publicAccessCidrs; remove it"
            )
        return self


class ClusterSpec(ConfigModel):
    """Exactly one of ``existing`` (adopt) or ``create`` (own)."""

    existing: ExistingClusterSpec | None = None
    create: NewClusterSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClusterSpec:
        if (self.existing is None) == (self.create is None):
            raise ValueError("set exactly one of cluster.existing (adopt a cluster by name) or cluster.create")
        return self

    @property
    def name(self) -> str:
        """The EKS cluster name."""
        return (self.existing or self.create).name  # type: ignore[union-attr]


class RegionSpec(ConfigModel):
    """One AWS region of the stack and its cluster.

    Example::

        regions:
          - name: us-east-1
            cluster:
              existing:
                name: ml-prod
    """

    name: AwsRegion
    cluster: ClusterSpec
    primary: bool = Field(False, description="multi-region: the region that serves while healthy (failover policy).")
    vpc_cidr: IPv4Network | None = Field(
        None, description="The cluster VPC's CIDR: NetworkPolicies allow the API server and model storage there."
    )
    addons: AddonsSpec = Field(default_factory=AddonsSpec, description="Cluster add-ons this stack installs.")

    @model_validator(mode="after")
    def _efs_needs_subnets(self) -> RegionSpec:
        if self.addons.efs_csi and not self.node_subnet_ids:
            raise ValueError(
                "addons.efsCsi needs the subnets for its mount targets: set cluster.existing.gpuSubnetIds (one per "
                "Availability Zone of the nodes), or create the cluster with cluster.create.subnetIds"
            )
        return self

    @model_validator(mode="after")
    def _storage_classes_are_made_once(self) -> RegionSpec:
        existing = self.cluster.existing
        if self.addons.efs_csi and existing is not None and EFS_STORAGE_CLASS in existing.has.storage_classes:
            raise ValueError(
                f"addons.efsCsi creates StorageClass {EFS_STORAGE_CLASS}, which cluster.existing.has.storageClasses "
                f"says the cluster already has: creating it again fails; drop one of them"
            )
        prometheus_class = self.addons.prometheus_storage_class
        if self.addons.kube_prometheus_stack and prometheus_class and prometheus_class not in self.storage_classes:
            raise ValueError(
                f"addons.prometheusStorageClass: {prometheus_class} is not a StorageClass the stack knows here "
                f"(known: {', '.join(sorted(self.storage_classes)) or 'none'}), so the Prometheus volume would never "
                "bind; name a known one, declare it in cluster.existing.has.storageClasses, or unset it for the "
                "cluster's default class"
            )
        return self

    @model_validator(mode="after")
    def _pod_identity_consumers_have_the_agent(self) -> RegionSpec:
        if self.pod_identity_agent:
            return self
        consumers = self.pod_identity_consumers
        if consumers:
            raise ValueError(
                f"{', '.join(consumers)}: the add-on's IAM role reaches its pods through EKS Pod Identity, which "
                "needs the eks-pod-identity-agent add-on in the cluster: set "
                "cluster.existing.install.podIdentityAgent: true (the stack installs it), "
                "cluster.existing.has.podIdentityAgent: true if the cluster already runs it, or create the cluster "
                f"with cluster.create (which installs it); or set {' and '.join(c + ': false' for c in consumers)}"
            )
        return self

    @property
    def node_subnet_ids(self) -> tuple[str, ...]:
        """The subnets the config names for the cluster's nodes (empty: an adopted cluster's own, looked up)."""
        if self.cluster.create is not None:
            return self.cluster.create.subnet_ids
        return self.cluster.existing.gpu_subnet_ids  # type: ignore[union-attr]

    @property
    def pod_identity_agent(self) -> bool:
        """Whether the cluster runs the EKS Pod Identity agent, without which no Pod Identity association (the IAM
        role of every add-on this library installs) gives its pods credentials: created clusters install it; an
        adopted cluster has it (``cluster.existing.has.podIdentityAgent``) or gets it
        (``cluster.existing.install.podIdentityAgent``).

        >>> RegionSpec.model_validate({"name": "us-east-1", "cluster": {"existing": {
        ...     "name": "ml", "install": {"podIdentityAgent": True}}}}).pod_identity_agent
        True
        """
        existing = self.cluster.existing
        if existing is None:
            return True
        return existing.has.pod_identity_agent or existing.install.pod_identity_agent

    @property
    def pod_identity_consumers(self) -> list[str]:
        """The config keys (relative to the region) of what this stack installs with a Pod Identity IAM role."""
        # Add-ons left unset (None) only default to on for created clusters, which run the agent: the explicit
        # values seen here are the ones that can lack it.
        return [f"addons.{key}" for key in self.addons.pod_identity_addons]

    @property
    def storage_classes(self) -> frozenset[str]:
        """The StorageClasses a model cache may name in this region: those the stack creates (gp3 on a created
        cluster or with ``install.gp3StorageClass``, efs-sc with ``addons.efsCsi``) and those declared in
        ``cluster.existing.has.storageClasses``."""
        classes = {EFS_STORAGE_CLASS} if self.addons.efs_csi else set()
        if self.cluster.create is not None:
            classes.add(GP3_STORAGE_CLASS)
        else:
            classes |= self.cluster.existing.storage_classes  # type: ignore[union-attr]
        return frozenset(classes)

    def storage_class_problems(self, region_index: int, cache_classes: Sequence[str | None]) -> list[str]:
        """One message per model whose ``cache.storageClass`` (``cache_classes[i]`` for ``models[i]``) would not
        exist in this region: its claim would stay Pending and ``pulumi up`` would wait for it until it times out.

        A cache without a class uses the cluster's default class, which is not checked (EKS clusters of 1.30 and
        later have none unless someone made one).
        """
        problems = []
        available = self.storage_classes
        where = f"vllm-infra:regions[{region_index}]"
        for index, storage_class in enumerate(cache_classes):
            if storage_class is None or storage_class in available:
                continue
            known = ", ".join(sorted(available)) or "none"
            if self.cluster.create is not None:
                fix = (
                    f"a created cluster has {GP3_STORAGE_CLASS} (EBS) and, with {where}.addons.efsCsi, "
                    f"{EFS_STORAGE_CLASS}: name one of them"
                )
            else:
                fix = (
                    f"if cluster {self.cluster.name} has it, declare it in "
                    f"{where}.cluster.existing.has.storageClasses; "
                    f"to have the stack create {GP3_STORAGE_CLASS}, set {where}.cluster.existing.install."
                    "gp3StorageClass: true with install.ebsCsiDriver and install.podIdentityAgent (or has.ebsCsiDriver "
                    f"/ has.podIdentityAgent for what the cluster already runs); for {EFS_STORAGE_CLASS}, set "
                    f"{where}.addons.efsCsi: true"
                )
            problems.append(
                f"vllm-infra:models[{index}].cache.storageClass: {storage_class} is not a StorageClass the stack "
                f"knows in region {self.name} (known: {known}), so the cache's claim would never bind; {fix}"
            )
        return problems
