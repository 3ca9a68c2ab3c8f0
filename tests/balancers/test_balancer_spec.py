"""``BalancerSpec`` is built from the balancer registry: a strategy's settings model becomes its key under
``vllm-infra:balancer`` (defaults, camelCase, the library's error messages, the JSON schema) with no edit to
``config/balancer.py``; the keys that moved there (``nginxImage``, ``routerImage``, ``sessionAffinityTimeoutSeconds``)
are still read, with a note, and refused next to their new spelling."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import Field, create_model

from tests.balancers.test_registry import EchoStrategy, balanced_config
from tests.plans import PROJECT_DIR, plan_config
from vllm_infra.balancers import register, strategies, strategy_for, strategy_names
from vllm_infra.balancers.registry import ENTRY_POINT_GROUP, builtin_modules
from vllm_infra.balancers.settings import StrategySettings
from vllm_infra.config import ConfigError, StackConfig, validate_config
from vllm_infra.config.balancer import BalancerSpec, balancer_spec_model
from vllm_infra.config.base import ConfigModel
from vllm_infra.offline.tree import plan_json

DIGEST = "sha256:" + "ab" * 32


class EchoSettings(StrategySettings):
    """echo: what the echo pods answer, and on which port."""

    listen_port: int = Field(5678, ge=1024, le=65535, description="The echo pods' port.")
    text: str = Field("hello", description="What every request gets back.")


class EchoWithSettings(EchoStrategy):
    """An echo strategy with settings of its own, under a two-word key (``balancer.echoServer``)."""

    name = "echo-with-settings"
    settings_field = "echo_server"
    settings_model = EchoSettings


def stack_model(spec_model: type[ConfigModel]) -> type[ConfigModel]:
    """A stand-in for StackConfig that has only ``balancer``, so messages read ``vllm-infra:balancer...``."""
    return create_model("Stack", __base__=ConfigModel, balancer=(spec_model, Field(default_factory=spec_model)))


@pytest.fixture(scope="module")
def spec_with_echo() -> type[ConfigModel]:
    return balancer_spec_model([*strategies(), EchoWithSettings()])


def problems(model: type[ConfigModel], balancer: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        validate_config(stack_model(model), {"balancer": balancer})
    return error.value.problems


# --- a strategy's settings field ------------------------------------------------------------------------------------


def test_a_strategy_s_settings_model_becomes_its_field_with_its_defaults(spec_with_echo):
    spec = spec_with_echo()
    assert spec.echo_server == EchoSettings()
    assert (spec.echo_server.listen_port, spec.echo_server.text) == (5678, "hello")
    # The built-ins' fields are still there, next to it.
    assert {"nginx", "router", "service", "echo_server"} <= set(spec_with_echo.model_fields)


def test_the_settings_field_takes_its_camel_case_key(spec_with_echo):
    spec = spec_with_echo.model_validate({"echoServer": {"listenPort": 6000, "text": "hi"}})
    assert (spec.echo_server.listen_port, spec.echo_server.text) == (6000, "hi")
    assert spec_with_echo.model_validate({"echo_server": {"listen_port": 6000}}).echo_server.listen_port == 6000


def test_a_bad_setting_is_reported_at_its_config_key(spec_with_echo):
    assert problems(spec_with_echo, {"echoServer": {"listenPort": 80}}) == [
        "vllm-infra:balancer.echoServer.listenPort: got 80; must be at least 1024"
    ]
    (unknown,) = problems(spec_with_echo, {"echoServer": {"listenPrt": 6000}})
    assert unknown.startswith("vllm-infra:balancer.echoServer.listenPrt: unknown key; did you mean listenPort?")


def test_the_json_schema_describes_each_settings_key(spec_with_echo):
    schema = spec_with_echo.model_json_schema(by_alias=True)
    properties = schema["properties"]
    description = "echo: what the echo pods answer, and on which port."
    assert spec_with_echo.model_fields["echo_server"].description == description
    # pydantic leaves a field's description out of the schema when the model it refers to says the same.
    assert properties["echoServer"]["$ref"] == "#/$defs/EchoSettings"
    assert properties["echoServer"].get("description", schema["$defs"]["EchoSettings"]["description"]) == description
    assert properties["service"]["description"] == "service: how long each client sticks to one vLLM pod."
    echo = schema["$defs"]["EchoSettings"]["properties"]
    assert echo["listenPort"]["default"] == 5678
    assert "nginx, router, service or echo-with-settings" in properties["strategy"]["description"]
    # The moved keys are read but no longer documented.
    assert not {"nginxImage", "routerImage", "sessionAffinityTimeoutSeconds"} & set(properties)


def test_a_strategy_without_settings_adds_no_field():
    assert set(balancer_spec_model([*strategies(), EchoStrategy()]).model_fields) == set(BalancerSpec.model_fields)


@pytest.mark.parametrize(
    ("field", "model", "error"),
    [
        ("replicas", EchoSettings, "not one of the shared keys"),
        ("nginx", EchoSettings, "already taken"),
        ("echo-server", EchoSettings, "must be an identifier"),
        ("echo_server", dict, "must be a pydantic model"),
        ("echo_server", create_model("NoDefault", __base__=StrategySettings, port=(int, ...)), "needs a default"),
    ],
)
def test_a_settings_declaration_that_cannot_be_a_field_is_refused(field, model, error):
    class Bad(EchoStrategy):
        name = "bad"
        settings_field = field
        settings_model = model

    with pytest.raises((TypeError, ValueError), match=error):
        balancer_spec_model([*strategies(), Bad()])


def test_a_strategy_with_new_settings_cannot_register_once_balancer_spec_is_built():
    with pytest.raises(ValueError, match=rf"balancer.echo_server.*{ENTRY_POINT_GROUP!r} entry point"):
        register(EchoWithSettings())
    assert "echo-with-settings" not in strategy_names()


def test_the_builtins_settings_are_their_strategy_s_fields():
    # Each built-in declares its own key; none is declared in config/balancer.py.
    assert {s.settings_field: s.settings_model for s in strategies()} == {
        name: BalancerSpec.model_fields[name].annotation for name in ("affinity", "nginx", "router", "service")
    }
    assert strategy_for("service").settings_model().session_affinity_timeout_seconds == 3600


@pytest.mark.slow
def test_a_plug_in_strategy_s_settings_reach_its_pods_and_its_messages(tmp_path):
    # An installed package's strategy (entry point) registers before BalancerSpec is built, so its settings are a key
    # of the real stack config: a fresh interpreter with a minimal distribution on its path.
    plugin = tmp_path / "plugin"
    dist_info = plugin / "echo_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\necho = echo_plugin\n")
    (plugin / "echo_plugin.py").write_text(
        textwrap.dedent('''
        from pydantic import Field
        from vllm_infra.balancers import BalancerPods, BalancerTraffic, register
        from vllm_infra.balancers.settings import StrategySettings

        class PluginEchoSettings(StrategySettings):
            """plugin-echo: what the echo pods answer."""
            text: str = Field("hello", min_length=1, description="What every request gets back.")

        class PluginEcho:
            name = "plugin-echo"
            routes_by_model = wakes_from_zero = edge_health_check = False
            settings_field = "plugin_echo"
            settings_model = PluginEchoSettings
            kubernetes_api_rules = ()
            def build(self, ctx):
                container = {"name": "echo", "image": "hashicorp/http-echo:1.0.0",
                             "args": ["-listen=:5678", "-text=" + ctx.args.spec.plugin_echo.text],
                             "ports": [{"name": "http", "containerPort": 5678, "protocol": "TCP"}]}
                return BalancerPods(health_path="/", pod_spec={"containers": [container]}, config_hash="echo")
            def traffic(self, spec, *, multi_model): return BalancerTraffic(ports=[5678])
            def scrape_target(self, object_name): return None
            def validate(self, stack_config): return []

        register(PluginEcho())
    ''')
    )
    program = textwrap.dedent(f"""
        import json, pathlib
        from tests.balancers.test_registry import balanced_config
        from tests.plans import plan_config
        from vllm_infra.program import InvalidStackConfig
        out = pathlib.Path({str(tmp_path)!r})
        plan = plan_config(out, balanced_config("plugin-echo", pluginEcho={{"text": "from the plug-in"}}))
        deployment = plan.one("kubernetes:apps/v1:Deployment", "us-east-1-gateway-deployment").inputs
        try:
            plan_config(out, balanced_config("plugin-echo", pluginEcho={{"text": ""}}))
            problems = []
        except InvalidStackConfig as error:
            problems = error.problems
        print(json.dumps({{"args": deployment["spec"]["template"]["spec"]["containers"][0]["args"],
                          "problems": problems}}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_DIR), str(plugin)])}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=PROJECT_DIR, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["args"] == ["-listen=:5678", "-text=from the plug-in"]
    assert found["problems"] == ["vllm-infra:balancer.pluginEcho.text: got ''; must be at least 1 characters long"]


