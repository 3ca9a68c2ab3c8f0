"""``vllm-infra``: offline plan and render of the stack program (no Pulumi CLI, cloud account or cluster needed).

argparse (standard library) rather than click/typer: three subcommands do not justify another dependency in every
Pulumi program that imports the components.

    vllm-infra plan single            # the resource tree `pulumi preview` would show
    vllm-infra plan single --json     # machine-readable, secrets as "[secret]"
    vllm-infra render single --out k8s/   # every Kubernetes object as YAML
    vllm-infra size meta-llama/Llama-3.1-70B-Instruct --quantization awq   # which GPU instance, how much TP
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vllm_infra.config import ConfigError

EXIT_BAD_CONFIG = 2


def _plan(stack: str):
    from vllm_infra.offline.runner import plan_stack

    return plan_stack(stack)


def _cmd_plan(args: argparse.Namespace) -> int:
    from vllm_infra.offline.tree import plan_json, render_tree

    plan = _plan(args.stack)
    if args.json:
        print(json.dumps(plan_json(plan), indent=2))
    else:
        print(render_tree(plan, details=args.details))
    return 0


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
