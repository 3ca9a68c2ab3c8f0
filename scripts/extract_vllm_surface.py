#!/usr/bin/env python3
"""Record the `vllm serve` flags and Prometheus metric names of a vLLM release.

What it does
------------
Reads the Python sources inside a vLLM wheel and writes a JSON record of

* ``flags``: every long option (``--x``) that ``vllm serve`` accepts,
  including the negative forms of boolean flags;
* ``metrics``: every Prometheus metric name the server process can register,
  mapped to its type (``counter`` / ``gauge`` / ``histogram``), keyed by the
  name that ``prometheus_client`` exposes (a Counter registered as ``vllm:x``
  or ``vllm:x_total`` is exposed as ``vllm:x_total``; histograms and gauges keep
  their name, histograms add ``_bucket`` / ``_sum`` / ``_count`` series);
* the wheel's file name and sha256, the release version (from the wheel's
  METADATA) and the list of wheel files whose content determined the result.

The output is deterministic: sorted keys, sorted lists, two-space indent and a
trailing newline, so a regenerated file can be compared byte for byte.

Why static
----------
``import vllm`` needs torch, CUDA libraries and a long list of heavy
dependencies, and building the real parser runs platform detection and plugin
loading. None of that is available (or wanted) where the infrastructure
library is tested, so this script never imports vllm: it parses the wheel's
sources with :mod:`ast` and re-derives, construct by construct, what argparse
and prometheus_client would do with them:

* flags: ``vllm/entrypoints/cli/serve.py`` (the ``serve`` sub-parser),
  ``vllm/entrypoints/common/cli_args.py`` (``make_arg_parser``, the
  ``FrontendArgs`` dataclass whose fields become ``--field-name``),
  ``vllm/engine/arg_utils.py`` (``EngineArgs`` / ``AsyncEngineArgs``
  ``add_cli_args``; for ``**get_kwargs(Config)["field"]`` the field's type is
  resolved through the config modules exactly as ``_compute_kwargs`` decides
  whether it becomes an ``argparse.BooleanOptionalAction``), and
  ``vllm/utils/argparse_utils.py`` (``FlexibleArgumentParser`` registers
  ``EnableDisableAction`` in place of ``BooleanOptionalAction``: a boolean
  ``--x`` also accepts ``--no-x``, and ``--enable-x`` / ``--disable-x`` are
  each other's negation);
* metrics: every module of the wheel that constructs a ``prometheus_client``
  Counter / Gauge / Histogram (directly, through vLLM's ``_counter_cls`` /
  ``_gauge_cls`` / ``_histogram_cls`` indirection, or through the KV-offload
  ``Offloading*Metadata`` definitions), with the metric name resolved through
  literals, module / class constants, local variables, loops over literal
  lists and small helper functions.

Anything the script does not understand makes it fail with an explanation
(an ``add_argument`` with a computed option string, a metric whose name cannot
be resolved and that is not on the reviewed allowlist below, a ``vllm:``
string constant that matches no registered metric, zero flags from a file,
a duplicate option string...). A short or silently wrong list is worse than
no list.

How to regenerate
-----------------
    python scripts/extract_vllm_surface.py --version 0.33.0 \\
        --out vllm_infra/data/vllm_surface_0.33.0.json

``--version`` runs ``pip download --no-deps vllm==VERSION`` into a temporary
directory (the x86_64 manylinux wheel, ~340 MB); ``--wheel PATH`` uses a wheel
that is already on disk. ``--explain`` also prints, on stderr, every option and
metric with the file and line it comes from, for review. When a new release
breaks an assumption, the error names the construct; extend the script (or,
after reading the code, the reviewed allowlists at the top) rather than
editing the JSON by hand. Only the Python standard library is needed.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

# --------------------------------------------------------------------------
# Reviewed exceptions. Each entry was read by a person; the script fails if
# an entry no longer matches anything, so the list cannot silently rot.
# --------------------------------------------------------------------------

#: Metric constructor call sites whose name is a parameter (pass-through
#: helpers). Keyed by (wheel path, enclosing function name).
PASS_THROUGH_METRIC_SITES: dict[tuple[str, str], str] = {
    (
        "vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py",
        "_create_metric",
    ): "builds the metrics described by the Offloading*Metadata definitions, "
    "which are collected separately",
}

#: Offloading*Metadata definitions whose names come from a package that is not
#: part of the wheel. Keyed by (wheel path, enclosing function name).
EXTERNAL_METADATA_SITES: dict[tuple[str, str], str] = {
    (
        "vllm/v1/kv_offload/tiering/kvcr/manager.py",
        "_kvcr_metric_definitions",
    ): "names are constants of the optional external `kvcr` package",
}

#: ``vllm:`` string constants that are not metric names of their own.
NON_METRIC_VLLM_STRINGS: dict[str, str] = {
    "vllm:spec_decode": "prefix test on /metrics lines in vllm/benchmarks/serve.py",
    "vllm:diffusion": "prefix test on /metrics lines in vllm/benchmarks/serve.py",
}

#: Files that must each contribute options (and metrics) in a healthy extraction.
EXPECTED_FLAG_SOURCES = ("vllm/entrypoints/common/cli_args.py", "vllm/engine/arg_utils.py")
EXPECTED_METRIC_SOURCES = ("vllm/v1/metrics/loggers.py", "vllm/v1/spec_decode/metrics.py")

#: Calls whose result is the parser or one of its argument groups.
PARSER_FACTORIES = {"add_argument_group", "add_mutually_exclusive_group", "add_parser", "add_cli_args"}

#: Functions that receive the serve parser but are known not to add options.
PARSER_CALLS_WITHOUT_OPTIONS = {
    # checked separately: no platform's hook calls add_argument
    "pre_register_and_update",
}

PROM_TYPES = {
    "Counter": "counter",
    "Gauge": "gauge",
    "Histogram": "histogram",
    "Summary": "summary",
    "Info": "info",
    "Enum": "enum",
}
#: vLLM's convention: metric classes are looked up through these attributes so
#: that the Ray stat logger can swap in wrappers. Checked against
#: PrometheusStatLogger below.
CLS_ATTRS = {"_counter_cls": "counter", "_gauge_cls": "gauge", "_histogram_cls": "histogram"}
METADATA_TYPES = {
    "OffloadingCounterMetadata": "counter",
    "OffloadingGaugeMetadata": "gauge",
    "OffloadingHistogramMetadata": "histogram",
}
#: a whole quoted string constant that looks like a vLLM metric name
VLLM_STRING_RE = re.compile(r"[\"'](vllm:[A-Za-z_][A-Za-z0-9_]*)[\"']")

BUILTIN_TYPES = {"bool", "int", "str", "float", "dict", "list", "tuple", "set", "bytes", "type", "object", "frozenset"}
TYPING_ORIGINS = {
    "typing.List": "list",
    "typing.Dict": "dict",
    "typing.Tuple": "tuple",
    "typing.Set": "set",
    "typing.FrozenSet": "frozenset",
    "typing.Type": "type",
}


class ExtractionError(RuntimeError):
    """The sources contain a construct this script does not understand."""


class Unresolvable(Exception):
    """An expression whose value cannot be known statically."""


def fail(msg: str) -> NoReturn:
    raise ExtractionError(msg)


def where(mod: Module, node: ast.AST) -> str:
    return f"{mod.path}:{getattr(node, 'lineno', '?')}"


# --------------------------------------------------------------------------
# Wheel and module access
# --------------------------------------------------------------------------


class Wheel:
    def __init__(self, path: Path):
        self.path = path
        self.zf = zipfile.ZipFile(path)
        self.names = set(self.zf.namelist())
        self._modules: dict[str, Module] = {}
        self.sources: set[str] = set()
        #: while True, every module consulted to resolve a name is a source
        self.recording = False

    def text(self, name: str) -> str:
        return self.zf.read(name).decode("utf-8")

    def path_of(self, modname: str) -> str | None:
        base = modname.replace(".", "/")
        for cand in (base + ".py", base + "/__init__.py"):
            if cand in self.names:
                return cand
        return None

    def module(self, modname: str, record: bool = True) -> Module:
        path = self.path_of(modname)
        if path is None:
            fail(f"module {modname} is not in the wheel")
        return self.module_at(path, record=record)

    def module_at(self, path: str, record: bool = True) -> Module:
        if record:
            self.sources.add(path)
        if path not in self._modules:
            modname = path[: -len(".py")].replace("/", ".")
            if modname.endswith(".__init__"):
                modname = modname[: -len(".__init__")]
            self._modules[path] = Module(self, path, modname, ast.parse(self.text(path), path))
        return self._modules[path]

    def py_files(self) -> list[str]:
        return sorted(n for n in self.names if n.startswith("vllm/") and n.endswith(".py"))

    def dist_info_version(self) -> str:
        metas = [n for n in self.names if n.endswith(".dist-info/METADATA")]
        if len(metas) != 1:
            fail(f"expected one METADATA file in the wheel, found {metas}")
        for line in self.text(metas[0]).splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        fail("no Version: line in the wheel METADATA")


@dataclass
class Binding:
    kind: str  # class | function | value | external | module
    mod: Module | None = None
    node: ast.AST | None = None
    qualname: str = ""


class Module:
    def __init__(self, wheel: Wheel, path: str, name: str, tree: ast.Module):
        self.wheel = wheel
        self.path = path
        self.name = name
        self.tree = tree
        self.is_package = path.endswith("/__init__.py")
        self._top: dict[str, list[ast.AST]] | None = None
        self._stars: list[str] = []
        self._parents: dict[ast.AST, ast.AST] | None = None

    # -- structure -------------------------------------------------------
    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        if self._parents is None:
            self._parents = {}
            for node in ast.walk(self.tree):
                for child in ast.iter_child_nodes(node):
                    self._parents[child] = node
        return self._parents

    def _top_bindings(self) -> dict[str, list[ast.AST]]:
        if self._top is None:
            top: dict[str, list[ast.AST]] = {}

            def visit(stmts: Iterable[ast.stmt]) -> None:
                for st in stmts:
                    if isinstance(st, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        top.setdefault(st.name, []).append(st)
                    elif isinstance(st, ast.Assign):
                        for t in st.targets:
                            if isinstance(t, ast.Name):
                                top.setdefault(t.id, []).append(st)
                    elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                        if st.value is not None:
                            top.setdefault(st.target.id, []).append(st)
                    elif isinstance(st, (ast.Import, ast.ImportFrom)):
                        for a in st.names:
                            if a.name == "*":
                                assert isinstance(st, ast.ImportFrom)
                                self._stars.append(self.absolute(st))
                                continue
                            bound = a.asname or a.name.split(".")[0]
                            top.setdefault(bound, []).append(st)
                    elif isinstance(st, ast.If):
                        visit(st.body)
                        visit(st.orelse)
                    elif isinstance(st, ast.Try):
                        visit(st.body)
                        for h in st.handlers:
                            visit(h.body)
                        visit(st.orelse)
                        visit(st.finalbody)

            visit(self.tree.body)
            self._top = top
        return self._top

    def absolute(self, imp: ast.ImportFrom) -> str:
        if not imp.level:
            return imp.module or ""
        pkg = self.name if self.is_package else self.name.rsplit(".", 1)[0]
        parts = pkg.split(".")
        if imp.level > 1:
            parts = parts[: -(imp.level - 1)]
        return ".".join(parts + ([imp.module] if imp.module else []))

    def resolve(self, name: str, _depth: int = 0) -> Binding:
        """What the module-level name ``name`` refers to."""
        if _depth > 30:
            fail(f"{self.path}: import cycle resolving {name}")
        if self.wheel.recording:
            self.wheel.sources.add(self.path)
        nodes = self._top_bindings().get(name)
        if not nodes:
            for star in reversed(self._stars):
                if star.split(".")[0] == "vllm" and self.wheel.path_of(star) is not None:
                    try:
                        return self.wheel.module(star, record=False).resolve(name, _depth + 1)
                    except Unresolvable:
                        pass
            if hasattr(builtins, name):
                return Binding("external", qualname=f"builtins.{name}")
            raise Unresolvable(f"{self.path}: name {name!r} is not bound at module level")
        node = nodes[-1]
        if isinstance(node, ast.ClassDef):
            return Binding("class", self, node, f"{self.name}.{name}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return Binding("function", self, node, f"{self.name}.{name}")
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            return Binding("value", self, node.value, f"{self.name}.{name}")
        if isinstance(node, ast.ImportFrom):
            alias = next(a for a in node.names if (a.asname or a.name) == name)
            target = self.absolute(node)
            if target.split(".")[0] == "vllm" and self.wheel.path_of(target) is not None:
                mod = self.wheel.module(target, record=False)
                try:
                    b = mod.resolve(alias.name, _depth + 1)
                except Unresolvable:
                    sub = f"{target}.{alias.name}"
                    if self.wheel.path_of(sub) is not None:
                        return Binding("module", qualname=sub)
                    raise
                return b
            return Binding("external", qualname=f"{target}.{alias.name}")
        if isinstance(node, ast.Import):
            alias = next(a for a in node.names if (a.asname or a.name.split(".")[0]) == name)
            return Binding("module", qualname=alias.name if alias.asname else alias.name.split(".")[0])
        fail(f"{self.path}: unexpected binding for {name}")

    def qualify(self, node: ast.expr) -> Binding:
        """Resolve a Name or dotted Attribute expression."""
        if isinstance(node, ast.Name):
            return self.resolve(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            if base.kind == "module":
                if base.qualname.split(".")[0] == "vllm" and self.wheel.path_of(base.qualname):
                    mod = self.wheel.module(base.qualname, record=False)
                    try:
                        return mod.resolve(node.attr)
                    except Unresolvable:
                        sub = f"{base.qualname}.{node.attr}"
                        if self.wheel.path_of(sub):
                            return Binding("module", qualname=sub)
                        raise
                return Binding("external", qualname=f"{base.qualname}.{node.attr}")
            if base.kind == "external":
                return Binding("external", qualname=f"{base.qualname}.{node.attr}")
            if base.kind == "class":
                val = class_attribute(base, node.attr)
                if val is None:
                    raise Unresolvable(f"{where(self, node)}: no class attribute {ast.unparse(node)}")
                return val
            raise Unresolvable(f"{where(self, node)}: cannot resolve {ast.unparse(node)}")
        raise Unresolvable(f"{where(self, node)}: cannot resolve {ast.unparse(node)}")


def class_attribute(cls: Binding, attr: str) -> Binding | None:
    """A class-body assignment ``attr = value`` (searching the bases too)."""
    assert isinstance(cls.node, ast.ClassDef) and cls.mod is not None
    for st in cls.node.body:
        targets: list[ast.expr] = []
        if isinstance(st, ast.Assign):
            targets = st.targets
        elif isinstance(st, ast.AnnAssign) and st.value is not None:
            targets = [st.target]
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return Binding("value", cls.mod, st.value, f"{cls.qualname}.{attr}")
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and st.name == attr:
            kind = "class" if isinstance(st, ast.ClassDef) else "function"
            return Binding(kind, cls.mod, st, f"{cls.qualname}.{attr}")
    for base in class_bases(cls):
        found = class_attribute(base, attr)
        if found is not None:
            return found
    return None


def class_bases(cls: Binding) -> list[Binding]:
    assert isinstance(cls.node, ast.ClassDef) and cls.mod is not None
    out = []
    for b in cls.node.bases:
        expr = b.value if isinstance(b, ast.Subscript) else b
        try:
            res = cls.mod.qualify(expr)
        except Unresolvable:
            continue
        if res.kind == "class":
            out.append(res)
    return out


def class_base_names(cls: Binding) -> set[str]:
    """Qualified names of all (transitive) bases, vllm-internal or external."""
    assert isinstance(cls.node, ast.ClassDef) and cls.mod is not None
    names: set[str] = set()
    for b in cls.node.bases:
        expr = b.value if isinstance(b, ast.Subscript) else b
        try:
            res = cls.mod.qualify(expr)
        except Unresolvable:
            names.add(ast.unparse(expr))
            continue
        names.add(res.qualname)
        if res.kind == "class":
            names |= class_base_names(res)
    return names


def method(cls: Binding, name: str) -> Binding:
    found = class_attribute(cls, name)
    if found is None or found.kind != "function":
        fail(f"{cls.qualname}.{name} is not defined")
    assert found is not None
    return found


# --------------------------------------------------------------------------
# Type hints -> what _compute_kwargs does with them
# --------------------------------------------------------------------------


def is_dataclass_cls(cls: Binding, _seen: frozenset[str] = frozenset()) -> bool:
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
                if fn.endswith("TypeVar") or fn.endswith("NewType"):
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


# --------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------


@dataclass
class Option:
    strings: list[str]
    action: str  # "BooleanOptionalAction" or anything else
    origin: str


@dataclass
class FieldRef:
    cls: Binding
    name: str


@dataclass
class ParserModel:
    """What FlexibleArgumentParser does with BooleanOptionalAction."""

    inverse_prefixes: dict[str, str] = field(default_factory=dict)


def classify_action(expr: ast.expr, mod: Module) -> str:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    try:
        b = mod.qualify(expr)
    except Unresolvable:
        fail(f"{where(mod, expr)}: cannot resolve action {ast.unparse(expr)}")
    if b.qualname in {"argparse.BooleanOptionalAction", "vllm.utils.argparse_utils.EnableDisableAction"}:
        return "BooleanOptionalAction"
    if b.kind == "class":
        bases = class_base_names(b)
        if bases & {"argparse.BooleanOptionalAction", "vllm.utils.argparse_utils.EnableDisableAction"}:
            fail(f"{where(mod, expr)}: custom subclass of BooleanOptionalAction {b.qualname}")
        return f"custom:{b.qualname}"
    fail(f"{where(mod, expr)}: unexpected action {ast.unparse(expr)}")


class FlagExtractor:
    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self.options: list[Option] = []
        self.parser_model = ParserModel()

    # -- FlexibleArgumentParser ----------------------------------------------
    def read_parser_model(self) -> None:
        mod = self.wheel.module("vllm.utils.argparse_utils")
        top = {n.name: n for n in mod.tree.body if isinstance(n, ast.ClassDef)}
        flex = top.get("FlexibleArgumentParser")
        if flex is None:
            fail("vllm/utils/argparse_utils.py: FlexibleArgumentParser not found")
        registered = None
        for node in ast.walk(flex):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register"
                and len(node.args) == 3
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "action"
            ):
                registered = (ast.unparse(node.args[1]), ast.unparse(node.args[2]))
        eda = top.get("EnableDisableAction")
        if eda is None:
            if registered is not None:
                fail(f"argparse_utils: unexpected action registration {registered}")
            return  # plain argparse: only --no-X
        if registered != ("BooleanOptionalAction", "EnableDisableAction"):
            fail(
                "argparse_utils: EnableDisableAction exists but FlexibleArgumentParser "
                f"does not register it for BooleanOptionalAction (found {registered})"
            )
        for st in eda.body:
            if (
                isinstance(st, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "_inverse_prefixes" for t in st.targets)
                and isinstance(st.value, ast.Dict)
            ):
                self.parser_model.inverse_prefixes = {
                    ast.literal_eval(k): ast.literal_eval(v)  # type: ignore[arg-type]
                    for k, v in zip(st.value.keys, st.value.values)
                }
        if not self.parser_model.inverse_prefixes:
            fail("argparse_utils: EnableDisableAction._inverse_prefixes not found")
        # The inverse forms are appended to option_strings in __init__, i.e.
        # before the parser registers the action, so they are accepted.
        init_src = ast.unparse(next(n for n in eda.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"))
        if "self.option_strings = [*self.option_strings, *inverses]" not in init_src:
            fail("argparse_utils: EnableDisableAction.__init__ no longer appends the inverse options")

    # -- serve sub-command -----------------------------------------------------
    def run(self) -> list[str]:
        self.wheel.recording = True
        try:
            return self._run()
        finally:
            self.wheel.recording = False

    def _run(self) -> list[str]:
        self.read_parser_model()
        self.check_main()
        serve = self.wheel.module("vllm.entrypoints.cli.serve")
        cls = serve.resolve("ServeSubcommand")
        if cls.kind != "class":
            fail("serve.py: ServeSubcommand not found")
        name = class_attribute(cls, "name")
        if name is None or not (isinstance(name.node, ast.Constant) and name.node.value == "serve"):
            fail("serve.py: ServeSubcommand.name is not 'serve'")
        init = method(cls, "subparser_init")
        assert isinstance(init.node, ast.FunctionDef)
        add_parser = [
            c for c in ast.walk(init.node)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "add_parser"
        ]
        if len(add_parser) != 1:
            fail("serve.py: expected one subparsers.add_parser(...) call in subparser_init")
        kw = {k.arg: k.value for k in add_parser[0].keywords}
        if "add_help" in kw and not (isinstance(kw["add_help"], ast.Constant) and kw["add_help"].value):
            fail("serve.py: add_help changed")
        if "parser_class" in kw:
            fail("serve.py: the serve parser no longer inherits FlexibleArgumentParser")
        self.options.append(Option(["-h", "--help"], "help", "argparse add_help"))
        before = len(self.options)
        self.walk_parser_function(init, parser_names=set())
        if len(self.options) - before < 100:
            fail(f"serve.py: only {len(self.options) - before} options found for `vllm serve`")
        for path in EXPECTED_FLAG_SOURCES:
            if not any(o.origin.startswith(path + ":") for o in self.options):
                fail(f"{path}: contributed no option to `vllm serve`")
        self.check_platform_hooks()
        return self.expand()

    def check_main(self) -> None:
        main = self.wheel.module("vllm.entrypoints.cli.main")
        src = ast.unparse(main.tree)
        if "FlexibleArgumentParser(" not in src or ".add_subparsers(" not in src:
            fail("cli/main.py: top-level parser is no longer a FlexibleArgumentParser with sub-parsers")
        if "parser_class" in src:
            fail("cli/main.py: sub-parsers use a custom parser_class")
        if "vllm.entrypoints.cli.serve" not in src:
            fail("cli/main.py: the serve sub-command module is not registered")

    def check_platform_hooks(self) -> None:
        found = 0
        for path in self.wheel.py_files():
            if not path.startswith("vllm/platforms/"):
                continue
            mod = self.wheel.module_at(path, record=False)
            for node in ast.walk(mod.tree):
                if isinstance(node, ast.FunctionDef) and node.name == "pre_register_and_update":
                    found += 1
                    self.wheel.sources.add(path)
                    if "add_argument" in ast.unparse(node):
                        fail(f"{path}: pre_register_and_update adds CLI arguments")
        if not found:
            fail("vllm/platforms: no pre_register_and_update hook found")

    # -- generic walk of a function that adds arguments -------------------------
    def walk_parser_function(self, fn: Binding, parser_names: set[str]) -> None:
        mod, node = fn.mod, fn.node
        assert mod is not None and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        mod.wheel.sources.add(mod.path)
        parsers = set(parser_names)
        kwargs_vars: dict[str, Binding] = {}  # var -> config class of get_kwargs(cls)
        field_vars: dict[str, FieldRef] = {}  # var -> one field's kwargs
        overrides: dict[tuple[str, str], str] = {}  # (class qualname, field) -> action

        # pass 1: bindings, in source order
        assigns = sorted(
            (st for st in ast.walk(node) if isinstance(st, ast.Assign)),
            key=lambda st: (st.lineno, st.col_offset),
        )
        for st in assigns:
            if len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                var, val = st.targets[0].id, st.value
                if isinstance(val, ast.Call):
                    f = val.func
                    if (isinstance(f, ast.Attribute) and f.attr in PARSER_FACTORIES) or (
                        isinstance(f, ast.Name) and f.id == "make_arg_parser"
                    ):
                        parsers.add(var)
                        continue
                ref = self._kwargs_ref(val, mod, kwargs_vars, field_vars)
                if isinstance(ref, Binding):
                    kwargs_vars[var] = ref
                elif isinstance(ref, FieldRef):
                    field_vars[var] = ref
        # pass 2: mutations of kwargs dicts
        for st in ast.walk(node):
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Subscript):
                tgt = st.targets[0]
                key = tgt.slice
                if isinstance(key, ast.Constant) and key.value in {"action", "option_strings", "flags"}:
                    ref = self._kwargs_ref(tgt.value, mod, kwargs_vars, field_vars)
                    if not isinstance(ref, FieldRef):
                        fail(f"{where(mod, st)}: cannot tell which argument {ast.unparse(tgt)} changes")
                    if key.value != "action":
                        fail(f"{where(mod, st)}: unsupported change of {key.value}")
                    overrides[(ref.cls.qualname, ref.name)] = classify_action(st.value, mod)
        # pass 3: calls
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "add_argument":
                recv = func.value
                if not (isinstance(recv, ast.Name) and recv.id in parsers):
                    fail(f"{where(mod, call)}: add_argument on unknown receiver {ast.unparse(recv)}")
                self._add_argument(call, mod, kwargs_vars, field_vars, overrides)
            elif isinstance(func, ast.Attribute) and func.attr == "add_cli_args":
                target = mod.qualify(func.value)
                if target.kind != "class":
                    fail(f"{where(mod, call)}: add_cli_args on {ast.unparse(func.value)}")
                self.walk_add_cli_args(target)
            elif isinstance(func, ast.Name) and func.id == "make_arg_parser":
                target = mod.resolve("make_arg_parser")
                self.walk_parser_function(target, parser_names={a.arg for a in target.node.args.args[:1]})  # type: ignore[union-attr]
            else:
                passes_parser = any(isinstance(a, ast.Name) and a.id in parsers for a in call.args) or any(
                    isinstance(k.value, ast.Name) and k.value.id in parsers for k in call.keywords
                )
                if passes_parser:
                    fname = func.attr if isinstance(func, ast.Attribute) else ast.unparse(func)
                    if fname not in PARSER_CALLS_WITHOUT_OPTIONS:
                        fail(f"{where(mod, call)}: the parser is passed to {ast.unparse(func)}(), "
                             "which this script does not know")

    def walk_add_cli_args(self, cls: Binding) -> None:
        fn = method(cls, "add_cli_args")
        assert isinstance(fn.node, ast.FunctionDef) and fn.mod is not None
        src = ast.unparse(fn.node)
        if "get_kwargs(cls)" in src:
            # BaseFrontendArgs-style: every dataclass field becomes --field-name
            if "f\"--{key.replace('_', '-')}\"" not in src:
                fail(f"{fn.qualname}: field loop no longer builds --{{key.replace('_', '-')}}")
            self._dataclass_fields_as_options(cls, fn)
        else:
            params = [a.arg for a in fn.node.args.args]
            self.walk_parser_function(fn, parser_names=set(params[:1]))

    def _dataclass_fields_as_options(self, cls: Binding, fn: Binding) -> None:
        assert fn.mod is not None
        fn.mod.wheel.sources.add(fn.mod.path)
        fields = dataclass_fields(cls)
        if not fields:
            fail(f"{cls.qualname}: no dataclass fields found")
        actions = {name: field_action(type_atoms(ann, m)) for name, (ann, m) in fields.items()}
        extra: dict[str, list[str]] = {}
        # _customize_cli_kwargs of the class and its bases may change entries
        chain: list[Binding] = []
        todo = [cls]
        while todo:
            c = todo.pop(0)
            chain.append(c)
            todo.extend(class_bases(c))
        for c in chain:
            assert isinstance(c.node, ast.ClassDef) and c.mod is not None
            for st in c.node.body:
                if isinstance(st, ast.FunctionDef) and st.name == "_customize_cli_kwargs":
                    c.mod.wheel.sources.add(c.mod.path)
                    for n in ast.walk(st):
                        self._customize_statement(n, c.mod, actions, extra)
        origin = f"{fn.mod.path}: {cls.qualname} fields"
        for name, action in actions.items():
            opts = list(extra.get(name, [])) + [f"--{name.replace('_', '-')}"]
            self.options.append(Option(opts, action, origin))

    def _customize_statement(self, n: ast.AST, mod: Module, actions: dict[str, str], extra: dict[str, list[str]]) -> None:
        def field_of(sub: ast.expr) -> str | None:
            if isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant):
                return sub.slice.value  # type: ignore[return-value]
            return None

        if isinstance(n, ast.Delete):
            for t in n.targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                    name = field_of(t)
                    if name is None:
                        fail(f"{where(mod, n)}: unsupported del")
                    actions.pop(name, None)
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant):
                    key = t.slice.value
                    if isinstance(t.value, ast.Subscript):  # kwargs[field][key] = ...
                        name = field_of(t.value)
                        if name not in actions:
                            fail(f"{where(mod, n)}: customizes unknown field {name}")
                        if key == "action":
                            actions[name] = classify_action(n.value, mod)
                        elif key == "flags":
                            extra[name] = list(ast.literal_eval(n.value))
                    elif isinstance(t.value, ast.Name) and key not in actions:
                        fail(f"{where(mod, n)}: adds an entry {key!r} that is not a field")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "pop":
            recv = n.func.value
            if isinstance(recv, ast.Name) and n.args and isinstance(n.args[0], ast.Constant):
                actions.pop(n.args[0].value, None)  # type: ignore[arg-type]

    def _kwargs_ref(self, expr: ast.expr, mod: Module, kwargs_vars: dict[str, Binding], field_vars: dict[str, FieldRef]) -> Binding | FieldRef | None:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "get_kwargs":
            cls = mod.qualify(expr.args[0])
            if cls.kind != "class":
                fail(f"{where(mod, expr)}: get_kwargs of non-class {ast.unparse(expr.args[0])}")
            return cls
        if isinstance(expr, ast.Name):
            if expr.id in kwargs_vars:
                return kwargs_vars[expr.id]
            if expr.id in field_vars:
                return field_vars[expr.id]
            return None
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant):
            base = self._kwargs_ref(expr.value, mod, kwargs_vars, field_vars)
            if isinstance(base, Binding):
                name = expr.slice.value
                fields = dataclass_fields(base)
                if name not in fields:
                    fail(f"{where(mod, expr)}: {base.qualname} has no field {name!r}")
                return FieldRef(base, name)  # type: ignore[arg-type]
        return None

    def _add_argument(self, call: ast.Call, mod: Module, kwargs_vars: dict[str, Binding], field_vars: dict[str, FieldRef], overrides: dict[tuple[str, str], str]) -> None:
        strings = []
        for a in call.args:
            if not (isinstance(a, ast.Constant) and isinstance(a.value, str)):
                fail(f"{where(mod, call)}: computed option string {ast.unparse(a)}")
            strings.append(a.value)
        if not strings:
            fail(f"{where(mod, call)}: add_argument without option strings")
        action: str | None = None
        derived: str | None = None

        def from_double_star(expr: ast.expr) -> None:
            nonlocal action, derived
            if isinstance(expr, ast.Dict):
                for k, v in zip(expr.keys, expr.values):
                    if k is None:
                        from_double_star(v)
                    elif isinstance(k, ast.Constant) and k.value == "action":
                        action = classify_action(v, mod)
                return
            ref = self._kwargs_ref(expr, mod, kwargs_vars, field_vars)
            if not isinstance(ref, FieldRef):
                fail(f"{where(mod, call)}: cannot resolve **{ast.unparse(expr)}")
            assert isinstance(ref, FieldRef)
            key = (ref.cls.qualname, ref.name)
            if key in overrides:
                derived = overrides[key]
            else:
                ann, m = dataclass_fields(ref.cls)[ref.name]
                derived = field_action(type_atoms(ann, m))

        for k in call.keywords:
            if k.arg == "action":
                action = classify_action(k.value, mod)
            elif k.arg is None:
                from_double_star(k.value)
        final = action or derived or "store"
        self.options.append(Option(strings, final, where(mod, call)))

    # -- expansion -------------------------------------------------------------
    def expand(self) -> list[str]:
        accepted: dict[str, str] = {}
        for opt in self.options:
            strings = list(opt.strings)
            if opt.action == "BooleanOptionalAction":
                # argparse.BooleanOptionalAction.__init__
                neg = []
                for s in opt.strings:
                    if s.startswith("--"):
                        neg.append("--no-" + s[2:])
                strings += neg
                # vllm.utils.argparse_utils.EnableDisableAction.__init__
                for s in opt.strings:
                    for prefix, inverse in self.parser_model.inverse_prefixes.items():
                        if s.startswith(prefix):
                            strings.append(inverse + s[len(prefix):])
            for s in strings:
                if s in accepted:
                    fail(f"option {s} registered twice ({accepted[s]} and {opt.origin}): "
                         "argparse would refuse to build this parser")
                accepted[s] = opt.origin
        flags = sorted(s for s in accepted if s.startswith("--"))
        return flags


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------


class StringEval:
    """Evaluate an expression to the set of strings it can take."""

    def __init__(self, wheel: Wheel):
        self.wheel = wheel

    def eval(self, node: ast.expr, mod: Module, fn: ast.AST | None, env: dict[str, list[str]] | None = None, depth: int = 0) -> list[str]:
        if depth > 30:
            raise Unresolvable("recursion")
        env = env or {}
        ev = lambda n, m=mod, f=fn, e=env: self.eval(n, m, f, e, depth + 1)  # noqa: E731
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            results = [""]
            for part in node.values:
                if isinstance(part, ast.Constant):
                    vals = [str(part.value)]
                elif isinstance(part, ast.FormattedValue) and part.format_spec is None and part.conversion == -1:
                    vals = ev(part.value)
                else:
                    raise Unresolvable(ast.unparse(node))
                results = [r + v for r in results for v in vals]
            return results
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return [a + b for a in ev(node.left) for b in ev(node.right)]
        if isinstance(node, ast.IfExp):  # either branch may be taken
            return ev(node.body) + ev(node.orelse)
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if fn is not None:
                local = self._local(node.id, mod, fn, depth)
                if local is not None:
                    return local
            b = mod.resolve(node.id)
            return self._binding(b, depth)
        if isinstance(node, ast.Attribute):
            b = mod.qualify(node)
            return self._binding(b, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            b = mod.resolve(node.func.id)
            if b.kind == "function":
                assert isinstance(b.node, ast.FunctionDef) and b.mod is not None
                body = [s for s in b.node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                params = [a.arg for a in b.node.args.args]
                if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None and len(params) == len(node.args):
                    new_env = {p: ev(a) for p, a in zip(params, node.args)}
                    return self.eval(body[0].value, b.mod, None, new_env, depth + 1)
        raise Unresolvable(f"{where(mod, node)}: {ast.unparse(node)}")

    def _binding(self, b: Binding, depth: int) -> list[str]:
        if b.kind == "value" and b.mod is not None and b.node is not None:
            vals = self.eval(b.node, b.mod, None, None, depth + 1)  # type: ignore[arg-type]
            self.wheel.sources.add(b.mod.path)
            return vals
        raise Unresolvable(f"{b.qualname} ({b.kind})")

    def _local(self, name: str, mod: Module, fn: ast.AST, depth: int) -> list[str] | None:
        """Values of a local variable: plain assignments or a loop target."""
        assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        if name in {a.arg for a in fn.args.args + fn.args.kwonlyargs}:
            raise Unresolvable(f"{mod.path}:{fn.name}: {name} is a parameter")
        values: list[str] = []
        found = False
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        found = True
                        values += self.eval(node.value, mod, fn, None, depth + 1)
            elif isinstance(node, (ast.For, ast.comprehension)):
                target = node.target
                idx = None
                if isinstance(target, ast.Name) and target.id == name:
                    idx = -1
                elif isinstance(target, ast.Tuple):
                    for i, elt in enumerate(target.elts):
                        if isinstance(elt, ast.Name) and elt.id == name:
                            idx = i
                if idx is None:
                    continue
                found = True
                for seq in self._sequences(node.iter, mod, fn):
                    for item in seq:
                        if idx == -1:
                            values += self.eval(item, mod, fn, None, depth + 1)
                        elif isinstance(item, ast.Tuple):
                            values += self.eval(item.elts[idx], mod, fn, None, depth + 1)
                        else:
                            raise Unresolvable(f"{where(mod, item)}: loop item {ast.unparse(item)}")
        return values if found else None

    def _sequences(self, it: ast.expr, mod: Module, fn: ast.AST) -> list[list[ast.expr]]:
        if isinstance(it, (ast.List, ast.Tuple)):
            return [list(it.elts)]
        if isinstance(it, ast.Name):
            out = []
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == it.id for t in node.targets):
                    if not isinstance(node.value, (ast.List, ast.Tuple)):
                        raise Unresolvable(f"{where(mod, node)}: loop over {ast.unparse(node.value)}")
                    out.append(list(node.value.elts))
            if out:
                return out
        raise Unresolvable(f"{where(mod, it)}: loop over {ast.unparse(it)}")


class MetricExtractor:
    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self.sev = StringEval(wheel)
        self.metrics: dict[str, str] = {}  # registered name -> type
        self.origin: dict[str, str] = {}
        self.used_pass_through: set[tuple[str, str]] = set()
        self.used_external: set[tuple[str, str]] = set()
        self.vllm_strings: dict[str, str] = {}

    def run(self) -> dict[str, str]:
        self.check_convention()
        for path in self.wheel.py_files():
            text = self.wheel.text(path)
            if "vllm:" in text:
                for m in VLLM_STRING_RE.finditer(text):
                    self.vllm_strings.setdefault(m.group(1), path)
            markers = ("prometheus_client", *CLS_ATTRS, *(m + "(" for m in METADATA_TYPES))
            if not any(k in text for k in markers):
                continue
            self.scan(self.wheel.module_at(path, record=False))
        for key in PASS_THROUGH_METRIC_SITES:
            if key not in self.used_pass_through:
                fail(f"reviewed pass-through metric site {key} no longer exists; review the allowlist")
        for key in EXTERNAL_METADATA_SITES:
            if key not in self.used_external:
                fail(f"reviewed external metric site {key} no longer exists; review the allowlist")
        if len(self.metrics) < 30:
            fail(f"only {len(self.metrics)} metrics found")
        for path in EXPECTED_METRIC_SOURCES:
            if not any(o.startswith(path + ":") for o in self.origin.values()):
                fail(f"{path}: registered no metric")
        exposed = self.exposed()
        self.check_completeness(exposed)
        return exposed

    def check_convention(self) -> None:
        # KV-offload metrics are declared as {name: Offloading<Type>Metadata(...)}:
        # the metadata classes must be exactly the ones this script maps to types.
        base = self.wheel.module("vllm.v1.kv_offload.base")
        declared = set()
        for node in base.tree.body:
            if isinstance(node, ast.ClassDef) and "OffloadingMetricMetadata" in {ast.unparse(b) for b in node.bases}:
                declared.add(node.name)
        if declared != set(METADATA_TYPES):
            fail(f"vllm/v1/kv_offload/base.py: metric metadata classes are {sorted(declared)}, "
                 f"this script knows {sorted(METADATA_TYPES)}")
        mod = self.wheel.module("vllm.v1.metrics.loggers")
        cls = mod.resolve("PrometheusStatLogger")
        if cls.kind != "class":
            fail("loggers.py: PrometheusStatLogger not found")
        for attr, kind in CLS_ATTRS.items():
            b = class_attribute(cls, attr)
            if b is None or b.node is None:
                fail(f"PrometheusStatLogger.{attr} not found")
            assert b is not None and b.node is not None and b.mod is not None
            q = b.mod.qualify(b.node).qualname  # type: ignore[arg-type]
            if PROM_TYPES.get(q.rsplit(".", 1)[-1]) != kind or not q.startswith("prometheus_client"):
                fail(f"PrometheusStatLogger.{attr} is {q}, expected a prometheus_client {kind}")

    def add(self, name: str, kind: str, origin: str) -> None:
        if kind not in {"counter", "gauge", "histogram"}:
            fail(f"{origin}: metric {name} has unsupported type {kind}")
        if name in self.metrics and self.metrics[name] != kind:
            fail(f"metric {name} registered as {self.metrics[name]} ({self.origin[name]}) and {kind} ({origin})")
        self.metrics.setdefault(name, kind)
        self.origin.setdefault(name, origin)

    def scan(self, mod: Module) -> None:
        aliases: dict[str, str] = {}
        prom_modules: set[str] = set()
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "prometheus_client":
                for a in node.names:
                    if a.name in PROM_TYPES:
                        aliases[a.asname or a.name] = PROM_TYPES[a.name]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "prometheus_client":
                        prom_modules.add(a.asname or a.name)

        def ctor_kind(func: ast.expr) -> str | None:
            if isinstance(func, ast.Name) and func.id in aliases:
                return aliases[func.id]
            if isinstance(func, ast.Attribute):
                if isinstance(func.value, ast.Name) and func.value.id in prom_modules and func.attr in PROM_TYPES:
                    return PROM_TYPES[func.attr]
                if func.attr in CLS_ATTRS:
                    return CLS_ATTRS[func.attr]
            return None

        # every call, with its innermost enclosing function (one pass)
        calls: list[tuple[ast.Call, ast.FunctionDef | ast.AsyncFunctionDef | None]] = []

        def visit(node: ast.AST, fn: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, child)
                    continue
                if isinstance(child, ast.Call):
                    calls.append((child, fn))
                visit(child, fn)

        visit(mod.tree, None)
        # names bound to a metric class inside a function:
        #   metric_cls = self._counter_cls ... metric_cls(**kwargs)
        ctor_locals: dict[ast.AST, set[str]] = {}

        def local_ctors(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
            if fn not in ctor_locals:
                ctor_locals[fn] = {
                    t.id
                    for a in ast.walk(fn)
                    if isinstance(a, ast.Assign) and isinstance(a.value, (ast.Name, ast.Attribute)) and ctor_kind(a.value)
                    for t in a.targets
                    if isinstance(t, ast.Name)
                }
            return ctor_locals[fn]

        contributed = False
        for node, fn in calls:
            fname = fn.name if fn is not None else "<module>"
            kind = ctor_kind(node.func)
            if kind is None and isinstance(node.func, ast.Name) and fn is not None:
                if node.func.id in local_ctors(fn):
                    kind = "dynamic"
            if kind is not None:
                if {k.arg for k in node.keywords} & {"namespace", "subsystem", "unit"}:
                    fail(f"{where(mod, node)}: namespace/subsystem/unit are not supported")
                name_expr = next((k.value for k in node.keywords if k.arg == "name"), None)
                if name_expr is None and node.args:
                    name_expr = node.args[0]
                try:
                    if name_expr is None or kind == "dynamic":
                        raise Unresolvable("name passed through **kwargs")
                    names = self.sev.eval(name_expr, mod, fn)
                except Unresolvable as e:
                    key = (mod.path, fname)
                    if key in PASS_THROUGH_METRIC_SITES:
                        self.used_pass_through.add(key)
                        continue
                    fail(f"{where(mod, node)}: cannot resolve the metric name ({e})")
                for n in names:
                    self.add(n, kind, where(mod, node))
                contributed = True
                continue
            if isinstance(node.func, ast.Name) and node.func.id in METADATA_TYPES:
                kind = METADATA_TYPES[node.func.id]
                parent = mod.parents.get(node)
                key_expr: ast.expr | None = None
                if isinstance(parent, ast.Dict):
                    idx = next(i for i, v in enumerate(parent.values) if v is node)
                    key_expr = parent.keys[idx]
                elif isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Subscript):
                    key_expr = parent.targets[0].slice
                if key_expr is None:
                    fail(f"{where(mod, node)}: {node.func.id}(...) outside a name -> definition mapping")
                assert key_expr is not None
                try:
                    names = self.sev.eval(key_expr, mod, fn)
                except Unresolvable as e:
                    key = (mod.path, fname)
                    if key in EXTERNAL_METADATA_SITES:
                        self.used_external.add(key)
                        continue
                    fail(f"{where(mod, node)}: cannot resolve the metric name ({e})")
                for n in names:
                    self.add(n, kind, where(mod, node))
                contributed = True
        if contributed:
            self.wheel.sources.add(mod.path)

    def exposed(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, kind in self.metrics.items():
            if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
                fail(f"{self.origin[name]}: invalid metric name {name!r}")
            if kind == "counter":
                # prometheus_client._build_full_name strips a trailing _total
                # from counters; the sample is exposed as <name>_total.
                base = name[: -len("_total")] if name.endswith("_total") else name
                exp = base + "_total"
            else:
                exp = name
            if exp in out and out[exp] != kind:
                fail(f"exposed name {exp} is both {out[exp]} and {kind}")
            out[exp] = kind
        return out

    def check_completeness(self, exposed: dict[str, str]) -> None:
        """Every "vllm:<name>" string constant must be a metric we found."""
        series: set[str] = set()
        for name, kind in exposed.items():
            series.add(name)
            if kind == "counter":
                series.add(name[: -len("_total")])
            if kind == "histogram":
                series |= {name + s for s in ("_bucket", "_sum", "_count")}
        missing = {
            s: p for s, p in self.vllm_strings.items()
            if s not in series and s not in NON_METRIC_VLLM_STRINGS and not s.startswith("vllm::")
        }
        if missing:
            lines = "\n".join(f"  {s}  ({p})" for s, p in sorted(missing.items()))
            fail("these vllm: string constants match no registered metric; a "
                 f"registration was probably missed:\n{lines}")


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(version: str, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux_2_28_x86_64", "--python-version", "3.12",
        "--implementation", "cp", "--disable-pip-version-check",
        f"vllm=={version}", "-d", str(dest),
    ]
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    wheels = sorted(dest.glob(f"vllm-{version}-*.whl"))
    if len(wheels) != 1:
        fail(f"expected one vllm {version} wheel from pip, got {[w.name for w in wheels]}")
    return wheels[0]


def extract(wheel_path: Path, explain: bool = False) -> dict[str, object]:
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
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", type=Path, help="a vllm wheel already on disk")
    src.add_argument("--version", help="download vllm==VERSION from PyPI with pip")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--explain", action="store_true",
                    help="print every option and metric with where it comes from (stderr)")
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
        print(f"extract_vllm_surface: {e}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(data), encoding="utf-8")
    print(f"wrote {args.out}: {len(data['flags'])} flags, {len(data['metrics'])} metrics", file=sys.stderr)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