# --- the keys that moved --------------------------------------------------------------------------------------------

# Old key (as a stack file writes it), its value, the same setting at its new place.
MOVED = [
    pytest.param("nginxImage", f"nginx:1.29.8@{DIGEST}", {"nginx": {"image": f"nginx:1.29.8@{DIGEST}"}},
                 "nginx.image", id="nginxImage"),
    pytest.param("routerImage", f"vllm/vllm-router:v0.1.17@{DIGEST}",
                 {"router": {"image": f"vllm/vllm-router:v0.1.17@{DIGEST}"}}, "router.image", id="routerImage"),
    pytest.param("sessionAffinityTimeoutSeconds", 900, {"service": {"sessionAffinityTimeoutSeconds": 900}},
                 "service.sessionAffinityTimeoutSeconds", id="sessionAffinityTimeoutSeconds"),
]  # fmt: skip


@pytest.mark.parametrize(("old_key", "value", "new", "new_key"), MOVED)
def test_an_old_key_validates_to_the_same_spec_as_its_new_key(old_key, value, new, new_key):
    old_spec = BalancerSpec.model_validate({"replicas": 3, old_key: value})
    new_spec = BalancerSpec.model_validate({"replicas": 3, **new})
    assert old_spec.model_dump() == new_spec.model_dump()
    assert old_spec.model_dump() != BalancerSpec(replicas=3).model_dump()  # the value did arrive
    assert old_spec.deprecation_notes() == [
        f"vllm-infra:balancer.{old_key} is deprecated: set vllm-infra:balancer.{new_key} instead (same value)"
    ]
    assert new_spec.deprecation_notes() == []


