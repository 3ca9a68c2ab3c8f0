"""The conventions every component of the library follows, checked over every ``pulumi.ComponentResource`` subclass
in ``vllm_infra`` (found by importing every module, not from a list), each rule by one function that names the
offender. ``tests/components/fixtures`` holds fake components that break one rule each, so every rule is seen to fail.

Rules:

- the type token is ``vllm-infra:<module>:<Name>``, ``<module>`` the defining module's last name;
- the constructor takes one ``args`` whose type is a dataclass, and every field of it has an attribute docstring
  (a string literal right after the field);
- the class has a docstring with an example (``Example::`` or a doctest);
- the component records its inputs: ``self.args = args`` in ``__init__``, and ``args`` is a documented attribute;
- it calls ``self.register_outputs`` in ``__init__``;
- no module builds a child's options by hand (``ResourceOptions(parent=...)``): children get
  ``vllm_infra.components.options.child_options``, so the component's ``depends_on`` reaches them; a child that must
  not wait for it (``child_options(self, None, ...)``) says why in a comment right above.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import io
import pkgutil
import textwrap
import tokenize
import types
import typing
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest

import vllm_infra
from tests.components.fixtures import conforming, violating
from vllm_infra.balancers import strategy_names
from vllm_infra.components.secrets import InferenceSecrets, InferenceSecretsArgs
from vllm_infra.offline.runner import run_program
from vllm_infra.offline.stackfile import StackFile

#: The one module allowed to build ``ResourceOptions(parent=...)``.
OPTIONS_MODULE = "vllm_infra.components.options"
#: Lines above a ``child_options(self, None, ...)`` call in which the comment saying why must start.
EXPLANATION_LINES = 3


# Discovery ------------------------------------------------------------------------------------------------------------
def library_modules() -> list[types.ModuleType]:
    """Every module of ``vllm_infra`` except ``__main__`` ones (importing those runs the Pulumi program)."""
    # The balancer registry loads the built-in strategies first, as every library caller does: importing a
    # strategy module on its own before that registers it after the others, and the order of the choices in
    # configuration messages would then depend on which test ran first.
    strategy_names()
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(vllm_infra.__path__, "vllm_infra.")
        if not info.name.endswith("__main__")
    ]


def components_in(module: types.ModuleType) -> list[type[pulumi.ComponentResource]]:
    """The ``ComponentResource`` subclasses ``module`` defines (not those it imports)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, pulumi.ComponentResource)
        and value is not pulumi.ComponentResource
        and value.__module__ == module.__name__
    ]


LIBRARY_MODULES = library_modules()
LIBRARY_COMPONENTS = [component for module in LIBRARY_MODULES for component in components_in(module)]


# Helpers --------------------------------------------------------------------------------------------------------------
def _class_node(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef), cls
    return node


def _init_node(component: type) -> ast.FunctionDef | None:
    for statement in _class_node(component).body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            return statement
    return None


def _is_self_attribute(node: ast.AST, attribute: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == attribute
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def documented_attributes(cls: type) -> set[str]:
    """Names of the annotated attributes in ``cls``'s body (and its bases') followed by a non-empty string literal."""
    documented: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or klass.__module__.startswith("pulumi"):
            continue
        body = _class_node(klass).body
        for statement, following in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and following.value.value.strip()
            ):
                documented.add(statement.target.id)
    return documented


def args_type(component: type) -> type | None:
    """The class of the constructor's ``args`` parameter (``X | None`` unwrapped), or None when there is none."""
    if "args" not in inspect.signature(component.__init__).parameters:
        return None
    hint = typing.get_type_hints(component.__init__).get("args")
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        classes = [option for option in typing.get_args(hint) if option is not type(None)]
        hint = classes[0] if len(classes) == 1 else None
    return hint if isinstance(hint, type) else None


# Rules: each returns the problems of one component (or module), naming it ---------------------------------------------
def type_token_problems(component: type) -> list[str]:
    """The token passed to ``super().__init__`` must be ``vllm-infra:<module>:<Name>``."""
    expected = f"vllm-infra:{component.__module__.rsplit('.', 1)[-1]}:{component.__name__}"
    init = _init_node(component)
    tokens = [
        call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else None
        for call in ast.walk(init or ast.Module(body=[], type_ignores=[]))
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "__init__"
        and isinstance(call.func.value, ast.Call)
        and _callee_name(call.func.value) == "super"
    ]
    if tokens != [expected]:
        return [f"{component.__qualname__}: type token {tokens or 'missing'}, expected {expected!r}"]
    return []


