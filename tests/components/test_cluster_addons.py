"""ClusterAddons: what the engine receives for each optional add-on — pinned charts, their values, the EFS file
system and StorageClass, IAM for EKS Pod Identity — and that every child reaches its cloud through the right
provider."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml
from pydantic import ValidationError

from tests.offline.kube_schema import validate_object
from vllm_infra.components.autoscaler import prometheus_adapter_rules
from vllm_infra.components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from vllm_infra.components.device_plugin import CHART as DEVICE_PLUGIN_CHART
from vllm_infra.components.device_plugin import CHART_VERSION as DEVICE_PLUGIN_VERSION
from vllm_infra.config.addons import (
    AWS_LOAD_BALANCER_CONTROLLER_CHART,
    CLUSTER_AUTOSCALER_CHARTS,
    EFS_STORAGE_CLASS,
    KEDA_CHART,
    KUBE_PROMETHEUS_STACK_CHART,
    PROMETHEUS_ADAPTER_CHART,
    PROMETHEUS_URL,
    AddonsSpec,
    PinnedChart,
)
from vllm_infra.config.autoscaling import AutoscalingSpec
from vllm_infra.offline.cloud import default_invokes
from vllm_infra.offline.redact import REDACTED, redact
from vllm_infra.offline.render import manifest
from vllm_infra.offline.runner import Plan, PlannedResource, run_program
from vllm_infra.offline.stackfile import StackFile

COMPONENT = "vllm-infra:cluster_addons:ClusterAddons"
CHART = "kubernetes:helm.sh/v4:Chart"
NAMESPACE = "kubernetes:core/v1:Namespace"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ROLE = "aws:iam/role:Role"
ADDON = "aws:eks/addon:Addon"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
VPC_CIDR = "10.42.0.0/16"
EVERYTHING = AddonsSpec(
    aws_load_balancer_controller=True,
    cluster_autoscaler=True,
    kube_prometheus_stack=True,
    prometheus_adapter=True,
    keda=True,
    efs_csi=True,
)
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_DATA = Path(__file__).resolve().parents[2] / "vllm_infra" / "data" / "iam"


def invokes():
    answers = default_invokes()
    # The offline cluster's VPC (vpc-00000000offline), as `aws ec2 describe-vpcs` would answer for it.
    answers.answers["aws:ec2/getVpc:getVpc"] = lambda args: {"id": args["id"], "cidrBlock": VPC_CIDR}
    return answers


def run(
    spec: AddonsSpec, *, with_dependent: bool = False, answers=None, after_cluster: bool = False, **arg_overrides
) -> Plan:
    """The component alone, under the mock runtime, with the region's two providers handed down as a stack would
    (``after_cluster``: told to wait for a stand-in of the cluster, as the stack program does)."""

    def program() -> None:
        aws_provider = aws.Provider("region-aws", region="us-east-1")
        k8s_provider = k8s.Provider("region-k8s", kubeconfig="{}")
        depends_on = []
        if after_cluster:
            depends_on = [aws.eks.Cluster("cluster", role_arn="arn:aws:iam::000000000000:role/eks",
                                          vpc_config={"subnet_ids": SUBNETS},
                                          opts=pulumi.ResourceOptions(provider=aws_provider))]  # fmt: skip
        args = {"spec": spec, "cluster_name": "ml-platform", "region": "us-east-1", "subnet_ids": SUBNETS}
        # A callable override is made inside the program: Outputs need the program's event loop.
        overrides = {key: value() if callable(value) else value for key, value in arg_overrides.items()}
        addons = ClusterAddons(
            "addons",
            ClusterAddonsArgs(**{**args, **overrides}),
            opts=pulumi.ResourceOptions(providers=[aws_provider, k8s_provider], depends_on=depends_on),
        )
        pulumi.export("prometheus_url", addons.prometheus_url)
        pulumi.export("storage_class_name", addons.storage_class_name)
        pulumi.export("file_system_id", addons.file_system_id)
        pulumi.export("crds_ready", [resource.urn for resource in addons.crds_ready])
        pulumi.export("load_balancer_ready", [resource.urn for resource in addons.load_balancer_ready])
        pulumi.export("ready", [resource.urn for resource in addons.ready])
        if with_dependent:
            # What the Autoscaler does with engine keda: a ScaledObject that must wait for KEDA's CRD.
            # What the balancer does with exposure load-balancer: a Service the controller must see being created.
            k8s.core.v1.Service(
                "balancer",
                metadata={"name": "gateway", "namespace": "vllm"},
                spec={"type": "LoadBalancer", "ports": [{"port": 80}]},
                opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=addons.load_balancer_ready),
            )
            k8s.apiextensions.CustomResource(
                "scaled",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                metadata={"name": "llama-8b", "namespace": "vllm"},
                spec={"scaleTargetRef": {"name": "llama-8b"}, "triggers": []},
                opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=addons.crds_ready),
            )

    stack = StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[])
    return run_program(program, stack, invokes=answers or invokes())


def children(plan: Plan) -> list[PlannedResource]:
    component = plan.one(COMPONENT)
    return [r for r in plan.resources if r.parent == component.urn]


def chart(plan: Plan, pinned: PinnedChart) -> PlannedResource:
    (match,) = [r for r in plan.by_type(CHART) if r.inputs["chart"] == pinned.chart]
    return match


def assert_pinned(resource: PlannedResource, pinned: PinnedChart) -> None:
    assert resource.inputs["chart"] == pinned.chart
    assert resource.inputs["version"] == pinned.version
    assert resource.inputs["repositoryOpts"] == {"repo": pinned.repository}
    assert resource.inputs["name"] == pinned.release
    assert resource.inputs["namespace"] == pinned.namespace


# --- nothing by default -------------------------------------------------------------------------------------------


def test_nothing_is_created_when_every_addon_is_off():
    spec = AddonsSpec()
    assert not spec.any
    plan = run(spec)
    assert children(plan) == []
    assert plan.outputs["prometheus_url"] is None
    assert plan.outputs["storage_class_name"] is None
    assert plan.outputs["crds_ready"] == []
    assert plan.outputs["ready"] == []


# --- pinned charts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "pinned"),
    [
        ("kube_prometheus_stack", KUBE_PROMETHEUS_STACK_CHART),
        ("prometheus_adapter", PROMETHEUS_ADAPTER_CHART),
        ("keda", KEDA_CHART),
    ],
)
def test_each_flag_creates_its_chart_pinned_to_the_exact_version_and_repository(flag, pinned):
    plan = run(AddonsSpec(**{flag: True}))
    (only,) = plan.by_type(CHART)
    assert_pinned(only, pinned)
    assert plan.by_type(FILE_SYSTEM) == [] and plan.by_type(STORAGE_CLASS) == []


def test_pins_are_exact_versions_from_the_upstream_repositories():
    for pinned in (KUBE_PROMETHEUS_STACK_CHART, PROMETHEUS_ADAPTER_CHART, KEDA_CHART):
        # An exact SemVer, never a range or "latest": a plan must not drift with what a repository serves today.
        major, minor, patch = pinned.version.split(".")
        assert major.isdigit() and minor.isdigit() and patch.isdigit(), pinned
        assert pinned.repository.startswith("https://"), pinned
    assert KUBE_PROMETHEUS_STACK_CHART.repository == "https://prometheus-community.github.io/helm-charts"
    assert PROMETHEUS_ADAPTER_CHART.repository == KUBE_PROMETHEUS_STACK_CHART.repository
    assert KEDA_CHART.repository == "https://kedacore.github.io/charts"


# Chart versions seen published, with where (each repository's own index or release tag, read 2026-12-03):
# - keda: kedacore/charts docs/index.yaml (https://kedacore.github.io/charts/index.yaml, generated 2026-07-31),
#   newest entry 2.20.2; no 2.21.x entry or tag.
# - kube-prometheus-stack 88.5.0, prometheus-adapter 5.3.0: chart-releaser tags of prometheus-community/helm-charts
#   (kube-prometheus-stack-88.5.0 at a754ab1c, prometheus-adapter-5.3.0 at e6e041b6).
# - aws-load-balancer-controller 3.5.0: aws/eks-charts gh-pages index.yaml (https://aws.github.io/eks-charts).
# - cluster-autoscaler: kubernetes/autoscaler gh-pages index.yaml (https://kubernetes.github.io/autoscaler).
# - nvidia-device-plugin 0.17.4: NVIDIA/k8s-device-plugin gh-pages index.yaml (stable/nvidia-device-plugin-0.17.4.tgz).
PUBLISHED_CHARTS = {
    ("https://kedacore.github.io/charts", "keda"): {"2.20.0", "2.20.1", "2.20.2"},
    ("https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack"): {"88.5.0"},
    ("https://prometheus-community.github.io/helm-charts", "prometheus-adapter"): {"5.3.0"},
    ("https://aws.github.io/eks-charts", "aws-load-balancer-controller"): {"3.5.0"},
    ("https://kubernetes.github.io/autoscaler", "cluster-autoscaler"): {"9.46.6", "9.51.0", "9.53.0", "9.59.0"},
    ("https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin"): {"0.17.4"},
}
# appVersion of those chart versions in the same indexes.
CLUSTER_AUTOSCALER_APP_VERSIONS = {"9.46.6": "1.32.0", "9.51.0": "1.33.0", "9.53.0": "1.34.2", "9.59.0": "1.35.0"}


def test_every_pinned_chart_version_is_one_its_repository_published():
    pinned = [
        KUBE_PROMETHEUS_STACK_CHART, PROMETHEUS_ADAPTER_CHART, KEDA_CHART, AWS_LOAD_BALANCER_CONTROLLER_CHART,
        *CLUSTER_AUTOSCALER_CHARTS.values(),
    ]  # fmt: skip
    for chart_pin in pinned:
        assert chart_pin.version in PUBLISHED_CHARTS[(chart_pin.repository, chart_pin.chart)], chart_pin.reference
    device_plugin = ("https://nvidia.github.io/k8s-device-plugin", DEVICE_PLUGIN_CHART)
    assert DEVICE_PLUGIN_VERSION in PUBLISHED_CHARTS[device_plugin]


def test_each_cluster_autoscaler_chart_runs_the_release_of_its_kubernetes_minor():
    assert set(CLUSTER_AUTOSCALER_CHARTS) >= {"1.33"}  # the created clusters' default Kubernetes version
    for minor, pinned in CLUSTER_AUTOSCALER_CHARTS.items():
        assert CLUSTER_AUTOSCALER_APP_VERSIONS[pinned.version].startswith(minor + "."), (minor, pinned.version)
        assert pinned.app_version == CLUSTER_AUTOSCALER_APP_VERSIONS[pinned.version]


# --- AWS Load Balancer Controller ---------------------------------------------------------------------------------


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_vendored_iam_policies_are_the_upstream_files_named_in_their_source():
    source = (IAM_DATA / "SOURCE.md").read_text()
    rows = [line.split("|") for line in source.splitlines() if line.startswith("| `")]
    files = {cells[1].strip().strip("`"): cells[5].strip().strip("`") for cells in rows}
    assert "aws-load-balancer-controller-v3.5.0.json" in files
    for name, blob in files.items():
        if name.startswith("aws-load-balancer-controller"):
            # Byte for byte the blob of docs/install/iam_policy*.json at tag v3.5.0.
            assert git_blob_id(IAM_DATA / name) == blob, name
    # The tag of the policy is the controller version the pinned chart installs.
    assert AWS_LOAD_BALANCER_CONTROLLER_CHART.app_version == "v3.5.0"
    assert "tag `v3.5.0`" in source


def test_load_balancer_controller_is_the_pinned_chart_for_this_cluster_and_vpc():
    plan = run(AddonsSpec(aws_load_balancer_controller=True))
    controller = chart(plan, AWS_LOAD_BALANCER_CONTROLLER_CHART)
    assert_pinned(controller, AWS_LOAD_BALANCER_CONTROLLER_CHART)
    assert (controller.inputs["version"], controller.inputs["repositoryOpts"]["repo"]) == (
        "3.5.0", "https://aws.github.io/eks-charts",
    )  # fmt: skip
    values = controller.inputs["values"]
    assert values["clusterName"] == "ml-platform"
    assert values["region"] == "us-east-1"
    # The VPC of the first named subnet (offline answer).
    assert values["vpcId"] == "vpc-00000000offline"
    assert values["replicaCount"] == 2
    assert values["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller"}
    # No cluster-wide Service mutation: the balancer asks for the controller by annotation.
    assert values["enableServiceMutatorWebhook"] is False
    # The webhook certificate survives re-renders instead of rotating on every `pulumi up`.
    assert values["keepTLSSecret"] is True
    assert plan.by_type(FILE_SYSTEM) == []


def test_load_balancer_controller_gets_its_official_policy_through_pod_identity_before_it_starts():
    plan = run(AddonsSpec(aws_load_balancer_controller=True))
    (role,) = plan.by_type(ROLE)
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (policy,) = plan.by_type(ROLE_POLICY)
    assert policy.inputs["role"] == f"{role.name}-id"
    official = json.loads((IAM_DATA / "aws-load-balancer-controller-v3.5.0.json").read_text())
    assert json.loads(policy.inputs["policy"]) == official
    actions = {action for statement in official["Statement"] for action in statement["Action"]}
    assert {"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:RegisterTargets"} <= actions
    (association,) = plan.by_type(POD_IDENTITY_ASSOCIATION)
    assert association.inputs["clusterName"] == "ml-platform"
    assert association.inputs["namespace"] == "kube-system"
    assert association.inputs["serviceAccount"] == "aws-load-balancer-controller"
    assert role.urn in association.depends_on  # its roleArn
    # A pod created before its association has no credentials, so the chart waits for it and for the policy.
    controller = chart(plan, AWS_LOAD_BALANCER_CONTROLLER_CHART)
    assert {association.urn, policy.urn} <= set(controller.depends_on)
    assert policy.urn in association.depends_on


@pytest.mark.parametrize(
    ("partition", "arn_prefix"), [("aws", "arn:aws:"), ("aws-us-gov", "arn:aws-us-gov:"), ("aws-cn", "arn:aws-cn:")]
)
def test_load_balancer_controller_policy_is_the_one_of_the_regions_partition(partition, arn_prefix):
    plan = run(AddonsSpec(aws_load_balancer_controller=True), partition=partition)
    document = json.loads(plan.one(ROLE_POLICY).inputs["policy"])
    arns = [s["Resource"] for s in document["Statement"] if isinstance(s["Resource"], str) and s["Resource"] != "*"]
    assert arns and all(arn.startswith(arn_prefix) for arn in arns)


def test_balancers_wait_for_the_load_balancer_controller():
    plan = run(AddonsSpec(aws_load_balancer_controller=True, keda=True), with_dependent=True)
    controller = chart(plan, AWS_LOAD_BALANCER_CONTROLLER_CHART)
    assert plan.outputs["load_balancer_ready"] == [controller.urn]
    service = plan.one("kubernetes:core/v1:Service")
    assert controller.urn in service.depends_on
    assert controller.urn in plan.outputs["ready"]


def test_eks_objects_wait_for_the_cluster_the_component_waits_for():
    plan = run(EVERYTHING, after_cluster=True)
    cluster = plan.one("aws:eks/cluster:Cluster")
    waiting = [*plan.by_type(POD_IDENTITY_ASSOCIATION), plan.one(ADDON), *plan.by_type(CHART)]
    assert len(waiting) == 2 + 1 + 5
    for resource in waiting:
        assert cluster.urn in resource.depends_on, resource.name


def test_no_controller_means_nothing_to_wait_for():
    plan = run(AddonsSpec(keda=True))
    assert plan.outputs["load_balancer_ready"] == []
    assert plan.by_type(POD_IDENTITY_ASSOCIATION) == []


def subnet_answers(ids: list[str], seen: list[dict]):
    answers = invokes()

    def subnets(args: dict) -> dict:
        seen.append(args)
        return {"id": "x", "ids": ids, "filters": args.get("filters")}

    answers.answers["aws:ec2/getSubnets:getSubnets"] = subnets
    return answers


@pytest.mark.parametrize(
    ("scheme", "tag"), [("internet-facing", "kubernetes.io/role/elb"), ("internal", "kubernetes.io/role/internal-elb")]
)
def test_load_balancer_subnets_tagged_for_the_scheme_are_looked_up_in_the_vpc(scheme, tag):
    seen: list[dict] = []
    plan = run(AddonsSpec(aws_load_balancer_controller=True), load_balancer_scheme=scheme,
               answers=subnet_answers(["subnet-0aaa0000000000001", "subnet-0aaa0000000000002"], seen))  # fmt: skip
    (lookup,) = seen
    filters = {f["name"]: f["values"] for f in lookup["filters"]}
    assert filters == {"vpc-id": ["vpc-00000000offline"], "tag-key": [tag]}
    assert chart(plan, AWS_LOAD_BALANCER_CONTROLLER_CHART).inputs["values"]["vpcId"] == "vpc-00000000offline"


@pytest.mark.parametrize(("scheme", "tag"), [("internet-facing", "kubernetes.io/role/elb"),
                                            ("internal", "kubernetes.io/role/internal-elb")])  # fmt: skip
def test_too_few_tagged_subnets_stop_the_deployment_naming_the_tag(scheme, tag):
    with pytest.raises(Exception) as raised:
        run(AddonsSpec(aws_load_balancer_controller=True), load_balancer_scheme=scheme,
            answers=subnet_answers(["subnet-0aaa0000000000001"], []))  # fmt: skip
    message = str(raised.value)
    assert f"{tag}=1" in message and "vpc-00000000offline" in message and "aws ec2 create-tags" in message


def test_without_a_scheme_no_subnet_is_required():
    seen: list[dict] = []
    run(AddonsSpec(aws_load_balancer_controller=True), answers=subnet_answers([], seen))
    assert seen == []


# --- cluster-autoscaler -------------------------------------------------------------------------------------------


def autoscaler_chart(plan: Plan) -> PlannedResource:
    (match,) = [r for r in plan.by_type(CHART) if r.inputs["chart"] == "cluster-autoscaler"]
    return match


@pytest.mark.parametrize(("kubernetes_version", "chart_version"), [("1.33", "9.51.0"), ("1.35", "9.59.0")])
def test_cluster_autoscaler_is_the_chart_of_the_clusters_kubernetes_minor(kubernetes_version, chart_version):
    plan = run(AddonsSpec(cluster_autoscaler=True), kubernetes_version=kubernetes_version)
    autoscaler = autoscaler_chart(plan)
    assert autoscaler.inputs["version"] == chart_version
    assert autoscaler.inputs["repositoryOpts"] == {"repo": "https://kubernetes.github.io/autoscaler"}
    assert (autoscaler.inputs["name"], autoscaler.inputs["namespace"]) == ("cluster-autoscaler", "kube-system")


def test_cluster_autoscaler_of_an_adopted_cluster_follows_its_looked_up_version():
    answers = invokes()
    cluster = answers.answers["aws:eks/getCluster:getCluster"]
    answers.answers["aws:eks/getCluster:getCluster"] = lambda args: {**cluster(args), "version": "1.34"}
    plan = run(AddonsSpec(cluster_autoscaler=True), answers=answers)
    assert autoscaler_chart(plan).inputs["version"] == "9.53.0"


def test_cluster_autoscaler_refuses_a_kubernetes_minor_without_a_pinned_release():
    with pytest.raises(Exception, match=r"no pinned release for Kubernetes 1\.29"):
        run(AddonsSpec(cluster_autoscaler=True), kubernetes_version="1.29")


def test_cluster_autoscaler_discovers_exactly_the_gpu_node_groups_tags():
    plan = run(AddonsSpec(cluster_autoscaler=True), kubernetes_version="1.33")
    values = autoscaler_chart(plan).inputs["values"]
    assert values["cloudProvider"] == "aws"
    assert values["awsRegion"] == "us-east-1"
    # The tags the GPU node groups' Auto Scaling groups carry (k8s.io/cluster-autoscaler/{enabled,<cluster>}).
    assert values["autoDiscovery"] == {
        "clusterName": "ml-platform",
        "tags": ["k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/ml-platform"],
    }
    assert values["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"


def test_cluster_autoscaler_balances_groups_and_is_slow_to_remove_gpu_nodes():
    plan = run(AddonsSpec(cluster_autoscaler=True, cluster_autoscaler_scale_down_minutes=45), kubernetes_version="1.33")
    args = autoscaler_chart(plan).inputs["values"]["extraArgs"]
    assert args["balance-similar-node-groups"] is True
    # vLLM pods use emptyDir and /dev/shm; without this their nodes are never scaled down.
    assert args["skip-nodes-with-local-storage"] is False
    # Spot before its on-demand fallback, then the group that wastes least.
    assert args["expander"] == "priority,least-waste"
    priorities = autoscaler_chart(plan).inputs["values"]["expanderPriorities"]
    assert priorities == {"50": [".*-spot-.*"], "10": [".*"]}
    # Well above the 10-minute upstream defaults, so a lull does not cost a GPU cold start.
    assert args["scale-down-unneeded-time"] == "45m" and args["scale-down-delay-after-add"] == "45m"
    assert AddonsSpec().cluster_autoscaler_scale_down_minutes == 30


def test_cluster_autoscaler_policy_is_upstreams_with_resizing_limited_to_this_clusters_groups():
    plan = run(AddonsSpec(cluster_autoscaler=True), kubernetes_version="1.33")
    (policy,) = plan.by_type(ROLE_POLICY)
    document = json.loads(policy.inputs["policy"])
    upstream = json.loads((IAM_DATA / "cluster-autoscaler-auto-discovery.json").read_text())
    describe, resize = document["Statement"]
    assert describe == upstream["Statement"][0]
    assert "autoscaling:DescribeAutoScalingGroups" in describe["Action"]
    assert "ec2:DescribeInstanceTypes" in describe["Action"] and "eks:DescribeNodegroup" in describe["Action"]
    assert resize["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert resize["Condition"] == {"Null": {"autoscaling:ResourceTag/k8s.io/cluster-autoscaler/ml-platform": "false"}}
    (association,) = plan.by_type(POD_IDENTITY_ASSOCIATION)
    assert association.inputs["namespace"] == "kube-system"
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"
    assert {association.urn, policy.urn} <= set(autoscaler_chart(plan).depends_on)


# --- values against the charts' own defaults ----------------------------------------------------------------------

CHART_VALUES = Path(__file__).resolve().parents[1] / "data" / "chart-values"
# Maps whose keys are the software's own flags, not chart settings (cluster-autoscaler's values.yaml: "extraArgs --
# Additional container arguments"): anything goes below them.
FREE_FORM = {"extraArgs"}


def unknown_keys(ours: dict, defaults: dict, path: str = "") -> list[str]:
    """Key paths of ``ours`` that the chart's default values do not have (Helm ignores such keys silently)."""
    unknown = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            unknown.append(where)
            continue
        default = defaults[key]
        # An empty default map ({}) is the chart's way of saying "any keys here" (resources, PDB settings).
        if isinstance(value, dict) and isinstance(default, dict) and default and key not in FREE_FORM:
            unknown += unknown_keys(value, default, where)
    return unknown


