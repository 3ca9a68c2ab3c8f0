"""The README's "component in your own program" example is a complete program that passes the library's policies."""

from __future__ import annotations

import importlib.util
import re

from tests.plans import PROJECT_DIR
from vllm_infra.offline.cloud import default_invokes
from vllm_infra.offline.runner import run_program
from vllm_infra.offline.stackfile import load_stack_file
from vllm_infra.policies import evaluate

EXAMPLE_DIR = PROJECT_DIR / "examples" / "own_program"
PROGRAM = EXAMPLE_DIR / "__main__.py"


def run_example_program() -> None:
    # Imported by path and executed afresh on every run, as `pulumi up` runs the file.
    spec = importlib.util.spec_from_file_location("own_program_example", PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def plan_example():
    return run_program(
        run_example_program, load_stack_file(str(EXAMPLE_DIR / "Pulumi.dev.yaml")), invokes=default_invokes()
    )


def test_the_example_program_passes_every_policy():
    plan = plan_example()
    assert plan.project == "my-app"
    assert [str(v) for v in evaluate(plan.resources)] == []


def test_the_example_program_creates_what_the_model_needs():
    plan = plan_example()
    types = {r.type for r in plan.resources}
    for needed in (
        "vllm-infra:cluster:RegionalCluster",
        "aws:eks/nodeGroup:NodeGroup",
        "vllm-infra:device_plugin:NvidiaDevicePlugin",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:batch/v1:Job",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    ):
        assert needed in types, needed
    node_group = plan.one("aws:eks/nodeGroup:NodeGroup")
    deployment = plan.one("kubernetes:apps/v1:Deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    # The pods land on the node group the program created: its instance type and tier label are what they select.
    assert node_group.inputs["instanceTypes"] == [pod["nodeSelector"]["node.kubernetes.io/instance-type"]]
    node_labels = node_group.inputs["labels"]
    assert all(node_labels[k] == v for k, v in pod["nodeSelector"].items() if k in node_labels)
    assert plan.one("kubernetes:core/v1:PersistentVolumeClaim").protect
    assert deployment.provider and "k8s" in deployment.provider


def readme_section_code() -> str:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("## Using a component in your own Pulumi program", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return block


def test_the_readme_example_is_the_example_program():
    block = readme_section_code()
    assert len(block.splitlines()) > 20
    assert block in PROGRAM.read_text()
