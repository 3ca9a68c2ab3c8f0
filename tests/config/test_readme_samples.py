"""The error messages README.md quotes are what the library really prints, produced here from real configs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.config.test_config_errors import problems_of
from tests.plans import PROJECT_DIR, single_model_config
from vllm_infra.cli import EXIT_BAD_CONFIG, main

README = (PROJECT_DIR / "README.md").read_text()
FENCED = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def load_balanced(**overrides):
    config = single_model_config(**overrides)
    config["vllm-infra:topology"] = "load-balanced"
    return config


# Each quoted sample (an inline code span ending in " ...") and the config that produces it.
SAMPLE_CONFIGS = {
    "vllm-infra:models[0].cache.accessMode: ReadWriteOnce": load_balanced(
        replicas=2, cache={"accessMode": "ReadWriteOnce"}
    ),
    "vllm-infra:models[0]: meta-llama/Llama-3.1-70B-Instruct in bf16": single_model_config(
        model="meta-llama/Llama-3.1-70B-Instruct", gpu={"instanceType": "g6.xlarge"}
    ),
}


def inline_samples() -> list[str]:
    prose = FENCED.sub("", README)
    return [span.removesuffix(" ...") for span in re.findall(r"`([^`\n]+)`", prose) if span.endswith(" ...")]


def test_every_inline_sample_has_a_config_here():
    samples = inline_samples()
    assert len(samples) >= 2
    assert not [s for s in samples if not any(s.startswith(prefix) for prefix in SAMPLE_CONFIGS)]


@pytest.mark.parametrize("sample", inline_samples())
def test_each_inline_sample_is_the_start_of_a_real_message(tmp_path, sample):
    (config,) = [c for prefix, c in SAMPLE_CONFIGS.items() if sample.startswith(prefix)]
    problems = problems_of(tmp_path, config)
    assert [p for p in problems if p.startswith(sample)], (sample, problems)


def first_try_blocks() -> list[tuple[str, str]]:
    # A stack-file block followed by the `error: invalid stack configuration` block it produces.
    blocks = FENCED.findall(README)
    return [(stack, output) for (kind, stack), (_, output) in itertools.pairwise(blocks)
            if kind == "yaml" and output.startswith("error: invalid stack configuration")]  # fmt: skip


def test_the_quoted_errors_are_the_plan_of_the_quoted_stack_file(tmp_path: Path, capsys):
    blocks = first_try_blocks()
    assert len(blocks) == 1
    for index, (stack, output) in enumerate(blocks):
        path = tmp_path / f"Pulumi.first-try-{index}.yaml"
        path.write_text(stack)
        assert main(["plan", str(path)]) == EXIT_BAD_CONFIG
        assert capsys.readouterr().err == output
