"""The request balancer in front of the vLLM pods, and how it is exposed.

``BalancerSpec`` is built from the balancer registry: the keys every strategy shares (``strategy``, ``replicas``,
``exposure``, ``enforceApiKey``) are declared here, and each registered strategy with settings adds its own key,
``settings_field``, validated by its ``settings_model`` (``balancer.nginx``, ``balancer.router``,
``balancer.service``). Adding a strategy is a module of ``vllm_infra.balancers``; nothing here changes.

How: ``balancer_spec_model`` hands the strategies' fields to pydantic's ``create_model`` on top of
``SharedBalancerSpec``. ``create_model`` rather than a metaclass or ``__init_subclass__`` hook because it is pydantic's
documented way to declare fields at run time, and the result is an ordinary model: the JSON schema, the camelCase
aliases of ``ConfigModel``, ``config.errors``' key walking and "did you mean" all read its ``model_fields``. The
registry is read once, when this module is imported (``seal_settings``); the strategy modules it loads then keep their
module-level imports free of ``vllm_infra.config`` (see ``vllm_infra.balancers.registry``), which is what breaks the
import cycle config → registry → strategy modules → components → config, without splitting each strategy in two.

The keys the strategies' settings had before they moved under the strategy's key (``nginxImage``, ``routerImage``,
``sessionAffinityTimeoutSeconds``) are still read, onto their new place, with a note (``deprecation_notes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import (
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from vllm_infra.balancers.base import BalancerStrategy
from vllm_infra.balancers.registry import seal_settings, strategy_names
from vllm_infra.balancers.settings import pinned_image
from vllm_infra.config.base import ConfigModel
from vllm_infra.registry import choices_phrase, registered_choice

__all__ = [
    "DEFAULT_SSL_POLICY",
    "LEGACY_KEYS",
    "BalancerSpec",
    "ExposureSpec",
    "SharedBalancerSpec",
    "TlsSpec",
    "balancer_spec_model",
    "pinned_image",
]

# ACM certificate ARNs: arn:<partition>:acm:<region>:<12-digit account>:certificate/<id> (ACM API reference,
# "Certificate ARN"); partitions aws, aws-cn, aws-us-gov.
_ACM_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate/[A-Za-z0-9-]{1,128}$")
# TLS 1.3 and 1.2 only, the listeners' policy (Elastic Load Balancing "Security policies": TLS13-1-2-2021-06 is the
# console's recommended default for NLB TLS and ALB HTTPS listeners).
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class TlsSpec(ConfigModel):
    """TLS at the AWS load balancer: an ACM certificate, TLS 1.2/1.3 only, port 443 only.

    Example::

        tls:
          certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/0b8f2a4e-6a1d-4c55-9f5e-3f1a2b3c4d5e
    """

    certificate_arn: str | None = Field(
        None,
        description=(
            "ACM certificate (in the stack's region) the NLB/ALB terminates TLS with; required for internet-facing "
            "exposure. Multi-region gets one per region from globalLoadBalancer.tls instead."
        ),
    )
    ssl_policy: str = Field(
        DEFAULT_SSL_POLICY,
        pattern=r"^ELBSecurityPolicy-[A-Za-z0-9-]+$",
        description="The listener's TLS negotiation policy (default: TLS 1.3 and 1.2 only).",
    )

    @field_validator("certificate_arn")
    @classmethod
    def _valid_arn(cls, value: str | None) -> str | None:
        if value is not None and not _ACM_ARN.match(value):
            raise ValueError(
                "must be an ACM certificate ARN, arn:aws:acm:<region>:<account id>:certificate/<id> "
                "(aws acm list-certificates shows yours)"
            )
        return value


class ExposureSpec(ConfigModel):
    """How clients reach the balancer: an AWS Network Load Balancer (Service type LoadBalancer, through the AWS Load
    Balancer Controller), an Ingress (ALB), or only inside the cluster.

    Example::

        exposure:
          kind: load-balancer
          internal: true
    """

    kind: Literal["load-balancer", "ingress", "cluster-ip"] = "load-balancer"
    internal: bool = Field(False, description="Internal (VPC-only) load balancer instead of internet-facing.")
    ingress_class_name: str = Field("alb", description="ingress: the IngressClass (AWS Load Balancer Controller).")
    host: str | None = Field(None, description="ingress: the host name to route; None = any.")
    idle_timeout_seconds: int = Field(
        600, ge=60, le=4000, description="Load balancer idle timeout: long enough for a streamed generation."
    )
    tls: TlsSpec = Field(default_factory=TlsSpec)

    @property
    def public(self) -> bool:
        """Reachable from the internet: a load balancer or an Ingress that is not internal."""
        return self.kind != "cluster-ip" and not self.internal

    def tls_problem(self, *, managed_certificate: bool) -> str | None:
        """Why this exposure may not be used as configured, or None: internet-facing exposure needs TLS, from
        ``tls.certificateArn`` or, in multi-region, a ``managed_certificate`` (``globalLoadBalancer.tls``)."""
        if not self.public or self.tls.certificate_arn is not None or managed_certificate:
            return None
        return (
            "vllm-infra:balancer.exposure.tls.certificateArn: required for internet-facing exposure (plain HTTP "
            "would carry the API key and every prompt in clear text): set it to an ACM certificate ARN in the "
            "stack's region (arn:aws:acm:<region>:<account id>:certificate/<id>), or set exposure.internal: true "
            "or exposure.kind: cluster-ip"
        )


#: The strategy a stack gets when it names none.
DEFAULT_STRATEGY = "affinity"

#: The keys ``BalancerSpec`` declared itself before each strategy's settings moved under the strategy's key: the old
#: field -> (the strategy's settings field, the setting there). Still read (with a note); old and new key together are
#: an error. History only: a new strategy never adds a line here.
LEGACY_KEYS: Mapping[str, tuple[str, str]] = {
    "nginx_image": ("nginx", "image"),
    "router_image": ("router", "image"),
    "session_affinity_timeout_seconds": ("service", "session_affinity_timeout_seconds"),
}


class SharedBalancerSpec(ConfigModel):
    """The keys of ``vllm-infra:balancer`` every strategy shares, the base ``balancer_spec_model`` adds the registered
    strategies' settings keys to. Use ``BalancerSpec`` (the model built from the registry), not this class."""

    strategy: str = Field(DEFAULT_STRATEGY, description="A registered strategy (vllm_infra.balancers).")
    replicas: int = Field(
        2, ge=1, le=50, description="Balancer pods (strategies that run pods of their own); two survive a node loss."
    )
    exposure: ExposureSpec = Field(default_factory=ExposureSpec)
    enforce_api_key: bool = Field(
        True,
        description="Reject requests without the API key at the balancer's pods (if it runs any); vLLM checks again.",
    )

    # The legacy keys this spec was written with: (the key as written, its new key), for deprecation_notes.
    _legacy_keys_read: tuple[tuple[str, str], ...] = PrivateAttr(default=())

    @field_validator("strategy", mode="before")
    @classmethod
    def _registered(cls, strategy: object) -> object:
        return registered_choice(strategy, strategy_names())

    @model_validator(mode="wrap")
    @classmethod
    def _read_legacy_keys(cls, data: Any, handler: ModelWrapValidatorHandler[SharedBalancerSpec]) -> SharedBalancerSpec:
        if not isinstance(data, Mapping):
            return handler(data)
        data, moved = _move_legacy_keys(cls, data)
        try:
            spec = handler(data)
        except ValidationError as error:
            if not moved:
                raise
            # A bad value is reported at the key the stack file has (nginxImage), not where it was moved to.
            raise _relocated(error, {new_location: written for written, new_location, _ in moved}) from None
        spec._legacy_keys_read = tuple((written, new_key) for written, _, new_key in moved)
        return spec

    def deprecation_notes(self) -> list[str]:
        """One note per deprecated key this spec was read from, naming the key to use instead (for
        ``StackConfig.warnings()``).

        >>> BalancerSpec.model_validate({"nginxImage": "nginx:1.29.8"}).deprecation_notes()
        ['vllm-infra:balancer.nginxImage is deprecated: set vllm-infra:balancer.nginx.image instead (same value)']
        """
        return [
            f"vllm-infra:balancer.{written} is deprecated: set vllm-infra:balancer.{new_key} instead (same value)"
            for written, new_key in self._legacy_keys_read
        ]


