"""Regions and their EKS clusters: adopt an existing cluster by name, or create one on given subnets."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from vllm_infra.config.addons import AddonsSpec
from vllm_infra.config.base import ConfigModel

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]
RoleArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")]


class ExistingClusterSpec(ConfigModel):
    """An EKS cluster managed elsewhere: looked up by name, never changed. GPU node groups are added to it."""

    name: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")]
    gpu_subnet_ids: tuple[SubnetId, ...] = Field(
        (), description="Subnets of the GPU nodes; empty = the cluster's own subnets."
    )


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
    the EBS CSI driver and a gp3 StorageClass for model caches."""

    name: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")]
    kubernetes_version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]{2}$")] = "1.33"
    subnet_ids: tuple[SubnetId, ...] = Field(min_length=2, description="At least two subnets in different AZs.")
    admin_role_arns: tuple[RoleArn, ...] = Field((), description="IAM roles given cluster-admin access entries.")
    public_endpoint: bool = Field(False, description="Expose the API endpoint publicly (private is the default).")
    system_nodes: SystemNodesSpec = Field(default_factory=SystemNodesSpec)


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

    @property
    def node_subnet_ids(self) -> tuple[str, ...]:
        """The subnets the config names for the cluster's nodes (empty: an adopted cluster's own, looked up)."""
        if self.cluster.create is not None:
            return self.cluster.create.subnet_ids
        return self.cluster.existing.gpu_subnet_ids  # type: ignore[union-attr]

    @property
    def pod_identity_agent(self) -> bool:
        """Whether the cluster runs the EKS Pod Identity agent, without which no Pod Identity association (the IAM
        role of every add-on this library installs) gives its pods credentials. Created clusters install it."""
        return self.cluster.create is not None
