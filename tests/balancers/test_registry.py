"""The balancer registry: a strategy is one registered object, and everything that used to branch on strategy names
(the config's choices, LoadBalancer, the network policies, the scrape target, the stack rules) asks it instead."""

from __future__ import annotations

import pytest

from tests.plans import EXISTING_CLUSTER, PROJECT_DIR, TLS_EXPOSURE, plan_config, single_model_config
from vllm_infra.balancers import (
    BalancerContext,
    BalancerPods,
    BalancerStrategy,
    BalancerTraffic,
    register,
    strategies,
    strategy_for,
    strategy_names,
    unregister,
)
from vllm_infra.config.balancer import BalancerSpec
from vllm_infra.program import InvalidStackConfig

ECHO_PORT = 5678
ECHO_IMAGE = "hashicorp/http-echo:1.0.0"


class EchoStrategy:
    """A strategy that lives only in this test: one container per balancer pod, one port, no API access, no
    metrics, and a rule of its own (at most three replicas)."""

    name = "echo"
    routes_by_model = False
    wakes_from_zero = False
    edge_health_check = False
    settings_field = None
    settings_model = None
    kubernetes_api_rules: tuple[dict, ...] = ()

    def build(self, ctx: BalancerContext) -> BalancerPods:
        container = {
            "name": "echo",
            "image": ECHO_IMAGE,
            "args": [f"-listen=:{ECHO_PORT}", "-text=hello"],
            "ports": [{"name": "http", "containerPort": ECHO_PORT, "protocol": "TCP"}],
        }
        return BalancerPods(
            health_path="/",
            pod_spec={"automountServiceAccountToken": False, "containers": [container]},
            config_hash="echo-1",
        )

    def traffic(self, spec: BalancerSpec, *, multi_model: bool) -> BalancerTraffic:
        return BalancerTraffic(ports=[ECHO_PORT])

    def scrape_target(self, object_name: str) -> None:
        return None

    def validate(self, stack_config) -> list[str]:
        if stack_config.balancer.replicas > 3:
            return ["vllm-infra:balancer.replicas: strategy echo runs at most 3 replicas; set replicas: 3"]
        return []


@pytest.fixture
def echo():
    strategy = register(EchoStrategy())
    yield strategy
    unregister(strategy.name)


def balanced_config(strategy: str, **balancer) -> dict:
    config = single_model_config(
        cache={"accessMode": "ReadWriteMany", "storageClass": "efs-sc"},
        autoscaling={"minReplicas": 2, "maxReplicas": 6},
    )
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"strategy": strategy, "exposure": TLS_EXPOSURE, **balancer}
    return config


def test_the_builtin_strategies_are_registered_in_order():
    assert strategy_names() == ("affinity", "nginx", "router", "service")
    assert all(isinstance(strategy, BalancerStrategy) for strategy in strategies())


def test_each_builtin_settings_field_is_a_balancer_spec_field_of_its_settings_model():
    for strategy in strategies():
        if strategy.settings_field is None:
            assert strategy.settings_model is None
            continue
        assert BalancerSpec.model_fields[strategy.settings_field].annotation is strategy.settings_model


