"""The CrossGuard pack wraps the same rules: validate functions called with pulumi_policy's own argument types, and
the SDK's analyzer servicer driven with engine-shaped requests (no gRPC server, no Pulumi CLI).

pulumi-policy must be installed (``pip install 'pulumi-policy>=1.21,<2'``; it belongs in the ``test`` extra).
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi_policy
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from tests.plans import PROJECT_DIR
from tests.policies import factories as f
from vllm_infra.policies import ALL_POLICIES, Resource, images_pinned, policy_named
from vllm_infra.policies.crossguard import (
    OFFLINE_ONLY,
    PACK_NAME,
    InputsCache,
    crossguard_policies,
    plain,
    resource_from_args,
    resource_validator,
    stack_validator,
)

PACK_DIR = PROJECT_DIR / "policy_pack"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def options(protect: bool = False, ignore_changes: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, ignore_changes or [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def args_for(resource: Resource, *, protect: bool = False) -> ResourceValidationArgs:
    # What the SDK hands a policy: inputs behind its unknown-checking proxy.
    return ResourceValidationArgs(
        resource.type, unknown_checking_proxy(dict(resource.inputs)), resource.urn, resource.name,
        options(protect), None,
    )  # fmt: skip


def policy_resource(resource: Resource, props: dict | None = None) -> PolicyResource:
    return PolicyResource(resource.type, unknown_checking_proxy(props or dict(resource.inputs)), resource.urn,
                          resource.name, options(resource.protect), None, None, [], {})  # fmt: skip


class Reports:
    def __init__(self) -> None:
        self.items: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.items.append((message, urn))


def test_pack_wraps_every_policy_it_can_judge_with_the_same_metadata():
    wrapped = {p.name: p for p in crossguard_policies()}
    assert set(wrapped) == {p.name for p in ALL_POLICIES} - set(OFFLINE_ONLY)
    assert OFFLINE_ONLY == ("secret-values-are-pulumi-secrets",)
    for policy in ALL_POLICIES:
        if policy.name in OFFLINE_ONLY:
            continue
        cg = wrapped[policy.name]
        expected_type = pulumi_policy.ResourceValidationPolicy if policy.scope == "resource" else (
            pulumi_policy.StackValidationPolicy)  # fmt: skip
        assert isinstance(cg, expected_type)
        assert cg.description == policy.description
        assert cg.enforcement_level.value == policy.enforcement.value
    assert wrapped["vllm-network-policy"].enforcement_level is pulumi_policy.EnforcementLevel.MANDATORY


def test_resource_validator_reports_the_rule_message():
    bad = f.deployment(containers=[f.vllm_container(image="vllm/vllm-openai:latest")])
    reports = Reports()
    resource_validator(images_pinned, InputsCache())(args_for(bad), reports)
    assert reports.items == [(images_pinned(bad)[0].message, None)]


def test_resource_validator_skips_preview_unknowns_instead_of_raising():
    pending = f.deployment(containers=[f.vllm_container(image=UNKNOWN_STRING_VALUE)])
    reports = Reports()
    for policy in ALL_POLICIES:
        if policy.scope == "resource":
            resource_validator(policy, InputsCache())(args_for(pending), reports)
    assert reports.items == []


def test_resource_options_reach_the_rules():
    claim = f.cache_claim(protect=False)
    assert resource_from_args(args_for(claim, protect=True)).protect is True
    reports = Reports()
    resource_validator(policy_named("model-cache-protected"), InputsCache())(args_for(claim), reports)
    assert len(reports.items) == 1


def test_stack_validator_names_the_violating_resource():
    deployment = f.deployment()
    reports = Reports()
    stack_validator(policy_named("vllm-pdb-covers-deployments"), InputsCache())(
        StackValidationArgs([policy_resource(deployment)]), reports
    )
    ((message, urn),) = reports.items
    assert urn == deployment.urn and "no PodDisruptionBudget" in message


def test_stack_rules_read_recorded_inputs_not_live_outputs():
    # After the first `pulumi up`, a Deployment's outputs carry the API server's default spec.replicas: 1 even though
    # the program never set it; the recorded inputs say what the program declares.
    scaler = f.hpa({"minReplicas": 1.0, "maxReplicas": 3.0})
    declared = f.deployment(replicas=None)
    live_outputs = dict(f.deployment(replicas=1.0).inputs)
    rule = policy_named("autoscaled-replicas-unset")

    reports = Reports()
    stack_validator(rule, InputsCache())(StackValidationArgs([policy_resource(declared, live_outputs),
                                                              policy_resource(scaler)]), reports)  # fmt: skip
    assert len(reports.items) == 1  # outputs alone: indistinguishable from a declared replica count

    cache, reports = InputsCache(), Reports()
    resource_validator(images_pinned, cache)(args_for(declared), Reports())
    stack_validator(rule, cache)(StackValidationArgs([policy_resource(declared, live_outputs),
                                                      policy_resource(scaler)]), reports)  # fmt: skip
    assert reports.items == []


def test_plain_copies_proxies_and_restores_secrets():
    proxied = unknown_checking_proxy({"a": [{"b": UNKNOWN_STRING_VALUE}], "s": pulumi_policy.Secret("x")})
    copied = plain(proxied)
    assert copied["a"] == [{"b": UNKNOWN_STRING_VALUE}]
    from pulumi.runtime import rpc

    assert rpc.is_rpc_secret(copied["s"])


def struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def servicer(cache: InputsCache) -> _PolicyAnalyzerServicer:
    # The SDK's own analyzer, as PolicyPack would serve it (private API, pinned by pulumi-policy<2).
    return _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", crossguard_policies(cache=cache),
                                   pulumi_policy.EnforcementLevel.ADVISORY)  # fmt: skip


def test_engine_shaped_analyze_request_reports_mandatory_diagnostics():
    bad = f.deployment(containers=[f.vllm_container(tp=2, gpus="1", image="vllm/vllm-openai")])
    request = proto.AnalyzeRequest(type=bad.type, urn=bad.urn, name=bad.name, properties=struct(dict(bad.inputs)),
                                   options=proto.AnalyzerResourceOptions())  # fmt: skip
    response = servicer(InputsCache()).Analyze(request, None)
    found = {d.policyName: d for d in response.diagnostics}
    assert set(found) == {"vllm-gpu-limit-matches-parallelism", "images-pinned"}
    assert all(d.enforcementLevel == proto.MANDATORY for d in found.values())
    assert "set it to 2" in found["vllm-gpu-limit-matches-parallelism"].message


def test_engine_secrets_reach_policies_unwrapped_hence_offline_only():
    # The engine marks secrets, but the SDK unwraps them before validate: a literal and a secret look alike here.
    secret = f.secret(string_data={"api-key": "placeholder"})
    inputs = dict(secret.inputs)
    inputs["stringData"] = {"api-key": {**SECRET_SIG, "value": "sk-123"}}
    seen: list = []

    def capture(args, report):
        seen.append(args.props["stringData"]["api-key"])

    probe = pulumi_policy.ResourceValidationPolicy("probe", "captures props", validate=capture)
    analyzer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", [probe], pulumi_policy.EnforcementLevel.ADVISORY)
    analyzer.Analyze(proto.AnalyzeRequest(type=secret.type, urn=secret.urn, name=secret.name,
                                          properties=struct(inputs)), None)  # fmt: skip
    assert seen == ["sk-123"]


def test_engine_shaped_stack_request_uses_recorded_inputs():
    cache = InputsCache()
    analyzer = servicer(cache)
    declared, scaler = f.deployment(replicas=None), f.hpa({"minReplicas": 1.0, "maxReplicas": 3.0})
    for resource in (declared, scaler, f.pdb()):
        analyzer.Analyze(proto.AnalyzeRequest(type=resource.type, urn=resource.urn, name=resource.name,
                                              properties=struct(dict(resource.inputs))), None)  # fmt: skip
    outputs = dict(f.deployment(replicas=1.0).inputs)
    stack = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=declared.type, urn=declared.urn, name=declared.name, properties=struct(outputs)),
        proto.AnalyzerResource(type=scaler.type, urn=scaler.urn, name=scaler.name,
                               properties=struct(dict(scaler.inputs))),
        proto.AnalyzerResource(type="kubernetes:policy/v1:PodDisruptionBudget", urn=f.pdb().urn, name="llama-pdb",
                               properties=struct(dict(f.pdb().inputs))),
    ])  # fmt: skip
    response = analyzer.AnalyzeStack(stack, None)
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("vllm-network-policy", proto.MANDATORY)
    ]


# --- the pack directory ----------------------------------------------------------------------------------------------


def test_pack_files():
    settings = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert settings["runtime"]["name"] == "python" and settings["description"]
    assert settings["runtime"]["options"]["virtualenv"] == "venv", "Pulumi installs requirements.txt into it"
    requirements = [line.strip() for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]  # fmt: skip
    assert requirements == ["pulumi-policy>=1.21,<2", "-e .."]
    assert (PACK_DIR / ".." / "pyproject.toml").resolve() == Path(PROJECT_DIR / "pyproject.toml").resolve()


def test_pack_main_builds_nothing_on_import_and_the_pack_when_run(monkeypatch):
    built: list[dict] = []

    class FakePolicyPack:  # the real one starts a gRPC server and blocks
        def __init__(self, **kwargs):
            built.append(kwargs)

    namespace = runpy.run_path(str(PACK_DIR / "__main__.py"), run_name="policy_pack")
    assert built == []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePolicyPack)
    namespace["build_pack"]()
    (kwargs,) = built
    assert kwargs["name"] == PACK_NAME
    assert [p.name for p in kwargs["policies"]] == [p.name for p in crossguard_policies()]


@pytest.mark.parametrize("policy", [p for p in ALL_POLICIES if p.scope == "resource" and p.name not in OFFLINE_ONLY],
                         ids=lambda p: p.name)  # fmt: skip
def test_every_wrapped_resource_policy_accepts_sdk_args(policy):
    # No rule may trip over the SDK's proxies (Mapping, not dict) on a compliant resource.
    reports = Reports()
    for resource in (f.deployment(), f.cache_claim(), f.hpa({"maxReplicas": 2.0}), f.secret()):
        resource_validator(policy, InputsCache())(args_for(resource, protect=resource.protect), reports)
    assert reports.items == []


@pytest.mark.slow
def test_pack_serves_the_policies_over_grpc_as_pulumi_launches_it():
    # What `pulumi preview --policy-pack policy_pack` runs (pulumi-analyzer-policy-python): `python -m pulumi.policy
    # <engine> <pack dir>`; the pack prints its port, then answers the engine's Analyze calls.
    import os
    import subprocess
    import sys

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], cwd=PACK_DIR,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = process.stdout.readline().strip()
        if not line.isdigit():
            pytest.fail(f"the pack did not start: {process.stderr.read() if process.poll() is not None else line}")
        port = int(line)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
            assert info.name == PACK_NAME
            assert [p.name for p in info.policies] == [p.name for p in crossguard_policies()]
            bad = f.deployment(containers=[f.vllm_container(image="vllm/vllm-openai:latest")])
            response = stub.Analyze(proto.AnalyzeRequest(type=bad.type, urn=bad.urn, name=bad.name,
                                                         properties=struct(dict(bad.inputs))), timeout=10)  # fmt: skip
            assert [d.policyName for d in response.diagnostics] == ["images-pinned"]
            assert response.diagnostics[0].enforcementLevel == proto.MANDATORY
    finally:
        process.terminate()
        process.wait(timeout=10)
