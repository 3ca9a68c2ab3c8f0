"""GpuNodeGroup: the GPU tier's managed node groups, and how vLLM pods are matched to them."""

from __future__ import annotations

import math

import pytest
import yaml

from tests.config.test_config_errors import problems_of
from tests.plans import PROJECT_DIR, TLS_EXPOSURE, container, plan_config, single_model_config
from vllm_infra.offline.runner import plan_stack
from vllm_infra.sizing import gpu_instances


def node_groups(plan):
    return {g.name: g for g in plan.by_type("aws:eks/nodeGroup:NodeGroup")}


def test_node_group_uses_the_sized_instance_and_a_gpu_ami(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    group = node_groups(plan)["us-east-1-llama-8b-on-demand"].inputs
    assert group["instanceTypes"] == ["g6.xlarge"], "the sizer's cheapest fit for 8B at 8k context"
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["capacityType"] == "ON_DEMAND"
    assert group["diskSize"] >= 100, "the vLLM image alone unpacks to ~25 GiB"
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]


def test_a_later_up_never_resets_the_autoscaled_desired_size(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    group = node_groups(plan)["us-east-1-llama-8b-on-demand"]
    assert "scalingConfig.desiredSize" in group.ignore_changes
    scaling = group.inputs["scalingConfig"]
    assert scaling["minSize"] == scaling["desiredSize"] == 1


def test_vllm_pods_and_the_prewarm_job_select_the_tier_nodes(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    labels = node_groups(plan)["us-east-1-llama-8b-on-demand"].inputs["labels"]
    instance = node_groups(plan)["us-east-1-llama-8b-on-demand"].inputs["instanceTypes"][0]
    node = {**labels, "node.kubernetes.io/instance-type": instance}
    pod_selector = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["nodeSelector"]
    job_selector = plan.one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["spec"]["nodeSelector"]
    assert pod_selector.items() <= node.items()
    assert job_selector == pod_selector


def test_spot_comes_with_an_on_demand_fallback_group(tmp_path):
    plan = plan_config(tmp_path, single_model_config(gpu={"capacityType": "spot"}))
    groups = node_groups(plan)
    spot, fallback = groups["us-east-1-llama-8b-spot"].inputs, groups["us-east-1-llama-8b-on-demand"].inputs
    assert spot["capacityType"] == "SPOT" and fallback["capacityType"] == "ON_DEMAND"
    assert spot["scalingConfig"]["minSize"] == 1
    assert fallback["scalingConfig"]["minSize"] == 0 and fallback["scalingConfig"]["maxSize"] >= 1
    assert spot["labels"]["vllm-infra.io/gpu-tier"] == fallback["labels"]["vllm-infra.io/gpu-tier"]


def test_device_plugin_is_installed_only_where_the_ami_lacks_it(tmp_path):
    al2023 = plan_config(tmp_path, single_model_config())
    chart = al2023.one("kubernetes:helm.sh/v4:Chart").inputs
    assert chart["chart"] == "nvidia-device-plugin" and chart["version"] == "0.17.4"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in chart["values"]["tolerations"]
    bottlerocket = plan_config(tmp_path, single_model_config(gpu={"amiType": "BOTTLEROCKET_x86_64_NVIDIA"}))
    assert bottlerocket.by_type("kubernetes:helm.sh/v4:Chart") == []


def test_gpu_limit_matches_the_sized_tensor_parallel_size(tmp_path):
    plan = plan_config(tmp_path, single_model_config(model="meta-llama/Llama-3.1-70B-Instruct"))
    group = node_groups(plan)["us-east-1-llama-8b-on-demand"].inputs
    vllm = container(plan)
    args = vllm["args"]
    tensor_parallel = int(args[args.index("--tensor-parallel-size") + 1])
    assert group["instanceTypes"] == ["g6e.12xlarge"] and tensor_parallel == 4
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_no_node_group_when_gpu_nodes_come_from_elsewhere(tmp_path):
    plan = plan_config(tmp_path, single_model_config(gpu={"instanceType": "g6.xlarge", "createNodeGroup": False}))
    assert plan.by_type("aws:eks/nodeGroup:NodeGroup") == []
    selector = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"node.kubernetes.io/instance-type": "g6.xlarge"}


def asg_tags(plan, group_name):
    """``{key: value}`` of the Auto Scaling group tags of one node group, and the tag resources themselves."""
    group = node_groups(plan)[group_name]
    tags = [t for t in plan.by_type("aws:autoscaling/tag:Tag") if t.name.startswith(f"{group_name}-asg-")]
    return group, {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in tags}, tags


def test_the_autoscaling_group_carries_the_cluster_autoscaler_tags(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    group, tags, resources = asg_tags(plan, "us-east-1-llama-8b-on-demand")
    labels = group.inputs["labels"]
    template = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {
        "k8s.io/cluster-autoscaler/enabled": "true",
        "k8s.io/cluster-autoscaler/ml-platform": "owned",
        **{f"{template}/label/{key}": value for key, value in labels.items()},
        f"{template}/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{template}/resources/nvidia.com/gpu": "1",
    }
    assert labels["vllm-infra.io/gpu-tier"] == "llama-8b"
    for tag in resources:
        # The group's name comes from the node group once EKS created it, so each tag waits for the node group.
        assert group.urn in tag.depends_on
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
    # Tags on the managed node group itself never reach the Auto Scaling group: none are put there.
    assert not any(key.startswith("k8s.io/cluster-autoscaler") for key in group.inputs.get("tags", {}))


def test_spot_and_fallback_groups_are_both_discoverable_and_scale_from_zero(tmp_path):
    plan = plan_config(tmp_path, single_model_config(model="meta-llama/Llama-3.1-70B-Instruct",
                                                     gpu={"capacityType": "spot"}))  # fmt: skip
    for capacity in ("spot", "on-demand"):
        _, tags, _ = asg_tags(plan, f"us-east-1-llama-8b-{capacity}")
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert tags["k8s.io/cluster-autoscaler/node-template/label/vllm-infra.io/capacity-type"] == capacity
        assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "4", "g6e.12xlarge"


def test_the_tag_targets_the_node_groups_own_autoscaling_group():
    from pulumi_aws.eks.outputs import NodeGroupResource, NodeGroupResourceAutoscalingGroup

    from vllm_infra.components.gpu_node_group import _first_autoscaling_group_name

    resources = [NodeGroupResource(autoscaling_groups=[NodeGroupResourceAutoscalingGroup(name="eks-gpu-1a2b")],
                                   remote_access_security_group_id="")]  # fmt: skip
    assert _first_autoscaling_group_name(resources) == "eks-gpu-1a2b"
    assert _first_autoscaling_group_name([{"autoscaling_groups": [{"name": "eks-gpu-3c4d"}]}]) == "eks-gpu-3c4d"


def test_auto_discovery_keys_for_the_autoscaler_chart():
    from vllm_infra.components.gpu_node_group import auto_discovery_tag_keys

    assert auto_discovery_tag_keys("ml-prod") == [
        "k8s.io/cluster-autoscaler/enabled",
        "k8s.io/cluster-autoscaler/ml-prod",
    ]


@pytest.mark.parametrize("stack", ["single", "load-balanced", "multi-model", "multi-region"])
def test_every_shipped_stack_sizes_its_node_groups_for_replicas_plus_surge(stack):
    plan = plan_stack(str(PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml"))
    models = {m["name"]: m for m in yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())[
        "config"]["vllm-infra:models"]}  # fmt: skip
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert groups
    for group in groups:
        tier = group.inputs["labels"]["vllm-infra.io/gpu-tier"]
        model = models[tier]
        deployment = plan.one(
            "kubernetes:apps/v1:Deployment", group.name.removesuffix("-spot").removesuffix("-on-demand")
        )
        gpus_per_replica = int(deployment.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "nvidia.com/gpu"])  # fmt: skip
        per_node = gpu_instances()[group.inputs["instanceTypes"][0]].gpu_count // gpus_per_replica
        autoscaling = model.get("autoscaling")
        most = autoscaling["maxReplicas"] if autoscaling else model.get("replicas", 1)
        fewest = autoscaling.get("minReplicas", 1) if autoscaling else model.get("replicas", 1)
        shared = model.get("cache", {}).get("accessMode") == "ReadWriteMany"
        # A rolling update with a shared cache surges one pod above the most replicas; Recreate (RWO) does not.
        assert deployment.inputs["spec"]["strategy"]["type"] == ("RollingUpdate" if shared else "Recreate")
        scaling = group.inputs["scalingConfig"]
        assert scaling["maxSize"] == math.ceil((most + (1 if shared else 0)) / per_node), group.name
        fallback = group.inputs["capacityType"] == "ON_DEMAND" and model.get("gpu", {}).get("capacityType") == "spot"
        assert scaling["minSize"] == (0 if fallback else math.ceil(fewest / per_node)), group.name


def test_a_node_maximum_below_replicas_plus_surge_is_rejected(tmp_path):
    config = single_model_config(cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}, replicas=3,
                                 gpu={"maxNodes": 3})  # fmt: skip
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:models[0]: gpu.maxNodes 3 cannot run 3 replica(s)")
    assert "surge" in problem and "at least 4" in problem
    config["vllm-infra:models"][0]["gpu"] = {"maxNodes": 4}
    group = plan_config(tmp_path, config).one("aws:eks/nodeGroup:NodeGroup").inputs["scalingConfig"]
    assert (group["minSize"], group["maxSize"]) == (3, 4)
