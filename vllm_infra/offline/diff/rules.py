"""Replacement rules: which property changes make a provider replace a resource, and the reason shown for it.

Replacements are predicted from the providers' own force-new rules (tables below, each with its source): a change to
an immutable Kubernetes field, or to an AWS property the Terraform AWS provider marks ``ForceNew``. They are what a
reviewer must see first: a replaced Deployment with a fixed name is deleted before its successor exists, and a
replaced or deleted protected model cache makes ``pulumi up`` fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vllm_infra.kube.gvk import group_version_kind
from vllm_infra.offline.diff.model import PropertyChange
from vllm_infra.offline.diff.paths import Segment, is_prefix, parse_path, values_at
from vllm_infra.offline.diff.values import canonical

#: Between what a replacement reason claims and where the rule comes from: ``"spec.selector is immutable: <source>"``.
#: The text and markdown renderers print the source once, as a numbered note, not on every line.
REASON_SOURCE_SEPARATOR = ": "


@dataclass(frozen=True)
class ForceNew:
    """A property whose change makes the provider replace the resource.

    ``when``: ``"changed"`` (any change), ``"removed"`` (set before, absent or empty now), ``"changed_from_set"``
    (changed away from a non-empty value; setting it for the first time is in place). ``source`` cites where the
    rule comes from.
    """

    path: str
    source: str
    when: str = "changed"

    @property
    def segments(self) -> list[Segment]:
        """``path`` parsed into segments."""
        return parse_path(self.path)


_K8S_SOURCE = "pulumi-kubernetes v4 forceNew table, provider/pkg/provider/diff.go"
_TF_NODE_GROUP = "ForceNew in terraform-provider-aws internal/service/eks/node_group.go"
_TF_CLUSTER = "ForceNew in terraform-provider-aws internal/service/eks/cluster.go"
_TF_CLUSTER_DIFF = "CustomizeDiff in terraform-provider-aws internal/service/eks/cluster.go"
_TF_ADDON = "ForceNew in terraform-provider-aws internal/service/eks/addon.go"
# Terraform AWS provider v6 (which pulumi-aws v7 bridges) injects a top-level `region` argument into every regional
# resource and replaces the resource when it changes (internal/provider/sdkv2 forceNewIfRegionChanges).
_TF_REGION = ForceNew("region", "forceNewIfRegionChanges in terraform-provider-aws v6 (enhanced region support)")


def _k8s(*paths: str, source: str = _K8S_SOURCE) -> tuple[ForceNew, ...]:
    return tuple(ForceNew(path, source) for path in paths)


_LABEL_SELECTOR = ("spec.selector",)  # the table lists matchLabels/matchExpressions too: all under spec.selector
_CONTAINER_FIELDS = (
    "args", "command", "env", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "ports", "readinessProbe",
    "resources", "securityContext", "stdin", "stdinOnce", "terminationMessagePath", "terminationMessagePolicy", "tty",
    "volumeDevices", "volumeMounts", "workingDir",
)  # fmt: skip
_POD_FIELDS = (
    "affinity", "automountServiceAccountToken", "dnsConfig", "dnsPolicy", "enableServiceLinks", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostname", "imagePullSecrets", "nodeName", "nodeSelector", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "restartPolicy", "runtimeClassName",
    "schedulerName", "securityContext", "serviceAccount", "serviceAccountName", "shareProcessNamespace", "subdomain",
    "terminationGracePeriodSeconds", "volumes",
)  # fmt: skip
_PV_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flexVolume", "flocker",
    "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs", "photonPersistentDisk", "portworxVolume",
    "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)  # fmt: skip

#: Every Kubernetes object is replaced when its name or namespace changes.
KUBERNETES_METADATA_FORCE_NEW = _k8s("metadata.name", "metadata.namespace")

#: Immutable fields by (API group, version, kind), as pulumi-kubernetes v4 decides replacements. policy/v1
#: PodDisruptionBudget is absent on purpose: PDBs are mutable since Kubernetes 1.15 (kubernetes/kubernetes#69867),
#: and the provider only replaces policy/v1beta1 ones. Services are replaced only for spec.clusterIP (spec.type
#: changes are in-place updates).
#: PVC storage requests are updated in place (volume expansion); shrinking one is rejected by the API server
#: ("field can not be less than previous value"), which ``diff_plans`` reports as an error rather than a replacement.
#: Secret and ConfigMap data follow the provider's defaults (enableSecretMutable / enableConfigMapMutable off).
KUBERNETES_FORCE_NEW: dict[tuple[str, str, str], tuple[ForceNew, ...]] = {
    **{("apps", version, kind): _k8s(*_LABEL_SELECTOR)
       for version in ("v1", "v1beta2") for kind in ("Deployment", "DaemonSet")},
    **{("apps", version, "StatefulSet"): _k8s(
        "spec.podManagementPolicy", "spec.revisionHistoryLimit", *_LABEL_SELECTOR, "spec.serviceName",
        "spec.volumeClaimTemplates") for version in ("v1", "v1beta1", "v1beta2")},
    **{("batch", version, "Job"): _k8s("spec.completions", "spec.parallelism", *_LABEL_SELECTOR, "spec.template")
       for version in ("v1", "v1beta1", "v2alpha1")},
    ("policy", "v1beta1", "PodDisruptionBudget"): _k8s("spec"),
    ("core", "v1", "PersistentVolumeClaim"): _k8s(
        "spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    ("core", "v1", "PersistentVolume"): _k8s(*(f"spec.{source}" for source in _PV_SOURCES)),
    ("core", "v1", "Pod"): _k8s(
        *(f"spec.{name}" for name in _POD_FIELDS),
        *(f"spec.{kind}[*].{name}" for kind in ("containers", "initContainers") for name in _CONTAINER_FIELDS)),
    ("core", "v1", "ResourceQuota"): _k8s("spec.scopes"),
    ("core", "v1", "Secret"): _k8s("type", "stringData", "data"),
    ("core", "v1", "ConfigMap"): _k8s("data", "binaryData"),
    ("core", "v1", "Service"): _k8s("spec.clusterIP"),
    ("storage.k8s.io", "v1", "StorageClass"): _k8s("parameters", "provisioner"),
    **{("rbac.authorization.k8s.io", version, kind): _k8s("roleRef")
       for version in ("v1", "v1beta1", "v1alpha1") for kind in ("RoleBinding", "ClusterRoleBinding")},
}  # fmt: skip

#: AWS properties (pulumi-aws v7 input names) whose change replaces the resource, per the Terraform AWS provider it
#: bridges. Not listed, hence in place: NodeGroup scalingConfig.*, labels, taints, version, releaseVersion,
#: launchTemplate.version, updateConfig; Cluster version, vpcConfig.* (subnetIds and securityGroupIds are updatable
#: in place since terraform-provider-aws 5.25.0, PR #34209), enabledClusterLogTypes, accessConfig.authenticationMode.
AWS_FORCE_NEW: dict[str, tuple[ForceNew, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": (
        *(ForceNew(path, _TF_NODE_GROUP) for path in (
            "amiType", "capacityType", "clusterName", "diskSize", "instanceTypes", "launchTemplate.id",
            "launchTemplate.name", "nodeGroupName", "nodeGroupNamePrefix", "nodeRoleArn", "remoteAccess",
            "subnetIds")),
        _TF_REGION,
    ),
    "aws:eks/cluster:Cluster": (
        *(ForceNew(path, _TF_CLUSTER) for path in (
            "name", "roleArn", "bootstrapSelfManagedAddons", "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "kubernetesNetworkConfig.ipFamily", "kubernetesNetworkConfig.serviceIpv4Cidr",
            "outpostConfig.controlPlaneInstanceType", "outpostConfig.controlPlanePlacement.groupName",
            "remoteNetworkConfig")),
        # CustomizeDiff: envelope encryption cannot be disabled once enabled; an Auto Mode node role can be added in
        # place but not swapped.
        ForceNew("encryptionConfig", _TF_CLUSTER_DIFF, when="removed"),
        ForceNew("computeConfig.nodeRoleArn", _TF_CLUSTER_DIFF, when="changed_from_set"),
        _TF_REGION,
    ),
    "aws:eks/addon:Addon": (ForceNew("addonName", _TF_ADDON), ForceNew("clusterName", _TF_ADDON), _TF_REGION),
}  # fmt: skip

#: Set-typed AWS properties (Terraform TypeSet): order is not a change.
AWS_UNORDERED: dict[str, tuple[str, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": ("subnetIds", "remoteAccess.sourceSecurityGroupIds", "taints"),
    "aws:eks/cluster:Cluster": (
        "vpcConfig.subnetIds", "vpcConfig.securityGroupIds", "vpcConfig.publicAccessCidrs", "enabledClusterLogTypes"),
}  # fmt: skip


def force_new_rules(type_token: str, inputs: Mapping[str, Any] | None = None) -> tuple[ForceNew, ...]:
    """The force-new properties of a resource type (Kubernetes: from its group/version/kind; AWS: by token).

    >>> [rule.path for rule in force_new_rules("kubernetes:core/v1:Service")]
    ['metadata.name', 'metadata.namespace', 'spec.clusterIP']
    """
    gvk = group_version_kind(type_token, inputs)
    if gvk is not None:
        return KUBERNETES_METADATA_FORCE_NEW + KUBERNETES_FORCE_NEW.get(gvk, ())
    return AWS_FORCE_NEW.get(type_token, ())


def rule_triggered(rule: ForceNew, changes: Sequence[PropertyChange], old: Any, new: Any) -> bool:
    """Whether ``rule`` forces a replacement, given the kept ``changes`` between the ``old`` and ``new`` inputs."""
    pattern = rule.segments
    if rule.when == "removed":
        before = [v for v in values_at(old, pattern) if v not in (None, [], {})]
        after = [v for v in values_at(new, pattern) if v not in (None, [], {})]
        return bool(before) and not after
    if rule.when == "changed_from_set":
        before = [v for v in values_at(old, pattern) if v not in (None, "")]
        return bool(before) and canonical(before) != canonical(values_at(new, pattern))
    for change in changes:
        path = parse_path(change.path)
        if is_prefix(pattern, path):
            return True
        # A whole parent added or removed: it replaces only if the immutable field is inside it.
        if is_prefix(path, pattern) and (values_at(old, pattern) or values_at(new, pattern)):
            return True
    return False


def replace_reason(rule: ForceNew) -> str:
    """Why ``rule`` forces a replacement, its source after ``REASON_SOURCE_SEPARATOR`` (``split_reason`` undoes it).

    >>> replace_reason(ForceNew("encryptionConfig", "CustomizeDiff in cluster.go", when="removed"))
    'encryptionConfig (removed) is immutable: CustomizeDiff in cluster.go'
    """
    qualifier = {"removed": " (removed)", "changed_from_set": " (changed from a set value)"}.get(rule.when, "")
    return f"{rule.path}{qualifier} is immutable{REASON_SOURCE_SEPARATOR}{rule.source}"


def split_reason(reason: str) -> tuple[str, str | None]:
    """A replacement reason as ``(claim, source)``: ``("spec.selector is immutable", "pulumi-kubernetes v4 ...")``.

    >>> split_reason("data is immutable: pulumi-kubernetes v4 forceNew table")
    ('data is immutable', 'pulumi-kubernetes v4 forceNew table')
    """
    claim, separator, source = reason.partition(REASON_SOURCE_SEPARATOR)
    return (claim, source) if separator and source else (reason, None)
