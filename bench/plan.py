"""Benchmark offline planning: the wall time of ``plan_stack`` for each shipped stack and for synthetic large stacks,
against a baseline that registers the same resources directly with Pulumi's mock runtime, plus peak memory.

Not a test: it asserts nothing, it prints numbers. Each stack is measured in a fresh subprocess of this script
(``--one STACKFILE``). There, one untimed warm-up plan pays the lazy imports of the provider SDKs; its captured
resources become the baseline: a minimal Pulumi program that registers every one of them —
``pulumi.CustomResource(type, name, props=inputs)`` (``ProviderResource`` for providers, secrets unwrapped, unknowns
dropped), ``pulumi.ComponentResource(type, name)`` for components, parents and providers linked — under the same mock
runtime (``run_program``) with the same stack file and invokes. After one baseline warm-up, ``--repeat`` plans and
``--repeat`` baseline runs alternate; the medians are reported. The ratio plan/baseline is what planning through the
library costs on top of what any program registering the same resources pays the Pulumi SDK: config validation and
sizing, the typed provider SDK classes, and the library's Output plumbing (applies, dependencies). Peak RSS is the
subprocess's ``ru_maxrss`` at its end (interpreter, imports and the baseline runs included; the baseline holds less).

    PYTHONPATH=. python bench/plan.py                         # four shipped stacks + the synthetic ones
    PYTHONPATH=. python bench/plan.py --regions 4 --models 8 --json /tmp/plan-bench.json
    PYTHONPATH=. python bench/plan.py --profile 15            # also cProfile the largest plan

See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.metadata
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCRIPT = Path(__file__).resolve()
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"
CHILD_TIMEOUT_S = 120  # per subprocess; a stuck run fails loudly instead of hanging the bench
SECURE = "AAABAHFxXYprqA0wU7GnLXLgbT0E3ugbRB5UTCvDCt6d9yP2S5T9Nw+A3dOqmn3BoqFTHWUbgRrVf9YZ"  # opaque offline


def _hwm_mib() -> float | None:
    """This process's own peak RSS (VmHWM, Linux): unlike ``ru_maxrss`` it is not carried over from the parent by
    fork + exec. A cross-check only; None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class GcTimer:
    """Wall time spent in the cyclic garbage collector (``gc.callbacks``), reset with ``reset()``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1

    def reset(self) -> None:
        self.seconds, self.collections = 0.0, 0


def _rss_mib() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


# --------------------------------------------------------------------------------------------------------------------
# The baseline: the same resources, registered directly
# --------------------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` as a plain program would pass it: secret markers unwrapped, unknowns (preview-only values) dropped."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    drop = object()

    def walk(item: Any) -> Any:
        if rpc.is_rpc_secret(item):
            return walk(rpc.unwrap_rpc_secret(item))
        if isinstance(item, Unknown) or (isinstance(item, str) and item == rpc.UNKNOWN):
            return drop
        if isinstance(item, dict):
            return {k: w for k, w in ((k, walk(v)) for k, v in item.items()) if w is not drop}
        if isinstance(item, (list, tuple)):
            return [w for w in (walk(v) for v in item) if w is not drop]
        return item

    result = walk(value)
    return {} if result is drop else result


def _provider_urn(reference: str | None) -> str | None:
    # A provider reference is "<provider URN>::<provider id>".
    return reference.rsplit("::", 1)[0] if reference else None


def baseline_resources(plan: Any) -> list[tuple[Any, dict[str, Any], str | None, str | None]]:
    """The plan's resources (the Stack excluded) in an order where parents and providers come first, each with its
    plain props and the URNs of its parent and provider (None: the stack / no explicit provider)."""
    by_urn = {r.urn: r for r in plan.resources if r.type != STACK_TYPE}
    ordered: list[Any] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(urn: str) -> None:
        if state.get(urn) == 2 or urn not in by_urn:
            return
        if state.get(urn) == 1:
            raise ValueError(f"cycle through {urn}")
        state[urn] = 1
        r = by_urn[urn]
        for dep in (r.parent, _provider_urn(r.provider) if r.custom else None):
            if dep:
                visit(dep)
        state[urn] = 2
        ordered.append(r)

    for urn in by_urn:
        visit(urn)
    return [
        (
            r,
            _plain(r.inputs) if r.custom else {},
            r.parent if r.parent in by_urn else None,
            _provider_urn(r.provider) if r.custom and _provider_urn(r.provider) in by_urn else None,
        )
        for r in ordered
    ]


def baseline_program(entries: list[tuple[Any, dict[str, Any], str | None, str | None]]):
    """A Pulumi program registering ``entries``; props are deep-copied here, outside the timed run."""
    import pulumi

    prepared = [
        (r.type, r.name, r.custom, r.urn, copy.deepcopy(props), parent, provider)
        for r, props, parent, provider in entries
    ]

    def program() -> None:
        made: dict[str, pulumi.Resource] = {}
        for type_, name, custom, urn, props, parent, provider in prepared:
            opts = pulumi.ResourceOptions(
                parent=made.get(parent) if parent else None,
                provider=cast("pulumi.ProviderResource | None", made.get(provider)) if provider else None,
            )
            if type_.startswith(PROVIDER_PREFIX):
                made[urn] = pulumi.ProviderResource(type_[len(PROVIDER_PREFIX) :], name, props, opts)
            elif custom:
                made[urn] = pulumi.CustomResource(type_, name, props, opts)
            else:
                component = pulumi.ComponentResource(type_, name, None, opts)
                component.register_outputs({})
                made[urn] = component

    return program


# --------------------------------------------------------------------------------------------------------------------
# One stack, in its own process
# --------------------------------------------------------------------------------------------------------------------


def measure_one(stack_file: str, repeat: int) -> dict[str, Any]:
    """Warm up, time ``repeat`` plans and ``repeat`` baseline runs of one stack file; return the numbers."""
    rss_start = _rss_mib()
    from vllm_infra.offline.cloud import default_invokes
    from vllm_infra.offline.runner import plan_stack, run_program
    from vllm_infra.offline.stackfile import load_stack_file

    rss_imports = _rss_mib()
    warm_start = time.perf_counter()
    plan = plan_stack(stack_file)  # warm-up: lazy imports of pulumi_aws / pulumi_kubernetes modules, catalogs
    warmup_s = time.perf_counter() - warm_start
    rss_first_plan = _rss_mib()

    entries = baseline_resources(plan)
    stack = load_stack_file(stack_file)
    invokes = default_invokes()
    base = run_program(baseline_program(entries), stack, invokes=invokes)  # warm-up
    # Plan and baseline runs alternate, so a slow moment of the machine falls on both sides of the ratio.
    plan_times, base_times, plan_gc, base_gc = [], [], [], []
    gc_timer = GcTimer()
    for _ in range(repeat):
        gc.collect()
        gc_timer.reset()
        start = time.perf_counter()
        plan = plan_stack(stack_file)
        plan_times.append(time.perf_counter() - start)
        plan_gc.append(gc_timer.seconds)
        program = baseline_program(entries)
        gc.collect()
        gc_timer.reset()
        start = time.perf_counter()
        base = run_program(program, stack, invokes=invokes)
        base_times.append(time.perf_counter() - start)
        base_gc.append(gc_timer.seconds)

    plan_urns = {r.urn for r in plan.resources}
    base_urns = {r.urn for r in base.resources}
    plan_median = statistics.median(plan_times) if plan_times else None
    base_median = statistics.median(base_times) if base_times else None
    return {
        "stack": plan.stack,
        "file": stack_file,
        "resources": len(plan.resources),
        "custom": sum(r.custom for r in plan.resources),
        "components": sum(not r.custom for r in plan.resources),
        "repeat": repeat,
        "warmup_plan_s": round(warmup_s, 4),
        "plan_s": [round(t, 4) for t in plan_times],
        "plan_median_s": round(plan_median, 4) if plan_median else None,
        "baseline_s": [round(t, 4) for t in base_times],
        "baseline_median_s": round(base_median, 4) if base_median else None,
        "ratio": round(plan_median / base_median, 2) if plan_median and base_median else None,
        "plan_gc_median_s": round(statistics.median(plan_gc), 4),
        "baseline_gc_median_s": round(statistics.median(base_gc), 4),
        "baseline_resources": len(base.resources),
        "baseline_same_urns": plan_urns == base_urns,
        "rss_start_mib": rss_start,
        "rss_after_imports_mib": rss_imports,
        "rss_after_first_plan_mib": rss_first_plan,
        "rss_peak_mib": _rss_mib(),
        "vmhwm_peak_mib": _hwm_mib(),
    }


def profile_one(stack_file: str, top: int) -> None:
    """cProfile one plan (after a warm-up) and print the ``top`` functions by own time and by cumulative time."""
    import cProfile
    import pstats

    from vllm_infra.offline.runner import plan_stack

    plan_stack(stack_file)
    gc.collect()
    gc_timer = GcTimer()
    profiler = cProfile.Profile()
    profiler.enable()
    plan_stack(stack_file)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    print(f"cProfile of one plan of {stack_file} (after a warm-up)")
    print(
        f"garbage collector: {gc_timer.seconds:.3f} s in {gc_timer.collections} collections; cProfile bills a "
        "collection to whichever function allocated when it started, so its 'tottime' column is skewed by it"
    )
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# --------------------------------------------------------------------------------------------------------------------
# Synthetic stacks
# --------------------------------------------------------------------------------------------------------------------


def catalog_regions() -> list[str]:
    """Every region of the GPU catalog, in catalog order."""
    from vllm_infra.sizing.catalog import gpu_instances

    regions: list[str] = []
    for instance in gpu_instances().values():
        regions += [r for r in instance.regions if r not in regions]
    return regions


def widest_regions(model_id: str) -> tuple[list[str], str | None]:
    """The largest region set in which ``model_id`` can be placed, and the instance type that makes it so. The library
    requires one instance type offered in every region of the stack, so that is the widest region list of an instance
    type that can serve the model."""
    from vllm_infra.config.capacity import place_model
    from vllm_infra.config.model import ModelSpec
    from vllm_infra.sizing.catalog import gpu_instances

    best: list[str] = []
    chosen = None
    for instance in sorted(gpu_instances().values(), key=lambda i: -len(i.regions)):
        if len(instance.regions) <= len(best):
            break
        try:
            chosen = place_model(ModelSpec(name="probe", model=model_id), list(instance.regions)).instance_type
        except ValueError:
            continue
        best = list(instance.regions)
    return best, chosen


def offered_regions(instance_type: str) -> tuple[str, ...]:
    """The regions the catalog lists for ``instance_type``."""
    from vllm_infra.sizing.catalog import gpu_instances

    return gpu_instances()[instance_type].regions


def offered_by(region: str) -> list[str]:
    """The catalog instance types offered in ``region``."""
    from vllm_infra.sizing.catalog import gpu_instances

    return [i.name for i in gpu_instances().values() if region in i.regions]


def _region(index: int, name: str) -> dict[str, Any]:
    return {
        "name": name,
        **({"primary": True} if index == 0 else {}),
        "cluster": {
            "existing": {
                "name": f"ml-{name}",
                "gpuSubnetIds": [f"subnet-{index:02x}a0000000000000{k}" for k in (1, 2)],
                # The EFS CSI driver's Pod Identity role needs the agent.
                "install": {"podIdentityAgent": True},
            }
        },
        "vpcCidr": f"10.{index}.0.0/16",
        "addons": {"kubePrometheusStack": True, "prometheusAdapter": True, "efsCsi": True},
    }


def _model(index: int, model_id: str) -> dict[str, Any]:
    short = model_id.split("/", 1)[1].lower().replace(".", "-").replace("_", "-")
    entry: dict[str, Any] = {
        "name": f"m{index:02d}-{short}"[:40].rstrip("-"),
        "model": model_id,
        "servedModelName": f"{short}-{index:02d}",
        "cache": {"storageClass": "efs-sc", "accessMode": "ReadWriteMany"},
        # The library wants the scale-down window above the model's cold start (~780 s for a 70B model in bf16).
        "autoscaling": {"minReplicas": 1, "maxReplicas": 4, "scaleDownWindowSeconds": 3600},
    }
    return entry


def _stack_document(topology: str, regions: list[dict], models: list[dict]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "vllm-infra:topology": topology,
        "vllm-infra:namespace": "vllm",
        "vllm-infra:regions": regions,
        "vllm-infra:models": models,
        "vllm-infra:balancer": {"strategy": "router", "replicas": 2, "exposure": {"kind": "load-balancer"}},
        "vllm-infra:apiKey": {"secure": SECURE},
        "vllm-infra:hfToken": {"secure": SECURE},
    }
    if topology == "multi-region":
        config["vllm-infra:globalLoadBalancer"] = {
            "hostedZoneId": "Z0123456789ABCDEFGHIJ",
            "domainName": "llm.example.com",
            "policy": "latency",
            "tls": True,
        }
    return {"config": config}


def _accepted(path: Path) -> str | None:
    """None if the library accepts the stack file, else its problems, joined (at most 400 characters)."""
    from vllm_infra.config.errors import ConfigError
    from vllm_infra.offline.runner import plan_stack
    from vllm_infra.program import InvalidStackConfig

    try:
        plan_stack(str(path))
    except (ConfigError, InvalidStackConfig) as error:
        return " / ".join(error.problems)[:400]
    return None


def build_synthetic(directory: Path, want_regions: int, want_models: int) -> tuple[list[Path], list[str]]:
    """Write the largest synthetic stacks the library accepts for ``want_regions`` × ``want_models``; return their
    paths and notes explaining the shape."""
    from vllm_infra.sizing.catalog import model_catalog

    notes: list[str] = []
    paths: list[Path] = []
    catalog_ids = list(model_catalog())
    union = catalog_regions()
    notes.append(f"the GPU catalog has {len(union)} distinct regions: {', '.join(union)}")

    # 1. Can one stack hold several regions AND several models? Ask the library.
    probe = directory / "Pulumi.probe-regions-x-models.yaml"
    probe.write_text(
        yaml.safe_dump(
            _stack_document(
                "multi-region",
                [_region(i, r) for i, r in enumerate(union[:2])],
                [_model(i, catalog_ids[0]) for i in range(2)],
            )
        )
    )
    complaint = _accepted(probe)
    if complaint:
        notes.append(
            f'regions x models is not accepted: 2 regions x 2 models is rejected with "{complaint}"; '
            f"so no {want_regions} x {want_models} stack: the synthetic is two stacks, multi-region with one "
            "model and multi-model in one region"
        )
    else:
        notes.append("the library accepts several regions with several models in one stack")

    # 2. Regions: as many as asked, up to the widest set a model can be placed in.
    model_id = catalog_ids[0]
    regions = union[:want_regions]
    if len(union) < want_regions:
        notes.append(f"{want_regions} regions asked, but the catalog has only {len(union)}: trying all {len(union)}")
    probe = directory / "Pulumi.probe-all-regions.yaml"
    probe.write_text(
        yaml.safe_dump(
            _stack_document("multi-region", [_region(i, r) for i, r in enumerate(regions)], [_model(0, model_id)])
        )
    )
    complaint = _accepted(probe)
    if complaint:
        widest, instance = widest_regions(model_id)
        kept = [r for r in regions if r in widest]
        dropped = [r for r in regions if r not in widest]
        notes.append(f'{len(regions)} regions are rejected for {model_id}: "{complaint}"')
        if complaint.endswith(":"):
            notes.append(
                "  (the library's message stops at the colon; the cause is the region list: it needs one "
                "instance type offered in every region)"
            )
        for region in dropped:
            there = offered_by(region)
            lacking = sorted(
                {r for name in there for r in regions if r not in offered_regions(name)}, key=regions.index
            )
            notes.append(
                f"  {region} has only {', '.join(there) or 'nothing'} in the catalog, not offered in "
                f"{', '.join(lacking)}"
            )
        regions = kept
        notes.append(
            f"{len(regions)} regions: the widest set the library accepts ({instance}'s regions); the catalog "
            "is not edited and no region is invented"
        )
    elif len(regions) == len(union):
        notes.append(f"{len(regions)} regions: every region of the GPU catalog")

    multi_region = directory / f"Pulumi.synthetic-{len(regions)}r-1m.yaml"
    multi_region.write_text(
        yaml.safe_dump(
            _stack_document("multi-region", [_region(i, r) for i, r in enumerate(regions)], [_model(0, model_id)])
        )
    )
    paths.append(multi_region)

    # 3. Models: M entries over the catalog's ids (reused with new names past the catalog's size), one region.
    ids = [catalog_ids[i % len(catalog_ids)] for i in range(want_models)]
    if want_models > len(catalog_ids):
        notes.append(
            f"{want_models} models from the {len(catalog_ids)} catalog ids (ids used more than once get "
            "a new name and servedModelName each time)"
        )
    multi_model = directory / f"Pulumi.synthetic-1r-{want_models}m.yaml"
    multi_model.write_text(
        yaml.safe_dump(
            _stack_document("multi-model", [_region(0, union[0])], [_model(i, mid) for i, mid in enumerate(ids)])
        )
    )
    paths.append(multi_model)
    for path in paths:
        complaint = _accepted(path)
        if complaint:
            raise SystemExit(f"the synthetic stack {path.name} is rejected: {complaint}")
    notes.append(
        f"shape {multi_region.stem.removeprefix('Pulumi.')}: multi-region, {len(regions)} regions "
        f"({', '.join(regions)}) x 1 model ({model_id}, HPA 1-4, EFS cache), router balancer, Route 53 "
        "latency records + TLS, kube-prometheus-stack, prometheus-adapter and EFS CSI per region"
    )
    notes.append(
        f"shape {multi_model.stem.removeprefix('Pulumi.')}: multi-model, 1 region ({union[0]}) x "
        f"{want_models} models (HPA 1-4, 3600 s scale-down window: the library wants it above the large "
        "models' cold start; EFS caches), router balancer"
    )
    return paths, notes


# --------------------------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)}


def run_build(directory: Path, regions: int, models: int) -> tuple[list[Path], list[str]]:
    """Build (and validate) the synthetic stacks in a subprocess too: the parent stays small, because ``ru_maxrss``
    of a child starts at its parent's peak (Linux keeps it across fork + exec)."""
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--build-synthetic",
            str(directory),
            "--regions",
            str(regions),
            "--models",
            str(models),
        ],
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise SystemExit(f"building the synthetic stacks failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    built = json.loads(done.stdout.strip().splitlines()[-1])
    return [Path(p) for p in built["paths"]], built["notes"]


def run_child(stack_file: Path, repeat: int) -> dict[str, Any]:
    """Measure one stack in a fresh ``python bench/plan.py --one`` process."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--one", str(stack_file), "--repeat", str(repeat)],
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {stack_file} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure every shipped stack and the synthetic ones, print the table and the ratios."""
    parser = argparse.ArgumentParser(
        description="Plan time of each stack (and synthetic large ones) against direct registration of the same "
        "resources with Pulumi's mock runtime, and peak memory; see bench/README.md."
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per shipped stack, after a warm-up (5)")
    parser.add_argument("--synthetic-repeat", type=int, default=5, help="timed runs per synthetic stack (5)")
    parser.add_argument("--regions", type=int, default=10, help="synthetic regions asked for (10)")
    parser.add_argument("--models", type=int, default=20, help="synthetic models asked for (20)")
    parser.add_argument("--no-synthetic", action="store_true", help="only the shipped stacks")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also cProfile one plan of the largest stack and print the top N functions",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child mode: measure this stack file
    parser.add_argument("--profile-one", default=None, help=argparse.SUPPRESS)  # child mode: profile it
    parser.add_argument("--build-synthetic", type=Path, default=None, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args(argv)
    args.repeat = max(1, min(args.repeat, 20))
    args.synthetic_repeat = max(1, min(args.synthetic_repeat, 20))
    args.regions = max(2, min(args.regions, 50))
    args.models = max(1, min(args.models, 100))

    if args.one:
        print(json.dumps(measure_one(args.one, args.repeat)))
        return 0
    if args.profile_one:
        profile_one(args.profile_one, args.profile or 15)
        return 0
    if args.build_synthetic:
        paths, notes = build_synthetic(args.build_synthetic, args.regions, args.models)
        print(json.dumps({"paths": [str(p) for p in paths], "notes": notes}))
        return 0

    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "repeat": args.repeat,
        "synthetic_repeat": args.synthetic_repeat,
        "stacks": [],
        "notes": [],
    }
    results["pulumi"] = importlib.metadata.version("pulumi")
    shipped = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
    with tempfile.TemporaryDirectory(prefix="vllm-infra-plan-bench-") as tmp:
        synthetic: list[Path] = []
        if not args.no_synthetic:
            synthetic, notes = run_build(Path(tmp), args.regions, args.models)
            results["notes"] += notes
        for path in shipped:
            results["stacks"].append({"kind": "shipped", **run_child(path, args.repeat)})
        for path in synthetic:
            results["stacks"].append({"kind": "synthetic", **run_child(path, args.synthetic_repeat)})
        results["total_s"] = round(time.perf_counter() - started, 1)
        _print(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        if args.profile:
            largest = max(results["stacks"], key=lambda s: s["resources"])
            print()
            sys.stdout.flush()
            subprocess.run(
                [sys.executable, str(SCRIPT), "--profile-one", largest["file"], "--profile", str(args.profile)],
                cwd=ROOT,
                timeout=CHILD_TIMEOUT_S,
                env=_child_env(),
            )
    return 0


def _print(results: dict[str, Any]) -> None:
    print(
        f"date={results['date']} cpus={results['cpus']} python={results['python']} pulumi={results['pulumi']} "
        f"repeats: {results['repeat']} per shipped stack, {results['synthetic_repeat']} per synthetic stack, "
        "each after one warm-up"
    )
    for note in results["notes"]:
        print(f"  note: {note}")
    print()
    print(
        f"  {'stack':20} {'resources':>9} {'custom':>6} {'plan ms':>8} {'baseline ms':>11} {'plan/base':>9} "
        f"{'peak RSS MiB':>12} {'(imports)':>9}"
    )
    for s in results["stacks"]:
        print(
            f"  {s['stack']:20} {s['resources']:>9} {s['custom']:>6} {s['plan_median_s'] * 1000:>8.1f} "
            f"{s['baseline_median_s'] * 1000:>11.1f} {'x' + format(s['ratio'], '.2f'):>9} "
            f"{s['rss_peak_mib']:>12.1f} {s['rss_after_imports_mib']:>9.1f}"
        )
    print("\nratios (plan_stack / direct registration of the same resources; medians, same run)")
    for s in results["stacks"]:
        per = s["plan_median_s"] * 1000 / s["resources"]
        base_per = s["baseline_median_s"] * 1000 / s["resources"]
        same = "same URNs" if s["baseline_same_urns"] else f"URNs DIFFER ({s['baseline_resources']} registered)"
        print(
            f"  {s['stack']:20} x{s['ratio']:<5.2f} {per:.2f} vs {base_per:.2f} ms per resource, "
            f"+{(s['plan_median_s'] - s['baseline_median_s']) * 1000:.0f} ms; warm-up plan "
            f"{s['warmup_plan_s'] * 1000:.0f} ms; GC {s['plan_gc_median_s'] / s['plan_median_s']:.0%} of plan, "
            f"{s['baseline_gc_median_s'] / s['baseline_median_s']:.0%} of baseline; {same}"
        )
        hwm = s.get("vmhwm_peak_mib")
        if hwm is not None and abs(hwm - s["rss_peak_mib"]) > 0.05 * hwm:
            print(f"  {'':20} note: VmHWM says {hwm} MiB: ru_maxrss may carry the parent's peak")
    print(f"\ntotal {results['total_s']} s")


if __name__ == "__main__":
    raise SystemExit(main())