def chart_defaults(name: str, version: str) -> dict:
    return yaml.safe_load((CHART_VALUES / f"{name}-{version}.yaml").read_text())


def test_vendored_chart_defaults_are_of_the_pinned_versions():
    pinned = [AWS_LOAD_BALANCER_CONTROLLER_CHART, KEDA_CHART, *CLUSTER_AUTOSCALER_CHARTS.values()]
    for chart_pin in pinned:
        assert (CHART_VALUES / f"{chart_pin.chart}-{chart_pin.version}.yaml").is_file(), chart_pin.reference


def test_load_balancer_controller_values_are_settings_of_its_chart():
    plan = run(AddonsSpec(aws_load_balancer_controller=True), load_balancer_scheme="internal")
    values = chart(plan, AWS_LOAD_BALANCER_CONTROLLER_CHART).inputs["values"]
    assert unknown_keys(values, chart_defaults("aws-load-balancer-controller", "3.5.0")) == []


def test_keda_values_are_settings_of_its_chart():
    values = chart(run(AddonsSpec(keda=True)), KEDA_CHART).inputs["values"]
    assert unknown_keys(values, chart_defaults("keda", KEDA_CHART.version)) == []


@pytest.mark.parametrize("minor", sorted(CLUSTER_AUTOSCALER_CHARTS))
def test_cluster_autoscaler_values_are_settings_of_each_pinned_chart(minor):
    plan = run(AddonsSpec(cluster_autoscaler=True), kubernetes_version=minor)
    autoscaler = autoscaler_chart(plan)
    defaults = chart_defaults("cluster-autoscaler", autoscaler.inputs["version"])
    assert unknown_keys(autoscaler.inputs["values"], defaults) == []
    # The chart's own image is the release of that minor.
    assert defaults["image"]["tag"].startswith(f"v{minor}.")


