"""GPU placement at config time: auto choices are sized, pinned ones checked — infeasible ones fail with numbers."""

from __future__ import annotations

import pytest

from tests.config.test_config_errors import problems_of
from tests.plans import container, plan_config, single_model_config
from vllm_infra.sizing import gpu_instances

GIB = 2**30
# meta-llama/Llama-3.1-70B-Instruct config.json: 70,553,706,496 parameters, bf16 (2 bytes each).
LLAMA_70B_WEIGHTS_GIB = 70_553_706_496 * 2 / GIB


def test_an_infeasible_pinned_instance_fails_with_the_numbers(tmp_path):
    config = single_model_config(model="meta-llama/Llama-3.1-70B-Instruct", gpu={"instanceType": "g6.xlarge"})
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:models[0]:")
    assert f"needs ~{LLAMA_70B_WEIGHTS_GIB:.1f} GiB of weights" in problem  # 131.4
    assert "g6.xlarge has 1× L4" in problem and f"({22.0 * 0.9:.1f} GiB)" in problem


def test_a_pinned_tensor_parallel_size_too_small_for_the_model_fails(tmp_path):
    config = single_model_config(
        model="meta-llama/Llama-3.1-70B-Instruct", gpu={"instanceType": "p5.48xlarge"}, engine={"tensorParallelSize": 1}
    )
    (problem,) = problems_of(tmp_path, config)
    assert "p5.48xlarge has 8× H100" in problem and "tensor_parallel_size 2" in problem


def test_quantization_makes_a_70b_fit_one_80gb_gpu(tmp_path):
    config = single_model_config(
        model="hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
        gpu={"instanceType": "p5.48xlarge"},
        engine={"tensorParallelSize": 1},
        resources={"cpu": "20", "memory": "200Gi"},
    )
    args = container(plan_config(tmp_path, config))["args"]
    assert args[args.index("--tensor-parallel-size") + 1] == "1"


def test_an_instance_type_not_offered_in_the_region_is_rejected(tmp_path):
    config = single_model_config(gpu={"instanceType": "g6e.xlarge"})
    config["vllm-infra:regions"] = [
        {"name": "ap-south-1", "cluster": {"existing": {"name": "ml"}}, "vpcCidr": "10.2.0.0/16"}
    ]
    (problem,) = problems_of(tmp_path, config)
    assert "g6e.xlarge is not offered in ap-south-1" in problem


def test_auto_sizing_only_considers_instances_offered_in_the_region(tmp_path):
    config = single_model_config(model="meta-llama/Llama-3.1-70B-Instruct")
    config["vllm-infra:regions"] = [
        {"name": "ap-south-1", "cluster": {"existing": {"name": "ml"}}, "vpcCidr": "10.2.0.0/16"}
    ]
    group = plan_config(tmp_path, config).one("aws:eks/nodeGroup:NodeGroup").inputs
    assert gpu_instances()[group["instanceTypes"][0]].offered_in("ap-south-1")
    assert group["instanceTypes"] != ["g6e.12xlarge"], "the us-east-1 choice is not offered in ap-south-1"


def test_resources_that_cannot_fit_on_the_node_are_rejected(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(resources={"memory": "64Gi"}))
    assert "resources.memory 64Gi exceeds" in problem and "g6.xlarge" in problem


def test_default_resources_are_the_replicas_share_of_the_node(tmp_path):
    vllm = container(plan_config(tmp_path, single_model_config()))
    g6 = gpu_instances()["g6.xlarge"]
    memory_gib = int(vllm["resources"]["limits"]["memory"].removesuffix("Gi"))
    assert 8 <= memory_gib < g6.memory_gib
    assert int(vllm["resources"]["requests"]["cpu"]) < g6.vcpus


def test_a_model_outside_the_catalog_is_sized_from_its_described_architecture(tmp_path):
    # Numbers of a small Llama-architecture model's config.json (TinyLlama-1.1B): 22 layers, 4 KV heads of 64.
    architecture = {
        "total_params": 1_100_048_384, "num_hidden_layers": 22, "num_attention_heads": 32,
        "num_key_value_heads": 4, "head_dim": 64, "hidden_size": 2048, "vocab_size": 32000,
        "max_position_embeddings": 2048,
    }  # fmt: skip
    config = single_model_config(model="acme/tiny-llama", architecture=architecture, engine={"maxModelLen": 2048})
    plan = plan_config(tmp_path, config)
    assert plan.one("aws:eks/nodeGroup:NodeGroup").inputs["instanceTypes"] == ["g6.xlarge"]


def test_a_model_outside_the_catalog_without_architecture_names_the_fix(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(model="acme/unknown-model"))
    assert "not in the model catalog" in problem and "architecture" in problem and "weightsGib" in problem


@pytest.mark.parametrize(
    ("model", "expected_type"),
    [("meta-llama/Llama-3.1-8B-Instruct", "g6.xlarge"), ("meta-llama/Llama-3.1-70B-Instruct", "g6e.12xlarge")],
)
def test_plan_exports_the_gpu_cost_of_the_chosen_nodes(tmp_path, model, expected_type):
    plan = plan_config(tmp_path, single_model_config(model=model))
    assert plan.one("aws:eks/nodeGroup:NodeGroup").inputs["instanceTypes"] == [expected_type]
    assert plan.outputs["estimatedGpuCostPerHour"] == round(gpu_instances()[expected_type].price_per_hour, 2)


