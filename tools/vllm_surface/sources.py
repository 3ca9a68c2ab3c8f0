"""The release archive and static name resolution in its Python sources.

:class:`Wheel` reads a vLLM wheel (a zip) without unpacking or importing it and records which files the result
depended on (``sources`` in the surface JSON). :class:`Module` is one parsed ``vllm/...`` file; ``resolve`` and
``qualify`` follow module-level bindings, ``from``/``import`` statements (into other wheel modules, or to an
``external`` qualified name), star imports, and class attributes through the bases, e.g.::

    Wheel(path).module("vllm.v1.metrics.loggers").resolve("PrometheusStatLogger")  # Binding("class", ...)
"""

from __future__ import annotations

import ast
import builtins
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tools.vllm_surface.errors import Unresolvable, fail, where


class Wheel:
    """A vLLM wheel opened as a zip: its file names, parsed modules and the files the result depends on.

    ``sources`` collects wheel paths as extraction consults them; ``module``/``module_at`` add to it unless
    ``record=False``. Example: ``Wheel(Path("vllm-0.33.0-...whl")).module("vllm.entrypoints.cli.serve")``.
    """

    def __init__(self, path: Path):
        self.path = path
        self.zf = zipfile.ZipFile(path)
        self.names = set(self.zf.namelist())
        self._modules: dict[str, Module] = {}
        self.sources: set[str] = set()
        #: while True, every module consulted to resolve a name is a source
        self.recording = False

    def text(self, name: str) -> str:
        """The UTF-8 text of the wheel member ``name`` (``vllm/engine/arg_utils.py``)."""
        return self.zf.read(name).decode("utf-8")

    def path_of(self, modname: str) -> str | None:
        """The wheel path of module ``modname`` (``a/b.py`` or ``a/b/__init__.py``), or None."""
        base = modname.replace(".", "/")
        for cand in (base + ".py", base + "/__init__.py"):
            if cand in self.names:
                return cand
        return None

    def module(self, modname: str, record: bool = True) -> Module:
        """The parsed module ``modname``; fails if the wheel does not contain it."""
        path = self.path_of(modname)
        if path is None:
            fail(f"module {modname} is not in the wheel")
        return self.module_at(path, record=record)

    def module_at(self, path: str, record: bool = True) -> Module:
        """The parsed module at wheel path ``path`` (parsed once, then cached)."""
        if record:
            self.sources.add(path)
        if path not in self._modules:
            modname = path[: -len(".py")].replace("/", ".")
            if modname.endswith(".__init__"):
                modname = modname[: -len(".__init__")]
            self._modules[path] = Module(self, path, modname, ast.parse(self.text(path), path))
        return self._modules[path]

    def py_files(self) -> list[str]:
        """Every ``vllm/**.py`` path in the wheel, sorted."""
        return sorted(n for n in self.names if n.startswith("vllm/") and n.endswith(".py"))

    def dist_info_version(self) -> str:
        """The ``Version:`` of the wheel's single ``*.dist-info/METADATA``."""
        metas = [n for n in self.names if n.endswith(".dist-info/METADATA")]
        if len(metas) != 1:
            fail(f"expected one METADATA file in the wheel, found {metas}")
        for line in self.text(metas[0]).splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        fail("no Version: line in the wheel METADATA")


@dataclass
class Binding:
    """What a name refers to: a class, function or value (with its module and node), an external or a module."""

    kind: str  # class | function | value | external | module
    mod: Module | None = None
    node: ast.AST | None = None
    qualname: str = ""


class Module:
    """One parsed Python file of the wheel, with module-level name resolution."""

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
        """Each node's parent node in this module's tree."""
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
        """The absolute module name a (possibly relative) ``from ... import`` refers to."""
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
        value: ast.expr | None = None
        if isinstance(st, ast.Assign):
            targets, value = st.targets, st.value
        elif isinstance(st, ast.AnnAssign) and st.value is not None:
            targets, value = [st.target], st.value
        if value is not None and any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return Binding("value", cls.mod, value, f"{cls.qualname}.{attr}")
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and st.name == attr:
            kind = "class" if isinstance(st, ast.ClassDef) else "function"
            return Binding(kind, cls.mod, st, f"{cls.qualname}.{attr}")
    for base in class_bases(cls):
        found = class_attribute(base, attr)
        if found is not None:
            return found
    return None


def class_bases(cls: Binding) -> list[Binding]:
    """The direct bases of ``cls`` that resolve to classes of the wheel (unresolvable bases are skipped)."""
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
    """The method ``name`` of ``cls`` or a base; fails if there is none."""
    found = class_attribute(cls, name)
    if found is None or found.kind != "function":
        fail(f"{cls.qualname}.{name} is not defined")
    assert found is not None
    return found
