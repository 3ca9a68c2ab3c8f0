"""Optional cluster add-ons, chosen by config: monitoring, custom metrics, KEDA and shared (EFS) model caches.

Each add-on is one boolean (all off by default: an adopted cluster usually has its own platform add-ons, and two
Prometheus operators or two external-metrics servers in one cluster fight). The Helm charts are pinned here, chart,
version and repository together, so a plan never floats to whatever a repository serves on the day.

In a stack file::

    vllm-infra:addons:
      kubePrometheusStack: true
      prometheusRetention: 15d
      prometheusAdapter: true       # the HPA engine's custom metrics
      keda: false
      efsCsi: true                  # StorageClass efs-sc (ReadWriteMany model caches)

The AWS Load Balancer Controller is deliberately not an add-on yet: its IAM policy must be the controller's official
``docs/install/iam_policy.json`` *for the pinned controller version*, and that document could not be obtained and
tied to a release with certainty. Install it the way the platform team already does (the balancer's Services and
Ingresses only need it to exist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from vllm_infra.config.base import ConfigModel

# A Prometheus retention duration (`--storage.tsdb.retention.time`), e.g. "15d", "12h", "1w2d".
_RETENTION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class PinnedChart:
    """A Helm chart at one published version, with the release name and namespace the library installs it as.

    Example::

        >>> KEDA_CHART.reference
        'https://kedacore.github.io/charts keda 2.21.1'
    """

    chart: str
    version: str
    repository: str
    release: str
    namespace: str

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

# keda 2.21.1 (KEDA v2.21.1): the kedacore/charts GitHub release "KEDA Chart: v2.21.1"
# (https://github.com/kedacore/charts/releases/tag/v2.21.1, "Chart: v2.21.1 | App: v2.21.1").
KEDA_CHART = PinnedChart(
    chart="keda",
    version="2.21.1",
    repository="https://kedacore.github.io/charts",
    release="keda",
    namespace="keda",
)

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
    """Which cluster add-ons the stack installs, and their few settings. Everything is off by default.

    - ``kubePrometheusStack``: Prometheus (operator), Alertmanager and Grafana as release ``kube-prometheus-stack``
      in ``monitoring`` — what the Observability component's PodMonitors, rules and dashboards are written for.
    - ``prometheusAdapter``: the custom-metrics API the ``hpa`` autoscaling engine reads
      (``vllm_num_requests_running`` / ``_waiting`` per pod), querying that Prometheus. Without
      ``kubePrometheusStack`` it expects a kube-prometheus-stack release of the same name already in ``monitoring``.
    - ``keda``: the KEDA operator for the ``keda`` engine (ScaledObjects; scale to zero).
    - ``efsCsi``: the EFS CSI driver (EKS add-on), an encrypted EFS file system with mount targets, and the
      ``efs-sc`` StorageClass (one access point per claim) for ReadWriteMany model caches.

    Example::

        AddonsSpec(kube_prometheus_stack=True, prometheus_adapter=True)
        AddonsSpec.model_validate({"keda": True, "efsCsi": True, "efsBasePath": "/models"})
    """

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
        return self.kube_prometheus_stack or self.prometheus_adapter or self.keda or self.efs_csi

    @property
    def prometheus_retention_size(self) -> str:
        """Retention by size, 85 % of the volume: Prometheus drops old blocks before the volume fills and stops.

        >>> AddonsSpec(prometheus_storage_gib=50).prometheus_retention_size
        '42GB'
        """
        # Prometheus reads "GB" as 2^30 bytes, like the volume's Gi.
        return f"{int(self.prometheus_storage_gib * 0.85)}GB"
