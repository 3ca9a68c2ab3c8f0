"""The CLI in a shell: pipes closed early (`| head`), colour only on a terminal, one resource shown readably."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest

from tests.plans import PROJECT_DIR
from vllm_infra.cli import EXIT_BROKEN_PIPE, colourize, main

CLI = [sys.executable, "-m", "vllm_infra.cli"]
GREEN, RESET = "\x1b[32m", "\x1b[0m"


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    return {**env, **extra}


@pytest.mark.slow
@pytest.mark.parametrize("args", [["plan", "single"], ["plan", "multi-region", "--json"],
                                  ["diff", "stacks/Pulumi.single.yaml", "stacks/Pulumi.multi-region.yaml",
                                   "--format", "json"]], ids=["plan", "plan-json", "diff-json"])  # fmt: skip
def test_a_reader_that_leaves_early_gets_a_quiet_exit(args):
    # The reader is gone before the first write, which is what `| head` is by the time a large output follows.
    process = subprocess.Popen([*CLI, *args], cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == EXIT_BROKEN_PIPE
    assert stderr == "", stderr


@pytest.mark.slow
def test_head_closing_the_pipe_mid_output():
    script = f"{sys.executable} -m vllm_infra.cli plan multi-region --json | head -n 2; echo rc=${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines() == ["{", '  "stack": "multi-region",', f"rc={EXIT_BROKEN_PIPE}"]
    assert done.stderr == ""


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    process = subprocess.Popen([*CLI, *args], cwd=PROJECT_DIR, stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


@pytest.mark.slow
def test_colour_on_a_terminal_only_and_never_with_no_color():
    on_terminal = _run_on_a_terminal(["plan", "single"], _env())
    assert f"{GREEN}+   pulumi:pulumi:Stack" in on_terminal
    assert "\x1b[" not in _run_on_a_terminal(["plan", "single"], _env(NO_COLOR="1"))
    piped = subprocess.run([*CLI, "plan", "single"], cwd=PROJECT_DIR, capture_output=True, text=True, env=_env())
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout


def test_colourize_marks_creates_updates_and_deletes():
    text = colourize("  + a\n  ~ b\n  - c\n  ± d\nplain + e")
    assert text.splitlines() == ["  \x1b[32m+ a\x1b[0m", "  \x1b[33m~ b\x1b[0m", "  \x1b[31m- c\x1b[0m",
                                 "  \x1b[1;31m± d\x1b[0m", "plain + e"]  # fmt: skip
    # In a line diff: added and removed lines are coloured, a context line that starts with "- " is not.
    hunk = colourize("          @@ -1,2 +1,2 @@\n          -old\n          +new\n           - item")
    assert hunk.splitlines() == ["          \x1b[36m@@ -1,2 +1,2 @@\x1b[0m", "          \x1b[31m-old\x1b[0m",
                                 "          \x1b[32m+new\x1b[0m", "           - item"]  # fmt: skip


def test_show_prints_the_generated_nginx_conf_as_a_file(capsys):
    assert main(["plan", "load-balanced", "--show", "gateway-nginx"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kubernetes:core/v1:ConfigMap us-east-1-gateway-nginx\n")
    assert "  nginx.conf: |\n" in out
    # The file's own lines (indented under the key), not one string full of escaped line breaks.
    assert "\n    http {\n" in out and "\n        upstream vllm_backends {\n" in out


def test_show_prints_container_args_one_flag_a_line(capsys):
    assert main(["plan", "single", "--show", "apps/v1:Deployment::us-east-1-llama-3-1-8b"]) == 0
    out = capsys.readouterr().out
    assert "# container vllm: command line" in out
    assert "\n  --max-model-len 8192\n" in out and "\n  --enable-prefix-caching\n" in out


def test_show_lists_candidates_when_ambiguous_or_not_found(capsys):
    assert main(["plan", "single", "--show", "us-east-1-llama-3-1-8b"]) == 2
    err = capsys.readouterr().err
    assert "matches 4 resources" in err  # the components of the model and its Deployment
    assert "vllm-infra:vllm:VllmDeployment::us-east-1-llama-3-1-8b" in err
    assert "kubernetes:apps/v1:Deployment::us-east-1-llama-3-1-8b" in err
    # A type suffix matches at a boundary only: Deployment is not VllmDeployment.
    assert main(["plan", "single", "--show", "Deployment::us-east-1-llama-3-1-8b"]) == 0
    capsys.readouterr()
    assert main(["plan", "single", "--show", "llama-cache"]) == 2
    err = capsys.readouterr().err
    assert "no resource of the plan has that name" in err and "us-east-1-llama-3-1-8b-cache" in err


@pytest.mark.slow
def test_a_closed_standard_output_is_a_broken_pipe_too():
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m vllm_infra.cli plan single >&-"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == EXIT_BROKEN_PIPE and "Traceback" not in done.stderr
