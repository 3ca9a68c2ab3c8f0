"""``vllm_infra.kube`` is pure builders: it imports neither the Pulumi providers (``pulumi_kubernetes``,
``pulumi_aws``) nor any ``vllm_infra`` module outside itself (the config, the components), so the config, the sizing
and the policies can use it without cycles. Read statically (``tests.imports``), at any depth of the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_modules

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "vllm_infra" / "kube"
FORBIDDEN_PROVIDERS = ("pulumi_kubernetes", "pulumi_aws")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def impure_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports in ``source`` that a pure builder must not make, as ``line: module``."""
    offenders = []
    for line, name in imported_modules(source, module, is_package):
        top = name.split(".", 1)[0]
        outside_kube = (
            top == "vllm_infra"
            and name != "vllm_infra"
            and not (name == "vllm_infra.kube" or name.startswith("vllm_infra.kube."))
        )
        if top in FORBIDDEN_PROVIDERS or outside_kube:
            offenders.append(f"{line}: {name}")
    return offenders


def test_the_kube_package_imports_no_provider_and_nothing_of_vllm_infra_outside_it():
    sources = sorted(KUBE.rglob("*.py"))
    assert KUBE / "labels.py" in sources
    offenders = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in sources
        for hit in impure_imports(path.read_text(), _module_name(path), path.name == "__init__.py")
    ]
    assert not offenders, (
        "vllm_infra/kube holds pure builders: take plain values, import no provider, config or component:\n"
        + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    "source",
    [
        "import pulumi_kubernetes as k8s\n",
        "from pulumi_aws import iam\n",
        "from vllm_infra.components.options import child_options\n",
        "from vllm_infra.config import ModelSpec\n",
        "from ..config.model import ModelSpec\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vllm_infra.components import vllm\n",
        "def build():\n    import pulumi_kubernetes\n",
        "import importlib\nk8s = importlib.import_module('pulumi_kubernetes')\n",
    ],
)
def test_the_check_sees_impure_imports(source):
    assert impure_imports(source, "vllm_infra.kube.labels")


@pytest.mark.parametrize(
    "source",
    [
        "import math\n",
        "import pulumi\n",  # pulumi.Input values pass through; the SDK itself creates nothing
        "from vllm_infra.kube.quantity import gib_quantity\n",
        "from .labels import label_selector\n",
        "from . import quantity\n",
    ],
)
def test_the_check_lets_pure_imports_through(source):
    assert not impure_imports(source, "vllm_infra.kube.pods")


def test_the_package_docstring_says_where_every_module_lives():
    import vllm_infra.kube

    modules = sorted(path.stem for path in KUBE.glob("*.py") if path.stem != "__init__")
    assert modules, KUBE
    undocumented = [name for name in modules if f"``{name}``" not in (vllm_infra.kube.__doc__ or "")]
    assert not undocumented, f"vllm_infra/kube/__init__.py: say what lives in {undocumented}"