def test_a_misspelt_setting_would_be_caught():
    defaults = chart_defaults("keda", KEDA_CHART.version)
    assert unknown_keys({"operator": {"replicas": 2}, "metricServer": {"replicaCount": 1}}, defaults) == [
        "operator.replicas", "metricServer",
    ]  # fmt: skip


# --- kube-prometheus-stack ----------------------------------------------------------------------------------------


def test_kube_prometheus_stack_gets_its_namespace_and_waits_for_it():
    plan = run(AddonsSpec(kube_prometheus_stack=True))
    (namespace,) = plan.by_type(NAMESPACE)
    assert namespace.inputs["metadata"]["name"] == "monitoring"
    validate_object(manifest(namespace))
    assert namespace.urn in chart(plan, KUBE_PROMETHEUS_STACK_CHART).depends_on


def test_kube_prometheus_stack_picks_up_every_monitor_and_keeps_bounded_history():
    spec = AddonsSpec(kube_prometheus_stack=True, prometheus_retention="30d", prometheus_storage_gib=100,
                      prometheus_storage_class="gp3")  # fmt: skip
    values = chart(run(spec), KUBE_PROMETHEUS_STACK_CHART).inputs["values"]
    prometheus = values["prometheus"]["prometheusSpec"]
    for selector in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert prometheus[f"{selector}SelectorNilUsesHelmValues"] is False, selector
    assert prometheus["retention"] == "30d"
    assert prometheus["retentionSize"] == "85GB"  # stops before the 100 Gi volume fills
    claim = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi"
    assert claim["storageClassName"] == "gp3"
    assert prometheus["resources"]["requests"]["memory"]
    assert prometheus["externalLabels"] == {"cluster": "ml-platform", "region": "us-east-1"}
    assert values["alertmanager"]["alertmanagerSpec"]["replicas"] == 2