def args_problems(component: type) -> list[str]:
    """The constructor takes an ``args`` parameter typed with a dataclass."""
    args = args_type(component)
    if args is None:
        return [f"{component.__qualname__}: the constructor takes no typed `args`"]
    if not dataclasses.is_dataclass(args):
        return [f"{component.__qualname__}: its args type {args.__qualname__} is not a dataclass"]
    return []


def field_doc_problems(component: type) -> list[str]:
    """Every field of the Args dataclass has an attribute docstring."""
    args = args_type(component)
    if args is None or not dataclasses.is_dataclass(args):
        return []  # args_problems reports it
    documented = documented_attributes(args)
    return [
        f"{component.__qualname__}: {args.__qualname__}.{field.name} has no attribute docstring"
        for field in dataclasses.fields(args)
        if field.name not in documented
    ]


def docstring_problems(component: type) -> list[str]:
    """The class has a docstring that shows an example."""
    doc = component.__doc__ or ""
    if "Example::" not in doc and ">>>" not in doc:
        return [f"{component.__qualname__}: the class docstring has no example (`Example::` or a doctest)"]
    return []


def recorded_inputs_problems(component: type) -> list[str]:
    """``__init__`` keeps ``self.args = args``, and ``args`` is a documented, annotated attribute of the class."""
    init = _init_node(component)
    assigns = [
        node
        for node in ast.walk(init or ast.Module(body=[], type_ignores=[]))
        if isinstance(node, ast.Assign)
        and any(_is_self_attribute(target, "args") for target in node.targets)
        and isinstance(node.value, ast.Name)
        and node.value.id == "args"
    ]
    problems = []
    if not assigns:
        problems.append(f"{component.__qualname__}: __init__ does not record `self.args = args`")
    if "args" not in documented_attributes(component):
        problems.append(f"{component.__qualname__}: `args` is not an annotated attribute with a docstring")
    return problems


def register_outputs_problems(component: type) -> list[str]:
    """``__init__`` calls ``self.register_outputs``."""
    init = _init_node(component)
    calls = [
        node
        for node in ast.walk(init or ast.Module(body=[], type_ignores=[]))
        if isinstance(node, ast.Call) and _is_self_attribute(node.func, "register_outputs")
    ]
    return [] if calls else [f"{component.__qualname__}: __init__ does not call self.register_outputs"]


def child_options_problems(module: types.ModuleType) -> list[str]:
    """No ``ResourceOptions(parent=...)`` outside ``child_options``; ``child_options(x, None, ...)`` (a child that
    does not wait for the component's ``depends_on``) has a comment within the lines just above it."""
    if module.__name__ == OPTIONS_MODULE:
        return []
    source = inspect.getsource(module)
    tree = ast.parse(source)
    comment_lines = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    problems = []
    for top in tree.body:
        where = f"{module.__name__}.{getattr(top, 'name', '<module>')}"
        calls = sorted((node for node in ast.walk(top) if isinstance(node, ast.Call)), key=lambda call: call.lineno)
        for node in calls:
            name = _callee_name(node)
            if name == "ResourceOptions" and any(keyword.arg == "parent" for keyword in node.keywords):
                problems.append(f"{where} (line {node.lineno}): ResourceOptions(parent=...) instead of child_options")
            if (
                name == "child_options"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value is None
                and not comment_lines & set(range(node.lineno - EXPLANATION_LINES, node.lineno + 1))
            ):
                problems.append(
                    f"{where} (line {node.lineno}): child_options(..., None) without a comment saying why the child "
                    "does not wait for the component's depends_on"
                )
    return problems


COMPONENT_RULES: list[Callable[[type], list[str]]] = [
    type_token_problems,
    args_problems,
    field_doc_problems,
    docstring_problems,
    recorded_inputs_problems,
    register_outputs_problems,
]


# The library ----------------------------------------------------------------------------------------------------------
def test_discovery_finds_the_library_components() -> None:
    # Written out here (not derived from the code): a discovery that found nothing would make every rule pass.
    expected = {
        "Autoscaler", "ClusterAddons", "GlobalLoadBalancer", "GpuNodeGroup", "InferenceSecrets", "LoadBalancer",
        "ModelCache", "NetworkPolicies", "NvidiaDevicePlugin", "Observability", "RegionalCertificate",
        "RegionalCluster", "VllmDeployment",
    }  # fmt: skip
    assert expected <= {component.__name__ for component in LIBRARY_COMPONENTS}


