"""tools.vllm_surface.string_eval: the strings a metric-name expression can take."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import open_wheel
from tools.vllm_surface.errors import Unresolvable
from tools.vllm_surface.string_eval import StringEval

NAMES = """\
PREFIX = "vllm:"
class Names:
    HITS = "vllm:hits"
def with_prefix(name):
    "a one-line helper (the docstring does not count)"
    return PREFIX + name
def two_lines(name):
    x = 1
    return PREFIX + name
"""

MODULE = """\
from vllm.names import PREFIX, Names, with_prefix, two_lines
import vllm.names

SUFFIX = "_seconds"

def f(param, flag, *, kw):
    literal = "vllm:literal"
    concatenated = PREFIX + "concat" + SUFFIX
    formatted = f"{PREFIX}formatted{SUFFIX}"
    either = PREFIX + "a" if flag else "vllm:b"
    reassigned = "vllm:first"
    reassigned = "vllm:second"
    for looped in ["vllm:l1", "vllm:l2"]:
        pass
    for unpacked, doc in [("vllm:u1", "d"), ("vllm:u2", "d")]:
        pass
    pairs = [("vllm:p1", 1)]
    pairs = [("vllm:p2", 2)]
    for paired, _ in pairs:
        pass
    squares = [c for c in ("vllm:c1", "vllm:c2")]
    class_constant = Names.HITS
    module_attribute = vllm.names.PREFIX + "attr"
    helped = with_prefix("helped")
    not_helped = two_lines("x")
    spec = f"{PREFIX:>10}"
    converted = f"{PREFIX!r}"
    called = str(PREFIX)
    computed = [x for x in range(3)]
    for item in computed:
        pass
    for bad in [1 + 1]:
        pass
    for wrong in [("a", "b")]:
        pass
    for first, second in ["ab"]:
        pass
    for ranged in range(3):
        pass
"""


@pytest.fixture
def evaluate(tmp_path: Path):
    wheel = open_wheel(tmp_path, {"vllm/names.py": NAMES, "vllm/m.py": MODULE})
    mod = wheel.module("vllm.m", record=False)
    fn = mod.resolve("f").node
    sev = StringEval(wheel)

    def run(expr: str) -> list[str]:
        return sev.eval(ast.parse(expr, mode="eval").body, mod, fn)

    run.wheel = wheel  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize(
    ("expr", "values"),
    [
        ("'vllm:x'", ["vllm:x"]),
        ("literal", ["vllm:literal"]),
        ("concatenated", ["vllm:concat_seconds"]),
        ("formatted", ["vllm:formatted_seconds"]),
        ("either", ["vllm:a", "vllm:b"]),
        ("reassigned", ["vllm:first", "vllm:second"]),  # every assignment is a possible value
        ("looped", ["vllm:l1", "vllm:l2"]),
        ("unpacked", ["vllm:u1", "vllm:u2"]),
        ("paired", ["vllm:p1", "vllm:p2"]),
        ("c", ["vllm:c1", "vllm:c2"]),
        ("class_constant", ["vllm:hits"]),
        ("module_attribute", ["vllm:attr"]),
        ("helped", ["vllm:helped"]),
        ("PREFIX + 'direct'", ["vllm:direct"]),
    ],
)
def test_resolvable_expressions(evaluate, expr: str, values: list[str]) -> None:
    assert evaluate(expr) == values


@pytest.mark.parametrize(
    "expr",
    [
        "param",
        "kw",
        "not_helped",
        "spec",
        "converted",
        "called",
        "item",
        "bad",
        "wrong",
        "first",
        "ranged",
        "undefined",
        "1",
    ],
)
def test_unresolvable_expressions(evaluate, expr: str) -> None:
    with pytest.raises(Unresolvable):
        evaluate(expr)


def test_constants_read_from_other_modules_are_sources(evaluate) -> None:
    evaluate("class_constant")
    assert evaluate.wheel.sources == {"vllm/names.py"}
    evaluate("SUFFIX")
    assert evaluate.wheel.sources == {"vllm/names.py", "vllm/m.py"}


def test_recursion_is_bounded(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, {"vllm/m.py": "A = B\nB = A\n"})
    mod = wheel.module("vllm.m")
    with pytest.raises(Unresolvable, match="recursion"):
        StringEval(wheel).eval(ast.Name("A"), mod, None)
