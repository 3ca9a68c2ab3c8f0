"""The surface JSON of a release: what :mod:`.flags` and :mod:`.metrics` found, plus where it came from.

:func:`extract` returns the record (``vllm_version`` from the wheel's METADATA, ``wheel`` file name and
``wheel_sha256``, sorted ``flags``, ``metrics`` name -> type, sorted ``sources``: the wheel files the result
depends on); :func:`render` is its one canonical text -- sorted keys, two-space indent, trailing newline -- so a
regenerated ``vllm_infra/data/vllm_surface_<version>.json`` compares byte for byte. Example::

    Path("surface.json").write_text(render(extract(Path("vllm-0.33.0-...whl"))), encoding="utf-8")
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from tools.vllm_surface.flags import FlagExtractor
from tools.vllm_surface.metrics import MetricExtractor
from tools.vllm_surface.sources import Wheel


def sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract(wheel_path: Path, explain: bool = False) -> dict[str, object]:
    """The surface record of the wheel at ``wheel_path``; ``explain`` prints each option and metric's origin on
    stderr."""
    wheel = Wheel(wheel_path)
    fx = FlagExtractor(wheel)
    flags = fx.run()
    mx = MetricExtractor(wheel)
    metrics = mx.run()
    if explain:
        for opt in fx.options:
            print(f"option  {' '.join(opt.strings):60} {opt.action:24} {opt.origin}", file=sys.stderr)
        for name in sorted(mx.metrics):
            print(f"metric  {name:60} {mx.metrics[name]:24} {mx.origin[name]}", file=sys.stderr)
    return {
        "vllm_version": wheel.dist_info_version(),
        "wheel": wheel_path.name,
        "wheel_sha256": sha256(wheel_path),
        "flags": flags,
        "metrics": metrics,
        "sources": sorted(wheel.sources),
    }


def render(data: dict[str, object]) -> str:
    """The canonical JSON text of a surface record."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
