#!/usr/bin/env python3
"""Regenerate the vendored Pulumi provider schema pieces in ``tests/data/provider-schemas/``.

The test suite checks every resource the stack program registers against its provider's published Pulumi schema
(``tests/provider_schema/``). Full schemas are large (pulumi-aws's is tens of MB), so only the pieces the library
uses are vendored: the resources and functions named in ``selection.json``, every object and enum type they
reference, the provider's own config inputs, and the list of every resource and function token the provider has.

Two sources, one output shape (a subset of the Pulumi package schema format, descriptions dropped):

``schema FILE``
    a full ``schema.json`` (``provider/cmd/pulumi-resource-<name>/schema.json`` at the provider's release tag).

``sdk WHEEL_OR_DIR``
    the provider's published Python SDK (a ``pulumi_<name>-X.whl`` from PyPI, or its unpacked package directory).
    The SDK is generated from that same schema by Pulumi's code generator, and carries it: every resource class is
    decorated with its type token; its ``XArgs.__init__`` lists the inputs, required ones without a default; getters
    name the wire (camelCase) property; annotations give the types (``str``/``int``/``float``/``bool``,
    ``Sequence``, ``Mapping``, ``Union``, references to other ``@pulumi.input_type`` classes and to ``Enum``s with
    their values); ``const`` inputs (a Kubernetes ``apiVersion``/``kind``) are set to literals in ``_internal_init``;
    functions name their token in ``pulumi.runtime.invoke`` and their wire argument names in ``__args__[...]``.
    The code is parsed, never imported. Object type tokens are not printed in the SDK and are rebuilt from the
    module and class name (``aws:eks/NodeGroupScalingConfig:NodeGroupScalingConfig``); resource, function and enum
    tokens are the SDK's own.

Example::

    pip download --no-deps pulumi-aws==7.51.1 -d /tmp/wheels
    scripts/extract_provider_schema.py sdk /tmp/wheels/pulumi_aws-7.51.1-py3-none-any.whl \\
        --selection tests/data/provider-schemas/selection.json --out tests/data/provider-schemas/aws.json
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRIMITIVES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
ANY_REF = "pulumi.json#/Any"
TYPE_REF_PREFIX = "#/types/"


# --------------------------------------------------------------------------------------------------------------------
# Subsetting a package schema (either source ends here)


def referenced_types(node: Any) -> Iterator[str]:
    """Every type token a schema node refers to through ``$ref: "#/types/<token>"`` (recursively)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(TYPE_REF_PREFIX):
            yield ref.removeprefix(TYPE_REF_PREFIX)
        for value in node.values():
            yield from referenced_types(value)
    elif isinstance(node, list):
        for item in node:
            yield from referenced_types(item)


_VALID_VALUES = re.compile(r"Valid values(?: are)?:?\s+(?P<sentence>.*?)(?:\.\s|\.$|\n|$)")
_BACKTICKED = re.compile(r"`([^`]+)`")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.:/+-]+$")
_LIST_GLUE = re.compile(r"\b(and|or)\b|\(default\)")


def documented_values(description: str | None) -> list[str] | None:
    """The values a property's description lists as its only valid ones, or None when it lists none exhaustively.

    Bridged (Terraform) providers validate many string inputs against a fixed list the schema carries only in prose:
    ``"Type of capacity ... Valid values: `ON_DEMAND`, `SPOT`. This provider ..."`` gives ``["ON_DEMAND", "SPOT"]``.
    A sentence that is more than a list of backticked values ("integers between 0 and 256") gives None.
    """
    match = _VALID_VALUES.search(description or "")
    if match is None:
        return None
    sentence = match.group("sentence")
    values = _BACKTICKED.findall(sentence)
    if not values or not all(_PLAIN_VALUE.match(value) for value in values):
        return None
    if re.search(r"[A-Za-z0-9]", _LIST_GLUE.sub("", _BACKTICKED.sub("", sentence))):
        return None
    return values


