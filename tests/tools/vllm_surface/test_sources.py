"""tools.vllm_surface.sources: reading the wheel and resolving names statically, on tiny fake wheels."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import build_wheel, open_wheel
from tools.vllm_surface.errors import ExtractionError, Unresolvable
from tools.vllm_surface.sources import Wheel, class_attribute, class_base_names, class_bases, method


def test_path_of_finds_modules_and_packages(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {"vllm/a.py": "", "vllm/pkg/__init__.py": "", "vllm/pkg/b.py": ""})
    assert wheel.path_of("vllm.a") == "vllm/a.py"
    assert wheel.path_of("vllm.pkg") == "vllm/pkg/__init__.py"
    assert wheel.path_of("vllm.pkg.b") == "vllm/pkg/b.py"
    assert wheel.path_of("vllm.missing") is None
    assert wheel.module("vllm.pkg").is_package
    assert wheel.module("vllm.pkg").name == "vllm.pkg"


def test_module_missing_from_the_wheel_fails(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {})
    with pytest.raises(ExtractionError, match=re.escape("module vllm.gone is not in the wheel")):
        wheel.module("vllm.gone")


def test_py_files_are_the_vllm_sources_sorted(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {"vllm/z.py": "", "vllm/a/b.py": "", "vllm/data.json": "{}", "other/c.py": ""})
    assert wheel.py_files() == ["vllm/__init__.py", "vllm/a/b.py", "vllm/z.py"]


def test_version_comes_from_the_single_metadata_file(tmp_path: Path) -> None:
    assert Wheel(build_wheel(tmp_path, {"vllm/__init__.py": ""}, version="9.8.7")).dist_info_version() == "9.8.7"


def test_version_needs_exactly_one_metadata_file(tmp_path: Path) -> None:
    wheel = Wheel(build_wheel(tmp_path, {"vllm/__init__.py": ""}, version=None))
    with pytest.raises(ExtractionError, match="expected one METADATA file"):
        wheel.dist_info_version()
    two = {"a-1.dist-info/METADATA": "Version: 1\n", "b-1.dist-info/METADATA": "Version: 1\n"}
    with pytest.raises(ExtractionError, match="expected one METADATA file"):
        Wheel(build_wheel(tmp_path / "two", two)).dist_info_version()


def test_version_line_is_required(tmp_path: Path) -> None:
    wheel = Wheel(build_wheel(tmp_path, {"vllm-1.dist-info/METADATA": "Name: vllm\n"}))
    with pytest.raises(ExtractionError, match="no Version: line"):
        wheel.dist_info_version()


def test_module_at_records_the_source_unless_told_not_to(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {"vllm/a.py": "", "vllm/b.py": ""})
    wheel.module_at("vllm/a.py")
    wheel.module("vllm.b", record=False)
    assert wheel.sources == {"vllm/a.py"}
    assert wheel.module_at("vllm/b.py") is wheel.module("vllm.b")  # parsed once


def test_resolve_follows_imports_across_modules(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {
            "vllm/consts.py": 'NAME = "vllm:x"\nclass C:\n    pass\ndef f():\n    pass\n',
            "vllm/reexport.py": "from vllm.consts import NAME as RENAMED, C\n",
            "vllm/pkg/__init__.py": "",
            "vllm/pkg/sub.py": "VALUE = 1\n",
            "vllm/pkg/deeper/__init__.py": "",
            "vllm/pkg/deeper/m.py": (
                "from ..sub import VALUE\n"
                "from . import sibling\n"
                "from vllm.reexport import RENAMED, C\n"
                "from vllm.consts import f\n"
                "from vllm.pkg import sub\n"
                "import os.path\n"
                "import numpy as np\n"
                "from torch import nn\n"
            ),
            "vllm/pkg/deeper/sibling.py": "",
        },
    )
    mod = wheel.module("vllm.pkg.deeper.m")
    renamed = mod.resolve("RENAMED")
    assert (renamed.kind, renamed.qualname) == ("value", "vllm.consts.NAME")
    assert isinstance(renamed.node, ast.Constant) and renamed.node.value == "vllm:x"
    assert (mod.resolve("C").kind, mod.resolve("C").qualname) == ("class", "vllm.consts.C")
    assert (mod.resolve("f").kind, mod.resolve("f").qualname) == ("function", "vllm.consts.f")
    assert mod.resolve("VALUE").qualname == "vllm.pkg.sub.VALUE"  # from ..sub
    assert (mod.resolve("sibling").kind, mod.resolve("sibling").qualname) == ("module", "vllm.pkg.deeper.sibling")
    assert (mod.resolve("sub").kind, mod.resolve("sub").qualname) == ("module", "vllm.pkg.sub")
    assert (mod.resolve("os").kind, mod.resolve("os").qualname) == ("module", "os")  # import a.b binds a
    assert mod.resolve("np").qualname == "numpy"
    assert (mod.resolve("nn").kind, mod.resolve("nn").qualname) == ("external", "torch.nn")
    assert mod.resolve("len").qualname == "builtins.len"


def test_resolve_sees_bindings_in_if_and_try_blocks_last_one_wins(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {
            "vllm/m.py": (
                "X = 1\n"
                "if True:\n"
                "    X = 2\n"
                "try:\n"
                "    from a import Y\n"
                "except ImportError:\n"
                "    Y = None\n"
                "Z: int = 3\n"
                "W: int\n"
            )
        },
    )
    mod = wheel.module("vllm.m")
    x = mod.resolve("X")
    assert isinstance(x.node, ast.Constant) and x.node.value == 2
    y = mod.resolve("Y")
    assert y.kind == "value" and isinstance(y.node, ast.Constant) and y.node.value is None
    assert mod.resolve("Z").kind == "value"
    with pytest.raises(Unresolvable):  # an annotation without a value binds nothing
        mod.resolve("W")


def test_resolve_follows_star_imports_of_vllm_modules_only(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {"vllm/a.py": "A = 'a'\n", "vllm/m.py": "from vllm.a import *\nfrom torch import *\n"},
    )
    mod = wheel.module("vllm.m")
    assert mod.resolve("A").qualname == "vllm.a.A"
    with pytest.raises(Unresolvable, match="'Tensor' is not bound at module level"):
        mod.resolve("Tensor")


def test_resolve_records_consulted_modules_while_recording(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {"vllm/a.py": "A = 1\n", "vllm/m.py": "from vllm.a import A\n"})
    mod = wheel.module("vllm.m", record=False)
    mod.resolve("A")
    assert wheel.sources == set()
    wheel.recording = True
    mod.resolve("A")
    assert wheel.sources == {"vllm/m.py", "vllm/a.py"}


def test_qualify_dotted_names(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {
            "vllm/pkg/__init__.py": "",
            "vllm/pkg/a.py": "class K:\n    NAME = 'vllm:k'\n    def m(self):\n        pass\n",
            "vllm/m.py": "import vllm.pkg.a\nimport prometheus_client\nfrom vllm.pkg.a import K\n",
        },
    )
    mod = wheel.module("vllm.m")
    q = lambda src: mod.qualify(ast.parse(src, mode="eval").body)  # noqa: E731
    assert q("vllm.pkg.a.K").qualname == "vllm.pkg.a.K"
    assert (q("vllm.pkg.a").kind, q("vllm.pkg.a").qualname) == ("module", "vllm.pkg.a")
    assert (q("prometheus_client.Gauge").kind, q("prometheus_client.Gauge").qualname) == (
        "external",
        "prometheus_client.Gauge",
    )
    assert (q("K.NAME").kind, q("K.NAME").qualname) == ("value", "vllm.pkg.a.K.NAME")
    assert q("K.m").kind == "function"
    with pytest.raises(Unresolvable, match=re.escape("no class attribute K.missing")):
        q("K.missing")
    with pytest.raises(Unresolvable):
        q("K().NAME")


def test_class_attributes_are_searched_through_the_bases(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {
            "vllm/base.py": "import abc\nclass Base(abc.ABC):\n    X = 1\n    def run(self):\n        pass\n",
            "vllm/m.py": (
                "from typing import Generic\n"
                "from vllm.base import Base\n"
                "class Child(Base, Generic[T], Unknown):\n"
                "    Y: int = 2\n"
                "    class Inner:\n"
                "        pass\n"
            ),
        },
    )
    child = wheel.module("vllm.m").resolve("Child")
    assert class_attribute(child, "X").qualname == "vllm.base.Base.X"  # type: ignore[union-attr]
    assert class_attribute(child, "Y").qualname == "vllm.m.Child.Y"  # type: ignore[union-attr]
    assert class_attribute(child, "Inner").kind == "class"  # type: ignore[union-attr]
    assert class_attribute(child, "nothing") is None
    assert [b.qualname for b in class_bases(child)] == ["vllm.base.Base"]
    assert class_base_names(child) == {"vllm.base.Base", "abc.ABC", "typing.Generic", "Unknown"}
    assert method(child, "run").qualname == "vllm.base.Base.run"
    with pytest.raises(ExtractionError, match=r"vllm.m.Child.X is not defined"):
        method(child, "X")  # a value, not a method


def test_resolution_failures(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path,
        {
            "vllm/a.py": "from vllm.b import X\n",
            "vllm/b.py": "from vllm.a import X\n",
            "vllm/c.py": "def f():\n    pass\n",
            "vllm/m.py": "from vllm.c import missing\nimport vllm.c\nimport torch\nfrom vllm.c import f\n",
        },
    )
    with pytest.raises(ExtractionError, match="import cycle resolving X"):
        wheel.module("vllm.a").resolve("X")
    mod = wheel.module("vllm.m")
    q = lambda src: mod.qualify(ast.parse(src, mode="eval").body)  # noqa: E731
    with pytest.raises(Unresolvable, match="'missing' is not bound"):
        mod.resolve("missing")
    with pytest.raises(Unresolvable, match="'gone' is not bound"):
        q("vllm.c.gone")
    assert (q("torch.nn.Module").kind, q("torch.nn.Module").qualname) == ("external", "torch.nn.Module")
    with pytest.raises(Unresolvable, match=re.escape("cannot resolve f.attr")):
        q("f.attr")
