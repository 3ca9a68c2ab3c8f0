"""Every resource and invoke of every shipped stack — and of the code paths and config choices the shipped stacks
leave off (created clusters, Global Accelerator, failover, Ingress, spot, Bottlerocket, bursting EFS) —
matches the providers' own Pulumi schemas."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SHIPPED_STACKS
from tests.plans import PROJECT_DIR
from tests.provider_schema.validator import SCHEMA_DIR, ProviderSchemas, Violation
from vllm_infra.offline.cloud import default_invokes
from vllm_infra.offline.runner import Plan, plan_stack

SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]


class RecordingInvokes:
    """The offline invoke answers, remembering every invoke's token and arguments."""

    def __init__(self) -> None:
        self.answers = default_invokes()
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        result = self.answers(token, args)
        self.calls.append((token, args, result))
        return result


def _stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())


def _created_clusters_with_accelerator() -> dict[str, Any]:
    document = _stack_file("multi-region")
    config = document["config"]
    for index, region in enumerate(config["vllm-infra:regions"]):
        region["cluster"] = {
            "create": {
                "name": f"vllm-{index}",
                "subnetIds": SUBNETS,
                "adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"],
            }
        }
    config["vllm-infra:globalLoadBalancer"]["globalAccelerator"] = True
    return document


def _ingress_exposure() -> dict[str, Any]:
    document = _stack_file("load-balanced")
    # Internal: an internet-facing endpoint needs TLS settings this variant is not about.
    exposure = {"kind": "ingress", "host": "llm.example.com", "internal": True}
    document["config"]["vllm-infra:balancer"]["exposure"] = exposure
    return document


def _failover_every_10_seconds() -> dict[str, Any]:
    # The other routing policy and health-check interval, between a primary and a secondary region.
    document = _stack_file("multi-region")
    config = document["config"]
    config["vllm-infra:regions"] = config["vllm-infra:regions"][:2]
    config["vllm-infra:globalLoadBalancer"].update(policy="failover", healthCheckIntervalSeconds=10)
    return document


def _spot_bottlerocket_bursting() -> dict[str, Any]:
    # The other capacity, AMI and EFS throughput choices the config offers.
    document = _stack_file("load-balanced")
    config = document["config"]
    config["vllm-infra:regions"][0]["addons"]["efsThroughputMode"] = "bursting"
    config["vllm-infra:models"][0]["gpu"].update(capacityType="spot", amiType="BOTTLEROCKET_x86_64_NVIDIA")
    return document


VARIANTS = {
    "multi-region+created-clusters+global-accelerator": _created_clusters_with_accelerator,
    "multi-region+failover+10s": _failover_every_10_seconds,
    "load-balanced+ingress": _ingress_exposure,
    "load-balanced+spot+bottlerocket+bursting-efs": _spot_bottlerocket_bursting,
}
ALL_STACKS = [*SHIPPED_STACKS, *VARIANTS]


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[str, tuple[Plan, RecordingInvokes]]:
    """Each stack planned once, with the invokes it made."""
    plans = {}
    for stack in ALL_STACKS:
        invokes = RecordingInvokes()
        if stack in VARIANTS:
            path = tmp_path_factory.mktemp("stacks") / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.safe_dump(VARIANTS[stack]()))
            plans[stack] = (plan_stack(str(path), PROJECT_DIR, invokes=invokes, stack_name=stack), invokes)
        else:
            plans[stack] = (plan_stack(stack, PROJECT_DIR, invokes=invokes), invokes)
    return plans


