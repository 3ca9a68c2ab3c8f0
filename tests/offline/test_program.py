"""`vllm-infra plan --program`: a user's own Pulumi program that imports vllm_infra components, planned offline."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from vllm_infra.cli import main
from vllm_infra.offline.runner import plan_program

USER_KEY = "sk-user-program-DO-NOT-PRINT"

PROGRAM = '''
"""A team's own program: one vllm_infra component, a helper module of its own, a data-source invoke."""
import pulumi
import pulumi_aws as aws

from helpers import NAMESPACE  # beside __main__.py, as the Pulumi CLI would import it
from vllm_infra import InferenceSecrets, InferenceSecretsArgs

config = pulumi.Config()  # the project's own namespace: my-app
secrets = InferenceSecrets("inference", InferenceSecretsArgs(namespace=NAMESPACE,
                                                             api_key=config.require_secret("vllmKey")))
pulumi.export("partition", aws.get_partition().partition)
pulumi.export("replicas", config.require_int("replicas"))
'''


@pytest.fixture
def user_program(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "my-app"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: my-app\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    (project / "helpers.py").write_text('NAMESPACE = "ml"\n')
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump({"config": {"vllmKey": USER_KEY, "my-app:replicas": 2}}))
    return project / "__main__.py", stack


def test_the_program_is_planned_with_its_own_project_config_and_invokes(user_program):
    program, stack = user_program
    cwd = Path.cwd()
    plan = plan_program(program, stack)
    assert Path.cwd() == cwd, "the working directory is restored"
    assert (plan.project, plan.stack) == ("my-app", "dev")
    assert plan.outputs["partition"] == "aws"  # answered by the offline cloud
    assert plan.outputs["replicas"] == 2
    secret = plan.one("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["namespace"] == "ml"
    assert any(r.type == "vllm-infra:secrets:InferenceSecrets" for r in plan.resources)


def test_the_cli_prints_the_same_tree_json_and_policies(user_program, capsys):
    program, stack = user_program
    code = main(["plan", "--program", str(program), "--config", str(stack)])
    out = capsys.readouterr().out
    assert "Previewing update (dev)" in out and "vllm-infra:secrets:InferenceSecrets" in out
    assert "Policies:" in out or "Policy violations:" in out
    assert code in (0, 3)
    main(["plan", "--program", str(program.parent), "--config", str(stack), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert document["project"] == "my-app" and document["outputs"]["partition"] == "aws"
    assert USER_KEY not in json.dumps(document) + out


def test_a_relative_program_and_config(user_program, monkeypatch, capsys):
    program, _stack = user_program
    monkeypatch.chdir(program.parent.parent)
    assert main(["plan", "--program", "my-app", "--config", os.path.join("my-app", "Pulumi.dev.yaml")]) in (0, 3)
    assert "InferenceSecrets" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--program", "x/__main__.py"], "--program and --config go together"),
    (["single", "--program", "x/__main__.py", "--config", "c.yaml"], "not both"),
    ([], "give a STACK"),
    (["--program", "no/such/__main__.py", "--config", "stacks/Pulumi.single.yaml"], "no such file"),
])  # fmt: skip
def test_wrong_combinations_are_explained(args, message, capsys):
    assert main(["plan", *args]) == 2
    assert message in capsys.readouterr().err


def test_two_programs_with_same_named_helpers_do_not_mix(user_program, tmp_path):
    program, stack = user_program
    other = tmp_path / "other"
    other.mkdir()
    (other / "__main__.py").write_text(program.read_text())
    (other / "helpers.py").write_text('NAMESPACE = "team-b"\n')
    (other / "Pulumi.yaml").write_text("name: my-app\n")
    assert plan_program(program, stack).one("kubernetes:core/v1:Secret").inputs["metadata"]["namespace"] == "ml"
    second = plan_program(other, stack).one("kubernetes:core/v1:Secret")
    assert second.inputs["metadata"]["namespace"] == "team-b"


def test_render_takes_a_program_too(user_program, tmp_path, capsys):
    program, stack = user_program
    out = tmp_path / "k8s"
    assert main(["render", "--program", str(program), "--config", str(stack), "--out", str(out)]) == 0
    # The program gives its component no Kubernetes provider: Pulumi's default one (the ambient kubeconfig).
    (secret_file,) = (out / "default-provider").glob("*secret*.yaml")
    assert yaml.safe_load(secret_file.read_text())["stringData"] == {"api-key": "[secret]"}
    assert USER_KEY not in secret_file.read_text() + capsys.readouterr().out


def _program(tmp_path: Path, source: str) -> tuple[Path, Path]:
    (tmp_path / "__main__.py").write_text(textwrap.dedent(source))
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    return tmp_path / "__main__.py", tmp_path / "Pulumi.dev.yaml"


def test_a_data_source_without_an_offline_answer_is_named(tmp_path, capsys):
    program, stack = _program(
        tmp_path,
        """
        import pulumi_aws as aws
        aws.ec2.get_vpc(default=True)
    """,
    )
    assert main(["plan", "--program", str(program), "--config", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "no answer for the data source aws:ec2/getVpc:getVpc" in err and "invokes=InvokeResults" in err
    assert "Traceback" not in err and "Task was destroyed" not in err


def test_a_program_that_raises_shows_its_own_frames(tmp_path, capsys):
    program, stack = _program(
        tmp_path,
        """
        import pulumi
        raise ValueError("the team's own bug")
    """,
    )
    assert main(["plan", "--program", str(program), "--config", str(stack)]) == 2
    err = capsys.readouterr().err
    assert f'File "{program.resolve()}", line 3' in err and "ValueError: the team's own bug" in err
    assert "runpy" not in err and "vllm_infra" not in err