def with_documented_values(node: dict[str, Any], description: str | None) -> dict[str, Any]:
    """``node`` (a string property, or an array of strings) with ``documentedValues`` from its description."""
    values = documented_values(description)
    if values is None:
        return node
    if node.get("type") == "string" and "const" not in node:
        return {**node, "documentedValues": values}
    if node.get("type") == "array" and node.get("items", {}).get("type") == "string":
        return {**node, "items": {**node["items"], "documentedValues": values}}
    return node


_NON_CONTRACT = {"description", "deprecationMessage", "language", "willReplaceOnChanges", "replaceOnChanges"}
_PROPERTY_MAPS = {"properties", "inputProperties"}


def _strip(node: Any, description: str | None = None) -> Any:
    # Descriptions, examples and per-language hints are most of a schema's size and none of its contract; what a
    # description says a string may be is kept (documentedValues). Property maps keep every name ("description" too).
    if isinstance(node, list):
        return [_strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    stripped = {}
    for key, value in sorted(node.items()):
        if key in _PROPERTY_MAPS and isinstance(value, dict):
            stripped[key] = {name: _strip(prop, prop.get("description")) for name, prop in sorted(value.items())}
        elif key not in _NON_CONTRACT:
            stripped[key] = _strip(value)
    if isinstance(stripped.get("enum"), list):
        # An enum value's `name` is the SDKs' constant name, not part of what the provider accepts.
        stripped["enum"] = [{"value": v["value"]} if isinstance(v, dict) else v for v in stripped["enum"]]
    return with_documented_values(stripped, description)


def subset_schema(schema: dict[str, Any], resources: Iterable[str], functions: Iterable[str]) -> dict[str, Any]:
    """The pieces of a full package ``schema`` that validate inputs of ``resources`` and ``functions``.

    Raises ``KeyError`` naming a token the schema does not have.
    """
    selected: dict[str, Any] = {"name": schema["name"], "version": schema.get("version")}
    selected["resourceTokens"] = sorted(schema.get("resources", {}))
    selected["functionTokens"] = sorted(schema.get("functions", {}))
    provider = schema.get("provider", {})
    selected["provider"] = _strip(
        {"inputProperties": provider.get("inputProperties", {}), "requiredInputs": provider.get("requiredInputs", [])}
    )
    selected["resources"] = {}
    for token in sorted(set(resources)):
        if token not in schema.get("resources", {}):
            raise KeyError(f"{schema['name']} has no resource {token}")
        resource = schema["resources"][token]
        piece = {
            "inputProperties": resource.get("inputProperties", {}),
            "requiredInputs": resource.get("requiredInputs", []),
        }
        if resource.get("isComponent"):
            piece["isComponent"] = True
        selected["resources"][token] = _strip(piece)
    selected["functions"] = {}
    for token in sorted(set(functions)):
        if token not in schema.get("functions", {}):
            raise KeyError(f"{schema['name']} has no function {token}")
        inputs = schema["functions"][token].get("inputs", {})
        outputs = schema["functions"][token].get("outputs", {})
        selected["functions"][token] = _strip(
            {
                "inputs": {"properties": inputs.get("properties", {}), "required": inputs.get("required", [])},
                "outputs": {"properties": outputs.get("properties", {}), "required": outputs.get("required", [])},
            }
        )
    types: dict[str, Any] = {}
    pending = list(referenced_types([selected["provider"], selected["resources"], selected["functions"]]))
    while pending:
        token = pending.pop()
        if token in types:
            continue
        if token not in schema.get("types", {}):
            raise KeyError(f"{schema['name']} refers to a type it does not define: {token}")
        types[token] = _strip(schema["types"][token])
        pending.extend(referenced_types(types[token]))
    selected["types"] = dict(sorted(types.items()))
    return selected


# --------------------------------------------------------------------------------------------------------------------
# Rebuilding the schema from a generated Python SDK


@dataclass
class _Module:
    """One generated source file: its package-relative module path (``apps.v1``) and parsed tree."""

    path: str
    module: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # alias -> package-relative module


@dataclass
class Sdk:
    """The schema facts parsed out of a generated Python SDK."""

    name: str
    version: str | None
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    object_types: dict[tuple[str, str], ast.ClassDef] = field(default_factory=dict)
    object_modules: dict[tuple[str, str], _Module] = field(default_factory=dict)
    output_classes: set[tuple[str, str]] = field(default_factory=set)  # `@pulumi.output_type`: read through getters
    enums: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    module_tokens: dict[str, str] = field(default_factory=dict)  # python module -> schema module
    provider: dict[str, Any] = field(default_factory=dict)


def _sources(root: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(package name, {package-relative path: source}, provenance) of a wheel file or an unpacked package dir."""
    path = Path(root)
    files: dict[str, str] = {}
    if path.is_file():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with zipfile.ZipFile(path) as wheel:
            for member in wheel.namelist():
                if member.endswith((".py", "pulumi-plugin.json")) and "/" in member and ".dist-info/" not in member:
                    files[member] = wheel.read(member).decode()
        provenance = {"file": path.name, "sha256": digest}
    else:
        for file in sorted(path.rglob("*")):
            if file.suffix == ".py" or file.name == "pulumi-plugin.json":
                files[f"{path.name}/{file.relative_to(path).as_posix()}"] = file.read_text()
        provenance = {"directory": path.name}
    packages = {name.split("/", 1)[0] for name in files if name.endswith("pulumi-plugin.json")}
    if len(packages) != 1:
        raise ValueError(f"{root}: expected one Pulumi SDK package (a pulumi-plugin.json), found {sorted(packages)}")
    package = packages.pop()
    ours = {name.split("/", 1)[1]: text for name, text in files.items() if name.startswith(package + "/")}
    return package, ours, provenance


def _module_of(relative_path: str) -> str:
    parts = relative_path.removesuffix(".py").split("/")
    return ".".join(parts[:-1])


def _resolve_import(module: str, level: int, target: str | None) -> str:
    base = module.split(".") if module else []
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *(target.split(".") if target else [])])


def _decorator_call(node: ast.AST, name: str) -> ast.Call | None:
    # `@pulumi.<name>(...)`
    for decorator in getattr(node, "decorator_list", []):
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == name
        ):
            return decorator
    return None


def _has_decorator(node: ast.AST, name: str) -> bool:
    for decorator in getattr(node, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == name:
            return True
    return False


def _wire_names(cls: ast.ClassDef) -> dict[str, str]:
    """python property name -> wire name, from the class's ``@pulumi.getter(name=...)`` getters."""
    names = {}
    for item in cls.body:
        if not isinstance(item, ast.FunctionDef):
            continue
        getter = _decorator_call(item, "getter")
        if getter is None and not _has_decorator(item, "getter"):
            continue
        wire = item.name
        if getter is not None:
            for keyword in getter.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    wire = keyword.value.value
        names[item.name] = wire
    return names


def _init_params(cls: ast.ClassDef) -> list[tuple[str, ast.expr | None, bool]]:
    """(python name, annotation, required) of a class's keyword-only ``__init__`` parameters."""
    init = next((i for i in cls.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"), None)
    if init is None:
        return []
    params = []
    for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True):
        params.append((arg.arg, arg.annotation, default is None))
    return params


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def parse_sdk(root: str) -> tuple[Sdk, dict[str, Any]]:
    """Parse a generated Pulumi Python SDK (wheel or package dir) into schema facts, plus its provenance."""
    _package, files, provenance = _sources(root)
    plugin = json.loads(files["pulumi-plugin.json"])
    sdk = Sdk(name=plugin["name"], version=plugin.get("version"))
    modules = []
    for relative, text in sorted(files.items()):
        if not relative.endswith(".py"):
            continue
        module = _Module(path=relative, module=_module_of(relative), tree=ast.parse(text))
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                for alias in node.names:
                    target = _resolve_import(module.module, node.level, node.module)
                    if node.module is None:
                        target = _resolve_import(module.module, node.level, alias.name)
                    module.imports[alias.asname or alias.name] = target
        modules.append(module)
    for module in modules:
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef):
                token_call = _decorator_call(node, "type_token")
                token = token_call.args[0].value if token_call else None
                bases = {_name(base) for base in node.bases}
                if token and "Enum" in bases:
                    values = [
                        item.value.value
                        for item in node.body
                        if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant)
                    ]
                    kind = "string" if all(isinstance(v, str) for v in values) else "number"
                    sdk.enums[(module.module, node.name)] = {"token": token, "type": kind, "values": values}
                elif _has_decorator(node, "input_type") or _has_decorator(node, "output_type"):
                    sdk.object_types[(module.module, node.name)] = node
                    sdk.object_modules[(module.module, node.name)] = module
                    if _has_decorator(node, "output_type"):
                        sdk.output_classes.add((module.module, node.name))
                elif token and token.startswith("pulumi:providers:"):
                    sdk.provider = {"class": node, "module": module}
                elif token and token.count(":") == 2:
                    sdk.resources[token] = {"class": node, "module": module}
                    sdk.module_tokens.setdefault(module.module, token.split(":")[1])
            elif isinstance(node, ast.FunctionDef):
                for call in ast.walk(node):
                    if (
                        isinstance(call, ast.Call)
                        and _name(call.func) == "pulumi.runtime.invoke"
                        and call.args
                        and isinstance(call.args[0], ast.Constant)
                    ):
                        sdk.functions[call.args[0].value] = {"function": node, "module": module}
    return sdk, provenance


class _TypeBuilder:
    """Turns SDK annotations into schema type nodes, collecting the object and enum types they reach."""

    def __init__(self, sdk: Sdk):
        self.sdk = sdk
        self.types: dict[str, Any] = {}
        self.pending: list[tuple[str, tuple[str, str]]] = []

    def object_token(self, key: tuple[str, str]) -> str:
        module, class_name = key
        name = class_name.removesuffix("Args")
        if key in self.sdk.output_classes and class_name.startswith("Get"):
            # A function's nested result `GetVpcFilterResult` is the schema type its input `GetVpcFilterArgs` is.
            name = class_name.removesuffix("Result")
        if self.sdk.name == "kubernetes":
            schema_module = self.sdk.module_tokens.get(module, module.replace(".", "/") or "index")
            return f"{self.sdk.name}:{schema_module}:{name}"
        return f"{self.sdk.name}:{module or 'index'}/{name}:{name}"

    def _lookup(self, reference: str, module: _Module, output: bool) -> tuple[str, str] | None:
        *qualifier, class_name = reference.split(".")
        # `XArgsDict` is the TypedDict spelling of the input class `XArgs`: the same schema type.
        class_name = class_name.removesuffix("Dict") if class_name.endswith("ArgsDict") else class_name
        if qualifier == ["outputs"] and not output:
            # `outputs.GetVpcFilterResult`: a function accepts its own result type too; it is `GetVpcFilterArgs`.
            qualifier, class_name = [], class_name.removesuffix("Result") + "Args"
        candidates = []
        if qualifier:
            alias, *rest = qualifier
            base = module.imports.get(alias)
            if base is not None:
                # `from .. import _inputs as _root_inputs` names a file; types are keyed by its package.
                parts = [p for p in [*base.split("."), *rest] if p]
                if parts and parts[-1] in ("_inputs", "_enums", "outputs"):
                    parts.pop()
                candidates.append(".".join(parts))
        else:
            candidates.append(module.module)
        for candidate in candidates:
            key = (candidate, class_name)
            if key in self.sdk.object_types or key in self.sdk.enums:
                return key
        return None

    def node(self, annotation: ast.expr | None, module: _Module, output: bool = False) -> dict[str, Any]:
        """The schema node of one annotation, e.g. ``pulumi.Input[Sequence[pulumi.Input['XArgs']]]``; ``output``:
        an annotation of a result, whose references are to output classes."""
        if annotation is None:
            return {"$ref": ANY_REF}
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            key = self._lookup(annotation.value, module, output)
            if key is None:
                raise LookupError(f"{module.path}: cannot resolve type reference {annotation.value!r}")
            if key in self.sdk.enums:
                enum = self.sdk.enums[key]
                self.types.setdefault(
                    enum["token"], {"type": enum["type"], "enum": [{"value": v} for v in enum["values"]]}
                )
                return {"$ref": TYPE_REF_PREFIX + enum["token"]}
            token = self.object_token(key)
            if token not in self.types:
                self.types[token] = None
                self.pending.append((token, key))
            return {"$ref": TYPE_REF_PREFIX + token}
        if isinstance(annotation, ast.Subscript):
            outer = _name(annotation.value).rsplit(".", 1)[-1]
            inner = annotation.slice
            elements = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
            if outer in ("Input", "Optional", "InputType"):
                return self.node(elements[0], module, output)
            if outer == "Literal" and all(isinstance(e, ast.Constant) for e in elements):
                values = [e.value for e in elements]
                kind = PRIMITIVES[type(values[0]).__name__]
                return {"type": kind, "const": values[0]} if len(values) == 1 else {"type": kind, "enum": values}
            if outer == "Sequence":
                return {"type": "array", "items": self.node(elements[0], module, output)}
            if outer == "Mapping":
                return {"type": "object", "additionalProperties": self.node(elements[-1], module, output)}
            if outer == "Union":
                options = []
                for element in elements:
                    option = self.node(element, module, output)
                    if option not in options:
                        options.append(option)
                return options[0] if len(options) == 1 else {"oneOf": options}
        name = _name(annotation).rsplit(".", 1)[-1]
        if name in PRIMITIVES:
            return {"type": PRIMITIVES[name]}
        if name == "Any":
            return {"$ref": ANY_REF}
        if name in ("Asset", "Archive", "AssetOrArchive"):
            return {"$ref": f"pulumi.json#/{name}"}
        raise ValueError(f"{module.path}: unsupported annotation {ast.unparse(annotation)}")

    def properties(self, cls: ast.ClassDef, module: _Module) -> tuple[dict[str, Any], list[str]]:
        wire = _wire_names(cls)
        # A getter's docstring is the property's schema description (its setter, of the same name, has none).
        descriptions: dict[str, str] = {}
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and ast.get_docstring(item):
                descriptions.setdefault(item.name, ast.get_docstring(item))
        properties, required = {}, []
        for python_name, annotation, is_required in _init_params(cls):
            name = wire.get(python_name, python_name)
            properties[name] = with_documented_values(self.node(annotation, module), descriptions.get(python_name))
            if is_required:
                required.append(name)
        return dict(sorted(properties.items())), sorted(required)

    def output_properties(self, cls: ast.ClassDef, module: _Module) -> tuple[dict[str, Any], list[str]]:
        """Properties of an ``@pulumi.output_type`` class, from its getters (a result's ``__init__`` is untyped);
        required are those whose getter is not ``Optional``."""
        wire = _wire_names(cls)
        properties, required = {}, []
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name in wire and item.returns is not None:
                name = wire[item.name]
                node = self.node(item.returns, module, output=True)
                properties[name] = with_documented_values(node, ast.get_docstring(item))
                if not _name(getattr(item.returns, "value", item.returns)).endswith("Optional"):
                    required.append(name)
        return dict(sorted(properties.items())), sorted(required)

    def drain(self) -> None:
        while self.pending:
            token, key = self.pending.pop()
            read = self.output_properties if key in self.sdk.output_classes else self.properties
            properties, required = read(self.sdk.object_types[key], self.sdk.object_modules[key])
            self.types[token] = {"type": "object", "properties": properties}
            if required:
                self.types[token]["required"] = required


def _args_class(module: _Module, name: str) -> ast.ClassDef:
    for node in module.tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(f"{module.path}: no class {name}")


def _resource_args_class(cls: ast.ClassDef, module: _Module) -> ast.ClassDef:
    # `__props__ = DeploymentInitArgs.__new__(DeploymentInitArgs)` in `_internal_init` names the inputs class
    # (`get` builds a `_XState` the same way: that is the outputs).
    init = next((i for i in cls.body if isinstance(i, ast.FunctionDef) and i.name == "_internal_init"), cls)
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and _name(node.targets[0]) == "__props__"
            and isinstance(node.value, ast.Call)
            and _name(node.value.func).endswith(".__new__")
        ):
            return _args_class(module, _name(node.value.func).removesuffix(".__new__"))
    return _args_class(module, f"{cls.name}Args")


