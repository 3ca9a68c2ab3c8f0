"""The topology registry: a topology is one registered object, and everything that used to branch on topology names
(the config's choices, the shared stack rules, the program's dispatch) asks it instead."""

from __future__ import annotations

import os
import subprocess
import sys

import pulumi
import pytest

from tests.config.test_config_errors import problems_of
from tests.plans import EXISTING_CLUSTER, PROJECT_DIR, plan_config, single_model_config
from vllm_infra.topologies import Topology, register, topologies, topology_for, topology_names, unregister
from vllm_infra.topologies.serving import serve_region

SHARED_CACHE = {"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}


class SideBySide:
    """A topology that lives only in this test: up to two models in one region, each reached in-cluster (no
    balancer), exporting each model's endpoint."""

    name = "side-by-side"
    multi_region = False
    has_balancer = False
    several_models = True

    def validate(self, stack_config) -> list[str]:
        if len(stack_config.models) > 2:
            return ["vllm-infra:models: topology side-by-side serves at most two models; remove one"]
        return []

    def build(self, stack_config, secrets) -> None:
        (region,) = stack_config.regions
        served = serve_region(stack_config, secrets, region)
        pulumi.export("endpoints", {name: deployment.url for name, deployment in served.deployments.items()})


@pytest.fixture
def side_by_side():
    topology = register(SideBySide())
    yield topology
    unregister(topology.name)


def two_models_config(topology: str, *, count: int = 2) -> dict:
    models = [
        {"name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct", "cache": SHARED_CACHE},
        {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", "cache": SHARED_CACHE},
        {"name": "mistral-7b", "model": "mistralai/Mistral-7B-Instruct-v0.3", "cache": SHARED_CACHE},
    ]
    return {
        "vllm-infra:topology": topology,
        "vllm-infra:regions": EXISTING_CLUSTER,
        "vllm-infra:models": models[:count],
    }


def test_the_builtin_topologies_are_registered_in_order():
    assert topology_names() == ("single", "load-balanced", "multi-model", "multi-region")
    assert all(isinstance(topology, Topology) for topology in topologies())


def test_a_topology_registered_in_a_test_plans_a_stack(tmp_path, side_by_side):
    plan = plan_config(tmp_path, two_models_config("side-by-side"))
    deployments = {d.name for d in plan.by_type("vllm-infra:vllm:VllmDeployment")}
    assert deployments == {"us-east-1-llama-8b", "us-east-1-qwen-7b"}
    assert plan.by_type("vllm-infra:load_balancer:LoadBalancer") == []
    # Its own export, and the one the program's dispatch adds for every topology.
    assert set(plan.outputs["endpoints"]) == {"llama-8b", "qwen-7b"}
    assert "gpuQuotaVcpus" in plan.outputs


def test_a_registered_topology_s_own_rule_is_checked(tmp_path, side_by_side):
    (problem,) = problems_of(tmp_path, two_models_config("side-by-side", count=3))
    assert problem == "vllm-infra:models: topology side-by-side serves at most two models; remove one"


def test_the_shared_rules_read_the_topology_s_attributes(tmp_path, side_by_side):
    # has_balancer = False: the balancer key is refused, as for single.
    config = two_models_config("side-by-side")
    config["vllm-infra:balancer"] = {"strategy": "router"}
    (problem,) = problems_of(tmp_path, config)
    assert problem == "vllm-infra:balancer: topology side-by-side has no balancer; remove the key"
    # multi_region = False: one region.
    config = two_models_config("side-by-side")
    config["vllm-infra:regions"] = [*EXISTING_CLUSTER, {**EXISTING_CLUSTER[0], "name": "us-west-2"}]
    (problem,) = problems_of(tmp_path, config)
    assert problem == (
        "vllm-infra:regions: topology side-by-side runs in one region; use topology multi-region for several"
    )


def test_the_rules_name_the_topologies_that_satisfy_them(tmp_path, side_by_side):
    # side-by-side serves several models, so the one-model rule now points to it too.
    config = two_models_config("load-balanced")
    (problem,) = problems_of(tmp_path, config)
    assert problem == (
        "vllm-infra:models: topology load-balanced serves one model; use topology multi-model or side-by-side for "
        "several"
    )


def test_an_unregistered_topology_is_refused_with_the_registered_choices(tmp_path, side_by_side):
    config = two_models_config("side-by-sid")
    problems = problems_of(tmp_path, config)
    expected = (
        "vllm-infra:topology: got 'side-by-sid'; must be one of single, load-balanced, multi-model, multi-region, "
        "side-by-side; did you mean side-by-side?"
    )
    assert expected in problems


def test_a_misspelt_builtin_topology_gets_the_choices_and_the_nearest(tmp_path):
    config = single_model_config()
    config["vllm-infra:topology"] = "singel"
    expected = (
        "vllm-infra:topology: got 'singel'; must be one of single, load-balanced, multi-model, multi-region; "
        "did you mean single?"
    )
    assert expected in problems_of(tmp_path, config)


def test_a_name_registers_once_and_only_a_whole_topology_registers():
    with pytest.raises(ValueError, match="already registered"):
        register(topology_for("single"))

    class Incomplete:
        name = "incomplete"
        multi_region = has_balancer = several_models = False

        def validate(self, stack_config) -> list[str]:
            return []

    with pytest.raises(TypeError, match="Topology"):
        register(Incomplete())
    assert "incomplete" not in topology_names()


def test_an_unknown_name_names_the_registered_choices():
    with pytest.raises(KeyError, match="no topology 'dual'; registered: single, load-balanced, multi-model"):
        topology_for("dual")


@pytest.mark.slow
@pytest.mark.parametrize(
    "first_import",
    ["from vllm_infra.topologies import register", "import vllm_infra.topologies.multi_region"],
    ids=["register-first", "builtin-module-first"],
)
def test_the_builtins_lead_the_choices_whatever_is_imported_first(first_import):
    # A fresh interpreter: registering first, or importing one built-in module directly (which loads the others
    # before it registers itself), must not change the order the choices and messages list.
    program = (
        f"{first_import}\n"
        "from tests.topologies.test_registry import SideBySide\n"
        "from vllm_infra.topologies import register, topology_names\n"
        "register(SideBySide())\n"
        "print(','.join(topology_names()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=PROJECT_DIR, env=env
    )
    assert result.stdout.strip() == "single,load-balanced,multi-model,multi-region,side-by-side"
