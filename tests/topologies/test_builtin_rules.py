"""The built-in topologies' rules: what each one's ``validate`` rejects, and the shared rules its attributes turn on,
in the words the stack reports them (the messages were fixed before topologies became modules; they must not drift).

Covered elsewhere, not repeated here: single's rule through a plan (tests/config/test_config_errors.py), the
multi-region rules on the global load balancer, the strategy and the exposure (test_multi_region.py), the TLS rules
(tests/components/test_load_balancer.py) and scale to zero behind a balancer (tests/config/test_config_messages.py).
"""

from __future__ import annotations

import copy

import pytest

from tests.config.test_config_errors import problems_of
from tests.plans import EXISTING_CLUSTER, TLS_EXPOSURE, single_model_config
from tests.topologies.test_multi_region import shipped_config as multi_region_config
from vllm_infra.config import StackConfig, validate_config
from vllm_infra.topologies import topology_for

SHARED_CACHE = {"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}
SECOND_MODEL = {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", "cache": SHARED_CACHE}


def stack(config: dict) -> StackConfig:
    """A stack file's config (``vllm-infra:`` keys) validated as the program validates it."""
    return validate_config(StackConfig, {key.removeprefix("vllm-infra:"): value for key, value in config.items()})


def load_balanced(**model_overrides) -> dict:
    config = single_model_config(cache=SHARED_CACHE, **model_overrides)
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    return config


def multi_model() -> dict:
    config = load_balanced()
    config["vllm-infra:topology"] = "multi-model"
    config["vllm-infra:models"] = [*config["vllm-infra:models"], SECOND_MODEL]
    config["vllm-infra:balancer"] = {"strategy": "router", "exposure": TLS_EXPOSURE}
    return config


def test_single_rejects_a_second_replica_or_model():
    single = topology_for("single")
    assert single.validate(stack(single_model_config())) == []
    expected = [
        (
            "vllm-infra:topology: single serves one model with one replica; use topology load-balanced for more "
            "replicas, multi-model for more models"
        )
    ]
    assert single.validate(stack(load_balanced(replicas=2))) == expected
    assert single.validate(stack(multi_model())) == expected


@pytest.mark.parametrize("name", ["load-balanced", "multi-model"])
def test_the_one_region_balanced_topologies_have_no_rules_of_their_own(name):
    # Even on stacks they would refuse: their rules (one model, the strategy, TLS) are the shared ones.
    topology = topology_for(name)
    for config in (load_balanced(replicas=2), multi_model(), single_model_config()):
        assert topology.validate(stack(config)) == []


def test_multi_region_reports_every_global_problem_at_once():
    problems = topology_for("multi-region").validate(stack(load_balanced()))
    assert problems == [
        "vllm-infra:globalLoadBalancer: required by topology multi-region (hostedZoneId, domainName, policy)",
        "vllm-infra:regions: topology multi-region needs at least two regions",
    ]
    assert topology_for("multi-region").validate(stack(multi_region_config())) == []


def _two_regions(config: dict) -> dict:
    config["vllm-infra:regions"] = [*EXISTING_CLUSTER, {**EXISTING_CLUSTER[0], "name": "us-west-2"}]
    return config


def _second_model(config: dict) -> dict:
    config["vllm-infra:models"] = [*config["vllm-infra:models"], SECOND_MODEL]
    return config


def _global_load_balancer(config: dict) -> dict:
    config["vllm-infra:globalLoadBalancer"] = multi_region_config()["vllm-infra:globalLoadBalancer"]
    return config


def _single_with_balancer(config: dict) -> dict:
    config["vllm-infra:balancer"] = {"strategy": "nginx"}
    return config


def _single_scaled_to_zero(config: dict) -> dict:
    config["vllm-infra:models"][0]["autoscaling"] = {"engine": "keda", "minReplicas": 0, "maxReplicas": 1}
    return config


@pytest.mark.parametrize(
    ("base", "change", "expected"),
    [
        (load_balanced, _two_regions,
         "vllm-infra:regions: topology load-balanced runs in one region; use topology multi-region for several"),
        (load_balanced, _second_model,
         "vllm-infra:models: topology load-balanced serves one model; use topology multi-model for several"),
        (multi_region_config, _second_model,
         "vllm-infra:models: topology multi-region serves one model; use topology multi-model for several"),
        (load_balanced, _global_load_balancer,
         "vllm-infra:globalLoadBalancer: only topology multi-region has a global load balancer"),
        (single_model_config, _single_with_balancer,
         "vllm-infra:balancer: topology single has no balancer; remove the key"),
        (single_model_config, _single_scaled_to_zero,
         ("vllm-infra:models[0].autoscaling.minReplicas: 0 (scale to zero) needs balancer.strategy: router, whose "
          "request counter wakes the model; topology single has no balancer, so the first request would fail; set "
          "minReplicas: 1, or balancer.strategy: router")),
    ],
    ids=["one-region", "one-model", "multi-region-one-model", "global-lb-only-multi-region", "no-balancer",
         "no-balancer-no-wake"],
)  # fmt: skip
def test_the_shared_rules_a_builtin_s_attributes_turn_on(tmp_path, base, change, expected):
    config = change(copy.deepcopy(base()))
    assert problems_of(tmp_path, config) == [expected]
