"""Test support: run the real stack program offline for a stack file written from a Python dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vllm_infra.offline.runner import Plan, plan_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent
KNOWN_API_KEY = "sk-test-4f1c2b9e7d-DO-NOT-LEAK"
KNOWN_HF_TOKEN = "hf_test_9c8b7a6f5e4d3c2b1a-DO-NOT-LEAK"
REGION = "us-east-1"
# The adopted test cluster declares the StorageClasses the tests' caches name (a claim of a class the stack neither
# creates nor was told exists is rejected).
EXISTING_CLUSTER = [
    {
        "name": REGION,
        "cluster": {"existing": {"name": "ml-platform", "has": {"storageClasses": ["gp3", "gp3-fast", "efs-sc"]}}},
        "vpcCidr": "10.0.0.0/16",
    }
]
# Internet-facing balancers need TLS: an ACM certificate ARN of the right shape (offline, nothing looks it up).
EXAMPLE_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0b8f2a4e-6a1d-4c55-9f5e-3f1a2b3c4d5e"
TLS_EXPOSURE = {"tls": {"certificateArn": EXAMPLE_CERTIFICATE_ARN}}


def single_model_config(**model_overrides: Any) -> dict[str, Any]:
    """A minimal valid ``single`` stack config (camelCase keys, as in a stack file), in us-east-1 on an existing
    cluster; the model's logical resource names are ``us-east-1-llama-8b...``."""
    model = {
        "name": "llama-8b",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
    }
    model.update(model_overrides)
    return {"vllm-infra:topology": "single", "vllm-infra:regions": EXISTING_CLUSTER, "vllm-infra:models": [model]}


def write_stack(tmp_path: Path, config: dict[str, Any], *, name: str = "test", secrets: str = "plain") -> Path:
    """Write ``config`` as ``Pulumi.<name>.yaml``; secrets are the known test values (``plain``), ``secure:``
    ciphertext (``secure``) or absent (``none``)."""
    document = dict(config)
    if secrets == "plain":
        document.setdefault("vllm-infra:apiKey", KNOWN_API_KEY)
        document.setdefault("vllm-infra:hfToken", KNOWN_HF_TOKEN)
    elif secrets == "secure":
        document.setdefault("vllm-infra:apiKey", {"secure": "v1:AAAAtestciphertextapikey"})
        document.setdefault("vllm-infra:hfToken", {"secure": "v1:AAAAtestciphertexthftoken"})
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": document}, sort_keys=False))
    return path


def plan_config(tmp_path: Path, config: dict[str, Any], **kwargs: Any) -> Plan:
    """Plan a stack config given as a dict."""
    return plan_stack(str(write_stack(tmp_path, config, **kwargs)))


def container(plan: Plan, deployment_name: str | None = None, container_name: str = "vllm") -> dict[str, Any]:
    """The named container of a Deployment's pod template, as the engine received it."""
    deployment = plan.one("kubernetes:apps/v1:Deployment", deployment_name)
    containers = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == container_name)