def _report(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_resource_matches_its_provider_schema(planned, stack):
    plan, _ = planned[stack]
    schemas = ProviderSchemas.vendored()
    provider_resources = [r for r in plan.resources if r.type.startswith(("aws:", "kubernetes:", "pulumi:providers:"))]
    assert provider_resources, f"{stack} planned no provider resources"
    violations = [v for r in plan.resources for v in schemas.check_resource(r.type, r.inputs, r.name)]
    assert not violations, _report(violations)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_invoke_matches_its_function_schema(planned, stack):
    # The arguments the program passes, and the offline answer (vllm_infra/offline/cloud.py) against the shape of
    # the real result: a plan that reads a field the real function does not return would pass offline only.
    _, invokes = planned[stack]
    assert invokes.calls, f"{stack} made no invokes"
    schemas = ProviderSchemas.vendored()
    violations = [v for token, args, result in invokes.calls for v in schemas.check_invoke(token, args, result)]
    assert not violations, _report(violations)


def test_every_offline_invoke_answer_has_the_shape_of_the_real_result():
    # Including answers no shipped plan asks for during a preview (getLoadBalancer runs inside an apply).
    schemas = ProviderSchemas.vendored()
    args = {"name": "offline", "region": "us-east-1", "loadBalancerType": "network", "clusterName": "ml-platform",
            "addonName": "vpc-cni", "id": "subnet-0a1b2c3d4e5f60001",
            "filters": [{"name": "vpc-id", "values": ["vpc-0a1b2c3d"]}, {"name": "tag:kubernetes.io/role/elb",
                                                                         "values": ["1"]}]}  # fmt: skip
    answers = default_invokes().answers
    assert "aws:lb/getLoadBalancer:getLoadBalancer" in answers
    violations = []
    for token, answer in sorted(answers.items()):
        accepted = schemas.providers["aws"].functions.get(token, {}).get("inputs", {}).get("properties", {})
        wanted = {k: v for k, v in args.items() if k in accepted}
        violations += schemas.check_invoke(token, wanted, answer(wanted))
    assert not violations, _report(violations)


def _constructed_types(root: Path) -> dict[str, str]:
    """Type token -> first place, of every ``aws.…X(...)`` / ``k8s.…X(...)`` resource the Python files under
    ``root`` construct (``apiextensions.CustomResource`` tokens are chosen at run time and left out)."""
    import pulumi_aws
    import pulumi_kubernetes

    packages = {"aws": pulumi_aws, "k8s": pulumi_kubernetes}
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            head, *attributes = ast.unparse(node.func).split(".")
            if head not in packages or not attributes or not attributes[-1][:1].isupper():
                continue
            target: Any = packages[head]
            for attribute in attributes:
                target = getattr(target, attribute, None)
            token = getattr(target, "pulumi_type", None)
            if isinstance(token, str) and attributes[-1] != "CustomResource":
                found.setdefault(token, f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_resource_type_the_code_constructs_is_vendored_and_planned(planned):
    # The per-stack checks only see what the stacks plan: every type the code can construct must be among it.
    constructed = _constructed_types(PROJECT_DIR / "vllm_infra")
    assert {"aws:eks/nodeGroup:NodeGroup", "kubernetes:apps/v1:Deployment", "pulumi:providers:aws"} <= set(constructed)
    schemas = ProviderSchemas.vendored().providers
    planned_types = {r.type for plan, _ in planned.values() for r in plan.resources}
    problems = []
    for token, where in sorted(constructed.items()):
        schema = schemas[token.removeprefix("pulumi:providers:").split(":", 1)[0]]
        if not token.startswith("pulumi:providers:") and token not in schema.resources:
            problems.append(f"{where}: {token} is not vendored: add it to tests/data/provider-schemas/selection.json")
        if token not in planned_types:
            problems.append(f"{where}: {token} is in no plan here: add a stack variant that emits it (VARIANTS)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("provider", "distribution"), [("aws", "pulumi-aws"), ("kubernetes", "pulumi-kubernetes")])
def test_the_vendored_schema_is_of_the_installed_sdk(provider, distribution):
    schema = ProviderSchemas.vendored().providers[provider]
    installed = importlib.metadata.version(distribution)
    assert schema.version == installed, (
        f"tests/data/provider-schemas/{provider}.json is of {distribution} {schema.version}, {installed} is installed: "
        "regenerate it (tests/data/provider-schemas/SOURCE.md)"
    )


@pytest.mark.parametrize("provider", ["aws", "kubernetes"])
def test_source_md_records_each_vendored_file_with_its_origin_and_hash(provider):
    source = (SCHEMA_DIR / "SOURCE.md").read_text()
    recorded = json.loads((SCHEMA_DIR / f"{provider}.json").read_text())["source"]
    row = next((line for line in source.splitlines() if line.startswith(f"| `{provider}.json` |")), "")
    assert recorded["file"] in row and recorded["sha256"] in row, f"SOURCE.md: no row for {provider}.json: {recorded}"


# -- invokes the code makes, including those a preview never reaches (inside an apply of an unknown value) ----------


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _invoke_calls(root: Path) -> list[tuple[str, str, list[str]]]:
    """(where, function token, camelCase keyword names) of every ``aws.[module.]get_x[_output](...)`` call in the
    Python files under ``root``."""
    calls = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            match = re.fullmatch(r"aws\.(?:([a-z0-9]+)\.)?(get_[a-z0-9_]+?)(?:_output)?", ast.unparse(node.func))
            if match is None:
                continue
            module, function = match.group(1) or "index", _snake_to_camel(match.group(2))
            keywords = [_snake_to_camel(k.arg) for k in node.keywords if k.arg and k.arg != "opts"]
            calls.append((f"{path.relative_to(root)}:{node.lineno}", f"aws:{module}/{function}:{function}", keywords))
    return calls


def _invoke_problems(calls: list[tuple[str, str, list[str]]]) -> list[str]:
    aws = ProviderSchemas.vendored().providers["aws"]
    problems = []
    for where, token, keywords in calls:
        if token not in aws.function_tokens:
            problems.append(f"{where}: {token} is not a function of pulumi-aws {aws.version}")
        elif token not in aws.functions:
            problems.append(f"{where}: {token} is not vendored: add it to tests/data/provider-schemas/selection.json")
        else:
            inputs = aws.functions[token]["inputs"]
            problems += [f"{where}: {token} has no argument {k}" for k in keywords if k not in inputs["properties"]]
            problems += [f"{where}: {token} needs {r}" for r in inputs["required"] if r not in keywords]
    return problems


def test_every_aws_function_the_code_calls_exists_with_those_arguments():
    calls = _invoke_calls(PROJECT_DIR / "vllm_infra")
    tokens = {token for _, token, _ in calls}
    # The scan finds the calls a preview never reaches too (getLoadBalancer runs inside an apply of an unknown).
    expected = {
        "aws:index/getPartition:getPartition",
        "aws:eks/getCluster:getCluster",
        "aws:lb/getLoadBalancer:getLoadBalancer",
    }
    assert expected <= tokens
    problems = _invoke_problems(calls)
    assert not problems, "\n".join(problems)


def test_the_invoke_scan_sees_bad_functions_and_arguments(tmp_path):
    (tmp_path / "m.py").write_text(
        "import pulumi_aws as aws\n"
        "aws.eks.get_clustr_output(name='x')\n"
        "aws.lb.get_hosted_zone_id_output(load_balancer_typ='network')\n"
        "aws.eks.get_cluster(region='us-east-1')\n"
    )
    assert _invoke_problems(_invoke_calls(tmp_path)) == [
        "m.py:2: aws:eks/getClustr:getClustr is not a function of pulumi-aws 7.51.1",
        "m.py:3: aws:lb/getHostedZoneId:getHostedZoneId has no argument loadBalancerTyp",
        "m.py:4: aws:eks/getCluster:getCluster needs name",
    ]
