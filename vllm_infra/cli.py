"""``vllm-infra``: offline plan and render of the stack program (no Pulumi CLI, cloud account or cluster needed).

argparse (standard library) rather than click/typer: three subcommands do not justify another dependency in every
Pulumi program that imports the components.

    vllm-infra plan single            # the resource tree `pulumi preview` would show
    vllm-infra plan single --json     # machine-readable, secrets as "[secret]"
    vllm-infra plan load-balanced --show gateway-nginx   # one resource readably: the generated nginx.conf
    vllm-infra plan --program infra/__main__.py --config infra/Pulumi.dev.yaml   # your own Pulumi program
    vllm-infra render multi-region --out k8s/   # every Kubernetes object as YAML, a folder per region
    vllm-infra size meta-llama/Llama-3.1-70B-Instruct --quantization awq   # which GPU instance, how much TP
    vllm-infra diff single --base main --format markdown   # what a pull request changes, for its review
    vllm-infra diff single --summary --exit-code   # one line per resource; exit 4 if `pulumi up` would fail
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vllm_infra.config import ConfigError

EXIT_BAD_CONFIG = 2
# The plan itself is fine, but a mandatory policy of the production checklist fails.
EXIT_POLICY_VIOLATIONS = 3
# `diff --exit-code`: `pulumi up` of the new side would fail (a protected resource deleted or replaced, an update the
# API server rejects). Distinct from 1 ("there are changes", as `git diff --exit-code`).
EXIT_DIFF_CHANGES = 1
EXIT_UP_WOULD_FAIL = 4
# The reader closed the pipe (`| head`): what a shell reports for a process ended by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

_ANSI = {"+": "32", "~": "33", "-": "31", "±": "1;31", "@": "36"}
# Where the text renderers put a change symbol: the plan tree (1 space), resources and summary rows (2), the
# resource count (4), property changes (6) — each followed by a space — and line-diff rows (10 spaces, then the
# symbol glued to the line's text). Anchored on the indentation, so a YAML "- item" in a diff's context is left alone.
_MARKED_LINE = re.compile(
    r"^(?P<indent> {1,2}| {4}| {6})(?P<symbol>[+~±-])(?= )|^(?P<hunk_indent> {10})(?P<hunk>[+-]|@@)"
)


def colour_enabled(stream=None) -> bool:
    """Colour only for a terminal, and never when ``NO_COLOR`` is set to anything (https://no-color.org)."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colourize(text: str) -> str:
    """ANSI colours for lines that start (after indentation) with a change symbol: ``+`` green, ``~`` yellow,
    ``-`` red, ``±`` bold red (replacement), ``@@`` (a hunk of a line diff) cyan.

    >>> colourize("  + created") == "  \x1b[32m+ created\x1b[0m"
    True
    """
    lines = []
    for line in text.split("\n"):
        match = _MARKED_LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        indent = match.group("indent") if match.group("indent") is not None else match.group("hunk_indent")
        symbol = match.group("symbol") or match.group("hunk")
        lines.append(f"{indent}\x1b[{_ANSI[symbol[0]]}m{line[len(indent) :]}\x1b[0m")
    return "\n".join(lines)


def _emit(text: str, *, colour: bool = False) -> None:
    # Line by line: a single large write to a pipe whose reader left (`| head`) can end as a short write without an
    # error; the next write then reports the broken pipe, which `main` turns into a quiet exit.
    if sys.stdout is None or sys.stdout.closed:  # started with stdout closed (`>&-`): nowhere to write
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")
    text = colourize(text) if colour and colour_enabled() else text
    for line in (text + "\n").splitlines(keepends=True):
        sys.stdout.write(line)


class UsageError(Exception):
    """Arguments that do not go together; printed as ``error: ...`` with exit code 2, like argparse's own."""


def _plan(stack: str, stack_name: str | None = None):
    from vllm_infra.offline.runner import plan_stack

    return plan_stack(stack, stack_name=stack_name)


def _plan_from_args(args: argparse.Namespace):
    """The plan of ``STACK``, or of ``--program`` with ``--config``."""
    program, config = getattr(args, "program", None), getattr(args, "config", None)
    if program is None and config is None:
        if args.stack is None:
            raise UsageError("give a STACK (a name or a stack file), or --program PATH with --config STACK_FILE")
        return _plan(args.stack)
    if args.stack is not None:
        raise UsageError(f"give either STACK ({args.stack}) or --program/--config, not both")
    if program is None or config is None:
        raise UsageError("--program and --config go together: --program path/to/__main__.py --config Pulumi.dev.yaml")
    from vllm_infra.offline.runner import plan_program

    return plan_program(program, config)


def _policy_lines(violations) -> list[str]:
    if not violations:
        return ["Policies: every rule of the production checklist passes."]
    lines = ["Policy violations:"]
    for violation in violations:
        level = "mandatory" if violation.mandatory else "advisory"
        lines.append(f"  [{level}] {violation.policy}: {violation.name}: {violation.message}")
    return lines


def _ends_at_boundary(text: str, suffix: str) -> bool:
    # "Deployment::x" must not match ".../VllmDeployment::x": the suffix starts the URN, or follows : $ or /.
    if not text.endswith(suffix):
        return False
    before = text[: len(text) - len(suffix)]
    return not before or before[-1] in ":$/" or suffix[0] in ":$/"


def find_resources(plan, query: str) -> list:
    """Resources matching ``query``: a logical name or URN exactly, else the end of a URN (``ConfigMap::x``,
    ``apps/v1:Deployment::x``), else the end of a logical name (``gateway-nginx``). Exact matches win.

    Example::

        find_resources(plan_stack("load-balanced"), "gateway-nginx")   # [the nginx ConfigMap]
    """
    exact = [r for r in plan.resources if query in (r.name, r.urn)]
    if exact:
        return exact
    by_urn = [r for r in plan.resources if r.type != "pulumi:pulumi:Stack" and _ends_at_boundary(r.urn, query)]
    return by_urn or [r for r in plan.resources if _ends_at_boundary(r.name, query) or r.name.endswith("-" + query)]


def _cmd_show(plan, query: str) -> int:
    from vllm_infra.offline.tree import render_resource

    matches = find_resources(plan, query)
    if len(matches) == 1:
        _emit(render_resource(matches[0], plan))
        return 0
    if matches:
        lines = [f"error: --show {query} matches {len(matches)} resources; give more of the URN:"]
        lines += [f"  {r.urn}" for r in matches]
    else:
        names = sorted({r.name for r in plan.resources})
        close = [name for name in names if query in name] or difflib.get_close_matches(query, names, n=8, cutoff=0.4)
        lines = [f"error: --show {query}: no resource of the plan has that name or URN suffix"]
        if close:
            lines += ["did you mean:"] + [f"  {name}" for name in close]
        else:
            lines.append("names are listed in the second column of `vllm-infra plan`")
    print("\n".join(lines), file=sys.stderr)
    return EXIT_BAD_CONFIG


def _cmd_plan(args: argparse.Namespace) -> int:
    from vllm_infra.offline.tree import plan_json, render_tree
    from vllm_infra.policies import evaluate

    plan = _plan_from_args(args)
    if args.show is not None:
        return _cmd_show(plan, args.show)
    violations = evaluate(plan.resources)
    if args.json:
        document = plan_json(plan)
        document["policy_violations"] = [
            {"policy": v.policy, "urn": v.urn, "name": v.name, "message": v.message, "mandatory": v.mandatory}
            for v in violations
        ]
        _emit(json.dumps(document, indent=2))
    else:
        _emit(render_tree(plan, details=args.details) + "\n\n" + "\n".join(_policy_lines(violations)), colour=True)
    return EXIT_POLICY_VIOLATIONS if any(v.mandatory for v in violations) else 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from vllm_infra.offline.diff import (
        diff_plans,
        render_json,
        render_markdown,
        render_markdown_summary,
        render_text,
        render_text_summary,
    )  # fmt: skip
    from vllm_infra.offline.gitref import default_base, plan_at_ref
    from vllm_infra.offline.stackfile import find_project_dir
    from vllm_infra.offline.tree import plan_json
    from vllm_infra.policies import evaluate

    old: dict[str, Any] | None
    if args.new is not None:
        old_plan = _plan(args.stack)
        # Both files are versions of one stack: plan the new one under the old one's name, so URNs line up.
        old, new_plan = plan_json(old_plan), _plan(args.new, stack_name=old_plan.stack)
        base_label = args.stack
    else:
        project_dir = find_project_dir()
        base = args.base or default_base(project_dir)
        old, new_plan = plan_at_ref(args.stack, base, project_dir), _plan(args.stack)
        base_label = base
    new = plan_json(new_plan)
    if old is None:
        old = {**new, "resources": [], "outputs": {}, "estimated_gpu_cost_per_hour": None}
    diff = diff_plans(old, new)
    violations = evaluate(new_plan.resources)
    if args.format == "json":
        document = render_json(diff)
        document["base"] = base_label
        document["policy_violations"] = [
            {"policy": v.policy, "name": v.name, "message": v.message, "mandatory": v.mandatory} for v in violations
        ]
        _emit(json.dumps(document, indent=2))
    elif args.format == "markdown":
        body = render_markdown_summary(diff) if args.summary else render_markdown(diff)
        if violations:
            policies = "### Policy violations\n\n" + "\n".join(
                f"- **{v.policy}** `{v.name}`: {v.message}" for v in violations
            )
        else:
            policies = "Policies: every rule of the production checklist passes."
        _emit(body + "\n" + policies)
    else:
        body = render_text_summary(diff) if args.summary else render_text(diff)
        _emit(body + "\n\n" + "\n".join(_policy_lines(violations)), colour=True)
    if args.exit_code and diff.blocking:
        return EXIT_UP_WOULD_FAIL
    if any(v.mandatory for v in violations):
        return EXIT_POLICY_VIOLATIONS
    return EXIT_DIFF_CHANGES if args.exit_code and not diff.empty else 0


def _cmd_render(args: argparse.Namespace) -> int:
    from vllm_infra.offline.render import NOT_RENDERED_FILE, RenderError, write_manifests

    plan = _plan_from_args(args)
    try:
        result = write_manifests(plan, Path(args.out))
    except RenderError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    lines = [f"wrote {len(result.written)} Kubernetes objects to {args.out} (secret values redacted)"]
    if result.removed_stale:
        lines[0] += f", replacing the {result.removed_stale} files of the previous render"
    lines += [f"  {cluster}/: {len(paths)} objects" for cluster, paths in result.objects.items()]
    if result.not_rendered:
        lines += ["", f"not rendered ({len(result.not_rendered)}; the provider expands them during `pulumi up`; "
                  f"listed in {Path(args.out) / NOT_RENDERED_FILE}):"]  # fmt: skip
        lines += [f"  - {entry.describe()}" for entry in result.not_rendered]
    _emit("\n".join(lines))
    return 0


def _cmd_size(args: argparse.Namespace) -> int:
    from vllm_infra.sizing import UnknownCatalogEntryError, lookup_model, render_json, render_text, size_model

    try:
        result = size_model(
            lookup_model(args.model),
            quantization=args.quantization,
            max_model_len=args.max_model_len,
            max_num_seqs=args.max_num_seqs,
            gpu_memory_utilization=args.gpu_memory_utilization,
            kv_cache_dtype=args.kv_cache_dtype,
            region=args.region,
        )
    except (UnknownCatalogEntryError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(json.dumps(render_json(result), indent=2) if args.json else render_text(result))
    return 0 if result.feasible else 1


_DIFF_EPILOG = f"""exit codes:
  0  no changes (or changes without --exit-code)
  {EXIT_DIFF_CHANGES}  --exit-code: there are changes (as `git diff --exit-code`)
  {EXIT_BAD_CONFIG}  invalid stack configuration or arguments, or a data source the offline runner cannot answer
  {EXIT_POLICY_VIOLATIONS}  a mandatory policy of the production checklist fails on the new side
  {EXIT_UP_WOULD_FAIL}  --exit-code: `pulumi up` would fail (a protected resource deleted or replaced, an update the
     API server rejects); takes precedence over {EXIT_POLICY_VIOLATIONS} and {EXIT_DIFF_CHANGES}
  {EXIT_BROKEN_PIPE}  the reader closed the pipe (`| head`) before the end"""

_PLAN_EPILOG = f"""exit codes:
  0  the plan passes every mandatory policy
  {EXIT_BAD_CONFIG}  invalid configuration or arguments, a --program that raised, a data source the offline runner
     cannot answer, or --show matching no single resource
  {EXIT_POLICY_VIOLATIONS}  a mandatory policy of the production checklist fails
  {EXIT_BROKEN_PIPE}  the reader closed the pipe (`| head`) before the end
Colour (+ create, ~ update, - delete) only on a terminal, never with NO_COLOR set."""


def _add_program_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--program", metavar="PATH",
                         help="plan your own Pulumi program instead of a stack of this library: its __main__.py (or "
                              "its directory); needs --config")  # fmt: skip
    command.add_argument("--config", metavar="STACK_FILE", help="the stack file (Pulumi.<stack>.yaml) for --program")


def build_parser() -> argparse.ArgumentParser:
    """The ``vllm-infra`` argument parser."""
    parser = argparse.ArgumentParser(prog="vllm-infra", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    plan = commands.add_parser("plan", help="show what `pulumi up` would create for a stack, offline",
                               epilog=_PLAN_EPILOG, formatter_class=raw)  # fmt: skip
    plan.add_argument("stack", nargs="?", help="stack name (stacks/Pulumi.STACK.yaml) or path to a stack file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (secrets as [secret])")
    plan.add_argument("--details", action="store_true", help="print every resource's inputs under it")
    plan.add_argument("--show", metavar="NAME",
                      help="print one resource readably (its name or the end of its URN), e.g. a ConfigMap's "
                           "nginx.conf or a container's args one per line")  # fmt: skip
    _add_program_arguments(plan)
    plan.set_defaults(handler=_cmd_plan)

    render = commands.add_parser(
        "render", help="write every Kubernetes object of a stack as YAML, a folder per cluster"
    )
    render.add_argument("stack", nargs="?", help="stack name or path to a stack file")
    render.add_argument(
        "--out",
        required=True,
        help="directory to write to: new, empty, or holding an earlier render (which is replaced)",
    )
    _add_program_arguments(render)
    render.set_defaults(handler=_cmd_render)

    diff = commands.add_parser(
        "diff",
        help="what a change does to a stack: resources added, removed, changed, replaced; GPU $/h delta",
        epilog=_DIFF_EPILOG,
        formatter_class=raw,
    )
    diff.add_argument("stack", help="stack name or stack file (the old one when NEW is given)")
    diff.add_argument("new", nargs="?", help="a second stack file: compare OLD_FILE with NEW_FILE instead of git")
    diff.add_argument("--base", help="git ref to compare the working tree with (default: the merge base with main)")
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    diff.add_argument(
        "--summary",
        action="store_true",
        help="one line per changed resource (text, markdown); json always has every change",
    )
    diff.add_argument("--exit-code", action="store_true",
                      help=f"exit {EXIT_DIFF_CHANGES} when there are changes, {EXIT_UP_WOULD_FAIL} when `pulumi up` "
                           "would fail (see below)")  # fmt: skip
    diff.set_defaults(handler=_cmd_diff)

    size = commands.add_parser("size", help="rank the GPU instance types that can serve a model, cheapest first")
    size.add_argument("model", help="Hugging Face id from the model catalog, e.g. meta-llama/Llama-3.1-70B-Instruct")
    size.add_argument("--quantization", help="fp8, awq, gptq, mxfp4 (default: the checkpoint's own format)")
    size.add_argument("--max-model-len", type=int, default=8192, help="context length to fit (default 8192)")
    size.add_argument("--max-num-seqs", type=int, default=256, help="vLLM --max-num-seqs (default 256)")
    size.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM's share of GPU memory (0.9)")
    size.add_argument("--kv-cache-dtype", default="auto", help="auto or fp8 (default auto)")
    size.add_argument("--region", help="only instance types offered in this AWS region")
    size.add_argument("--json", action="store_true", help="print the ranked options as JSON")
    size.set_defaults(handler=_cmd_size)
    return parser


def _silence_stdout() -> None:
    # After a broken pipe, Python flushes stdout once more at exit and reports that failure too; point the file
    # descriptor at /dev/null so the exit is quiet (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for invalid configuration, with the message on stderr)."""
    from vllm_infra.offline.runner import ProgramError, UnansweredInvoke
    from vllm_infra.program import InvalidStackConfig

    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (ProgramError, UnansweredInvoke, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except (ConfigError, InvalidStackConfig) as error:
        problems = error.problems
        print("error: invalid stack configuration", file=sys.stderr)
        for problem in problems:
            print("  - " + problem.replace("\n", "\n    "), file=sys.stderr)
        return EXIT_BAD_CONFIG


if __name__ == "__main__":
    sys.exit(main())