def test_regions_that_share_no_instance_type_are_named(tmp_path):
    config = single_model_config()
    config["vllm-infra:topology"] = "multi-region"
    config["vllm-infra:regions"] = [
        {"name": region, "cluster": {"existing": {"name": "ml"}}, "vpcCidr": "10.0.0.0/16"}
        for region in ("ap-southeast-1", "eu-north-1")
    ]
    config["vllm-infra:globalLoadBalancer"] = {"hostedZoneId": "Z0123456789ABC", "domainName": "llm.example.com"}
    problems = problems_of(tmp_path, config)
    assert any("offered in every region of the stack (ap-southeast-1, eu-north-1)" in p for p in problems), problems


def test_the_prewarm_job_and_the_replicas_fit_every_catalog_node_together(tmp_path):
    """A revision change re-runs the Job while the replicas run: the Job's requests (as planned) plus every replica's
    and the GPU node's DaemonSets' must fit the node's allocatable (Karpenter's published figures, vendored)."""
    import json
    from pathlib import Path

    from vllm_infra.config import ModelSpec
    from vllm_infra.config.capacity import replica_resources
    from vllm_infra.sizing.node_capacity import GPU_NODE_DAEMONSETS
    from vllm_infra.sizing.placement import GpuPlacement

    published = json.loads(
        (
            Path(__file__).resolve().parents[1] / "data" / "eks-node-capacity" / "karpenter-instance-types.json"
        ).read_text()
    )
    job = plan_config(tmp_path, single_model_config()).one("kubernetes:batch/v1:Job")
    job_requests = job.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    job_cpu, job_memory = int(job_requests["cpu"].removesuffix("m")), int(job_requests["memory"].removesuffix("Mi"))
    daemonset_cpu = sum(d.cpu_millicores for d in GPU_NODE_DAEMONSETS)
    daemonset_memory = sum(d.memory_mib for d in GPU_NODE_DAEMONSETS)
    model = ModelSpec(name="m", model="meta-llama/Llama-3.1-8B-Instruct")
    for name, instance in gpu_instances().items():
        allocatable_cpu = int(published[name]["cpu"].removesuffix("m"))
        allocatable_memory = int(published[name]["memory"].removesuffix("Mi"))
        for tensor_parallel in (t for t in (1, 2, 4, 8) if instance.gpu_count % t == 0 and t <= instance.gpu_count):
            placement = GpuPlacement(tier="t", instance=instance, tensor_parallel_size=tensor_parallel, memory=None)
            replica = replica_resources(model, placement)
            per_node = placement.replicas_per_node
            assert per_node * int(replica.cpu) * 1000 + job_cpu + daemonset_cpu <= allocatable_cpu, name
            assert per_node * replica.memory_gib * 1024 + job_memory + daemonset_memory <= allocatable_memory, name
            assert replica.memory == f"{replica.memory_gib}Gi"  # the limit, equal to the request


def test_the_g6_12xlarge_replica_requests_fit_its_node(tmp_path):
    # The bug report: memory 189Gi / cpu 47 on a node with 178,933 Mi / 47,810 m allocatable (Karpenter's table).
    config = single_model_config(gpu={"instanceType": "g6.12xlarge"}, engine={"tensorParallelSize": 4})
    vllm = container(plan_config(tmp_path, config))
    requests, limits = vllm["resources"]["requests"], vllm["resources"]["limits"]
    assert requests["memory"] == limits["memory"]
    assert int(requests["memory"].removesuffix("Gi")) * 1024 <= 178_933 - 1024 - 360
    assert int(requests["cpu"]) * 1000 <= 47_810 - 500 - 355


def test_resources_that_leave_no_room_for_the_prewarm_job_are_rejected(tmp_path):
    # g6.xlarge: 14,162 Mi allocatable; 13Gi for the replica would leave the Job and the DaemonSets nothing.
    (problem,) = problems_of(tmp_path, single_model_config(resources={"memory": "13Gi"}))
    assert "resources.memory 13Gi exceeds the 12 GiB one replica can get on g6.xlarge" in problem
    assert "pre-warm Job" in problem


def test_a_model_spec_maps_onto_the_plain_placement_request():
    from vllm_infra.config import ModelSpec
    from vllm_infra.config.capacity import placement_request

    auto = placement_request(ModelSpec(name="m", model="meta-llama/Llama-3.1-8B-Instruct"))
    assert (auto.tier, auto.model_id, auto.instance_type, auto.tensor_parallel_size) == (
        "m", "meta-llama/Llama-3.1-8B-Instruct", None, None)  # fmt: skip
    assert auto.architecture is not None and auto.architecture.hf_id == "meta-llama/Llama-3.1-8B-Instruct"
    pinned = placement_request(ModelSpec(
        name="m", model="meta-llama/Llama-3.1-8B-Instruct", gpu={"instanceType": "g6.12xlarge"},
        engine={"tensorParallelSize": 2, "maxModelLen": 4096, "maxNumSeqs": 64, "kvCacheDtype": "fp8"},
    ))  # fmt: skip
    assert (pinned.instance_type, pinned.tensor_parallel_size) == ("g6.12xlarge", 2)
    assert (pinned.max_model_len, pinned.max_num_seqs, pinned.kv_cache_dtype) == (4096, 64, "fp8")