def test_a_strategy_registered_in_a_test_plans_a_stack(tmp_path, echo):
    plan = plan_config(tmp_path, balanced_config("echo"))
    gateway = plan.one("kubernetes:apps/v1:Deployment", "us-east-1-gateway-deployment").inputs
    template = gateway["spec"]["template"]
    assert [c["image"] for c in template["spec"]["containers"]] == [ECHO_IMAGE]
    assert template["metadata"]["annotations"] == {"vllm-infra.io/config-hash": "echo-1"}
    service = plan.one("kubernetes:core/v1:Service", "us-east-1-gateway-service").inputs
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    assert service["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/"
    # No kubernetes_api_rules: no Role, and no egress to the API server.
    assert plan.by_type("kubernetes:rbac.authorization.k8s.io/v1:Role") == []
    policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in plan.by_type(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy")}  # fmt: skip
    front_door = [port["port"] for rule in policies["balancer-ingress"]["ingress"] for port in rule.get("ports", [])]
    assert ECHO_PORT in front_door
    assert all(port["port"] != 443 for rule in policies["balancer-egress"]["egress"] for port in rule.get("ports", []))


def test_a_registered_strategy_s_own_rule_is_checked(tmp_path, echo):
    with pytest.raises(InvalidStackConfig, match=r"vllm-infra:balancer.replicas: strategy echo runs at most 3"):
        plan_config(tmp_path, balanced_config("echo", replicas=4))


def test_an_unregistered_strategy_is_refused_with_the_registered_choices(tmp_path, echo):
    with pytest.raises(InvalidStackConfig) as error:
        plan_config(tmp_path, balanced_config("ecko"))
    expected = (
        "vllm-infra:balancer.strategy: got 'ecko'; must be one of affinity, nginx, router, service, echo; "
        "did you mean echo?"
    )
    assert expected in str(error.value)


def test_a_misspelt_builtin_strategy_gets_the_choices_and_the_nearest(tmp_path):
    with pytest.raises(InvalidStackConfig) as error:
        plan_config(tmp_path, balanced_config("ngnix"))
    expected = (
        "vllm-infra:balancer.strategy: got 'ngnix'; must be one of affinity, nginx, router, service; "
        "did you mean nginx?"
    )
    assert expected in str(error.value)


def test_the_stack_rules_name_the_strategies_that_satisfy_them(tmp_path):
    class ModelRouter(EchoStrategy):
        name = "model-router"
        routes_by_model = True

    register(ModelRouter())
    try:
        shared = {"cache": {"accessMode": "ReadWriteMany", "storageClass": "efs-sc"}}
        config = {
            "vllm-infra:topology": "multi-model",
            "vllm-infra:regions": EXISTING_CLUSTER,
            "vllm-infra:models": [
                {"name": "llama-8b", "model": "meta-llama/Llama-3.1-8B-Instruct", **shared},
                {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", **shared},
            ],
            "vllm-infra:balancer": {"strategy": "nginx", "exposure": TLS_EXPOSURE},
        }
        with pytest.raises(InvalidStackConfig, match="several models need strategy: router or model-router"):
            plan_config(tmp_path, config)
    finally:
        unregister("model-router")


def test_a_name_registers_once_and_only_a_whole_strategy_registers():
    with pytest.raises(ValueError, match="already registered"):
        register(strategy_for("nginx"))

    class Incomplete:
        name = "incomplete"

    with pytest.raises(TypeError, match="BalancerStrategy"):
        register(Incomplete())
    assert "incomplete" not in strategy_names()


@pytest.mark.slow
@pytest.mark.parametrize(
    "first_import",
    ["from vllm_infra.balancers import register", "import vllm_infra.balancers.nginx"],
    ids=["register-first", "builtin-module-first"],
)
def test_a_strategy_registered_before_the_builtins_load_is_listed_after_them(first_import):
    # A fresh interpreter: registering first, or importing one built-in module directly (which loads the others
    # before it registers itself), must not change the order the choices and messages list.
    import os
    import subprocess
    import sys

    program = (
        f"{first_import}\n"
        "from tests.balancers.test_registry import EchoStrategy\n"
        "from vllm_infra.balancers import register, strategy_names\n"
        "register(EchoStrategy())\n"
        "print(','.join(strategy_names()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=PROJECT_DIR, env=env
    )
    assert result.stdout.strip() == "affinity,nginx,router,service,echo"


def test_a_builtin_registered_late_keeps_its_place_in_the_choices():
    # Whatever order the built-in modules happen to register in (it follows the import order), the choices and the
    # messages that list them keep the package's order.
    nginx = strategy_for("nginx")
    unregister("nginx")
    try:
        register(nginx)
        assert strategy_names() == ("affinity", "nginx", "router", "service")
    finally:
        if "nginx" not in strategy_names():
            register(nginx)