def test_old_keys_in_snake_case_and_next_to_other_settings_of_the_new_key():
    spec = BalancerSpec.model_validate({"nginx_image": "nginx:1.28.0", "nginx": {"readTimeoutS": 900}})
    assert (spec.nginx.image, spec.nginx.read_timeout_s) == ("nginx:1.28.0", 900)
    assert spec.deprecation_notes() == [
        "vllm-infra:balancer.nginx_image is deprecated: set vllm-infra:balancer.nginx.image instead (same value)"
    ]


@pytest.mark.parametrize(("old_key", "value", "new", "new_key"), MOVED)
def test_an_old_key_next_to_its_new_key_is_refused_naming_both(old_key, value, new, new_key):
    with pytest.raises(ConfigError) as error:
        validate_config(stack_model(BalancerSpec), {"balancer": {old_key: value, **new}})
    (problem,) = error.value.problems
    assert problem.startswith(f"vllm-infra:balancer.{new_key}: ")
    assert f"deprecated vllm-infra:balancer.{old_key}" in problem and f"remove {old_key}" in problem


def test_a_bad_value_under_an_old_key_is_reported_at_the_old_key():
    (problem,) = problems(BalancerSpec, {"sessionAffinityTimeoutSeconds": 30})
    assert problem == "vllm-infra:balancer.sessionAffinityTimeoutSeconds: got 30; must be at least 60"
    (problem,) = problems(BalancerSpec, {"routerImage": "vllm/vllm-router:latest"})
    assert problem.startswith("vllm-infra:balancer.routerImage: got 'vllm/vllm-router:latest'; ")
    assert "must be pinned" in problem


