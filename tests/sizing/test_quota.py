"""GPU vCPU quota preflight: which EC2 quota a node group draws from, and the vCPUs its maximum needs."""

from __future__ import annotations

import pytest

from tests.plans import TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.sizing.quota import NodeGroupDemand, gpu_quota_for, gpu_quota_needs

# Service Quotas codes of the EC2 GPU vCPU quotas (EC2 user guide, "Amazon EC2 service quotas", "Spot Instance
# quotas").
G_ON_DEMAND, P_ON_DEMAND, G_SPOT, P_SPOT = "L-DB2E81BA", "L-417A185B", "L-3819A6DF", "L-7212CCBC"


@pytest.mark.parametrize(
    ("instance_type", "capacity", "code"),
    [("g6.xlarge", "on-demand", G_ON_DEMAND), ("g6e.12xlarge", "spot", G_SPOT),
     ("g5.48xlarge", "on-demand", G_ON_DEMAND), ("p5.48xlarge", "on-demand", P_ON_DEMAND),
     ("p4d.24xlarge", "spot", P_SPOT), ("p5en.48xlarge", "spot", P_SPOT)],
)  # fmt: skip
def test_each_family_and_purchase_option_has_its_quota(instance_type, capacity, code):
    assert gpu_quota_for(instance_type, capacity)[0] == code


def test_needs_are_vcpus_times_maximum_nodes_summed_per_quota_and_region():
    needs = gpu_quota_needs([
        NodeGroupDemand("us-east-1", "g6.xlarge", "spot", 3),        # 4 vCPUs each
        NodeGroupDemand("us-east-1", "g6.xlarge", "on-demand", 3),   # the spot group's fallback
        NodeGroupDemand("us-east-1", "g6e.12xlarge", "on-demand", 2),  # 48 vCPUs each
        NodeGroupDemand("eu-west-1", "p5.48xlarge", "on-demand", 1),   # 192 vCPUs
    ])  # fmt: skip
    assert {region: {n.code: n.vcpus for n in region_needs} for region, region_needs in needs.items()} == {
        "eu-west-1": {P_ON_DEMAND: 192},
        "us-east-1": {G_SPOT: 12, G_ON_DEMAND: 12 + 96},
    }


def quota_output(plan):
    return {
        region: {q["quotaCode"]: q["vcpus"] for q in quotas} for region, quotas in plan.outputs["gpuQuotaVcpus"].items()
    }


def test_plan_exports_the_quota_of_the_single_stack(tmp_path):
    plan = plan_config(tmp_path, single_model_config())
    assert quota_output(plan) == {"us-east-1": {G_ON_DEMAND: 4}}, "one g6.xlarge (4 vCPUs)"
    assert plan.outputs["gpuQuotaVcpus"]["us-east-1"][0]["quotaName"] == "Running On-Demand G and VT instances"


def test_spot_counts_the_spot_group_and_its_fallback(tmp_path):
    config = single_model_config(
        gpu={"capacityType": "spot"}, cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"},
        autoscaling={"minReplicas": 2, "maxReplicas": 5},
    )  # fmt: skip
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    # g6.xlarge (4 vCPUs) × (5 replicas + 1 surge) in each group.
    assert quota_output(plan_config(tmp_path, config)) == {"us-east-1": {G_SPOT: 24, G_ON_DEMAND: 24}}


def test_p_instances_draw_from_the_p_quota(tmp_path):
    config = single_model_config(model="meta-llama/Llama-3.1-70B-Instruct", gpu={"instanceType": "p5.48xlarge"})
    assert quota_output(plan_config(tmp_path, config)) == {"us-east-1": {P_ON_DEMAND: 192}}


def test_nodes_from_elsewhere_need_no_quota_of_the_stack(tmp_path):
    config = single_model_config(gpu={"instanceType": "g6.xlarge", "createNodeGroup": False})
    assert plan_config(tmp_path, config).outputs["gpuQuotaVcpus"] == {}


def test_the_documented_examples_hold():
    import doctest

    from vllm_infra.components import gpu_node_group
    from vllm_infra.sizing import node_capacity, quota

    for module in (node_capacity, quota, gpu_node_group):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_each_region_of_a_multi_region_stack_needs_its_own_quota():
    from tests.plans import PROJECT_DIR
    from vllm_infra.offline.runner import plan_stack

    plan = plan_stack(str(PROJECT_DIR / "stacks" / "Pulumi.multi-region.yaml"))
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    per_region = quota_output(plan)
    assert sorted(per_region) == ["eu-west-1", "us-east-1", "us-west-2"]
    for region, quotas in per_region.items():
        # Each region's vCPUs are its own node groups' maxima (4 vCPUs per g6.xlarge).
        in_region = [g for g in groups if g.name.startswith(f"{region}-")]
        assert sum(quotas.values()) == sum(4 * g.inputs["scalingConfig"]["maxSize"] for g in in_region), region
        assert {g.inputs["instanceTypes"][0] for g in in_region} == {"g6.xlarge"}