def _alias(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _move_legacy_keys(
    spec_model: type[SharedBalancerSpec], data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, tuple[str, str], str]]]:
    """``data`` with each legacy key moved under its strategy's key, and what moved: ``(key as written, location
    it was validated at, the new key for messages)``. Old and new key both set: a ``ValidationError`` at the new key
    naming both."""
    data = dict(data)
    moved: list[tuple[str, tuple[str, str], str]] = []
    conflicts: list[InitErrorDetails] = []
    for old, (field, setting) in LEGACY_KEYS.items():
        written = next((key for key in (to_camel(old), old) if key in data), None)
        if written is None or field not in spec_model.model_fields:
            continue  # not used, or its strategy is not registered (then it is an unknown key like any other)
        settings_model = cast("type[BaseModel]", spec_model.model_fields[field].annotation)
        field_key = next((key for key in (_alias(spec_model, field), field) if key in data), _alias(spec_model, field))
        setting_key = _alias(settings_model, setting)
        current = data.get(field_key, {})
        if isinstance(current, BaseModel):
            already = setting in current.model_fields_set
            current = current.model_dump(exclude_unset=True)
        elif isinstance(current, Mapping):
            already = setting_key in current or setting in current
        else:
            continue  # not a map: its own error says so; the legacy key stays, reported as unknown
        new_key = f"{_alias(spec_model, field)}.{setting_key}"
        if already:
            message = (
                f"also set through the deprecated vllm-infra:balancer.{written}; keep only "
                f"vllm-infra:balancer.{new_key} (remove {written})"
            )
            location = (field_key, setting_key if setting_key in current else setting)
            conflicts.append({"type": PydanticCustomError("value_error", message), "loc": location,
                              "input": current[location[1]]})  # fmt: skip
            continue
        data[field_key] = {**current, setting_key: data.pop(written)}
        moved.append((written, (field_key, setting_key), new_key))
    if conflicts:
        raise ValidationError.from_exception_data(spec_model.__name__, conflicts)
    return data, moved


