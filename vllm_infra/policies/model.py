"""The vocabulary of the policy rules: a ``Resource`` to check, a ``Violation`` found, a ``Policy`` that finds them.

A rule is a plain function. A resource rule takes one ``Resource`` and yields messages; a stack rule takes every
resource of the stack and yields ``(resource, message)`` pairs. The ``resource_policy`` / ``stack_policy``
decorators turn such a function into a ``Policy``: a callable that returns ``Violation`` objects carrying the policy's
name and enforcement level, so the same function serves the offline ``evaluate`` and the CrossGuard pack.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc

from vllm_infra.offline.redact import REDACTED
from vllm_infra.policies.opt_out import OPTED_OUT_SUFFIX, opted_out_setting


class EnforcementLevel(enum.StrEnum):
    """What a violation does: ``mandatory`` fails ``pulumi preview``/``up``; ``advisory`` only reports.

    The values are CrossGuard's own (``pulumi_policy.EnforcementLevel`` has the same strings).
    """

    MANDATORY = "mandatory"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class Resource:
    """One resource as the engine receives it: the type token, its inputs and the options the rules read.

    ``inputs`` use the engine's shape: camelCase keys, numbers possibly floats (``replicas: 1.0``), secret values
    wrapped in Pulumi's secret marker (``rpc.is_rpc_secret``). ``protect`` and ``ignore_changes`` are resource
    options. Build one from the offline runner with ``from_planned`` or from a ``plan_json`` document entry with
    ``from_json``.

    Example::

        Resource("kubernetes:core/v1:PersistentVolumeClaim", {"metadata": {...}, "spec": {...}},
                 urn="urn:pulumi:dev::p::kubernetes:core/v1:PersistentVolumeClaim::cache", name="cache", protect=True)
    """

    type: str
    inputs: Mapping[str, Any]
    urn: str = ""
    name: str = ""
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()

    @classmethod
    def from_planned(cls, planned: Any) -> Resource:
        """From a ``vllm_infra.offline.runner.PlannedResource`` (secret markers intact)."""
        return cls(
            type=planned.type,
            inputs=planned.inputs,
            urn=planned.urn,
            name=planned.name,
            protect=bool(planned.protect),
            ignore_changes=tuple(planned.ignore_changes or ()),
        )

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Resource:
        """From one entry of a ``plan_json`` document's ``resources``.

        ``plan_json`` prints secrets as ``"[secret]"``; those strings become secret markers again so the
        secret-values rule can tell them from literals (a literal ``"[secret]"`` in a program would be read as a
        secret too — an acceptable blind spot for a string nobody writes on purpose); ``"[unknown]"`` becomes the
        SDK's unknown sentinel, which every rule skips.
        """
        return cls(
            type=entry["type"],
            inputs=_rewrap_redacted(entry.get("inputs") or {}),
            urn=entry.get("urn", ""),
            name=entry.get("name", ""),
            protect=bool(entry.get("protect", False)),
            ignore_changes=tuple(entry.get("ignoreChanges") or ()),
        )


# How plan_json prints a value only known after apply (vllm_infra.offline.redact).
_UNKNOWN_TEXT = "[unknown]"


def _rewrap_redacted(value: Any) -> Any:
    if value == REDACTED:
        return rpc.wrap_rpc_secret(REDACTED)
    if value == _UNKNOWN_TEXT:
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {key: _rewrap_redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrap_redacted(item) for item in value]
    return value


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule: which policy, which resource (URN and logical name) and a message naming the field and fix.

    Example::

        Violation("images-pinned", "urn:pulumi:dev::p::kubernetes:apps/v1:Deployment::web", "web",
                  "container 'web': spec.template.spec.containers[0].image 'nginx' has no tag; pin a release tag ...")
    """

    policy: str
    urn: str
    name: str
    message: str
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY

    @property
    def mandatory(self) -> bool:
        """True when this violation fails a deployment (rather than only being reported)."""
        return self.enforcement is EnforcementLevel.MANDATORY

    def __str__(self) -> str:
        return f"[{self.enforcement.value}] {self.policy}: {self.name or self.urn}: {self.message}"


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Policy:
    """A named rule with a description and an enforcement level; call it to get violations.

    ``scope`` is ``"resource"`` (``policy(resource)``) or ``"stack"`` (``policy(resources)``).
    ``needs_secret_markers`` marks rules that can only be judged when inputs still carry Pulumi's secret markers
    (the CrossGuard Python SDK unwraps them before a policy sees the inputs; see ``vllm_infra.policies.crossguard``).
    ``opt_out_of`` names the policy whose opt-out annotation this one reads (``vllm_infra.policies.opt_out``): the
    policy itself skips opted-out resources, and its advisory twin (``reports_opted_out``, from ``opted_out_twin``)
    reports only those.

    Example::

        violations = images_pinned(Resource("kubernetes:apps/v1:Deployment", inputs))
    """

    name: str
    description: str
    enforcement: EnforcementLevel
    scope: str
    check: Callable[..., Iterable[Any]] = field(repr=False, compare=False)
    needs_secret_markers: bool = False
    opt_out_of: str | None = None
    reports_opted_out: bool = False

    def __post_init__(self) -> None:
        # help(policy) and IDEs show the rule function's own docstring.
        object.__setattr__(self, "__doc__", self.check.__doc__ or self.description)

    def __call__(self, subject: Resource | Sequence[Resource]) -> list[Violation]:
        if self.scope == "resource":
            resource = subject
            assert isinstance(resource, Resource), f"{self.name} checks one Resource"
            found = [(resource, message) for message in self.check(resource)]
        else:
            found = list(self.check(list(subject)))  # type: ignore[arg-type]
        return [violation for resource, message in found if (violation := self._violation(resource, message))]

    def _violation(self, resource: Resource, message: str) -> Violation | None:
        if self.opt_out_of is not None:
            setting = opted_out_setting(resource.inputs, self.opt_out_of)
            if (setting is not None) != self.reports_opted_out:
                return None  # judged by the other one of the pair
            if setting is not None:
                message = f"{message} (advisory: the stack config opted out with `{setting}`)"
        return Violation(self.name, resource.urn, resource.name, message, self.enforcement)