def _consts(cls: ast.ClassDef, wire: dict[str, str]) -> dict[str, Any]:
    # `__props__.__dict__["api_version"] = 'apps/v1'` in `_internal_init`: an input the SDK always sends as a literal.
    consts = {}
    init = next((i for i in cls.body if isinstance(i, ast.FunctionDef) and i.name == "_internal_init"), None)
    for node in ast.walk(init) if init else []:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and isinstance(node.targets[0], ast.Subscript)
            and _name(node.targets[0].value) == "__props__.__dict__"
            and isinstance(node.targets[0].slice, ast.Constant)
        ):
            python_name = node.targets[0].slice.value
            consts[wire.get(python_name, python_name)] = node.value.value
    return consts


def _param_docs(function: ast.FunctionDef) -> dict[str, str]:
    # `:param str name: Name of the cluster.` lines of a generated function's docstring.
    docstring = ast.get_docstring(function) or ""
    pattern = re.compile(r"^\s*:param [^\n]*?(\w+): (.*?)(?=^\s*:param |^\s*$|\Z)", re.M | re.S)
    return {m.group(1): " ".join(m.group(2).split()) for m in pattern.finditer(docstring)}


def _function_inputs(sdk: Sdk, builder: _TypeBuilder, token: str) -> dict[str, Any]:
    entry = sdk.functions[token]
    module = entry["module"]
    plain = entry["function"]
    # The `_output` twin types a required argument `Input[Optional[T]]` and an optional one
    # `Input[Optional[Optional[T]]]`: the plain function makes every argument optional in Python.
    twin = next(
        (n for n in module.tree.body if isinstance(n, ast.FunctionDef) and n.name == f"{plain.name}_output"), plain
    )
    wire = {}
    for node in ast.walk(plain):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Subscript)
            and _name(node.targets[0].value) == "__args__"
            and isinstance(node.targets[0].slice, ast.Constant)
            and isinstance(node.value, ast.Name)
        ):
            wire[node.value.id] = node.targets[0].slice.value
    properties, required = {}, []
    for arg in [*twin.args.args, *twin.args.kwonlyargs]:
        if arg.arg not in wire:
            continue
        node = builder.node(arg.annotation, module)
        properties[wire[arg.arg]] = with_documented_values(node, _param_docs(plain).get(arg.arg))
        inner = arg.annotation.slice if isinstance(arg.annotation, ast.Subscript) else None
        doubly_optional = (
            isinstance(inner, ast.Subscript)
            and _name(inner.value).endswith("Optional")
            and isinstance(inner.slice, ast.Subscript)
            and _name(inner.slice.value).endswith("Optional")
        )
        if twin is not plain and not doubly_optional:
            required.append(wire[arg.arg])
    outputs: dict[str, Any] = {"properties": {}, "required": []}
    for call in ast.walk(plain):
        if isinstance(call, ast.Call) and _name(call.func) == "pulumi.runtime.invoke":
            result = next((k.value for k in call.keywords if k.arg == "typ"), None)
            key = (module.module, _name(result)) if result is not None else None
            if key in sdk.object_types:
                result_properties, result_required = builder.output_properties(sdk.object_types[key], module)
                outputs = {"properties": result_properties, "required": result_required}
    return {
        "inputs": {"properties": dict(sorted(properties.items())), "required": sorted(required)},
        "outputs": outputs,
    }


