"""The set of strings an expression can take, evaluated statically (metric names).

:class:`StringEval` follows string literals, f-strings and ``+`` of resolvable parts, both branches of ``a if c
else b``, module and class constants (through imports), local assignments, loops over literal lists (or local
variables bound to them), and one-line helper functions ``def f(x): return PREFIX + x``. Anything else is
:class:`~.errors.Unresolvable`. Example: with ``PREFIX = "vllm:"``, ``PREFIX + "running" if flag else
"vllm:waiting"`` evaluates to ``["vllm:running", "vllm:waiting"]``.
"""

from __future__ import annotations

import ast

from tools.vllm_surface.errors import Unresolvable, where
from tools.vllm_surface.sources import Binding, Module, Wheel


class StringEval:
    """Evaluate an expression to the set of strings it can take."""

    def __init__(self, wheel: Wheel):
        self.wheel = wheel

    def eval(
        self, node: ast.expr, mod: Module, fn: ast.AST | None, env: dict[str, list[str]] | None = None, depth: int = 0
    ) -> list[str]:
        """Every value ``node`` (in ``mod``, inside function ``fn`` if any) can take; ``env`` binds parameters."""
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
                if (
                    len(body) == 1
                    and isinstance(body[0], ast.Return)
                    and body[0].value is not None
                    and len(params) == len(node.args)
                ):
                    new_env = {p: ev(a) for p, a in zip(params, node.args, strict=True)}
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
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == it.id for t in node.targets
                ):
                    if not isinstance(node.value, (ast.List, ast.Tuple)):
                        raise Unresolvable(f"{where(mod, node)}: loop over {ast.unparse(node.value)}")
                    out.append(list(node.value.elts))
            if out:
                return out
        raise Unresolvable(f"{where(mod, it)}: loop over {ast.unparse(it)}")
