"""The policy rules as CrossGuard policies, for ``pulumi preview --policy-pack policy_pack``.

Needs ``pulumi-policy`` (``pip install 'pulumi-policy>=1.21,<2'``; ``policy_pack/requirements.txt`` installs it).
``policy_pack/__main__.py`` only builds a ``PolicyPack`` from ``crossguard_policies()``; everything here is importable
and testable without starting the analyzer's gRPC server.

What differs from the offline ``evaluate`` and why:

- **Secret markers.** The engine sends secrets marked, but the Python policy SDK (1.21) unwraps them before a
  policy sees the inputs, so "is this Secret value a Pulumi secret?" cannot be answered inside the pack. Policies
  with ``needs_secret_markers`` are therefore left out of the pack (``OFFLINE_ONLY``) and enforced by ``evaluate`` on
  the offline plan instead (the tests do).
- **Inputs vs outputs.** Resource policies get a resource's inputs; stack policies get every resource's *outputs*
  (the live object, with server defaults such as ``spec.replicas: 1``). The rules are written against inputs, so each
  wrapped resource policy records the inputs it is shown, per URN, and the stack policies read those recorded inputs,
  falling back to outputs for a resource no resource policy saw.
- **Unknowns.** Preview-time unknown values reach the rules as sentinels that every rule skips, instead of raising
  the SDK's ``UnknownValueError`` half-way through a check.

Example (what the pack's ``__main__.py`` does)::

    from pulumi_policy import PolicyPack
    PolicyPack("vllm-infra", crossguard_policies())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi_policy
from pulumi.runtime import rpc
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from vllm_infra.policies.model import Policy, Resource
from vllm_infra.policies.rules import ALL_POLICIES

PACK_NAME = "vllm-infra"

#: Policies the pack cannot judge (see the module docstring); ``evaluate`` enforces them offline.
OFFLINE_ONLY: tuple[str, ...] = tuple(p.name for p in ALL_POLICIES if p.needs_secret_markers)


class InputsCache:
    """Inputs seen by resource validation, by URN, for the stack validations of the same ``pulumi preview``/``up``.

    The analyzer serves calls on a thread pool, hence the lock. Example::

        cache = InputsCache(); cache.record("urn:...", {"spec": {}}); cache.get("urn:...")
    """

    def __init__(self) -> None:
        self._inputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, urn: str, inputs: dict[str, Any]) -> None:
        """Remember ``inputs`` as the declared inputs of ``urn``."""
        with self._lock:
            self._inputs[urn] = inputs

    def get(self, urn: str) -> dict[str, Any] | None:
        """The recorded inputs of ``urn``, or ``None``."""
        with self._lock:
            return self._inputs.get(urn)


_DEFAULT_CACHE = InputsCache()


def plain(value: Any) -> Any:
    """A plain ``dict``/``list`` copy of CrossGuard's property proxies (without triggering their unknown checks; the
    rules skip unknown sentinels themselves); a ``pulumi_policy.Secret`` becomes a Pulumi secret marker again.

    >>> plain({"a": [1, {"b": 2}]})
    {'a': [1, {'b': 2}]}
    """
    if isinstance(value, pulumi_policy.Secret):
        return rpc.wrap_rpc_secret(plain(value.value))
    if isinstance(value, Mapping):
        target = _target(value)
        return {key: plain(target[key]) for key in target}
    if isinstance(value, (list, tuple)) or _is_list_proxy(value):
        target = _target(value)
        return [plain(item) for item in target]
    return value


def _target(value: Any) -> Any:
    # The SDK's _DictProxy/_ListProxy (and their secret-preserving twins) expose the wrapped object as "__target".
    try:
        return value["__target"]
    except (KeyError, TypeError, IndexError):
        return value


def _is_list_proxy(value: Any) -> bool:
    return type(value).__name__ in {"_ListProxy", "_ListSecretsProxy"}


def _options(opts: Any) -> tuple[bool, tuple[str, ...]]:
    if opts is None:
        return False, ()
    return bool(getattr(opts, "protect", False)), tuple(getattr(opts, "ignore_changes", None) or ())


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    """The ``Resource`` a rule reads, from CrossGuard's ``ResourceValidationArgs`` (inputs and options)."""
    protect, ignore_changes = _options(args.opts)
    return Resource(args.resource_type, plain(args.props), args.urn, args.name, protect, ignore_changes)


def resource_from_policy_resource(resource: Any, cache: InputsCache | None = None) -> Resource:
    """The ``Resource`` a stack rule reads, from a ``pulumi_policy.PolicyResource``: the inputs recorded by resource
    validation when there are any, else its outputs."""
    protect, ignore_changes = _options(resource.opts)
    inputs = (cache or _DEFAULT_CACHE).get(resource.urn)
    return Resource(
        resource.resource_type,
        inputs if inputs is not None else plain(resource.props),
        resource.urn,
        resource.name,
        protect,
        ignore_changes,
    )


def resource_validator(
    policy: Policy, cache: InputsCache | None = None
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A CrossGuard ``validate`` callback running the resource rule ``policy``; it also records the inputs it sees
    for the stack rules. Example::

        validate = resource_validator(images_pinned)
        validate(args, lambda message, urn=None: print(message))
    """
    store = cache or _DEFAULT_CACHE

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = resource_from_args(args)
        store.record(resource.urn, dict(resource.inputs))
        for violation in policy(resource):
            report_violation(violation.message, None)

    validate.__name__ = f"validate_{policy.name.replace('-', '_')}"
    return validate


def stack_validator(
    policy: Policy, cache: InputsCache | None = None
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """A CrossGuard ``validate`` callback running the stack rule ``policy``; each violation names its resource's URN."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_from_policy_resource(r, cache) for r in args.resources]
        for violation in policy(resources):
            report_violation(violation.message, violation.urn or None)

    validate.__name__ = f"validate_{policy.name.replace('-', '_')}"
    return validate


def to_crossguard(policy: Policy, cache: InputsCache | None = None) -> ResourceValidationPolicy | StackValidationPolicy:
    """``policy`` as a ``ResourceValidationPolicy`` or ``StackValidationPolicy`` with the same name, description and
    enforcement level."""
    level = EnforcementLevel(policy.enforcement.value)
    if policy.scope == "resource":
        return ResourceValidationPolicy(
            name=policy.name,
            description=policy.description,
            validate=resource_validator(policy, cache),
            enforcement_level=level,
        )
    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=stack_validator(policy, cache),
        enforcement_level=level,
    )


def crossguard_policies(
    policies: Iterable[Policy] = ALL_POLICIES, cache: InputsCache | None = None
) -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """Every policy the pack can judge (all but ``OFFLINE_ONLY``), wrapped for CrossGuard."""
    return [to_crossguard(policy, cache) for policy in policies if policy.name not in OFFLINE_ONLY]