def _relocated(error: ValidationError, locations: Mapping[tuple[str, str], str]) -> ValidationError:
    """``error`` with the errors at a moved value's location put back at the legacy key it was written as."""
    details: list[InitErrorDetails] = []
    for item in error.errors():
        location = tuple(item["loc"])
        moved_from = locations.get(cast("tuple[str, str]", location[:2]))
        if moved_from is not None:
            location = (moved_from, *location[2:])
        details.append(
            {
                "type": PydanticCustomError(item["type"], item["msg"], item.get("ctx")),
                "loc": location,
                "input": item["input"],
            }
        )
    return ValidationError.from_exception_data(error.title, details)


def _first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())


def _spec_docstring(strategies: tuple[BalancerStrategy, ...]) -> str:
    lines = [
        "The balancer in front of the vLLM pods: a registered strategy, its settings under its own key, and the keys",
        "every strategy shares (replicas, exposure, enforceApiKey). Built from the balancer registry",
        "(``balancer_spec_model``); the strategies when it was built:",
        "",
    ]
    for strategy in strategies:
        summary = (_first_paragraph(type(strategy).__doc__) or "").split(". ")[0].rstrip(".")
        settings = f" (settings: ``balancer.{to_camel(strategy.settings_field)}``)" if strategy.settings_field else ""
        lines.append(f"- ``{strategy.name}``{settings}: {summary}." if summary else f"- ``{strategy.name}``{settings}")
    lines += ["", "Example::", "", "    balancer:", f"      strategy: {DEFAULT_STRATEGY}", "      replicas: 2"]
    return "\n".join(lines) + "\n"


def balancer_spec_model(
    strategies: Iterable[BalancerStrategy], *, name: str = "BalancerSpec"
) -> type[SharedBalancerSpec]:
    """The ``vllm-infra:balancer`` model for ``strategies``: ``SharedBalancerSpec``'s keys and, for each strategy
    with a ``settings_field``, that field, of its ``settings_model`` (defaults: the model's), described by the
    model's docstring. ``BalancerSpec`` is this for the registered strategies; tests build others.

    Raises ``TypeError``/``ValueError`` for a settings declaration that cannot be a field (a model that is not a
    pydantic model or has a setting without default, a field name that is no identifier or already taken).

    >>> from vllm_infra.balancers import strategies
    >>> spec = balancer_spec_model(strategies()).model_validate({"service": {"sessionAffinityTimeoutSeconds": 600}})
    >>> spec.service.session_affinity_timeout_seconds
    600
    """
    strategies = tuple(strategies)
    fields: dict[str, Any] = {}
    for strategy in strategies:
        field, model = strategy.settings_field, strategy.settings_model
        if field is None:
            if model is not None:
                raise TypeError(f"balancer strategy {strategy.name!r}: settings_model without settings_field")
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"balancer strategy {strategy.name!r}: settings_model must be a pydantic model")
        if not field.isidentifier() or field.startswith("_") or field in SharedBalancerSpec.model_fields:
            raise ValueError(
                f"balancer strategy {strategy.name!r}: settings_field {field!r} must be an identifier not starting "
                f"with '_' and not one of the shared keys ({', '.join(SharedBalancerSpec.model_fields)})"
            )
        if field in fields:
            raise ValueError(f"balancer strategy {strategy.name!r}: settings_field {field!r} is already taken")
        try:
            model()
        except ValidationError:
            raise TypeError(
                f"balancer strategy {strategy.name!r}: every setting of {model.__name__} needs a default (the "
                f"stack file may leave balancer.{to_camel(field)} out)"
            ) from None
        description = _first_paragraph(model.__dict__.get("__doc__")) or f"The {strategy.name} strategy's settings."
        fields[field] = (model, Field(default_factory=model, description=description))
    names = [strategy.name for strategy in strategies]
    strategy_description = "A registered strategy (vllm_infra.balancers)" + (
        f": {choices_phrase(names)}." if names else "."
    )
    fields["strategy"] = (str, Field(DEFAULT_STRATEGY, description=strategy_description))
    return create_model(
        name, __base__=SharedBalancerSpec, __module__=__name__, __doc__=_spec_docstring(strategies), **fields
    )


if TYPE_CHECKING:

    class BalancerSpec(SharedBalancerSpec):
        """What type checkers see of the model built below: the shared keys, typed, and each strategy's settings
        field as ``Any`` (the fields exist only once the registry is read, so no static type can list them)."""

        def __getattr__(self, name: str) -> Any: ...

else:
    #: ``vllm-infra:balancer``: built from every registered strategy (the built-ins and the plug-ins) when the config
    #: is imported; a strategy registered later cannot add settings (``register`` refuses it).
    BalancerSpec = balancer_spec_model(seal_settings())