def test_grafana_loads_labelled_dashboards_from_every_namespace_without_the_default_password():
    values = chart(run(AddonsSpec(kube_prometheus_stack=True)), KUBE_PROMETHEUS_STACK_CHART).inputs["values"]
    dashboards = values["grafana"]["sidecar"]["dashboards"]
    assert dashboards == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}
    assert values["grafana"]["adminPassword"] == ""  # the chart generates one; never kube-prometheus-stack's default


def test_a_given_grafana_password_stays_secret():
    plan = run(AddonsSpec(kube_prometheus_stack=True), grafana_admin_password=lambda: pulumi.Output.secret("s3cret"))
    values = chart(plan, KUBE_PROMETHEUS_STACK_CHART).inputs["values"]
    assert "s3cret" not in json.dumps(redact(values), default=str)
    assert redact(values)["grafana"]["adminPassword"] == REDACTED


def test_kube_prometheus_stack_leaves_out_what_pulumi_cannot_apply_and_eks_cannot_serve():
    values = chart(run(AddonsSpec(kube_prometheus_stack=True)), KUBE_PROMETHEUS_STACK_CHART).inputs["values"]
    # The webhook's certificate comes from Helm hook Jobs, which Chart v4 does not apply.
    assert values["prometheusOperator"]["admissionWebhooks"]["enabled"] is False
    assert values["prometheusOperator"]["tls"]["enabled"] is False
    for component in ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy"):
        assert values[component] == {"enabled": False}, component


