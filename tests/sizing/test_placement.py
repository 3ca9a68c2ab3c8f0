"""``vllm_infra.sizing.placement`` works on plain values: no config model is built in these tests.

Expected numbers are worked out here from the catalog rows (``gpu_instances.yaml``: g6.12xlarge = 4× L4,
g6e.12xlarge = 4× L40S) and the README's documented answer for Llama-3.1-70B, not taken from the code under test.
"""

from __future__ import annotations

import re

import pytest

from vllm_infra.sizing import lookup_instance_type, lookup_model
from vllm_infra.sizing.placement import (
    GpuPlacement,
    NodeBounds,
    PlacementRequest,
    fit_replica_resources,
    node_bounds,
    place,
)

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def four_l4_per_node(tensor_parallel_size: int = 1) -> GpuPlacement:
    return GpuPlacement(tier="t", instance=lookup_instance_type("g6.12xlarge"),
                        tensor_parallel_size=tensor_parallel_size, memory=None)  # fmt: skip


def test_auto_placement_of_a_catalog_model_is_the_documented_choice():
    # The config's default context (engine.maxModelLen 8192), as in the README's place_model example.
    request = PlacementRequest(
        tier="llama", model_id=LLAMA_70B, architecture=lookup_model(LLAMA_70B), max_model_len=8192
    )
    placement = place(request, regions=["us-east-1"])
    assert (placement.tier, placement.instance_type, placement.tensor_parallel_size) == ("llama", "g6e.12xlarge", 4)
    assert placement.replicas_per_node == 1 and placement.memory is not None and placement.memory.fits


def test_an_unknown_architecture_needs_both_choices_pinned():
    unsized = PlacementRequest(tier="m", model_id="acme/secret-model", architecture=None, instance_type="g6.12xlarge")
    with pytest.raises(ValueError, match="acme/secret-model is not in the model catalog"):
        place(unsized)
    pinned = PlacementRequest(tier="m", model_id="acme/secret-model", architecture=None, instance_type="g6.12xlarge",
                              tensor_parallel_size=2)  # fmt: skip
    placement = place(pinned)
    assert (placement.instance_type, placement.tensor_parallel_size, placement.memory) == ("g6.12xlarge", 2, None)
    assert placement.replicas_per_node == 2


def test_a_pinned_instance_not_offered_in_a_region_is_rejected():
    request = PlacementRequest(tier="m", model_id="x", architecture=None, instance_type="g6e.xlarge",
                               tensor_parallel_size=1)  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("g6e.xlarge is not offered in ap-south-1")):
        place(request, regions=["ap-south-1"])


def test_an_unknown_instance_type_names_the_config_key():
    request = PlacementRequest(tier="m", model_id="x", architecture=None, instance_type="g9.huge",
                               tensor_parallel_size=1)  # fmt: skip
    with pytest.raises(ValueError, match=r"^gpu\.instanceType: "):
        place(request)


def test_node_bounds_count_the_rolling_surge_replica():
    placement = four_l4_per_node()  # 4 replicas per node
    # 2 replicas -> 1 node; 8 replicas -> 2 nodes, 8 + 1 surge -> 3 nodes.
    assert node_bounds(placement, initial_replicas=2, max_replicas=8, rolling_surge=False) == NodeBounds(1, 2)
    assert node_bounds(placement, initial_replicas=2, max_replicas=8, rolling_surge=True) == NodeBounds(1, 3)
    assert node_bounds(placement, initial_replicas=2, max_replicas=8, rolling_surge=True, max_nodes=5) == NodeBounds(
        1, 5
    )
    with pytest.raises(ValueError, match=r"gpu\.maxNodes 2 cannot run 8 replica.*surge.*at least 3"):
        node_bounds(placement, initial_replicas=2, max_replicas=8, rolling_surge=True, max_nodes=2)


def test_replica_resources_default_to_the_share_and_reject_what_cannot_fit():
    placement = four_l4_per_node(tensor_parallel_size=2)  # 2 replicas on 48 vCPU / 192 GiB
    default = fit_replica_resources(placement)
    assert default.gpus == 2 and default.shm_gib == 4  # /dev/shm: 2 GiB per GPU
    assert 0 < int(default.cpu) < 24 and 0 < default.memory_gib < 96  # less than half the node: its reserve is off
    assert default.memory == f"{default.memory_gib}Gi"
    chosen = fit_replica_resources(placement, cpu="4", memory="32Gi", shm_size_gib=8)
    assert (chosen.cpu, chosen.memory, chosen.shm_gib) == ("4", "32Gi", 8)
    with pytest.raises(ValueError, match=re.escape("resources.memory 96Gi exceeds")):
        fit_replica_resources(placement, memory="96Gi")
    with pytest.raises(ValueError, match=re.escape("resources.cpu 24 exceeds")):
        fit_replica_resources(placement, cpu="24")
    with pytest.raises(ValueError, match=r"resources.shmSizeGib \(32\) must be below the memory limit \(32 GiB\)"):
        fit_replica_resources(placement, memory="32Gi", shm_size_gib=32)
