"""A known secret value appears nowhere in any plan or render output — only as "[secret]" or inside Secrets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.plans import KNOWN_API_KEY, KNOWN_HF_TOKEN, PROJECT_DIR, single_model_config, write_stack

KNOWN_VALUES = (KNOWN_API_KEY, KNOWN_HF_TOKEN)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vllm_infra.cli", *args], capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120
    )


@pytest.fixture(scope="module")
def plaintext_stack(tmp_path_factory):
    # Plaintext secrets in the stack file: the worst case, accepted with a warning and still never printed.
    return write_stack(tmp_path_factory.mktemp("leak"), single_model_config(), secrets="plain")


@pytest.mark.parametrize("variant", [[], ["--json"], ["--details"]], ids=["tree", "json", "details"])
def test_plan_output_never_contains_a_secret(plaintext_stack, variant):
    result = run_cli("plan", str(plaintext_stack), *variant)
    assert result.returncode == 0, result.stderr
    for value in KNOWN_VALUES:
        assert value not in result.stdout + result.stderr
    assert "stored in plain text" in result.stdout


def test_plan_json_shows_secrets_as_redacted(plaintext_stack):
    plan = json.loads(run_cli("plan", str(plaintext_stack), "--json").stdout)
    secrets = [r for r in plan["resources"] if r["type"] == "kubernetes:core/v1:Secret"]
    assert [r["inputs"]["stringData"] for r in secrets] == [{"api-key": "[secret]"}, {"token": "[secret]"}]


def test_render_never_writes_a_secret(plaintext_stack, tmp_path):
    result = run_cli("render", str(plaintext_stack), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "out").rglob("*.yaml"))
    assert any("secret-" in f.name for f in files)
    for path in files:
        text = path.read_text()
        for value in KNOWN_VALUES:
            assert value not in text, f"{value} leaked into {path.name}"


def test_the_secret_does_reach_the_secret_object(tmp_path):
    # The other half of the property: redaction hides the value, it does not drop it.
    from pulumi.runtime import rpc

    from tests.plans import plan_config

    plan = plan_config(tmp_path, single_model_config(), secrets="plain")
    string_data = plan.one("kubernetes:core/v1:Secret", "us-east-1-secrets-api-key").inputs["stringData"]
    assert rpc.is_rpc_secret(string_data)
    assert rpc.unwrap_rpc_secret(string_data) == {"api-key": KNOWN_API_KEY}