def test_prometheus_url_is_the_address_the_autoscalers_query():
    plan = run(AddonsSpec(kube_prometheus_stack=True))
    assert plan.outputs["prometheus_url"] == PROMETHEUS_URL
    assert PROMETHEUS_URL == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    # The KEDA engine's default Prometheus is this one.
    assert AutoscalingSpec(engine="keda", max_replicas=2).prometheus_address == PROMETHEUS_URL


def test_release_name_and_labels_match_what_observability_expects():
    from vllm_infra.config.observability import ObservabilitySpec

    observability = ObservabilitySpec()
    assert observability.prometheus_release_label == KUBE_PROMETHEUS_STACK_CHART.release
    assert observability.monitoring_namespace == KUBE_PROMETHEUS_STACK_CHART.namespace
    values = chart(run(AddonsSpec(kube_prometheus_stack=True)), KUBE_PROMETHEUS_STACK_CHART).inputs["values"]
    dashboards = values["grafana"]["sidecar"]["dashboards"]
    assert observability.grafana_dashboard_label == {dashboards["label"]: dashboards["labelValue"]}


# --- prometheus-adapter -------------------------------------------------------------------------------------------


def test_prometheus_adapter_serves_exactly_the_hpa_rules_from_that_prometheus():
    plan = run(AddonsSpec(kube_prometheus_stack=True, prometheus_adapter=True))
    values = chart(plan, PROMETHEUS_ADAPTER_CHART).inputs["values"]
    assert values["rules"] == {"default": False, "custom": prometheus_adapter_rules()}
    prometheus = values["prometheus"]
    assert f"{prometheus['url']}:{int(prometheus['port'])}" == PROMETHEUS_URL
    assert values["replicas"] == 2
    assert values["podDisruptionBudget"]["enabled"] is True


