"""The request balancer in front of the vLLM pods, and how it is exposed."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from vllm_infra.balancers.registry import choices_phrase, strategy_names

from vllm_infra.balancing.affinity import AffinitySettings
from vllm_infra.balancing.nginx import NGINX_IMAGE, NginxSettings
from vllm_infra.balancing.router import ROUTER_IMAGE, RouterSettings
from vllm_infra.config.base import ConfigModel

# ACM certificate ARNs: arn:<partition>:acm:<region>:<12-digit account>:certificate/<id> (ACM API reference,
# "Certificate ARN"); partitions aws, aws-cn, aws-us-gov.
_ACM_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate/[A-Za-z0-9-]{1,128}$")
# `repository[:tag][@sha256:<64 hex>]` with a tag or a digest; the repository may name a registry (with a port).
_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:(?P<digest>[a-f0-9]{64}))?$"
)
# TLS 1.3 and 1.2 only, the listeners' policy (Elastic Load Balancing "Security policies": TLS13-1-2-2021-06 is the
# console's recommended default for NLB TLS and ALB HTTPS listeners).
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def pinned_image(image: str) -> str:
    """Accept ``repo:tag``, ``repo@sha256:<digest>`` or ``repo:tag@sha256:<digest>`` (the tag for people, the digest
    for the runtime); reject a missing tag, ``latest`` and malformed digests.

    >>> pinned_image("nginx:1.29.8@sha256:" + "0" * 64).startswith("nginx:1.29.8@")
    True
    """
    match = _IMAGE.match(image)
    if match is None or not (match["tag"] or match["digest"]) or match["tag"] in {"latest", "nightly"}:
        raise ValueError(
            f"{image!r} must be pinned: repository:tag or, recommended, repository:tag@sha256:<64 hex digits> "
            "(a moving tag changes what runs without a diff)"
        )
    return image


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
        DEFAULT_SSL_POLICY, pattern=r"^ELBSecurityPolicy-[A-Za-z0-9-]+$",
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


class BalancerSpec(ConfigModel):
    """The balancer: ``affinity`` (the default: nginx keeping each session on one pod, for its prefix cache, with a
    per-pod load cap), ``nginx`` (least connections, the production guide's), ``router`` (vllm-router: cache-aware
    prefix routing, and routing by ``model`` for multi-model), or ``service`` (a plain Service with ClientIP
    session affinity, the guide's prefix-cache option).

    Example::

        balancer:
          strategy: affinity
          replicas: 2
    """

    strategy: str = Field(
        "affinity",
        description="A registered strategy (vllm_infra.balancers): affinity, nginx, router or service built in.",
    )
    replicas: int = Field(2, ge=1, le=50, description="Balancer pods (nginx/router); two survive a node loss.")
    exposure: ExposureSpec = Field(default_factory=ExposureSpec)
    enforce_api_key: bool = Field(
        True, description="nginx: reject requests without the API key at the edge (vLLM checks it again)."
    )
    session_affinity_timeout_seconds: int = Field(
        3600, ge=60, le=86400, description="service: how long a client sticks to one pod."
    )
    nginx: NginxSettings = Field(default_factory=NginxSettings)
    affinity: AffinitySettings = Field(default_factory=AffinitySettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    nginx_image: str = Field(
        NGINX_IMAGE, description="nginx image; pin repository:tag@sha256:<digest> for production (tag alone: allowed)."
    )
    router_image: str = Field(
        ROUTER_IMAGE,
        description="vllm-router image; pin repository:tag@sha256:<digest> for production (tag alone: allowed).",
    )

    @field_validator("strategy", mode="before")
    @classmethod
    def _registered(cls, strategy: object) -> object:
        names = strategy_names()
        if not isinstance(strategy, str) or strategy not in names:
            # The same error as a Literal of the registered names (the messages list the choices, suggest the nearest).
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": choices_phrase(names, quoted=True)}
            )
        return strategy

    @field_validator("nginx_image", "router_image")
    @classmethod
    def _pinned(cls, image: str) -> str:
        return pinned_image(image)
