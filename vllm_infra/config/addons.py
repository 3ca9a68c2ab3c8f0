"""Optional cluster add-ons, chosen by config: the AWS Load Balancer Controller, cluster-autoscaler, monitoring,
custom metrics, KEDA and shared (EFS) model caches.

Each add-on is one boolean. Monitoring, custom metrics, KEDA and EFS are off by default: an adopted cluster usually
has its own platform add-ons, and two Prometheus operators or two external-metrics servers in one cluster fight. The
AWS Load Balancer Controller and cluster-autoscaler default to what the stack needs (``null`` = decided by
``StackConfig``): on for a cluster the stack creates when its balancer needs a load balancer / its GPU node groups
can grow, off for an adopted cluster, which may already run its own (two controllers reconcile the same load
balancers; two autoscalers resize the same Auto Scaling groups). The Helm charts are pinned here, chart, version and
repository together, so a plan never floats to whatever a repository serves on the day.

In a stack file::

    vllm-infra:addons:
      awsLoadBalancerController: true   # NLB/ALB for the balancer (default: on for created clusters)
      clusterAutoscaler: true           # GPU nodes follow the replicas (default: on for created clusters)
      kubePrometheusStack: true
      prometheusRetention: 15d
      prometheusAdapter: true           # the HPA engine's custom metrics
      keda: false
      efsCsi: true                      # StorageClass efs-sc (ReadWriteMany model caches)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from pydantic import Field, field_validator

from vllm_infra.config.base import ConfigModel

# A Prometheus retention duration (`--storage.tsdb.retention.time`), e.g. "15d", "12h", "1w2d".
_RETENTION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class PinnedChart:
    """A Helm chart at one published version, with the release name and namespace the library installs it as.

    Example::

        >>> KEDA_CHART.reference
        'https://kedacore.github.io/charts keda 2.20.2'
    """

    chart: str
    version: str
    repository: str
    release: str
    namespace: str
    #: The chart's ``appVersion`` (the software it installs by default), where the library relies on it.
    app_version: str = ""

    @property
    def reference(self) -> str:
        """``repository chart version``, for messages and plans."""
        return f"{self.repository} {self.chart} {self.version}"


PROMETHEUS_COMMUNITY_REPOSITORY = "https://prometheus-community.github.io/helm-charts"

# kube-prometheus-stack 88.5.0: release "kube-prometheus-stack-88.5.0" of prometheus-community/helm-charts
# ("[kube-prometheus-stack] Update Helm release kube-state-metrics to v8.4.0", #7199), as listed on
# https://newreleases.io/project/github/prometheus-community/helm-charts/release/kube-prometheus-stack-88.5.0 .
# Pinned inside the 88.x major (89.0.0 is a major bump: its breaking changes are not reviewed here).
KUBE_PROMETHEUS_STACK_CHART = PinnedChart(
    chart="kube-prometheus-stack",
    version="88.5.0",
    repository=PROMETHEUS_COMMUNITY_REPOSITORY,
    # The release name is a contract: Observability labels its monitors `release: kube-prometheus-stack` and the
    # chart names the Prometheus Service `<release>-prometheus` (below).
    release="kube-prometheus-stack",
    namespace="monitoring",
)

# prometheus-adapter 5.3.0: Artifact Hub's version feed for prometheus-community/prometheus-adapter
# (https://artifacthub.io/api/v1/packages/helm/prometheus-community/prometheus-adapter/feed/rss, published
# 2026-02-19).
PROMETHEUS_ADAPTER_CHART = PinnedChart(
    chart="prometheus-adapter",
    version="5.3.0",
    repository=PROMETHEUS_COMMUNITY_REPOSITORY,
    release="prometheus-adapter",
    namespace="monitoring",
)

# keda 2.20.2 (KEDA 2.20.2). The 2.21.1 pinned before could not be found: the chart repository's own index
# (kedacore/charts docs/index.yaml, served as https://kedacore.github.io/charts/index.yaml, generated
# 2026-07-31T09:12:31Z) lists 2.20.2 as its newest `keda` entry (keda-2.20.2.tgz, sha256
# db60b1fa60f0565fefa4ce2f87e855b6a8854363ee82962fbe28a12a70d64c4c), and the repository's newest tag is v2.20.2
# (commit cbb9bb8ce0809dc9048f72302f7c09765d66ed56, "prepare v2.20.2 release (#895)", keda/Chart.yaml version and
# appVersion 2.20.2); there is no v2.21.x tag in a snapshot taken 2026-08-13. The values keda_values() sets
# (operator/metricsServer/webhooks.replicaCount, resources.{operator,metricServer,webhooks},
# podDisruptionBudget.{operator,webhooks}) all exist in that release's keda/values.yaml.
KEDA_CHART = PinnedChart(
    chart="keda",
    version="2.20.2",
    repository="https://kedacore.github.io/charts",
    release="keda",
    namespace="keda",
    app_version="2.20.2",
)

# aws-load-balancer-controller 3.5.0 (controller v3.5.0): https://aws.github.io/eks-charts/index.yaml (aws/eks-charts
# gh-pages, entry created 2026-08-03T22:57:26Z, sha256 45051f634b33e10baccb3354d0681b7de787c60445e599fa276e0c9aedd4ccd5)
# and helm/aws-load-balancer-controller/Chart.yaml of kubernetes-sigs/aws-load-balancer-controller at tag v3.5.0
# (commit 11eb202c97e4ae2ee45e0658c4cde9a4b59f33d4): version 3.5.0, appVersion v3.5.0. Its IAM policy is vendored
# from the same tag (vllm_infra/data/iam/SOURCE.md). Installed in kube-system, the namespace its documentation uses.
AWS_LOAD_BALANCER_CONTROLLER_CHART = PinnedChart(
    chart="aws-load-balancer-controller",
    version="3.5.0",
    repository="https://aws.github.io/eks-charts",
    release="aws-load-balancer-controller",
    namespace="kube-system",
    app_version="v3.5.0",
)
#: The controller's ServiceAccount (set in the chart values; the Pod Identity association names it).
AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
#: The controller's official IAM policy per AWS partition: docs/install/iam_policy{,_cn,_us-gov}.json at v3.5.0.
AWS_LOAD_BALANCER_CONTROLLER_POLICY_FILES = {
    "aws": "aws-load-balancer-controller-v3.5.0.json",
    "aws-cn": "aws-load-balancer-controller-v3.5.0-cn.json",
    "aws-us-gov": "aws-load-balancer-controller-v3.5.0-us-gov.json",
}

CLUSTER_AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
# cluster-autoscaler must be the release of the cluster's Kubernetes minor (its README: "use the version matching
# your cluster's Kubernetes version"): one chart per minor, the newest whose appVersion is of that minor, from the
# repository's index (kubernetes/autoscaler gh-pages index.yaml, 2026-07-26) and the release tags
# cluster-autoscaler-chart-<version>: 9.46.6 → 1.32.0, 9.51.0 → 1.33.0, 9.53.0 → 1.34.2, 9.59.0 → 1.35.0.
CLUSTER_AUTOSCALER_CHARTS = {
    minor: PinnedChart(
        chart="cluster-autoscaler",
        version=version,
        repository=CLUSTER_AUTOSCALER_REPOSITORY,
        release="cluster-autoscaler",
        namespace="kube-system",
        app_version=app_version,
    )
    for minor, version, app_version in (
        ("1.32", "9.46.6", "1.32.0"),
        ("1.33", "9.51.0", "1.33.0"),
        ("1.34", "9.53.0", "1.34.2"),
        ("1.35", "9.59.0", "1.35.0"),
    )
}
#: cluster-autoscaler's ServiceAccount (set in the chart values; the Pod Identity association names it).
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
#: The upstream IAM policy for ASG auto-discovery (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws).
CLUSTER_AUTOSCALER_POLICY_FILE = "cluster-autoscaler-auto-discovery.json"
#: The prefix of every tag cluster-autoscaler's AWS provider reads from an Auto Scaling group.
CLUSTER_AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
#: The Auto Scaling group tag every GPU node group carries for auto-discovery (with ``cluster_autoscaler_tag``): the
#: contract between ``GpuNodeGroup`` (which tags) and the chart values (which discover), kept in this one place.
CLUSTER_AUTOSCALER_ENABLED_TAG = f"{CLUSTER_AUTOSCALER_TAG_PREFIX}enabled"


def cluster_autoscaler_tag(cluster_name: str) -> str:
    """The per-cluster auto-discovery tag key of cluster-autoscaler's AWS provider (value ``owned``).

    >>> cluster_autoscaler_tag("ml-prod")
    'k8s.io/cluster-autoscaler/ml-prod'
    """
    return f"{CLUSTER_AUTOSCALER_TAG_PREFIX}{cluster_name}"


def cluster_autoscaler_chart(kubernetes_version: str) -> PinnedChart:
    """The pinned cluster-autoscaler chart whose app version is of ``kubernetes_version``'s minor.

    >>> cluster_autoscaler_chart("1.33").version, cluster_autoscaler_chart("1.33.4").app_version
    ('9.51.0', '1.33.0')
    """
    minor = ".".join(kubernetes_version.removeprefix("v").split(".")[:2])
    if minor not in CLUSTER_AUTOSCALER_CHARTS:
        raise ValueError(
            f"cluster-autoscaler has no pinned release for Kubernetes {minor} (pinned: "
            f"{', '.join(CLUSTER_AUTOSCALER_CHARTS)}): run the cluster on one of those versions, or set "
            "addons.clusterAutoscaler: false and scale the GPU node groups another way"
        )
    return CLUSTER_AUTOSCALER_CHARTS[minor]


def iam_policy_document(filename: str) -> dict[str, Any]:
    """A vendored IAM policy document of ``vllm_infra/data/iam`` (see its SOURCE.md), parsed.

    >>> iam_policy_document(CLUSTER_AUTOSCALER_POLICY_FILE)["Version"]
    '2012-10-17'
    """
    text = resources.files("vllm_infra").joinpath("data", "iam", filename).read_text(encoding="utf-8")
    return json.loads(text)


#: The Service kube-prometheus-stack creates for Prometheus (`<release>-prometheus`, port 9090) — the address the
#: KEDA triggers (the default of ``autoscaling.prometheusAddress``) and prometheus-adapter query.
PROMETHEUS_SERVICE_HOST = (
    f"{KUBE_PROMETHEUS_STACK_CHART.release}-prometheus.{KUBE_PROMETHEUS_STACK_CHART.namespace}.svc"
)
PROMETHEUS_PORT = 9090
PROMETHEUS_URL = f"http://{PROMETHEUS_SERVICE_HOST}:{PROMETHEUS_PORT}"

#: The StorageClass the shipped load-balanced and multi-model stacks name for their ReadWriteMany caches.
EFS_STORAGE_CLASS = "efs-sc"
#: The EKS add-on of the EFS CSI driver, and the service accounts it runs as (both get the driver's IAM role, as
#: AWS's own setup trusts ``efs-csi-*``).
EFS_CSI_ADDON = "aws-efs-csi-driver"
EFS_CSI_SERVICE_ACCOUNTS = ("efs-csi-controller-sa", "efs-csi-node-sa")
EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"


class AddonsSpec(ConfigModel):
    """Which cluster add-ons the stack installs, and their few settings.

    - ``awsLoadBalancerController``: the AWS Load Balancer Controller (pinned chart, two replicas, its official IAM
      policy through EKS Pod Identity), which turns the balancer's ``LoadBalancer`` Service into an NLB and its
      Ingress into an ALB. ``null`` (default): on for a created cluster whose stack exposes a load balancer or an
      Ingress, off for an adopted cluster (it may already run one, and two controllers fight over the same load
      balancers) — ``StackConfig`` resolves it, so a validated stack holds a bool.
    - ``clusterAutoscaler``: cluster-autoscaler (the release of the cluster's Kubernetes minor), discovering the GPU
      node groups by their Auto Scaling group tags. ``null`` (default): on for a created cluster when a model
      autoscales or a GPU node group can grow beyond its minimum; off for an adopted cluster (it may run its own
      cluster-autoscaler or Karpenter).
    - ``clusterAutoscalerScaleDownMinutes``: how long a node must be unneeded, and how long after a scale-up, before
      cluster-autoscaler removes a node.
    - ``kubePrometheusStack``: Prometheus (operator), Alertmanager and Grafana as release ``kube-prometheus-stack``
      in ``monitoring`` — what the Observability component's PodMonitors, rules and dashboards are written for.
    - ``prometheusAdapter``: the custom-metrics API the ``hpa`` autoscaling engine reads
      (``vllm_num_requests_running`` / ``_waiting`` per pod), querying that Prometheus. Without
      ``kubePrometheusStack`` it expects a kube-prometheus-stack release of the same name already in ``monitoring``.
    - ``keda``: the KEDA operator for the ``keda`` engine (ScaledObjects; scale to zero).
    - ``efsCsi``: the EFS CSI driver (EKS add-on), an encrypted EFS file system with mount targets, and the
      ``efs-sc`` StorageClass (one access point per claim) for ReadWriteMany model caches.

    Monitoring, custom metrics, KEDA and EFS are off by default.

    Example::

        AddonsSpec(kube_prometheus_stack=True, prometheus_adapter=True)
        AddonsSpec.model_validate({"keda": True, "efsCsi": True, "efsBasePath": "/models"})
    """

    aws_load_balancer_controller: bool | None = Field(
        None,
        description="Install the AWS Load Balancer Controller; null = on for created clusters whose stack exposes "
        "a load balancer, off for adopted ones.",
    )
    cluster_autoscaler: bool | None = Field(
        None,
        description="Install cluster-autoscaler; null = on for created clusters whose GPU node groups can grow, off "
        "for adopted ones.",
    )
    # A GPU node is expensive to bring back: minutes to boot and join, pull the ~10 GB vLLM image, then load the
    # weights (the model's startup budget). cluster-autoscaler's defaults (scale-down-unneeded-time and
    # scale-down-delay-after-add, 10m each: kubernetes/autoscaler cluster-autoscaler/FAQ.md) would remove a node
    # between two bursts only to pay that cold start again; 30 minutes outlasts the HPA's scale-down window and a
    # typical lull.
    cluster_autoscaler_scale_down_minutes: int = Field(
        30,
        ge=10,
        le=1440,
        description="Minutes a node must be unneeded (and since the last scale-up) before cluster-autoscaler "
        "removes it.",
    )
    kube_prometheus_stack: bool = Field(False, description="Install kube-prometheus-stack in `monitoring`.")
    prometheus_retention: str = Field("15d", description="How long Prometheus keeps samples (e.g. 15d, 12h).")
    prometheus_storage_gib: int = Field(
        50, ge=10, le=16384, description="Prometheus volume size; retention by size stops at 85 % of it."
    )
    prometheus_storage_class: str | None = Field(
        None, description="StorageClass of the Prometheus volume (unset: the cluster default, e.g. gp3)."
    )
    prometheus_replicas: int = Field(
        1, ge=1, le=3, description="Prometheus replicas; each scrapes everything and has its own volume."
    )
    prometheus_adapter: bool = Field(False, description="Install prometheus-adapter (custom metrics for the HPA).")
    keda: bool = Field(False, description="Install KEDA (ScaledObjects).")
    efs_csi: bool = Field(False, description="Install the EFS CSI driver, an EFS file system and StorageClass efs-sc.")
    efs_base_path: str = Field(
        "/vllm-infra", description="Directory of the file system under which each claim gets its own directory."
    )
    efs_throughput_mode: Literal["elastic", "bursting"] = Field(
        "elastic",
        description="elastic: pay per use, throughput follows demand (many replicas reading weights at once).",
    )

    @field_validator("prometheus_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if not _RETENTION.match(value):
            raise ValueError("must be a Prometheus duration such as 15d, 12h or 1w2d")
        return value

    @field_validator("efs_base_path")
    @classmethod
    def _base_path(cls, value: str) -> str:
        # The driver joins it with the claim's directory; "/" or a relative path would scatter claims at the root.
        if not value.startswith("/") or value.rstrip("/") == "" or ".." in value.split("/"):
            raise ValueError("must be an absolute directory below the file system root, e.g. /vllm-infra")
        return value.rstrip("/")

    @property
    def any(self) -> bool:
        """Whether any add-on is enabled.

        >>> AddonsSpec().any, AddonsSpec(keda=True).any
        (False, True)
        """
        return bool(
            self.aws_load_balancer_controller
            or self.cluster_autoscaler
            or self.kube_prometheus_stack
            or self.prometheus_adapter
            or self.keda
            or self.efs_csi
        )

    @property
    def pod_identity_addons(self) -> list[str]:
        """The enabled add-ons (config keys) whose IAM role this library gives through EKS Pod Identity: they need
        the Pod Identity agent in the cluster (``RegionSpec`` checks it).

        >>> AddonsSpec(cluster_autoscaler=True, efs_csi=True).pod_identity_addons
        ['clusterAutoscaler', 'efsCsi']
        """
        enabled = (
            ("awsLoadBalancerController", self.aws_load_balancer_controller),
            ("clusterAutoscaler", self.cluster_autoscaler),
            ("efsCsi", self.efs_csi),
        )
        return [key for key, on in enabled if on]

    @property
    def prometheus_retention_size(self) -> str:
        """Retention by size, 85 % of the volume: Prometheus drops old blocks before the volume fills and stops.

        >>> AddonsSpec(prometheus_storage_gib=50).prometheus_retention_size
        '42GB'
        """
        # Prometheus reads "GB" as 2^30 bytes, like the volume's Gi.
        return f"{int(self.prometheus_storage_gib * 0.85)}GB"
