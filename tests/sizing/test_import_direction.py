"""``vllm_infra.sizing`` is pure data and arithmetic: it never imports ``vllm_infra.config`` (config imports sizing).

Checked statically on the sources with ``ast`` — every ``import``/``from`` statement at any depth (inside functions,
under ``if TYPE_CHECKING:``), relative imports resolved, and ``importlib.import_module``/``__import__`` calls with a
literal name — because importing ``vllm_infra.sizing`` at run time loads ``vllm_infra/__init__.py``, which loads the
config anyway, so ``sys.modules`` could not tell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_modules

ROOT = Path(__file__).resolve().parents[2]
SIZING = ROOT / "vllm_infra" / "sizing"
FORBIDDEN = "vllm_infra.config"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def config_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``vllm_infra.config`` (or a module of it) in ``source``, as ``line: module``."""
    return [
        f"{line}: {name}"
        for line, name in imported_modules(source, module, is_package)
        if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
    ]


def test_sizing_never_imports_config():
    sources = sorted(SIZING.rglob("*.py"))
    assert SIZING / "placement.py" in sources
    offenders = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in sources
        for hit in config_imports(path.read_text(), _module_name(path), path.name == "__init__.py")
    ]
    assert not offenders, (
        "vllm_infra/sizing must not import vllm_infra.config (take plain values; config maps its models onto "
        "them):\n" + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from vllm_infra.config.model import ModelSpec\n",
        "import vllm_infra.config\n",
        "def place(model):\n    from vllm_infra.config.capacity import GpuSpec\n    return GpuSpec\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vllm_infra.config import ModelSpec\n",
        "from ..config import stack\n",
        "from .. import config\n",
        "import importlib\nconfig = importlib.import_module('vllm_infra.config.stack')\n",
        "config = __import__('vllm_infra.config')\n",
    ],
)
def test_the_check_sees_every_way_of_importing_config(source):
    assert config_imports(source, "vllm_infra.sizing.placement")


@pytest.mark.parametrize(
    "source",
    [
        "from vllm_infra.sizing.catalog import lookup_model\n",
        "from . import catalog\n",
        "from vllm_infra.kube.quantity import gib\n",
        "import vllm_infra.configuration_free\n",  # a name that merely starts like it
        "CONFIG = 'vllm_infra.config'\n",
    ],
)
def test_the_check_lets_other_imports_through(source):
    assert not config_imports(source, "vllm_infra.sizing.placement")