def test_an_old_key_of_a_strategy_that_is_not_registered_is_an_unknown_key():
    without_nginx = balancer_spec_model([s for s in strategies() if s.name != "nginx"])
    (problem,) = problems(without_nginx, {"nginxImage": "nginx:1.29.8"})
    assert problem.startswith("vllm-infra:balancer.nginxImage: unknown key")


@pytest.mark.parametrize(
    ("strategy", "old", "new"),
    [
        ("nginx", {"nginxImage": f"nginx:1.29.8@{DIGEST}"}, {"nginx": {"image": f"nginx:1.29.8@{DIGEST}"}}),
        ("service", {"sessionAffinityTimeoutSeconds": 900}, {"service": {"sessionAffinityTimeoutSeconds": 900}}),
    ],
)
def test_old_and_new_keys_plan_the_same_stack(tmp_path, strategy, old, new):
    def resources(balancer: dict, name: str) -> list:
        (tmp_path / name).mkdir()
        plan = plan_config(tmp_path / name, balanced_config(strategy, **balancer))
        return plan_json(plan)["resources"]

    planned_old, planned_new = resources(old, "old"), resources(new, "new")
    assert planned_old == planned_new
    assert planned_new != resources({}, "default")  # the setting shows in the plan


# --- the import cycle -----------------------------------------------------------------------------------------------

# Modules that import vllm_infra.config when loaded; a strategy module imports them only inside its methods.
CONFIG_IMPORTERS = ("vllm_infra.config", "vllm_infra.observability", "vllm_infra.topologies", "vllm_infra.program")
# The components that do not import the config (resource options); vllm_infra.kube imports none (tests/kube).
PURE_COMPONENTS = ("vllm_infra.components.options",)


def module_level_imports(path: Path) -> list[str]:
    """The modules ``path`` imports when it is loaded: top-level statements, not ``if TYPE_CHECKING:``."""
    found: list[str] = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def loads_the_config(module: str) -> bool:
    if module.startswith("vllm_infra.components."):
        return not module.startswith(PURE_COMPONENTS)
    return any(module == name or module.startswith(name + ".") for name in CONFIG_IMPORTERS)


def test_loads_the_config_tells_config_importers_from_the_rest():
    assert loads_the_config("vllm_infra.config.balancer.BalancerSpec")
    assert loads_the_config("vllm_infra.components.load_balancer")
    assert not loads_the_config("vllm_infra.kube.labels.object_meta")
    assert not loads_the_config("vllm_infra.balancing.nginx")


@pytest.mark.parametrize("module", [*builtin_modules(), "vllm_infra.balancers.settings"])
def test_strategy_modules_do_not_load_the_config_when_imported(module):
    # config/balancer.py loads them while the config package is half imported: such an import would be a cycle.
    path = PROJECT_DIR / (module.replace(".", "/") + ".py")
    assert [name for name in module_level_imports(path) if loads_the_config(name)] == []


def test_a_stack_using_an_old_key_says_so_in_its_warnings():
    # What `vllm-infra plan` and `pulumi up` print: the stack's warnings, not only the spec's method.
    config = {key.removeprefix("vllm-infra:"): value for key, value in balanced_config("nginx").items()}
    config["balancer"]["nginxImage"] = "nginx:1.29.8"
    warnings = validate_config(StackConfig, config).warnings()
    assert (
        "vllm-infra:balancer.nginxImage is deprecated: set vllm-infra:balancer.nginx.image instead (same value)"
        in warnings
    )
    del config["balancer"]["nginxImage"]
    assert not any("deprecated" in note for note in validate_config(StackConfig, config).warnings())