@pytest.mark.parametrize("rule", COMPONENT_RULES, ids=lambda rule: rule.__name__)
def test_every_library_component_follows(rule: Callable[[type], list[str]]) -> None:
    problems = [problem for component in LIBRARY_COMPONENTS for problem in rule(component)]
    assert problems == [], "\n".join(problems)


def test_no_library_module_builds_child_options_by_hand() -> None:
    problems = [problem for module in LIBRARY_MODULES for problem in child_options_problems(module)]
    assert problems == [], "\n".join(problems)


def test_a_component_keeps_the_args_it_was_built_from() -> None:
    built: list[InferenceSecrets] = []
    args = InferenceSecretsArgs(namespace="vllm", api_key="not-a-real-key")

    def program() -> None:
        built.append(InferenceSecrets("secrets", args))

    run_program(program, StackFile(stack="t", path=Path("t"), project="vllm-infra", config={}, secret_keys=[]))
    assert built[0].args is args


#: Children that do not wait for their component's ``depends_on``, by design (the comment at their
#: ``child_options(self, None, ...)`` call says why): ClusterAddons' IAM roles, account-wide, need nothing of the
#: cluster the component waits for.
DETACHED_CHILDREN = {
    ("vllm-infra:cluster_addons:ClusterAddons", "aws:iam/role:Role"),
    ("vllm-infra:cluster_addons:ClusterAddons", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
}


def test_in_every_shipped_plan_children_wait_for_what_their_component_waits_for(shipped_plans) -> None:
    # What child_options is for, seen in the plans: a child that missed it (the Grafana dashboard ConfigMap did,
    # and could be created before the `monitoring` namespace the stack's add-ons make) is named here.
    problems = []
    for stack, plan in shipped_plans.items():
        for component in plan.resources:
            if not component.type.startswith("vllm-infra:") or not component.depends_on:
                continue
            for child in plan.resources:
                if child.parent != component.urn or (component.type, child.type) in DETACHED_CHILDREN:
                    continue
                missing = set(component.depends_on) - set(child.depends_on)
                if missing:
                    names = sorted(urn.rsplit("::", 1)[-1] for urn in missing)
                    problems.append(f"{stack}: {child.type} {child.name} does not wait for {', '.join(names)}")
    assert problems == [], "\n".join(problems)


# The rules can fail ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "offenders"),
    [
        (type_token_problems, {violating.WrongTypeToken}),
        (args_problems, {violating.ArgsNotADataclass, violating.UntypedArgs}),
        (field_doc_problems, {violating.UndocumentedField}),
        (docstring_problems, {violating.NoExample}),
        (recorded_inputs_problems, {violating.ForgetsItsArgs}),
        (register_outputs_problems, {violating.NoRegisterOutputs}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_rule_names_the_fake_components_that_break_it(
    rule: Callable[[type], list[str]], offenders: set[type]
) -> None:
    flagged = {component for component in components_in(violating) if rule(component)}
    assert flagged == offenders
    for offender in offenders:
        assert all(problem.startswith(f"{offender.__qualname__}:") for problem in rule(offender))


def test_the_undocumented_field_is_named() -> None:
    assert field_doc_problems(violating.UndocumentedField) == [
        "UndocumentedField: UndocumentedFieldArgs.replicas has no attribute docstring"
    ]


def test_hand_made_and_unexplained_child_options_are_named() -> None:
    problems = child_options_problems(violating)
    assert len(problems) == 2, problems
    assert problems[0].startswith("tests.components.fixtures.violating.HandMadeChildOptions (line ")
    assert "ResourceOptions(parent=...)" in problems[0]
    assert problems[1].startswith("tests.components.fixtures.violating.UnexplainedDetachedChild (line ")
    assert "without a comment" in problems[1]


@pytest.mark.parametrize("rule", COMPONENT_RULES, ids=lambda rule: rule.__name__)
def test_a_conforming_fake_component_passes(rule: Callable[[type], list[str]]) -> None:
    # The other half of the proof: the rules do not fail everything.
    assert components_in(conforming)
    assert [problem for component in components_in(conforming) for problem in rule(component)] == []
    assert child_options_problems(conforming) == []
