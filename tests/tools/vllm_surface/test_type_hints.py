"""tools.vllm_surface.type_hints: which field annotations become boolean flags, as ``_compute_kwargs`` decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.vllm_surface.fake_release import open_wheel
from tools.vllm_surface.errors import ExtractionError
from tools.vllm_surface.type_hints import dataclass_fields, field_action, is_dataclass_cls, type_atoms

CONFIG_MODULE = """\
from dataclasses import dataclass, InitVar
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Optional, TypedDict, TypeVar, Union, Dict, List
import typing
from pydantic.dataclasses import dataclass as pydantic_dataclass
from vllm.config.utils import config

T = TypeVar("T")
MaybeBool = Optional[bool]
Opt = Optional


@some_decorator
class Decorated:
    pass


class PlainDict(dict):
    pass


class Typed(TypedDict):
    a: int


class Plain:
    pass


@config
class Sub:
    x: int = 0


@dataclass
class Base:
    inherited: bool = False


@pydantic_dataclass
class Fields(Base):
    plain_bool: bool = False
    optional_bool: Optional[bool] = None
    union_bool: Union[bool, None] = None
    pipe_bool: bool | None = None
    bool_or_str: bool | str | None = None
    bool_or_str_union: Union[bool, str, None] = None
    alias_bool: MaybeBool = None
    forward_bool: "bool" = False
    annotated_bool: Annotated[bool, "doc"] = False
    literal: Literal["a", "b"] = "a"
    sub_or_bool: Sub | bool = False
    number: int = 0
    names: list[str] | None = None
    typing_list: List[str] = None
    typing_dict: Dict[str, int] = None
    qualified: typing.Optional[int] = None
    anything: Any = None
    plain_dict: PlainDict = None
    typed_dict: Typed = None
    plain_class: Plain = None
    type_var: T = None
    external_class: Path = None
    mapping: Mapping[str, int] = None
    aliased_origin: Opt[bool] = None
    decorated: Decorated = None
    counter: ClassVar[int] = 0
    init_only: InitVar[int] = 0
"""

FILES = {
    "vllm/config/__init__.py": "",
    "vllm/config/utils.py": "def config(cls):\n    return cls\n",
    "vllm/config/fields.py": CONFIG_MODULE,
}


@pytest.fixture
def fields(tmp_path: Path) -> dict:
    wheel = open_wheel(tmp_path, FILES)
    return dataclass_fields(wheel.module("vllm.config.fields").resolve("Fields"))


def test_fields_in_definition_order_bases_first_without_classvar_and_initvar(fields: dict) -> None:
    names = list(fields)
    assert names[0] == "inherited"
    assert names[1:4] == ["plain_bool", "optional_bool", "union_bool"]
    assert names[-1] == "decorated"
    assert "counter" not in names and "init_only" not in names


@pytest.mark.parametrize(
    ("field", "atoms"),
    [
        ("plain_bool", {"bool"}),
        ("optional_bool", {"bool", "None"}),
        ("union_bool", {"bool", "None"}),
        ("pipe_bool", {"bool", "None"}),
        ("bool_or_str", {"bool", "str", "None"}),
        ("bool_or_str_union", {"bool", "str", "None"}),
        ("alias_bool", {"bool", "None"}),
        ("forward_bool", {"bool"}),
        ("annotated_bool", {"bool"}),
        ("literal", {"Literal"}),
        ("sub_or_bool", {"dataclass", "bool"}),
        ("number", {"int"}),
        ("names", {"list", "None"}),
        ("typing_list", {"list"}),
        ("typing_dict", {"dict"}),
        ("qualified", {"int", "None"}),
        ("anything", {"any"}),
        ("plain_dict", {"dict"}),
        ("typed_dict", {"class"}),
        ("plain_class", {"class"}),
        ("type_var", {"other"}),
        ("external_class", {"class"}),
        ("mapping", {"other"}),
        ("aliased_origin", {"bool", "None"}),
        ("decorated", {"class"}),  # an unknown decorator does not make a dataclass
    ],
)
def test_type_atoms(fields: dict, field: str, atoms: set[str]) -> None:
    annotation, mod = fields[field]
    assert type_atoms(annotation, mod) == atoms


@pytest.mark.parametrize(
    ("atoms", "action"),
    [
        ({"bool"}, "BooleanOptionalAction"),
        ({"bool", "None"}, "BooleanOptionalAction"),
        ({"bool", "str", "None"}, "value"),  # optional-valued flag: nargs="?", no --no-
        ({"bool", "str"}, "BooleanOptionalAction"),  # only the exact triple is special
        ({"dataclass", "bool"}, "value"),  # JSON into the dataclass wins
        ({"int", "None"}, "value"),
        ({"Literal"}, "value"),
    ],
)
def test_field_action_mirrors_compute_kwargs(atoms: set[str], action: str) -> None:
    assert field_action(frozenset(atoms)) == action


def test_dataclass_detection_by_decorator_or_base(tmp_path: Path) -> None:
    wheel = open_wheel(tmp_path, FILES)
    mod = wheel.module("vllm.config.fields")
    assert is_dataclass_cls(mod.resolve("Sub"))  # vllm.config.utils.config
    assert is_dataclass_cls(mod.resolve("Base"))  # dataclasses.dataclass
    assert is_dataclass_cls(mod.resolve("Fields"))  # pydantic.dataclasses.dataclass
    assert not is_dataclass_cls(mod.resolve("Plain"))


def test_unresolvable_type_fails_with_its_place(tmp_path: Path) -> None:
    wheel = open_wheel(
        tmp_path, {"vllm/m.py": "from dataclasses import dataclass\n@dataclass\nclass C:\n    x: Mystery = 1\n"}
    )
    annotation, mod = dataclass_fields(wheel.module("vllm.m").resolve("C"))["x"]
    with pytest.raises(ExtractionError, match=r"cannot resolve type Mystery at vllm/m.py:4"):
        type_atoms(annotation, mod)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("Mystery[int]", "cannot resolve Mystery at vllm/m.py:6"),
        ("helper", "helper is a function, not a type"),
        ("[int]", "unsupported annotation"),
        ("1", "unexpected constant in annotation"),
        ("Loop", "type alias recursion"),
    ],
)
def test_annotations_it_does_not_understand_fail(tmp_path: Path, annotation: str, message: str) -> None:
    source = (
        "from dataclasses import dataclass\n"
        "def helper(): pass\n"
        'Loop = "Loop"\n'
        "@dataclass\n"
        "class C:\n"
        f"    x: {annotation} = 1\n"  # line 6
    )
    wheel = open_wheel(tmp_path, {"vllm/m.py": source})
    ann, mod = dataclass_fields(wheel.module("vllm.m").resolve("C"))["x"]
    with pytest.raises(ExtractionError, match=message):
        type_atoms(ann, mod)