def schema_from_sdk(sdk: Sdk, resources: Iterable[str], functions: Iterable[str]) -> dict[str, Any]:
    """The schema pieces for ``resources`` and ``functions``, rebuilt from a parsed SDK (same shape as
    ``subset_schema``)."""
    builder = _TypeBuilder(sdk)
    selected: dict[str, Any] = {"name": sdk.name, "version": sdk.version}
    selected["resourceTokens"] = sorted(sdk.resources)
    selected["functionTokens"] = sorted(sdk.functions)
    provider_properties, provider_required = builder.properties(
        _args_class(sdk.provider["module"], "ProviderArgs"), sdk.provider["module"]
    )
    selected["provider"] = {"inputProperties": provider_properties, "requiredInputs": provider_required}
    selected["resources"] = {}
    for token in sorted(set(resources)):
        if token not in sdk.resources:
            raise KeyError(f"{sdk.name} has no resource {token}")
        cls, module = sdk.resources[token]["class"], sdk.resources[token]["module"]
        args = _resource_args_class(cls, module)
        properties, required = builder.properties(args, module)
        for name, value in _consts(cls, _wire_names(args)).items():
            if name in properties:
                properties[name] = {**properties[name], "const": value}
        piece: dict[str, Any] = {"inputProperties": properties, "requiredInputs": required}
        if "pulumi.ComponentResource" in {_name(b) for b in cls.bases}:
            piece["isComponent"] = True
        selected["resources"][token] = piece
    selected["functions"] = {}
    for token in sorted(set(functions)):
        if token not in sdk.functions:
            raise KeyError(f"{sdk.name} has no function {token}")
        selected["functions"][token] = _function_inputs(sdk, builder, token)
    builder.drain()
    selected["types"] = dict(sorted(builder.types.items()))
    return selected


