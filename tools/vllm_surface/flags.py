"""The long options ``vllm serve`` accepts, read statically from the argparse code of the wheel.

:class:`FlagExtractor` starts at ``ServeSubcommand.subparser_init`` (``vllm/entrypoints/cli/serve.py``) and walks
every function that receives the parser: ``make_arg_parser`` (``vllm/entrypoints/common/cli_args.py``), the
``FrontendArgs`` dataclass fields that become ``--field-name``, ``EngineArgs.add_cli_args``
(``vllm/engine/arg_utils.py``, where ``**get_kwargs(Config)["field"]`` takes its action from the field's type,
see :mod:`.type_hints`). ``FlexibleArgumentParser`` (``vllm/utils/argparse_utils.py``) registers
``EnableDisableAction`` for ``BooleanOptionalAction``, so a boolean ``--enable-x`` is also accepted as
``--no-enable-x`` and ``--disable-x``. Example::

    FlagExtractor(Wheel(path)).run()  # ["--api-key", ..., "--disable-prefix-caching", ...]
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tools.vllm_surface.errors import Unresolvable, fail, where
from tools.vllm_surface.sources import Binding, Module, Wheel, class_attribute, class_base_names, class_bases, method
from tools.vllm_surface.type_hints import dataclass_fields, field_action, type_atoms

# Reviewed exceptions and expectations: each was read by a person.

#: Files that must each contribute options in a healthy extraction.
EXPECTED_FLAG_SOURCES = ("vllm/entrypoints/common/cli_args.py", "vllm/engine/arg_utils.py")

#: Calls whose result is the parser or one of its argument groups.
PARSER_FACTORIES = {"add_argument_group", "add_mutually_exclusive_group", "add_parser", "add_cli_args"}

#: Functions that receive the serve parser but are known not to add options.
PARSER_CALLS_WITHOUT_OPTIONS = {
    # checked separately: no platform's hook calls add_argument
    "pre_register_and_update",
}


@dataclass
class Option:
    """One ``add_argument``: its option strings, its action and where it was found."""

    strings: list[str]
    action: str  # "BooleanOptionalAction" or anything else
    origin: str


@dataclass
class FieldRef:
    """``get_kwargs(cls)[name]``: the kwargs of one config-dataclass field."""

    cls: Binding
    name: str


@dataclass
class ParserModel:
    """What FlexibleArgumentParser does with BooleanOptionalAction."""

    inverse_prefixes: dict[str, str] = field(default_factory=dict)


def classify_action(expr: ast.expr, mod: Module) -> str:
    """An ``action=`` value: a string action, ``BooleanOptionalAction`` or ``custom:<class>``."""
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
    """Collects the ``vllm serve`` options of a wheel (``options``) and expands them to accepted flags (``run``)."""

    def __init__(self, wheel: Wheel):
        self.wheel = wheel
        self.options: list[Option] = []
        self.parser_model = ParserModel()

    # -- FlexibleArgumentParser ----------------------------------------------
    def read_parser_model(self) -> None:
        """Read which inverse prefixes ``FlexibleArgumentParser``'s boolean action adds (``--enable-``,
        ``--disable-``)."""
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
                    for k, v in zip(st.value.keys, st.value.values, strict=True)
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
        """Every long option ``vllm serve`` accepts, sorted; fails on anything not understood."""
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
            c
            for c in ast.walk(init.node)
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
        """Fail unless ``vllm/entrypoints/cli/main.py`` still builds a FlexibleArgumentParser with the serve
        sub-command."""
        main = self.wheel.module("vllm.entrypoints.cli.main")
        src = ast.unparse(main.tree)
        if "FlexibleArgumentParser(" not in src or ".add_subparsers(" not in src:
            fail("cli/main.py: top-level parser is no longer a FlexibleArgumentParser with sub-parsers")
        if "parser_class" in src:
            fail("cli/main.py: sub-parsers use a custom parser_class")
        if "vllm.entrypoints.cli.serve" not in src:
            fail("cli/main.py: the serve sub-command module is not registered")

    def check_platform_hooks(self) -> None:
        """Fail if a platform's ``pre_register_and_update`` hook adds arguments (or no hook exists)."""
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
        """Record the options a function adds to the parsers named ``parser_names`` (and the ones it creates)."""
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
        for assign in ast.walk(node):
            if (
                isinstance(assign, ast.Assign)
                and len(assign.targets) == 1
                and isinstance(assign.targets[0], ast.Subscript)
            ):
                tgt = assign.targets[0]
                key = tgt.slice
                if isinstance(key, ast.Constant) and key.value in {"action", "option_strings", "flags"}:
                    ref = self._kwargs_ref(tgt.value, mod, kwargs_vars, field_vars)
                    if not isinstance(ref, FieldRef):
                        fail(f"{where(mod, assign)}: cannot tell which argument {ast.unparse(tgt)} changes")
                    if key.value != "action":
                        fail(f"{where(mod, assign)}: unsupported change of {key.value}")
                    overrides[(ref.cls.qualname, ref.name)] = classify_action(assign.value, mod)
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
                        fail(
                            f"{where(mod, call)}: the parser is passed to {ast.unparse(func)}(), "
                            "which this script does not know"
                        )

    def walk_add_cli_args(self, cls: Binding) -> None:
        """Record the options of ``cls.add_cli_args``: dataclass fields as ``--field-name``, or its add_argument
        calls."""
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
            opts = [*extra.get(name, []), f"--{name.replace('_', '-')}"]
            self.options.append(Option(opts, action, origin))

    def _customize_statement(
        self, n: ast.AST, mod: Module, actions: dict[str, str], extra: dict[str, list[str]]
    ) -> None:
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

    def _kwargs_ref(
        self, expr: ast.expr, mod: Module, kwargs_vars: dict[str, Binding], field_vars: dict[str, FieldRef]
    ) -> Binding | FieldRef | None:
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
                return FieldRef(base, name)
        return None

    def _add_argument(
        self,
        call: ast.Call,
        mod: Module,
        kwargs_vars: dict[str, Binding],
        field_vars: dict[str, FieldRef],
        overrides: dict[tuple[str, str], str],
    ) -> None:
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
                for k, v in zip(expr.keys, expr.values, strict=True):
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
        """The accepted long options: option strings plus the negations boolean actions add; fails on duplicates."""
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
                            strings.append(inverse + s[len(prefix) :])
            for s in strings:
                if s in accepted:
                    fail(
                        f"option {s} registered twice ({accepted[s]} and {opt.origin}): "
                        "argparse would refuse to build this parser"
                    )
                accepted[s] = opt.origin
        flags = sorted(s for s in accepted if s.startswith("--"))
        return flags
