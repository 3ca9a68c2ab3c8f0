"""Config errors a newcomer meets in the first hour: each names the key, says what is wrong in this library's words
(never pydantic's), suggests the nearest right spelling, and never echoes a value that may be a secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.plans import PROJECT_DIR, TLS_EXPOSURE, plan_config, single_model_config, write_stack
from vllm_infra.config import ConfigError
from vllm_infra.program import InvalidStackConfig

# Phrases pydantic writes; none may reach a user.
PYDANTIC_WORDING = (
    "Input should",
    "input should",
    "should be a valid",
    "after validation",
    "String should",
    "string should",
    "Value error",
    "Tuple",
    "instance of",
    "constrained-",
    "function-after",
    "unable to parse",
    "unable to interpret",
    "Field required",
    "Extra inputs",
    "relative URL without a base",
    "is not a valid IPv4",
)


def problems_of(tmp_path, config, **kwargs) -> list[str]:
    with pytest.raises((ConfigError, InvalidStackConfig)) as raised:
        plan_config(tmp_path, config, **kwargs)
    return raised.value.problems


def load_balanced(**model_overrides):
    config = single_model_config(cache={"accessMode": "ReadWriteMany"}, **model_overrides)
    config["vllm-infra:topology"] = "load-balanced"
    config["vllm-infra:balancer"] = {"exposure": TLS_EXPOSURE}
    return config


def with_keys(config, **entries):
    config = dict(config)
    for key, value in entries.items():
        config[key.replace("__", ":")] = value
    return config


# --- scale to zero needs the router --------------------------------------------------------------------------------

SCALE_TO_ZERO = {"engine": "keda", "minReplicas": 0, "maxReplicas": 4, "scaleDownWindowSeconds": 900}


@pytest.mark.parametrize("strategy", ["nginx", "service"])
def test_scale_to_zero_behind_anything_but_the_router_is_rejected_with_the_fix(tmp_path, strategy):
    config = load_balanced(autoscaling=SCALE_TO_ZERO)
    config["vllm-infra:balancer"] = {"strategy": strategy, "exposure": TLS_EXPOSURE}
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith(
        "vllm-infra:models[0].autoscaling.minReplicas: 0 (scale to zero) needs balancer.strategy: router"
    )
    assert f"strategy {strategy}" in problem and "minReplicas: 1" in problem


def test_scale_to_zero_with_the_default_balancer_is_rejected(tmp_path):
    (problem,) = problems_of(tmp_path, load_balanced(autoscaling=SCALE_TO_ZERO))
    assert problem.startswith("vllm-infra:models[0].autoscaling.minReplicas: 0 (scale to zero) needs balancer.strategy")


# --- keys in a misspelt namespace ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "right"),
    [
        ("vllm_infra:namespace", "vllm-infra:namespace"),
        ("vllminfra:models", "vllm-infra:models"),
        ("vllm-infr:balancer", "vllm-infra:balancer"),
        ("VLLM-INFRA:observability", "vllm-infra:observability"),
        ("vlm-infra:networkPolicies", "vllm-infra:networkPolicies"),
    ],
)
def test_keys_of_a_misspelt_namespace_are_rejected_naming_the_right_key(tmp_path, written, right):
    config = single_model_config()
    config[written] = {"enabled": False} if "networkPolicies" in written else "anything"
    problems = problems_of(tmp_path, config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{written}: ")
    assert f"write it as {right}" in problems[0]
    assert "anything" not in problems[0]


def test_a_misspelt_namespace_and_key_suggest_the_nearest_key(tmp_path):
    config = single_model_config()
    config["vllminfra:modles"] = "x"
    (problem,) = problems_of(tmp_path, config)
    assert "write it as vllm-infra:models" in problem


def test_a_secret_in_a_misspelt_namespace_is_rejected_without_its_value(tmp_path):
    config = single_model_config()
    config["vllm_infra:apiKey"] = "sk-live-0123456789"
    (problem,) = problems_of(tmp_path, config)
    assert "write it as vllm-infra:apiKey" in problem
    assert "sk-live" not in problem


@pytest.mark.parametrize(
    "key", ["aws:region", "pulumi:tags", "kubernetes:context", "my-app:vllmKey", "vllm:x", "vllm-infra-ops:x"]
)
def test_keys_of_unrelated_namespaces_are_left_alone(tmp_path, key):
    config = single_model_config()
    config[key] = "us-east-1"
    assert plan_config(tmp_path, config).resources


# --- did you mean --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "top_level", "key", "suggestion"),
    [
        ({"engine": {"maxModelLenght": 4096}}, {}, "vllm-infra:models[0].engine.maxModelLenght", "maxModelLen"),
        ({"cache": {"storageclass": "gp3"}}, {}, "vllm-infra:models[0].cache.storageclass", "storageClass"),
        ({"revison": "abc"}, {}, "vllm-infra:models[0].revison", "revision"),
        ({}, {"vllm-infra:modles": []}, "vllm-infra:modles", "models"),
        ({}, {"vllm-infra:apikey": "sk-live-0123456789"}, "vllm-infra:apikey", "apiKey"),
        ({}, {"vllm-infra:networkPolicy": {"enabled": True}}, "vllm-infra:networkPolicy", "networkPolicies"),
    ],
)
def test_unknown_keys_suggest_the_nearest_known_key_at_that_level(tmp_path, overrides, top_level, key, suggestion):
    config = {**single_model_config(**overrides), **top_level}
    problems = [p for p in problems_of(tmp_path, config) if p.startswith(key + ":")]
    assert len(problems) == 1, problems
    assert f"unknown key; did you mean {suggestion}?" in problems[0]
    assert "sk-live" not in problems[0]


def test_an_unknown_key_far_from_every_known_key_gets_no_suggestion(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(engine={"zzzzzzzz": 1}))
    assert problem.startswith("vllm-infra:models[0].engine.zzzzzzzz: unknown key")
    assert "did you mean" not in problem


def test_a_misspelt_choice_suggests_the_nearest_allowed_value(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(gpu={"capacityType": "spto"}))
    assert problem.startswith("vllm-infra:models[0].gpu.capacityType: got 'spto'; must be on-demand or spot")
    assert "did you mean spot?" in problem


# --- the library's words, never pydantic's -------------------------------------------------------------------------


def _top(**entries):
    return with_keys(single_model_config(), **entries)


BAD_VALUES = {
    "models-empty": (_top(**{"vllm-infra__models": []}), "vllm-infra:models", "must list at least 1 model"),
    "regions-empty": (_top(**{"vllm-infra__regions": []}), "vllm-infra:regions", "must list at least 1 region"),
    "models-text": (_top(**{"vllm-infra__models": "llama"}), "vllm-infra:models", "must be a list"),
    "engine-number": (single_model_config(engine=5), "vllm-infra:models[0].engine", "must be a map"),
    "node-selector-list": (
        single_model_config(nodeSelector=["a"]),
        "vllm-infra:models[0].nodeSelector",
        "must be a map",
    ),
    "int-text": (
        single_model_config(engine={"maxNumSeqs": "many"}),
        "vllm-infra:models[0].engine.maxNumSeqs",
        "got 'many'; must be a whole number",
    ),
    "int-fraction": (
        single_model_config(engine={"maxNumSeqs": 2.5}),
        "vllm-infra:models[0].engine.maxNumSeqs",
        "must be a whole number",
    ),
    "int-low": (
        single_model_config(engine={"maxNumSeqs": 0}),
        "vllm-infra:models[0].engine.maxNumSeqs",
        "got 0; must be at least 1",
    ),
    "float-high": (
        single_model_config(engine={"gpuMemoryUtilization": 1.2}),
        "vllm-infra:models[0].engine.gpuMemoryUtilization",
        "got 1.2; must be at most 0.98",
    ),
    "number-text": (single_model_config(weightsGib="abc"), "vllm-infra:models[0].weightsGib", "must be a number"),
    "number-zero": (single_model_config(weightsGib=0), "vllm-infra:models[0].weightsGib", "must be more than 0"),
    "bool": (
        single_model_config(engine={"trustRemoteCode": "maybe"}),
        "vllm-infra:models[0].engine.trustRemoteCode",
        "must be true or false",
    ),
    "text-number": (
        single_model_config(nodeSelector={"zone": 1}),
        "vllm-infra:models[0].nodeSelector.zone",
        "must be text",
    ),
    "enum": (
        single_model_config(engine={"dtype": "fp64"}),
        "vllm-infra:models[0].engine.dtype",
        "must be one of auto, half, float16, bfloat16, float, float32",
    ),
    "union": (
        single_model_config(engine={"tensorParallelSize": "big"}),
        "vllm-infra:models[0].engine.tensorParallelSize",
        "must be a whole number or auto",
    ),
    "url": (
        single_model_config(engine={"otlpTracesEndpoint": "not a url"}),
        "vllm-infra:models[0].engine.otlpTracesEndpoint",
        "must be an http(s) URL",
    ),
    "name": (single_model_config(name="Llama_8B"), "vllm-infra:models[0].name", "lower-case letters, digits and '-'"),
    "model-id": (single_model_config(model="llama"), "vllm-infra:models[0].model", "a Hugging Face repository id"),
    "cidr": (
        _top(**{"vllm-infra__networkPolicies": {"publicIngressCidrs": ["bad"]}}),
        "vllm-infra:networkPolicies.publicIngressCidrs[0]",
        "must be an IPv4 network in CIDR form",
    ),
    "ip": (
        _top(**{"vllm-infra__networkPolicies": {"kubernetesServiceIp": "bad"}}),
        "vllm-infra:networkPolicies.kubernetesServiceIp",
        "must be an IPv4 address",
    ),
    "region-form": (
        _top(**{"vllm-infra__regions": [{"name": "US East", "cluster": {"existing": {"name": "x"}}}]}),
        "vllm-infra:regions[0].name",
        "an AWS region name",
    ),
    "topology": (
        _top(**{"vllm-infra__topology": "dual"}),
        "vllm-infra:topology",
        "must be one of single, load-balanced, multi-model, multi-region",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_every_message_is_in_the_librarys_words(tmp_path, case):
    config, key, fragment = BAD_VALUES[case]
    problems = problems_of(tmp_path, config)
    mine = [p for p in problems if p.startswith(key + ":")]
    assert len(mine) == 1, problems
    assert fragment in mine[0], mine[0]
    for problem in problems:
        for phrase in PYDANTIC_WORDING:
            assert phrase not in problem, problem


def test_a_validator_that_quotes_the_value_is_not_prefixed_twice(tmp_path):
    config = _top(
        **{
            "vllm-infra__globalLoadBalancer": {
                "hostedZoneId": "/hostedzone/Z0123456789ABCDEFGHIJ",
                "domainName": "llm.example.com",
            }
        }
    )
    config["vllm-infra:topology"] = "multi-region"
    problems = [p for p in problems_of(tmp_path, config) if p.startswith("vllm-infra:globalLoadBalancer.hostedZoneId:")]
    assert len(problems) == 1 and problems[0].count("got ") == 1, problems


def test_every_pattern_of_the_config_has_a_description_in_words():
    from vllm_infra.config import StackConfig
    from vllm_infra.config.errors import PATTERN_DESCRIPTIONS, config_patterns

    patterns = config_patterns(StackConfig)
    assert len(patterns) >= 8  # the walk reaches nested models, unions and tuples
    assert not [p for p in patterns if p not in PATTERN_DESCRIPTIONS]


# --- regions -------------------------------------------------------------------------------------------------------


def test_a_misspelt_region_is_reported_as_unknown_with_did_you_mean(tmp_path):
    config = single_model_config()
    config["vllm-infra:regions"] = [
        {"name": "us-eats-1", "cluster": {"existing": {"name": "x"}}, "vpcCidr": "10.0.0.0/16"}
    ]
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:regions[0].name: got 'us-eats-1'; not a region of the GPU catalog")
    assert "did you mean us-east-1?" in problem
    assert "no GPU instance type" not in problem


# --- secrets are never echoed --------------------------------------------------------------------------------------

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    "extra_args",
    [
        ["--api-key", SECRET],
        [f"--api-key={SECRET}"],
        [f"--api-key {SECRET}"],
        [f"--hf-token {SECRET}"],
        [f"--api-kye {SECRET}"],
        ["--api-key", 12345678901],
        [f"--served-model-name {SECRET}"],
    ],
)
def test_extra_args_errors_never_print_the_values(tmp_path, extra_args):
    problems = problems_of(tmp_path, single_model_config(engine={"extraArgs": extra_args}))
    assert problems
    for problem in problems:
        assert problem.startswith("vllm-infra:models[0].engine.extraArgs")
        assert SECRET not in problem and "12345678901" not in problem and "sk-live" not in problem


def test_a_secret_flag_inside_one_string_is_still_recognised(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(engine={"extraArgs": [f"--api-key {SECRET}"]}))
    assert "--api-key would put a secret on the command line" in problem


@pytest.mark.parametrize(
    "config",
    [
        single_model_config(nodeSelector={"token": 5}),
        single_model_config(engine={"otlpTracesEndpoint": f"{SECRET}"}),
        single_model_config(servedModelName=f"{SECRET} "),
        with_keys(single_model_config(), **{"vllm-infra__apiKy": SECRET}),
    ],
    ids=["secret-like-key", "secret-shaped-url", "secret-shaped-name", "misspelt-secret-key"],
)
def test_values_that_may_be_secrets_are_never_echoed(tmp_path, config):
    problems = problems_of(tmp_path, config)
    assert problems
    assert not [p for p in problems if "sk-live" in p or "got 5" in p]


# --- Kubernetes quantities -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "key", "fragment"),
    [
        ({"memory": "500m"}, "vllm-infra:models[0].resources.memory", "below the 4Gi a vLLM replica needs"),
        ({"memory": "1Gi"}, "vllm-infra:models[0].resources.memory", "below the 4Gi a vLLM replica needs"),
        ({"memory": "12GB"}, "vllm-infra:models[0].resources.memory", "did you mean 12G or 12Gi?"),
        ({"memory": "lots"}, "vllm-infra:models[0].resources.memory", "not a Kubernetes quantity"),
        ({"memory": "-16Gi"}, "vllm-infra:models[0].resources.memory", "must be positive"),
        ({"cpu": "lots"}, "vllm-infra:models[0].resources.cpu", "not a Kubernetes quantity"),
        ({"cpu": "100m"}, "vllm-infra:models[0].resources.cpu", "below the 1 CPU a vLLM replica needs"),
        ({"cpu": "4Gi"}, "vllm-infra:models[0].resources.cpu", "CPU is counted in cores"),
    ],
)
def test_bad_or_absurd_quantities_are_rejected_with_the_fix(tmp_path, resources, key, fragment):
    (problem,) = problems_of(tmp_path, single_model_config(resources=resources))
    assert problem.startswith(key + ":"), problem
    assert fragment in problem


# Within the 12 GiB a g6.xlarge replica can get; fractions round up to whole Gi.
@pytest.mark.parametrize(
    ("memory", "limit"),
    [("12Gi", "12Gi"), ("12884901888", "12Gi"), ("11e9", "11Gi"), ("11.5Gi", "12Gi"), ("12000M", "12Gi")],
)
def test_every_legal_memory_spelling_is_understood(tmp_path, memory, limit):
    from tests.plans import container

    plan = plan_config(tmp_path, single_model_config(resources={"memory": memory}))
    assert container(plan)["resources"]["limits"]["memory"] == limit


def test_the_cli_reports_an_odd_quantity_without_a_traceback(tmp_path):
    stack = write_stack(tmp_path, single_model_config(resources={"memory": "500m"}))
    result = subprocess.run(
        [sys.executable, "-m", "vllm_infra.cli", "plan", str(stack)],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "vllm-infra:models[0].resources.memory" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "text",
    [f"config:\n  vllm-infra:apiKey: {SECRET}: [\n", f'config:\n  vllm-infra:apiKey: "{SECRET}\n  x: 1\n'],
)
def test_a_stack_file_that_is_not_yaml_is_reported_without_quoting_its_lines(tmp_path, text):
    from vllm_infra.offline.stackfile import load_stack_file

    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_stack_file(str(path))
    (problem,) = raised.value.problems
    assert "not valid YAML" in problem and "line 2" in problem
    assert "sk-live" not in problem


def test_scale_to_zero_behind_the_router_is_accepted(tmp_path):
    config = load_balanced(autoscaling=SCALE_TO_ZERO)
    config["vllm-infra:balancer"] = {"strategy": "router", "exposure": TLS_EXPOSURE}
    scaled = plan_config(tmp_path, config).one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert scaled.inputs["spec"]["minReplicaCount"] == 0


def test_a_pydantic_check_without_a_translation_still_speaks_the_librarys_words():
    import datetime

    from pydantic import ValidationError

    from vllm_infra.config.base import ConfigModel
    from vllm_infra.config.errors import explain

    class Probe(ConfigModel):
        since: datetime.date

    with pytest.raises(ValidationError) as raised:
        Probe.model_validate({"since": "yesterday"})
    (problem,) = explain(raised.value, Probe).problems
    assert problem.startswith("vllm-infra:since: got 'yesterday'; is not a value this key takes")
    assert "Input should" not in problem and "date" not in problem.split(";", 1)[1]