# --------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", choices=("schema", "sdk"), help="a full schema.json, or a generated Python SDK")
    parser.add_argument("path", help="schema.json, or a pulumi_<name> wheel / package directory")
    parser.add_argument("--selection", required=True, help="JSON: {provider: {resources: [...], functions: [...]}}")
    parser.add_argument("--out", required=True, help="where to write the schema pieces")
    parser.add_argument("--origin", default="", help="free text recorded as where the source came from")
    args = parser.parse_args(argv)

    selection = json.loads(Path(args.selection).read_text())
    if args.source == "schema":
        schema_text = Path(args.path).read_bytes()
        schema = json.loads(schema_text)
        wanted = selection[schema["name"]]
        pieces = subset_schema(schema, wanted.get("resources", []), wanted.get("functions", []))
        provenance = {"file": Path(args.path).name, "sha256": hashlib.sha256(schema_text).hexdigest()}
        kind = "package schema"
    else:
        sdk, provenance = parse_sdk(args.path)
        wanted = selection[sdk.name]
        pieces = schema_from_sdk(sdk, wanted.get("resources", []), wanted.get("functions", []))
        kind = "generated Python SDK"
    pieces = {"source": {"kind": kind, **provenance, **({"origin": args.origin} if args.origin else {})}, **pieces}
    Path(args.out).write_text(json.dumps(pieces, indent=1, sort_keys=False) + "\n")
    print(
        f"{args.out}: {pieces['name']} {pieces['version']}: {len(pieces['resources'])} resources, "
        f"{len(pieces['functions'])} functions, {len(pieces['types'])} types",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
