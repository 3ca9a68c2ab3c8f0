"""Type annotations, classified the way ``vllm.engine.arg_utils._compute_kwargs`` classifies them.

Whether ``**get_kwargs(Config)["field"]`` becomes a boolean flag (with ``--no-x``) depends only on the field's
annotation: :func:`type_atoms` reduces it to categories (``bool``, ``str``, ``None``, ``dataclass``, ...),
resolving aliases, forward references and imports through the wheel, and :func:`field_action` applies
``_compute_kwargs``' branch order, e.g. ``bool`` -> ``BooleanOptionalAction``, ``bool | str | None`` -> a value.
"""

from __future__ import annotations

import ast

from tools.vllm_surface.errors import Unresolvable, fail, where
from tools.vllm_surface.sources import Binding, Module, class_base_names, class_bases

BUILTIN_TYPES = {"bool", "int", "str", "float", "dict", "list", "tuple", "set", "bytes", "type", "object", "frozenset"}
TYPING_ORIGINS = {
    "typing.List": "list",
    "typing.Dict": "dict",
    "typing.Tuple": "tuple",
    "typing.Set": "set",
    "typing.FrozenSet": "frozenset",
    "typing.Type": "type",
}


def is_dataclass_cls(cls: Binding, _seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``cls`` (or a base) is decorated as a stdlib, pydantic or vLLM ``@config`` dataclass."""
    assert isinstance(cls.node, ast.ClassDef) and cls.mod is not None
    if cls.qualname in _seen:
        return False
    for dec in cls.node.decorator_list:
        expr = dec.func if isinstance(dec, ast.Call) else dec
        try:
            q = cls.mod.qualify(expr).qualname
        except Unresolvable:
            q = ast.unparse(expr)
        if q in {"dataclasses.dataclass", "pydantic.dataclasses.dataclass", "vllm.config.utils.config"}:
            return True
    return any(is_dataclass_cls(b, _seen | {cls.qualname}) for b in class_bases(cls))


def type_atoms(node: ast.expr, mod: Module, _depth: int = 0) -> frozenset[str]:
    """Classify a type annotation into the categories ``_compute_kwargs`` tests.

    Atoms: bool str int float None dict list tuple set type Literal dataclass
    class (a non-builtin class) any other.
    """
    if _depth > 40:
        fail(f"{where(mod, node)}: type alias recursion")
    rec = lambda n, m=mod: type_atoms(n, m, _depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        if node.value is None:
            return frozenset({"None"})
        if isinstance(node.value, str):  # forward reference
            return rec(ast.parse(node.value, mode="eval").body)
        fail(f"{where(mod, node)}: unexpected constant in annotation")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return rec(node.left) | rec(node.right)
    if isinstance(node, ast.Subscript):
        origin = _qualify_type(node.value, mod)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if origin == "typing.Optional":
            return rec(args[0]) | {"None"}
        if origin == "typing.Union":
            return frozenset().union(*(rec(a) for a in args))
        if origin in {"typing.Annotated", "typing_extensions.Annotated"}:
            return rec(args[0])
        if origin in {"typing.Literal", "typing_extensions.Literal"}:
            return frozenset({"Literal"})
        if origin.startswith("builtins."):
            short = origin.split(".", 1)[1]
            return frozenset({short if short in BUILTIN_TYPES else "other"})
        if origin in TYPING_ORIGINS:
            return frozenset({TYPING_ORIGINS[origin]})
        return frozenset({"other"})
    if isinstance(node, (ast.Name, ast.Attribute)):
        try:
            b = mod.qualify(node)
        except Unresolvable as e:
            fail(f"cannot resolve type {ast.unparse(node)} at {where(mod, node)}: {e}")
        if b.kind == "external":
            if b.qualname.startswith("builtins."):
                short = b.qualname.split(".", 1)[1]
                if short == "None":
                    return frozenset({"None"})
                return frozenset({short if short in BUILTIN_TYPES else "other"})
            if b.qualname in {"typing.Any", "typing_extensions.Any"}:
                return frozenset({"any"})
            return frozenset({"class"})
        if b.kind == "class":
            if is_dataclass_cls(b):
                return frozenset({"dataclass"})
            bases = class_base_names(b)
            if "builtins.dict" in bases and not ({"typing.TypedDict", "typing_extensions.TypedDict"} & bases):
                return frozenset({"dict"})
            return frozenset({"class"})
        if b.kind == "value":
            assert b.mod is not None and b.node is not None
            if isinstance(b.node, ast.Call):
                fn = ast.unparse(b.node.func)
                if fn.endswith(("TypeVar", "NewType")):
                    return frozenset({"other"})
            return rec(b.node, b.mod)
        fail(f"{where(mod, node)}: {ast.unparse(node)} is a {b.kind}, not a type")
    fail(f"{where(mod, node)}: unsupported annotation {ast.unparse(node)}")


def _qualify_type(node: ast.expr, mod: Module) -> str:
    try:
        b = mod.qualify(node)
    except Unresolvable as e:
        fail(f"cannot resolve {ast.unparse(node)} at {where(mod, node)}: {e}")
    if b.kind == "value" and b.mod is not None and isinstance(b.node, (ast.Name, ast.Attribute)):
        return _qualify_type(b.node, b.mod)
    return b.qualname


def field_action(atoms: frozenset[str]) -> str:
    """Mirror of the branch order in ``vllm.engine.arg_utils._compute_kwargs``."""
    if "dataclass" in atoms:
        return "value"  # parsed as JSON into the dataclass
    if atoms == {"bool", "str", "None"}:
        return "value"  # optional-valued flag: nargs="?", const=True, no --no-
    if "bool" in atoms:
        return "BooleanOptionalAction"
    return "value"


def dataclass_fields(cls: Binding) -> dict[str, tuple[ast.expr, Module]]:
    """Fields of a (pydantic) dataclass in definition order, bases first."""
    assert isinstance(cls.node, ast.ClassDef) and cls.mod is not None
    out: dict[str, tuple[ast.expr, Module]] = {}
    for base in reversed(class_bases(cls)):
        if is_dataclass_cls(base):
            out.update(dataclass_fields(base))
    for st in cls.node.body:
        if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
            ann = st.annotation
            head = ann.value if isinstance(ann, ast.Subscript) else ann
            try:
                q = cls.mod.qualify(head).qualname
            except Unresolvable:
                q = ""
            if q in {"typing.ClassVar", "dataclasses.InitVar"}:
                continue
            out[st.target.id] = (ann, cls.mod)
    return out