def test_prometheus_adapter_alone_reuses_an_existing_monitoring_namespace():
    plan = run(AddonsSpec(prometheus_adapter=True))
    assert plan.by_type(NAMESPACE) == []
    assert plan.outputs["prometheus_url"] is None


# --- KEDA ---------------------------------------------------------------------------------------------------------


def test_keda_gets_its_namespace_and_production_replicas():
    plan = run(AddonsSpec(keda=True))
    (namespace,) = plan.by_type(NAMESPACE)
    assert namespace.inputs["metadata"]["name"] == "keda"
    keda = chart(plan, KEDA_CHART)
    assert namespace.urn in keda.depends_on
    values = keda.inputs["values"]
    assert values["operator"]["replicaCount"] == 2
    assert set(values["resources"]) == {"operator", "metricServer", "webhooks"}
    assert all(resources["requests"] for resources in values["resources"].values())


def test_scaled_objects_can_wait_for_kedas_crds():
    plan = run(AddonsSpec(keda=True), with_dependent=True)
    keda = chart(plan, KEDA_CHART)
    assert plan.outputs["crds_ready"] == [keda.urn]
    scaled = plan.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert keda.urn in scaled.depends_on


def test_crds_ready_names_every_chart_that_installs_crds():
    plan = run(EVERYTHING)
    assert set(plan.outputs["crds_ready"]) == {
        chart(plan, KUBE_PROMETHEUS_STACK_CHART).urn,  # PodMonitor, PrometheusRule
        chart(plan, KEDA_CHART).urn,  # ScaledObject
    }
    assert set(plan.outputs["crds_ready"]) <= set(plan.outputs["ready"])