def opted_out_twin(policy: Policy) -> Policy:
    """The advisory companion of an opt-outable ``policy``: same rule, reporting only the resources whose config
    opted out of it (``<name>-opted-out``), so an explicit choice is a warning rather than a failed deployment."""
    assert policy.opt_out_of == policy.name, f"{policy.name} is not declared with opt_out=True"
    return dataclasses.replace(
        policy,
        name=policy.name + OPTED_OUT_SUFFIX,
        description=f"{policy.description} Reported as advisory where the stack config opted out explicitly.",
        enforcement=EnforcementLevel.ADVISORY,
        reports_opted_out=True,
    )


def _options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    if options.pop("opt_out", False):
        options["opt_out_of"] = name
    return options


def resource_policy(
    name: str, description: str, enforcement: EnforcementLevel = EnforcementLevel.MANDATORY, **options: Any
) -> Callable[[ResourceCheck], Policy]:
    """Decorate ``def rule(resource) -> Iterable[str]`` (messages) into a resource-scoped ``Policy``.

    ``opt_out=True``: resources annotated as opted out (``vllm_infra.policies.opt_out``) are left to the policy's
    advisory twin (``opted_out_twin``)."""

    def wrap(check: ResourceCheck) -> Policy:
        return Policy(name, description, enforcement, "resource", check, **_options(name, dict(options)))

    return wrap


def stack_policy(
    name: str, description: str, enforcement: EnforcementLevel = EnforcementLevel.MANDATORY, **options: Any
) -> Callable[[StackCheck], Policy]:
    """Decorate ``def rule(resources) -> Iterable[(resource, message)]`` into a stack-scoped ``Policy``
    (``opt_out`` as for ``resource_policy``)."""

    def wrap(check: StackCheck) -> Policy:
        return Policy(name, description, enforcement, "stack", check, **_options(name, dict(options)))

    return wrap
