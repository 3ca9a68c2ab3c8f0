"""The command line: ``python -m tools.vllm_surface (--version V | --wheel PATH) --out FILE [--explain]``.

``--version`` downloads the release's x86_64 manylinux wheel with pip into a temporary directory (~340 MB) and
checks that the wheel says that version; ``--wheel`` reads one already on disk. Exit status 1 with the reason on
stderr when the extraction refuses (:class:`~.errors.ExtractionError`), e.g.::

    python -m tools.vllm_surface --version 0.33.0 --out vllm_infra/data/vllm_surface_0.33.0.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import tools.vllm_surface
from tools.vllm_surface.errors import ExtractionError, fail
from tools.vllm_surface.surface import extract, render


def download(version: str, dest: Path) -> Path:
    """Download the ``vllm==version`` x86_64 manylinux wheel into ``dest`` with pip; the path of that one wheel."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--disable-pip-version-check",
        f"vllm=={version}",
        "-d",
        str(dest),
    ]
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    wheels = sorted(dest.glob(f"vllm-{version}-*.whl"))
    if len(wheels) != 1:
        fail(f"expected one vllm {version} wheel from pip, got {[w.name for w in wheels]}")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    doc = tools.vllm_surface.__doc__
    ap = argparse.ArgumentParser(prog="python -m tools.vllm_surface", description=doc.split("\n\n")[0] if doc else None)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", type=Path, help="a vllm wheel already on disk")
    src.add_argument("--version", help="download vllm==VERSION from PyPI with pip")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument(
        "--explain", action="store_true", help="print every option and metric with where it comes from (stderr)"
    )
    args = ap.parse_args(argv)
    try:
        if args.version:
            with tempfile.TemporaryDirectory(prefix="vllm-wheel-") as tmp:
                data = extract(download(args.version, Path(tmp)), args.explain)
            if data["vllm_version"] != args.version:
                fail(f"wheel says version {data['vllm_version']}, asked for {args.version}")
        else:
            data = extract(args.wheel, args.explain)
    except ExtractionError as e:
        print(f"vllm_surface: {e}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(data), encoding="utf-8")
    print(f"wrote {args.out}: {len(data['flags'])} flags, {len(data['metrics'])} metrics", file=sys.stderr)  # type: ignore[arg-type]
    return 0