# --- EFS ----------------------------------------------------------------------------------------------------------


def test_efs_storage_class_is_valid_and_provisions_access_points_on_the_file_system():
    plan = run(AddonsSpec(efs_csi=True, efs_base_path="/models/"))
    storage_class = plan.one(STORAGE_CLASS)
    obj = manifest(storage_class)
    validate_object(obj)
    file_system = plan.one(FILE_SYSTEM)
    assert obj["metadata"]["name"] == EFS_STORAGE_CLASS == "efs-sc"
    assert obj["provisioner"] == "efs.csi.aws.com"
    assert obj["parameters"] == {
        "provisioningMode": "efs-ap",
        "fileSystemId": f"{file_system.name}-id",  # the mock id of the file system this component created
        "directoryPerms": "700",
        "basePath": "/models",
    }
    assert obj["volumeBindingMode"] == "Immediate"
    assert plan.outputs["storage_class_name"] == "efs-sc"
    assert plan.outputs["file_system_id"] == f"{file_system.name}-id"


def test_efs_is_encrypted_and_reachable_by_nfs_from_the_vpc_only():
    plan = run(AddonsSpec(efs_csi=True))
    file_system = plan.one(FILE_SYSTEM).inputs
    assert file_system["encrypted"] is True
    assert file_system["throughputMode"] == "elastic"
    (group,) = plan.by_type(SECURITY_GROUP)
    # Looked up: the VPC of the cluster (offline answer), then its CIDR.
    assert group.inputs["vpcId"] == "vpc-00000000offline"
    (rule,) = group.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 2049, 2049)
    assert rule["cidrBlocks"] == [VPC_CIDR]


