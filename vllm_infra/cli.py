"""``vllm-infra``: offline plan and render of the stack program (no Pulumi CLI, cloud account or cluster needed).

argparse (standard library) rather than click/typer: three subcommands do not justify another dependency in every
Pulumi program that imports the components.

    vllm-infra plan single            # the resource tree `pulumi preview` would show
    vllm-infra plan single --json     # machine-readable, secrets as "[secret]"
    vllm-infra render single --out k8s/   # every Kubernetes object as YAML
    vllm-infra size meta-llama/Llama-3.1-70B-Instruct --quantization awq   # which GPU instance, how much TP
    vllm-infra diff single --base main --format markdown   # what a pull request changes, for its review
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vllm_infra.config import ConfigError

EXIT_BAD_CONFIG = 2
# The plan itself is fine, but a mandatory policy of the production checklist fails.
EXIT_POLICY_VIOLATIONS = 3


def _plan(stack: str, stack_name: str | None = None):
    from vllm_infra.offline.runner import plan_stack

    return plan_stack(stack, stack_name=stack_name)


def _policy_lines(violations) -> list[str]:
    if not violations:
        return ["Policies: every rule of the production checklist passes."]
    lines = ["Policy violations:"]
    for violation in violations:
        level = "mandatory" if violation.mandatory else "advisory"
        lines.append(f"  [{level}] {violation.policy}: {violation.name}: {violation.message}")
    return lines


def _cmd_plan(args: argparse.Namespace) -> int:
    from vllm_infra.offline.tree import plan_json, render_tree
    from vllm_infra.policies import evaluate

    plan = _plan(args.stack)
    violations = evaluate(plan.resources)
    if args.json:
        document = plan_json(plan)
        document["policy_violations"] = [
            {"policy": v.policy, "urn": v.urn, "name": v.name, "message": v.message, "mandatory": v.mandatory}
            for v in violations
        ]
        print(json.dumps(document, indent=2))
    else:
        print(render_tree(plan, details=args.details))
        print()
        print("\n".join(_policy_lines(violations)))
    return EXIT_POLICY_VIOLATIONS if any(v.mandatory for v in violations) else 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from vllm_infra.offline.diff import diff_plans, render_json, render_markdown, render_text
    from vllm_infra.offline.gitref import default_base, plan_at_ref
    from vllm_infra.offline.stackfile import find_project_dir
    from vllm_infra.offline.tree import plan_json
    from vllm_infra.policies import evaluate

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
        print(json.dumps(document, indent=2))
    elif args.format == "markdown":
        print(render_markdown(diff))
        print()
        if violations:
            print("### Policy violations\n")
            print("\n".join(f"- **{v.policy}** `{v.name}`: {v.message}" for v in violations))
        else:
            print("Policies: every rule of the production checklist passes.")
    else:
        print(render_text(diff))
        print()
        print("\n".join(_policy_lines(violations)))
    if any(v.mandatory for v in violations):
        return EXIT_POLICY_VIOLATIONS
    return 1 if args.exit_code and not diff.empty else 0


def _cmd_render(args: argparse.Namespace) -> int:
    from vllm_infra.offline.render import write_manifests

    plan = _plan(args.stack)
    written = write_manifests(plan, Path(args.out))
    print(f"wrote {len(written)} Kubernetes objects to {args.out} (secret values redacted)")
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


def build_parser() -> argparse.ArgumentParser:
    """The ``vllm-infra`` argument parser."""
    parser = argparse.ArgumentParser(prog="vllm-infra", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="show what `pulumi up` would create for a stack, offline")
    plan.add_argument("stack", help="stack name (stacks/Pulumi.STACK.yaml) or path to a stack file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON (secrets as [secret])")
    plan.add_argument("--details", action="store_true", help="print every resource's inputs under it")
    plan.set_defaults(handler=_cmd_plan)

    render = commands.add_parser("render", help="write every Kubernetes object of a stack as YAML")
    render.add_argument("stack", help="stack name or path to a stack file")
    render.add_argument("--out", required=True, help="directory to write the YAML files to")
    render.set_defaults(handler=_cmd_render)

    diff = commands.add_parser(
        "diff", help="what a change does to a stack: resources added, removed, changed, replaced; GPU $/h delta"
    )
    diff.add_argument("stack", help="stack name or stack file (the old one when NEW is given)")
    diff.add_argument("new", nargs="?", help="a second stack file: compare OLD_FILE with NEW_FILE instead of git")
    diff.add_argument("--base", help="git ref to compare the working tree with (default: the merge base with main)")
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are changes (like git diff)")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for invalid configuration, with the message on stderr)."""
    from vllm_infra.program import InvalidStackConfig

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, InvalidStackConfig) as error:
        problems = error.problems
        print("error: invalid stack configuration", file=sys.stderr)
        for problem in problems:
            print("  - " + problem.replace("\n", "\n    "), file=sys.stderr)
        return EXIT_BAD_CONFIG


if __name__ == "__main__":
    sys.exit(main())
