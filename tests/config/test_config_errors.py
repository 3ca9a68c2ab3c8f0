"""Bad config is rejected before any resource is registered, with a message naming the key, the value and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.plans import PROJECT_DIR, plan_config, single_model_config, write_stack
from vllm_infra.config import ConfigError
from vllm_infra.program import InvalidStackConfig


def problems_of(tmp_path, config, **kwargs) -> list[str]:
    with pytest.raises((ConfigError, InvalidStackConfig)) as raised:
        plan_config(tmp_path, config, **kwargs)
    return raised.value.problems


@pytest.mark.parametrize(
    ("engine", "key", "fragment"),
    [
        ({"gpuMemoryUtilization": 1.2}, "vllm-infra:models[0].engine.gpuMemoryUtilization", "got 1.2"),
        ({"tensorParallelSize": 3}, "vllm-infra:models[0].engine.tensorParallelSize", "power of two"),
        ({"maxNumSeqs": 0}, "vllm-infra:models[0].engine.maxNumSeqs", "got 0; must be at least 1"),
        ({"quantization": "int3"}, "vllm-infra:models[0].engine.quantization", "must be one of awq, "),
        ({"extraArgs": ["--disable-everything"]}, "vllm-infra:models[0].engine.extraArgs", "not a flag of vLLM"),
        ({"extraArgs": ["--api-key", "x"]}, "vllm-infra:models[0].engine.extraArgs", "secret on the command line"),
        ({"extraArgs": ["--max-model-len=4096"]}, "vllm-infra:models[0].engine.extraArgs", "engine.maxModelLen"),
        ({"maxNumBatchedTokens": 128, "maxNumSeqs": 256}, "vllm-infra:models[0].engine", "at least maxNumSeqs"),
    ],
)
def test_engine_errors_name_the_key_and_the_fix(tmp_path, engine, key, fragment):
    problems = problems_of(tmp_path, single_model_config(engine=engine))
    assert len(problems) == 1, problems
    assert problems[0].startswith(key + ":"), problems
    assert fragment in problems[0]


def test_read_write_once_cache_with_several_replicas_is_rejected_with_the_fix(tmp_path):
    config = single_model_config(replicas=2, cache={"accessMode": "ReadWriteOnce"})
    config["vllm-infra:topology"] = "load-balanced"
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:models[0].cache.accessMode: ReadWriteOnce cannot be shared by 2 replicas")
    assert "Multi-Attach" in problem and "ReadWriteMany" in problem


def test_unknown_key_is_rejected_not_ignored(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(engine={"maxModelLenght": 4096}))
    assert problem.startswith("vllm-infra:models[0].engine.maxModelLenght: unknown key")
    config = single_model_config()
    config["vllm-infra:replcas"] = 2
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:replcas: unknown key")


def test_missing_api_key_is_rejected_with_the_command_that_sets_it(tmp_path):
    (problem,) = problems_of(tmp_path, single_model_config(), secrets="none")
    assert "vllm-infra:apiKey" in problem
    assert "pulumi config set --secret vllm-infra:apiKey" in problem


def test_every_problem_is_reported_at_once(tmp_path):
    config = single_model_config(engine={"gpuMemoryUtilization": 2, "maxNumSeqs": -1})
    problems = problems_of(tmp_path, config, secrets="none")
    assert len(problems) == 3


def test_moving_image_tags_and_revisions_are_rejected(tmp_path):
    config = single_model_config(revision="main")
    config["vllm-infra:vllmImage"] = "vllm/vllm-openai:latest"
    problems = problems_of(tmp_path, config)
    assert any(p.startswith("vllm-infra:vllmImage: got 'vllm/vllm-openai:latest'") for p in problems)
    assert any(p.startswith("vllm-infra:models[0].revision: got 'main'") for p in problems)


def test_single_topology_serves_one_replica_of_one_model(tmp_path):
    config = single_model_config(replicas=2, cache={"accessMode": "ReadWriteMany"})
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:topology: single serves one model with one replica")
    assert "load-balanced" in problem


def test_non_secret_key_stored_as_secret_is_rejected(tmp_path):
    config = single_model_config()
    config["vllm-infra:namespace"] = {"secure": "v1:AAAAciphertext"}
    (problem,) = problems_of(tmp_path, config)
    assert problem.startswith("vllm-infra:namespace: is stored as a secret")


def test_cli_exits_2_with_the_message_and_no_traceback(tmp_path):
    stack = write_stack(tmp_path, single_model_config(engine={"gpuMemoryUtilization": 1.5}))
    result = subprocess.run(
        [sys.executable, "-m", "vllm_infra.cli", "plan", str(stack)],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "vllm-infra:models[0].engine.gpuMemoryUtilization: got 1.5" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