def test_one_mount_target_per_subnet_in_the_nfs_security_group():
    plan = run(AddonsSpec(efs_csi=True))
    file_system, group = plan.one(FILE_SYSTEM), plan.one(SECURITY_GROUP)
    targets = plan.by_type(MOUNT_TARGET)
    assert sorted(t.inputs["subnetId"] for t in targets) == sorted(SUBNETS)
    for target in targets:
        assert target.inputs["fileSystemId"] == f"{file_system.name}-id"
        assert target.inputs["securityGroups"] == [f"{group.name}-id"]
    # Claims are only offered once the driver and every mount target exist.
    assert set(plan.one(STORAGE_CLASS).depends_on) >= {t.urn for t in targets} | {plan.one(ADDON).urn}


def test_given_vpc_cidr_and_node_groups_are_used_as_they_are():
    plan = run(AddonsSpec(efs_csi=True), vpc_id="vpc-0given", vpc_cidr="100.64.0.0/16",
               node_security_group_ids=["sg-0nodes"])  # fmt: skip
    group = plan.one(SECURITY_GROUP).inputs
    assert group["vpcId"] == "vpc-0given"
    cidr_rule, group_rule = group["ingress"]
    assert cidr_rule["cidrBlocks"] == ["100.64.0.0/16"]
    assert group_rule["securityGroups"] == ["sg-0nodes"]


def test_efs_csi_driver_is_the_eks_addon_with_a_pod_identity_role():
    plan = run(AddonsSpec(efs_csi=True))
    addon = plan.one(ADDON).inputs
    assert addon["addonName"] == "aws-efs-csi-driver"
    assert addon["clusterName"] == "ml-platform"
    accounts = {association["serviceAccount"] for association in addon["podIdentityAssociations"]}
    assert accounts == {"efs-csi-controller-sa", "efs-csi-node-sa"}
    role = plan.one(ROLE)
    assert role.urn in plan.one(ADDON).depends_on
    attachment = plan.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"


def test_iam_roles_trust_eks_pod_identity():
    plan = run(EVERYTHING)
    roles = plan.by_type(ROLE)
    assert roles
    for role in roles:
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        # Pod Identity tags the session: without sts:TagSession the driver's credentials are refused.
        assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}


def test_efs_needs_subnets_for_its_mount_targets():
    with pytest.raises(Exception, match="subnet_ids"):
        run(AddonsSpec(efs_csi=True), subnet_ids=[])


# --- providers ----------------------------------------------------------------------------------------------------


def test_every_child_uses_the_regions_provider_for_its_cloud():
    plan = run(EVERYTHING)
    providers = {
        r.type.removeprefix("pulumi:providers:"): r for r in plan.resources if r.type.startswith("pulumi:providers:")
    }
    expected = {package: f"{provider.urn}::{provider.name}-id" for package, provider in providers.items()}
    kids = children(plan)
    assert {r.type.split(":", 1)[0] for r in kids} == {"aws", "kubernetes"}
    for resource in kids:
        package = resource.type.split(":", 1)[0]
        assert resource.provider == expected[package], (resource.type, resource.name, resource.provider)


# --- config -------------------------------------------------------------------------------------------------------


def test_stack_file_keys_are_camel_case_and_typos_are_errors():
    spec = AddonsSpec.model_validate(
        {"kubePrometheusStack": True, "prometheusRetention": "12h", "prometheusAdapter": True, "efsCsi": True}
    )
    assert spec.kube_prometheus_stack and spec.prometheus_adapter and spec.efs_csi and not spec.keda
    with pytest.raises(ValidationError, match="kubePrometheusStak"):
        AddonsSpec.model_validate({"kubePrometheusStak": True})


@pytest.mark.parametrize("retention", ["15", "fifteen days", "15 d", "-1d", ""])
def test_retention_must_be_a_prometheus_duration(retention):
    with pytest.raises(ValidationError, match="Prometheus duration"):
        AddonsSpec(prometheus_retention=retention)


@pytest.mark.parametrize("base_path", ["models", "/", "/a/../b"])
def test_efs_base_path_must_be_a_directory_below_the_root(base_path):
    with pytest.raises(ValidationError, match="absolute directory"):
        AddonsSpec(efs_base_path=base_path)
