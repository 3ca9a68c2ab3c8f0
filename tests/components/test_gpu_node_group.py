"""GpuNodeGroup: the GPU tier's managed node groups, and how vLLM pods are matched to them."""

from __future__ import annotations

from tests.plans import container, plan_config, single_model_config


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
