"""``ClusterAddons``: the optional cluster add-ons of one region — the AWS Load Balancer Controller,
cluster-autoscaler, kube-prometheus-stack, prometheus-adapter, KEDA (pinned Helm charts) and the EFS CSI driver with
an EFS file system and the ``efs-sc`` StorageClass."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from vllm_infra.components.autoscaler import prometheus_adapter_rules
from vllm_infra.components.aws_iam import service_role
from vllm_infra.components.options import child_options
from vllm_infra.config.addons import (
    AWS_LOAD_BALANCER_CONTROLLER_CHART,
    AWS_LOAD_BALANCER_CONTROLLER_POLICY_FILES,
    AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
    CLUSTER_AUTOSCALER_CHARTS,
    CLUSTER_AUTOSCALER_ENABLED_TAG,
    CLUSTER_AUTOSCALER_POLICY_FILE,
    CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
    EFS_CSI_ADDON,
    EFS_CSI_POLICY,
    EFS_CSI_SERVICE_ACCOUNTS,
    EFS_STORAGE_CLASS,
    KEDA_CHART,
    KUBE_PROMETHEUS_STACK_CHART,
    PROMETHEUS_ADAPTER_CHART,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE_HOST,
    PROMETHEUS_URL,
    AddonsSpec,
    PinnedChart,
    cluster_autoscaler_chart,
    cluster_autoscaler_tag,
    iam_policy_document,
)
from vllm_infra.kube.labels import part_of_labels
from vllm_infra.kube.quantity import gib_quantity

NFS_PORT = 2049
PART_OF = part_of_labels()
#: The subnet tag the AWS Load Balancer Controller selects subnets by, per load balancer scheme (its
#: docs/deploy/subnet_discovery.md: "kubernetes.io/role/elb" for internet-facing, "kubernetes.io/role/internal-elb"
#: for internal; value 1 or empty).
SUBNET_ROLE_TAGS = {"internet-facing": "kubernetes.io/role/elb", "internal": "kubernetes.io/role/internal-elb"}
#: Load balancers span at least two Availability Zones (an ALB requires two subnets in different zones).
MIN_LOAD_BALANCER_SUBNETS = 2


@dataclass
class ClusterAddonsArgs:
    """Inputs of ``ClusterAddons``.

    Example::

        ClusterAddonsArgs(spec=AddonsSpec(efs_csi=True), cluster_name="ml-prod", region="us-east-1",
                          subnet_ids=["subnet-0a1", "subnet-0b2"])
    """

    spec: AddonsSpec
    """Which add-ons, and their settings (``vllm-infra:regions[].addons``); nothing is created when all are off."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster (``RegionalCluster.cluster_name``): the EFS CSI add-on and the Pod Identity associations
    attach to it, cluster-autoscaler discovers its node groups by it, and Prometheus labels what it sends out with
    it."""
    region: str
    """The cluster's AWS region (``vllm-infra:regions[].name``): the controllers' ``region`` value, and a Prometheus
    external label, so series from several regions stay apart."""
    vpc_id: pulumi.Input[str] | None = None
    """The cluster's VPC, for the EFS security group and the AWS Load Balancer Controller; None (the default) looks
    it up from the first of ``subnet_ids``, or from the cluster when there are none."""
    subnet_ids: Sequence[pulumi.Input[str]] = field(default_factory=list)
    """Where EFS mount targets go (``vllm-infra:regions[].nodeSubnetIds``): one subnet per Availability Zone the
    nodes use (EFS allows one mount target per zone). A plain list: each entry becomes a resource, so their number
    must be known at plan time. Required with ``efsCsi``; empty by default."""
    vpc_cidr: pulumi.Input[str] | None = None
    """NFS to the EFS mount targets is allowed from this range (``vllm-infra:regions[].vpcCidr``); None (the
    default) looks up the VPC's primary CIDR. Pods on a secondary CIDR (VPC CNI custom networking) need
    ``node_security_group_ids`` or an explicit range."""
    node_security_group_ids: Sequence[pulumi.Input[str]] = field(default_factory=list)
    """Security groups also allowed to reach NFS (e.g. the cluster security group); none by default."""
    partition: pulumi.Input[str] | None = None
    """The AWS partition for managed policy ARNs (aws, aws-cn, aws-us-gov); None (the default) looks it up."""
    grafana_admin_password: pulumi.Input[str] | None = None
    """A Pulumi secret for Grafana's admin; None (the default) lets the Grafana chart generate one and keep it in
    the ``kube-prometheus-stack-grafana`` Secret (never the chart's well-known default)."""
    kubernetes_version: pulumi.Input[str] | None = None
    """The cluster's Kubernetes version (``1.33``, ``vllm-infra:regions[].cluster.create.kubernetesVersion``), which
    picks the cluster-autoscaler release; None (the default, an adopted cluster) looks it up from the cluster."""
    load_balancer_scheme: Literal["internet-facing", "internal"] | None = None
    """``internet-facing`` or ``internal`` when the stack's balancer needs a load balancer from the AWS Load Balancer
    Controller (``vllm-infra:balancer.exposure``); the VPC must then have subnets tagged for that scheme, checked by
    a lookup before the controller is installed. None (the default) checks nothing."""


def kube_prometheus_stack_values(
    spec: AddonsSpec,
    cluster_name: pulumi.Input[str],
    region: str,
    grafana_admin_password: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Values of the kube-prometheus-stack chart: monitors found in every namespace, bounded retention on a
    persistent volume, Grafana dashboards from labelled ConfigMaps anywhere, and nothing that Pulumi cannot apply.

    Example::

        values = kube_prometheus_stack_values(AddonsSpec(kube_prometheus_stack=True), "ml-prod", "us-east-1")
        values["grafana"]["sidecar"]["dashboards"]["searchNamespace"]   # 'ALL'
    """
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": gib_quantity(spec.prometheus_storage_gib)}},
    }
    if spec.prometheus_storage_class:
        claim["storageClassName"] = spec.prometheus_storage_class
    return {
        "prometheus": {
            "prometheusSpec": {
                "replicas": spec.prometheus_replicas,
                "retention": spec.prometheus_retention,
                "retentionSize": spec.prometheus_retention_size,
                # By default the chart's Prometheus only selects objects labelled with its own release; the stack's
                # PodMonitors, rules and any other team's monitors are found wherever they are.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                # Only on what leaves the Prometheus (alerts, remote write, federation): keeps regions apart.
                "externalLabels": {"cluster": cluster_name, "region": region},
                "storageSpec": {"volumeClaimTemplate": {"spec": claim}},
                "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
            },
        },
        "alertmanager": {
            "alertmanagerSpec": {
                # Two peers gossip silences and deduplicate notifications; one node drain no longer drops alerts.
                "replicas": 2,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            },
        },
        "grafana": {
            # Empty = the Grafana chart generates a password (kept across renders via its Secret), instead of
            # kube-prometheus-stack's published default.
            "adminPassword": grafana_admin_password if grafana_admin_password is not None else "",
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    # The label Observability puts on its dashboard ConfigMap, in whatever namespace.
                    "label": "grafana_dashboard",
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                },
            },
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        },
        "prometheusOperator": {
            # The admission webhook's certificate is made and patched in by Helm hook Jobs, and Chart v4 drops hook
            # resources (pulumi-kubernetes: "hooks are not supported" outside render mode): with the webhook on, the
            # operator would wait for a TLS Secret nothing creates. Rules are checked offline by the tests instead.
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
        # EKS runs the control plane: etcd, the scheduler and the controller manager cannot be scraped, and EKS's
        # kube-proxy serves metrics on 127.0.0.1 only — each would be a permanently firing TargetDown alert.
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},
    }


def prometheus_adapter_values() -> dict[str, Any]:
    """Values of the prometheus-adapter chart: exactly the rules the HPA needs (``prometheus_adapter_rules``), served
    by two replicas, reading kube-prometheus-stack's Prometheus.

    Example::

        prometheus_adapter_values()["rules"]["custom"] == prometheus_adapter_rules()   # True
    """
    return {
        # The chart takes the address without the port.
        "prometheus": {"url": f"http://{PROMETHEUS_SERVICE_HOST}", "port": PROMETHEUS_PORT, "path": ""},
        # The HPA reads custom.metrics.k8s.io through this APIService: with one replica a node drain freezes scaling.
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "rules": {
            # The chart's default rules expose every container metric; only the vLLM series are needed, and no
            # resource rules so metrics-server keeps metrics.k8s.io.
            "default": False,
            "custom": prometheus_adapter_rules(),
        },
    }


def keda_values() -> dict[str, Any]:
    """Values of the KEDA chart: a standby operator and two webhooks for availability, requests on every container.

    KEDA serves external.metrics.k8s.io and prometheus-adapter (with these values) only custom.metrics.k8s.io, so
    both can run in one cluster.

    Example::

        keda_values()["operator"]["replicaCount"]   # 2
    """
    small = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    return {
        # The operator elects a leader; the second replica takes over at once when the leader's node goes away.
        "operator": {"replicaCount": 2},
        # Only one metrics server instance serves at a time (KEDA's documentation): more adds nothing.
        "metricsServer": {"replicaCount": 1},
        # The admission webhook rejects bad ScaledObjects; two keep `pulumi up` working through a node drain.
        "webhooks": {"replicaCount": 2},
        # The chart groups resources per component under one key; the metrics server's is `metricServer` (singular).
        "resources": {"operator": small, "metricServer": small, "webhooks": small},
        "podDisruptionBudget": {"operator": {"minAvailable": 1}, "webhooks": {"minAvailable": 1}},
    }


def aws_load_balancer_controller_values(
    cluster_name: pulumi.Input[str], region: str, vpc_id: pulumi.Input[str]
) -> dict[str, Any]:
    """Values of the aws-load-balancer-controller chart: two replicas for the cluster and VPC, running as the
    ServiceAccount its Pod Identity association names, reconciling only what asks for it.

    Example::

        aws_load_balancer_controller_values("ml-prod", "us-east-1", "vpc-0abc")["replicaCount"]   # 2
    """
    return {
        "clusterName": cluster_name,
        # The controller otherwise asks the instance metadata service, which pods cannot reach where IMDSv2's hop
        # limit is 1 (the chart's values.yaml: "Set this manually when your pods are unable to use the metadata
        # service").
        "region": region,
        "vpcId": vpc_id,
        # Two replicas elect a leader; the webhooks (TargetGroupBindings, Ingresses) stay served through a drain.
        "replicaCount": 2,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "serviceAccount": {"create": True, "name": AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT},
        # The service mutator webhook (failurePolicy Fail) intercepts the creation of every Service in the cluster
        # to make the controller the default for all LoadBalancer Services: while the controller is not ready (its
        # own install, a node drain), any chart's Services fail to apply, and other teams' Services change owner.
        # The balancer asks for the controller explicitly (`aws-load-balancer-type: external`).
        "enableServiceMutatorWebhook": False,
        # The chart generates its webhook certificate at render time unless it finds the Secret of an earlier render
        # (Helm `lookup`, which Chart v4 runs against the cluster: pulumi/docs "Chart v4" blog post, PR #11997);
        # without this every `pulumi up` would rotate the certificate and the webhooks' caBundle.
        "keepTLSSecret": True,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    }


def cluster_autoscaler_values(cluster_name: pulumi.Input[str], region: str, scale_down_minutes: int) -> dict[str, Any]:
    """Values of the cluster-autoscaler chart: the AWS provider discovering this cluster's node groups by their
    Auto Scaling group tags, expanding the group that wastes least, and slow to remove GPU nodes.

    Example::

        values = cluster_autoscaler_values("ml-prod", "us-east-1", 30)
        values["extraArgs"]["scale-down-unneeded-time"]   # '30m'
    """
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {
            "clusterName": cluster_name,
            # Exactly the tags GpuNodeGroup puts on its Auto Scaling groups (`asg:tag=` matches keys, any value).
            "tags": [
                CLUSTER_AUTOSCALER_ENABLED_TAG,
                pulumi.Output.from_input(cluster_name).apply(cluster_autoscaler_tag),
            ],
        },
        "rbac": {"serviceAccount": {"create": True, "name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT}},
        "extraArgs": {
            # Spot groups and their on-demand fallback of one tier, or one tier's groups in several zones, grow
            # together instead of one filling first.
            "balance-similar-node-groups": True,
            # vLLM pods mount emptyDir scratch and memory-backed /dev/shm: by default such nodes are never removed.
            "skip-nodes-with-local-storage": False,
            # Spot groups first (their on-demand fallback only when spot cannot grow), then of the groups that fit a
            # Pending pod the one leaving the least CPU/memory idle (tiers differ a lot). Expanders chain in order
            # (kubernetes/autoscaler cluster-autoscaler/FAQ.md, "What are Expanders?").
            "expander": "priority,least-waste",
            "scale-down-unneeded-time": f"{scale_down_minutes}m",
            "scale-down-delay-after-add": f"{scale_down_minutes}m",
        },
        # The priority expander's ConfigMap (the chart writes it): regexes over node group (Auto Scaling group)
        # names, highest number first. GpuNodeGroup names its groups `vllm-<tier>-<spot|on-demand>-...`, and EKS
        # names a managed node group's Auto Scaling group `eks-<node group name>-<id>`.
        "expanderPriorities": {"50": [".*-spot-.*"], "10": [".*"]},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


def cluster_autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """The upstream auto-discovery IAM policy of cluster-autoscaler, with its second statement (the actions that
    resize and terminate) limited to Auto Scaling groups carrying this cluster's auto-discovery tag, as the
    upstream README recommends ("restrict the target resources ... using tag based conditionals").

    Example::

        cluster_autoscaler_policy("ml-prod")["Statement"][1]["Condition"]
        # {'Null': {'autoscaling:ResourceTag/k8s.io/cluster-autoscaler/ml-prod': 'false'}}
    """
    document = iam_policy_document(CLUSTER_AUTOSCALER_POLICY_FILE)
    describe, resize = document["Statement"]
    # `autoscaling:ResourceTag/<key>` is the Auto Scaling group's tag (EC2 Auto Scaling user guide, "Tags for
    # security": https://docs.aws.amazon.com/autoscaling/ec2/userguide/tag-security.html). "Null": "false" = the tag
    # is present, whatever its value, as auto-discovery matches keys only.
    condition = {"Null": {f"autoscaling:ResourceTag/{cluster_autoscaler_tag(cluster_name)}": "false"}}
    return {**document, "Statement": [describe, {**resize, "Condition": condition}]}


def aws_load_balancer_controller_policy(partition: str) -> dict[str, Any]:
    """The AWS Load Balancer Controller's official IAM policy (v3.5.0) for ``partition`` (aws, aws-cn, aws-us-gov).

    >>> aws_load_balancer_controller_policy("aws")["Version"]
    '2012-10-17'
    """
    if partition not in AWS_LOAD_BALANCER_CONTROLLER_POLICY_FILES:
        raise ValueError(
            f"the AWS Load Balancer Controller publishes IAM policies for the partitions "
            f"{', '.join(AWS_LOAD_BALANCER_CONTROLLER_POLICY_FILES)} only; got {partition}"
        )
    return iam_policy_document(AWS_LOAD_BALANCER_CONTROLLER_POLICY_FILES[partition])


def require_load_balancer_subnets(subnet_ids: Sequence[str], vpc_id: str, scheme: str, cluster_name: str) -> str:
    """``vpc_id`` if it has enough subnets tagged for ``scheme`` load balancers; otherwise a ``ValueError`` that
    names the tag and the command that sets it.

    >>> require_load_balancer_subnets(["subnet-1", "subnet-2"], "vpc-0abc", "internal", "ml-prod")
    'vpc-0abc'
    """
    if len(subnet_ids) >= MIN_LOAD_BALANCER_SUBNETS:
        return vpc_id
    tag = SUBNET_ROLE_TAGS[scheme]
    kind = "public" if scheme == "internet-facing" else "private"
    raise ValueError(
        f"the balancer's {scheme} load balancer needs at least {MIN_LOAD_BALANCER_SUBNETS} {kind} subnets of VPC "
        f"{vpc_id} (cluster {cluster_name}) in different Availability Zones tagged {tag}=1, and {len(subnet_ids)} "
        f"are: tag them (aws ec2 create-tags --resources <subnet-id> ... --tags Key={tag},Value=1), or change "
        "balancer.exposure"
    )


def efs_storage_class_parameters(file_system_id: pulumi.Input[str], base_path: str) -> dict[str, pulumi.Input[str]]:
    """StorageClass parameters for dynamic provisioning through EFS access points (one per claim).

    ``directoryPerms`` 700 is safe: the access point maps every client to the claim's own POSIX identity.

    Example::

        efs_storage_class_parameters("fs-0123", "/vllm-infra")["provisioningMode"]   # 'efs-ap'
    """
    return {
        "provisioningMode": "efs-ap",
        "fileSystemId": file_system_id,
        "directoryPerms": "700",
        "basePath": base_path,
    }


def _provider(opts: pulumi.ResourceOptions | None, package: str) -> pulumi.ProviderResource | None:
    # The component's provider for `package`, from `provider=` or `providers=` (list or mapping), if given.
    if opts is None:
        return None
    if opts.provider is not None and opts.provider.package == package:
        return opts.provider
    providers = opts.providers
    if isinstance(providers, Mapping):
        return providers.get(package)
    return next((p for p in providers or [] if p.package == package), None)


class ClusterAddons(pulumi.ComponentResource):
    """The optional add-ons of one region's cluster, each chosen by ``AddonsSpec``.

    Children are created with ``parent=self`` and inherit the component's providers: pass the region's
    ``providers=[cluster.aws_provider, cluster.k8s_provider]``. They also wait for the component's ``depends_on``:
    pass the ``RegionalCluster``, so that Pod Identity associations and EKS add-ons are only made once a cluster the
    stack creates exists (its name alone, known from config, carries no dependency).

    - AWS Load Balancer Controller (``kube-system``): an IAM role with the controller's official policy (vendored,
      v3.5.0), its EKS Pod Identity association, and the pinned chart, which waits for both (a pod started before
      its association gets no credentials). With ``load_balancer_scheme`` the VPC's subnets tagged for that scheme
      are looked up first; too few fail the deployment before the controller is installed, naming the tag.
    - cluster-autoscaler (``kube-system``): the chart of the cluster's Kubernetes minor, auto-discovering the Auto
      Scaling groups tagged ``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>``, with
      an IAM role (the upstream auto-discovery policy, resizing limited to groups with this cluster's tag) through
      Pod Identity.
    - kube-prometheus-stack (``monitoring``, release ``kube-prometheus-stack``): the Namespace and the pinned chart.
    - prometheus-adapter (``monitoring``): the pinned chart with exactly ``prometheus_adapter_rules()``.
    - KEDA (``keda``): the Namespace and the pinned chart.
    - EFS CSI: an IAM role for the driver (EKS Pod Identity, ``AmazonEFSCSIDriverPolicy``), the
      ``aws-efs-csi-driver`` EKS add-on, an encrypted EFS file system, a security group allowing NFS from the VPC,
      one mount target per subnet, and the ``efs-sc`` StorageClass.

    Outputs: ``prometheus_url`` (None without kube-prometheus-stack), ``storage_class_name`` and ``file_system_id``
    (None without EFS), ``crds_ready`` — the charts that install the CRDs other components create objects of
    (monitoring.coreos.com, keda.sh) —, ``load_balancer_ready`` — what a LoadBalancer Service or an ALB Ingress must
    wait for (the controller; empty when it is not installed here) — and ``ready``, everything. Kubernetes creates
    nothing in an order of its own: a ScaledObject applied before KEDA's CRD fails, and a Service created before the
    controller runs keeps no finalizer, so its NLB would outlive it; dependents wait explicitly (and are destroyed
    first: the controller deletes the load balancers).

    Example::

        addons = ClusterAddons("us-east-1", ClusterAddonsArgs(
            spec=stack_config.addons, cluster_name=cluster.cluster_name, region="us-east-1",
            subnet_ids=["subnet-0a1", "subnet-0b2"]),
            opts=pulumi.ResourceOptions(providers=[cluster.aws_provider, cluster.k8s_provider], depends_on=[cluster]))
        Autoscaler("llama-8b", AutoscalerArgs(...),
                   opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=addons.crds_ready))
        LoadBalancer("gateway", LoadBalancerArgs(...),
                     opts=pulumi.ResourceOptions(provider=cluster.k8s_provider, depends_on=addons.load_balancer_ready))
    """

    args: ClusterAddonsArgs
    """The inputs the component was built from."""
    prometheus_url: pulumi.Output[str] | None
    """The in-cluster Prometheus URL, carrying the chart as a dependency; None without kube-prometheus-stack."""
    storage_class_name: pulumi.Output[str] | None
    """The EFS StorageClass (``efs-sc``); None without EFS."""
    file_system_id: pulumi.Output[str] | None
    """The EFS file system; None without EFS."""
    crds_ready: list[pulumi.Resource]
    """The charts that install CRDs other components create objects of (monitoring.coreos.com, keda.sh)."""
    load_balancer_ready: list[pulumi.Resource]
    """What a LoadBalancer Service or an ALB Ingress waits for: the controller, where installed here."""
    ready: list[pulumi.Resource]
    """Every add-on resource a dependent may wait for."""

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("vllm-infra:cluster_addons:ClusterAddons", name, None, opts)
        self.args = args
        spec = args.spec
        if spec.efs_csi and not args.subnet_ids:
            raise ValueError("ClusterAddons: efsCsi needs subnet_ids (one subnet per Availability Zone of the nodes)")
        self._name, self._opts = name, opts
        self._aws_provider = _provider(opts, "aws")
        self.prometheus_url = self.storage_class_name = self.file_system_id = None
        self.crds_ready, self.load_balancer_ready, self.ready = [], [], []
        self._invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        self._partition = (
            pulumi.Output.from_input(args.partition)
            if args.partition is not None
            else aws.get_partition_output(opts=self._invoke_opts).partition
        )
        charts: dict[str, pulumi.Input[str]] = {}

        if spec.aws_load_balancer_controller:
            self._aws_load_balancer_controller()
            charts[AWS_LOAD_BALANCER_CONTROLLER_CHART.release] = AWS_LOAD_BALANCER_CONTROLLER_CHART.version
        if spec.cluster_autoscaler:
            charts["cluster-autoscaler"] = self._cluster_autoscaler()
        if spec.kube_prometheus_stack:
            namespace = self._namespace("monitoring", KUBE_PROMETHEUS_STACK_CHART.namespace)
            chart = self._chart(
                "kube-prometheus-stack",
                KUBE_PROMETHEUS_STACK_CHART,
                kube_prometheus_stack_values(spec, args.cluster_name, args.region, args.grafana_admin_password),
                [namespace],
            )
            self.crds_ready.append(chart)  # PodMonitor, PrometheusRule (Observability)
            # Carries the chart as a dependency: whoever queries the URL waits for Prometheus to be applied.
            self.prometheus_url = chart.urn.apply(lambda _: PROMETHEUS_URL)
        if spec.prometheus_adapter:
            # Without kube-prometheus-stack here, `monitoring` (and the Prometheus) already exist in the cluster.
            self._chart("prometheus-adapter", PROMETHEUS_ADAPTER_CHART, prometheus_adapter_values(), [])
        if spec.keda:
            namespace = self._namespace("keda", KEDA_CHART.namespace)
            self.crds_ready.append(self._chart("keda", KEDA_CHART, keda_values(), [namespace]))  # ScaledObject
        if spec.efs_csi:
            self._efs()

        self.register_outputs(
            {
                "prometheus_url": self.prometheus_url,
                "storage_class_name": self.storage_class_name,
                "file_system_id": self.file_system_id,
                "charts": {
                    **charts,
                    **{
                        pinned.release: pinned.version
                        for enabled, pinned in (
                            (spec.kube_prometheus_stack, KUBE_PROMETHEUS_STACK_CHART),
                            (spec.prometheus_adapter, PROMETHEUS_ADAPTER_CHART),
                            (spec.keda, KEDA_CHART),
                        )
                        if enabled
                    },
                },
            }
        )

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        # Children wait for what the component was told to wait for (e.g. the cluster a Pod Identity association
        # or an EKS add-on is made in), and inherit its providers as children.
        return child_options(self, self._opts, **extra)

    def _detached_role_options(self) -> pulumi.ResourceOptions:
        # Not the component's depends_on (the cluster, the Pod Identity agent): an IAM role is account-wide and
        # needs neither, so it is made while the cluster is still being created. What uses the role waits for both.
        # None inherits the component's aws provider, as every other child does.
        return child_options(self, None, provider=cast(pulumi.ProviderResource, self._aws_provider))

    def _namespace(self, suffix: str, namespace: str) -> k8s.core.v1.Namespace:
        resource = k8s.core.v1.Namespace(
            f"{self._name}-{suffix}",
            metadata={"name": namespace, "labels": dict(PART_OF)},
            opts=self._child(),
        )
        self.ready.append(resource)
        return resource

    def _chart(
        self,
        suffix: str,
        pinned: PinnedChart,
        values: dict[str, Any],
        depends_on: list[pulumi.Resource],
        version: pulumi.Input[str] | None = None,
    ) -> k8s.helm.v4.Chart:
        chart = k8s.helm.v4.Chart(
            f"{self._name}-{suffix}",
            chart=pinned.chart,
            version=version if version is not None else pinned.version,
            repository_opts={"repo": pinned.repository},
            # The release name, not the resource name: object names (Services, labels) derive from it.
            name=pinned.release,
            namespace=pinned.namespace,
            values=values,
            opts=self._child(depends_on=depends_on),
        )
        self.ready.append(chart)
        return chart

    def _vpc_id(self) -> pulumi.Input[str]:
        # The VPC of a subnet the stack names exists before a cluster the stack creates does; the cluster is only
        # asked when no subnet is named (an adopted cluster's own subnets).
        args = self.args
        if args.vpc_id is not None:
            return args.vpc_id
        if args.subnet_ids:
            return aws.ec2.get_subnet_output(id=args.subnet_ids[0], opts=self._invoke_opts).vpc_id
        return aws.eks.get_cluster_output(name=args.cluster_name, opts=self._invoke_opts).vpc_config.vpc_id

    def _pod_identity_role(self, suffix: str, service_account: str, policy: pulumi.Input[str]) -> list[pulumi.Resource]:
        """An IAM role with the inline ``policy`` that ``kube-system/<service_account>`` gets through EKS Pod
        Identity; returns what a pod of that account must wait for (the policy and the association)."""
        aws_opts = self._child()
        role = service_role(
            f"{self._name}-{suffix}", "pods.eks.amazonaws.com", [], self._partition,
            tag_session=True, opts=self._detached_role_options(),
        )  # fmt: skip
        role_policy = aws.iam.RolePolicy(f"{self._name}-{suffix}", role=role.role.id, policy=policy, opts=aws_opts)
        association = aws.eks.PodIdentityAssociation(
            f"{self._name}-{suffix}",
            cluster_name=self.args.cluster_name,
            namespace="kube-system",
            service_account=service_account,
            role_arn=role.arn,
            # The credentials a pod gets carry only what the role allows once its policy is attached.
            opts=self._child(depends_on=[role_policy]),
        )
        return [role_policy, association]

    def _aws_load_balancer_controller(self) -> None:
        args = self.args
        vpc_id = self._vpc_id()
        scheme = args.load_balancer_scheme
        if scheme is not None:
            # With subnets tagged for a scheme in the VPC, the controller only ever considers those
            # (docs/deploy/subnet_discovery.md); an NLB with too few fails long after `pulumi up` began waiting for
            # its hostname. The check is on the VPC id the chart needs, so the chart is never applied without it.
            tagged = aws.ec2.get_subnets_output(
                filters=[
                    {"name": "vpc-id", "values": [vpc_id]},
                    {"name": "tag-key", "values": [SUBNET_ROLE_TAGS[scheme]]},
                ],
                opts=self._invoke_opts,
            )
            vpc_id = pulumi.Output.all(tagged.ids, vpc_id, args.cluster_name).apply(
                lambda found: require_load_balancer_subnets(found[0] or [], found[1], scheme, found[2])
            )
        policy = self._partition.apply(lambda partition: json.dumps(aws_load_balancer_controller_policy(partition)))
        credentials = self._pod_identity_role(
            "aws-load-balancer-controller", AWS_LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT, policy
        )
        self.ready.extend(credentials)
        chart = self._chart(
            "aws-load-balancer-controller",
            AWS_LOAD_BALANCER_CONTROLLER_CHART,
            aws_load_balancer_controller_values(args.cluster_name, args.region, vpc_id),
            credentials,
        )
        self.load_balancer_ready.append(chart)

    def _cluster_autoscaler(self) -> pulumi.Input[str]:
        args, spec = self.args, self.args.spec
        kubernetes_version = (
            args.kubernetes_version
            if args.kubernetes_version is not None
            else aws.eks.get_cluster_output(name=args.cluster_name, opts=self._invoke_opts).version
        )
        # Every pinned entry shares chart, repository, release and namespace; only the version follows the minor.
        pinned = next(iter(CLUSTER_AUTOSCALER_CHARTS.values()))
        version: pulumi.Input[str] = (
            cluster_autoscaler_chart(kubernetes_version).version
            if isinstance(kubernetes_version, str)
            else pulumi.Output.from_input(kubernetes_version).apply(lambda v: cluster_autoscaler_chart(v).version)
        )
        policy = pulumi.Output.from_input(args.cluster_name).apply(
            lambda cluster: json.dumps(cluster_autoscaler_policy(cluster))
        )
        credentials = self._pod_identity_role("cluster-autoscaler", CLUSTER_AUTOSCALER_SERVICE_ACCOUNT, policy)
        self.ready.extend(credentials)
        self._chart(
            "cluster-autoscaler",
            pinned,
            cluster_autoscaler_values(args.cluster_name, args.region, spec.cluster_autoscaler_scale_down_minutes),
            credentials,
            version=version,
        )
        return version

    def _efs(self) -> None:
        args, spec = self.args, self.args.spec
        name = self._name
        aws_opts = self._child()
        invoke_opts = self._invoke_opts
        partition = self._partition
        vpc_id = self._vpc_id()
        vpc_cidr = (
            args.vpc_cidr
            if args.vpc_cidr is not None
            else aws.ec2.get_vpc_output(id=vpc_id, opts=invoke_opts).cidr_block
        )

        role = service_role(
            f"{name}-efs-csi", "pods.eks.amazonaws.com", [EFS_CSI_POLICY], partition,
            tag_session=True, opts=self._detached_role_options(),
        )  # fmt: skip
        addon = aws.eks.Addon(
            f"{name}-efs-csi",
            cluster_name=args.cluster_name,
            addon_name=EFS_CSI_ADDON,
            # Pod Identity rather than IRSA: no OIDC provider to manage; needs the eks-pod-identity-agent add-on
            # (RegionalCluster installs it on clusters it creates).
            pod_identity_associations=[
                {"role_arn": role.arn, "service_account": account} for account in EFS_CSI_SERVICE_ACCOUNTS
            ],
            opts=aws_opts,
        )

        file_system = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            performance_mode="generalPurpose",
            throughput_mode=spec.efs_throughput_mode,
            tags={"Name": pulumi.Output.concat(args.cluster_name, "-vllm-cache"), **PART_OF},
            opts=aws_opts,
        )
        ingress: list[dict[str, Any]] = [
            {"protocol": "tcp", "from_port": NFS_PORT, "to_port": NFS_PORT, "cidr_blocks": [vpc_cidr],
             "description": "NFS from the cluster's VPC"},
        ]  # fmt: skip
        if args.node_security_group_ids:
            ingress.append(
                {"protocol": "tcp", "from_port": NFS_PORT, "to_port": NFS_PORT,
                 "security_groups": list(args.node_security_group_ids), "description": "NFS from the nodes"},
            )  # fmt: skip
        security_group = aws.ec2.SecurityGroup(
            f"{name}-efs-nfs",
            vpc_id=vpc_id,
            description="EFS mount targets of the vLLM model caches: NFS in from the cluster",
            ingress=ingress,
            tags={"Name": pulumi.Output.concat(args.cluster_name, "-vllm-cache-efs"), **PART_OF},
            opts=aws_opts,
        )
        mount_targets = [
            aws.efs.MountTarget(
                f"{name}-efs-{index}",
                file_system_id=file_system.id,
                subnet_id=subnet_id,
                security_groups=[security_group.id],
                opts=aws_opts,
            )
            for index, subnet_id in enumerate(args.subnet_ids)
        ]
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-efs-sc",
            metadata={"name": EFS_STORAGE_CLASS, "labels": dict(PART_OF)},
            provisioner="efs.csi.aws.com",
            parameters=efs_storage_class_parameters(file_system.id, spec.efs_base_path),
            # EFS is regional: a claim can bind at once and be mounted from any zone with a mount target.
            volume_binding_mode="Immediate",
            reclaim_policy="Delete",
            # A claim made before the driver and the mount targets exist would sit Pending; dependents of `ready`
            # (and of storage_class_name) start once the whole path works.
            opts=self._child(depends_on=[addon, *mount_targets]),
        )
        self.storage_class_name = storage_class.metadata.name
        self.file_system_id = file_system.id
        self.ready.extend([addon, *mount_targets, storage_class])
