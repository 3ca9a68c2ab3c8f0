"""The global entry point of a multi-region stack: Route 53 records with a model-aware health check per region, and
optionally AWS Global Accelerator."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import Field, field_validator

from vllm_infra.config.base import ConfigModel

# Route 53 hosted zone ids are "Z" + upper-case letters and digits (at most 32 characters in the API).
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")
# ACM puts the certificate's first name in the Common Name, which RFC 5280 limits to 64 octets (periods included).
MAX_DOMAIN_NAME = 64
# Route 53 limits: SearchString and ResourcePath are at most 255 characters.
MAX_SEARCH_STRING = 255
MAX_RESOURCE_PATH = 255
DEFAULT_KEY = "vllm-infra:globalLoadBalancer"


class GlobalLoadBalancerSpec(ConfigModel):
    """One public name for every region: Route 53 answers with the nearest healthy region (``latency``) or with the
    primary while it is healthy and the secondary otherwise (``failover``, the production guide's picture).

    Each region gets a Route 53 health check that requests ``healthCheckPath`` on the region's own name
    (``<region>.<domainName>``) and requires ``searchString`` in the body, so a region whose balancer answers but whose
    model cannot produce a token is taken out of DNS. With ``tls`` the check is HTTPS on 443 and each region's
    balancer terminates TLS with an ACM certificate for ``domainName`` and ``<region>.<domainName>``.

    Example::

        globalLoadBalancer:
          hostedZoneId: Z0123456789ABCDEFGHIJ
          domainName: llm.example.com
          policy: failover
    """

    hosted_zone_id: str = Field(
        description="The Route 53 public hosted zone that holds domainName (e.g. Z0123456789ABCDEFGHIJ)."
    )
    domain_name: str = Field(description="The public name clients call, e.g. llm.example.com (in the hosted zone).")
    policy: Literal["latency", "failover"] = Field(
        "latency", description="latency: nearest healthy region; failover: the primary region while it is healthy."
    )
    health_check_path: str = Field(
        "/healthz/model",
        description=(
            "Path the regional balancer answers only when the model produces a token (not merely when a process "
            "listens)."
        ),
    )
    health_check_interval_seconds: Literal[10, 30] = Field(
        30, description="Seconds between Route 53 checks from each checker location (10 = fast, billed extra)."
    )
    health_check_failure_threshold: int = Field(
        3, ge=1, le=10, description="Consecutive failures (or successes) before Route 53 changes a region's status."
    )
    search_string: str | None = Field(
        '"choices"',
        description=(
            "Text the body must contain in its first 5120 bytes (HTTP(S)_STR_MATCH); null = any 2xx/3xx passes."
        ),
    )
    tls: bool = Field(
        True, description="Clients and health checks use HTTPS on 443; the regional balancer terminates TLS (ACM)."
    )
    record_ttl: int = Field(
        60, ge=0, le=172800,
        description="TTL of the non-alias records (the ACM validation CNAMEs); alias records use their target's TTL.",
    )  # fmt: skip
    global_accelerator: bool = Field(
        False, description="Also add AWS Global Accelerator (static anycast IPs) in front of the regional NLBs."
    )

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone_id(cls, value: str) -> str:
        if value.startswith("/hostedzone/"):
            bare = value.removeprefix("/hostedzone/")
            raise ValueError(f"got {value!r}; write the id without the /hostedzone/ prefix: {bare}")
        if not HOSTED_ZONE_ID.match(value):
            raise ValueError(
                f"got {value!r}; must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ "
                "(aws route53 list-hosted-zones-by-name --dns-name <your domain>)"
            )
        return value

    @field_validator("domain_name")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value.endswith("."):
            raise ValueError(f"got {value!r}; write the name without the trailing dot: {value.rstrip('.')}")
        if value != value.lower():
            raise ValueError(f"got {value!r}; write it in lower case: {value.lower()}")
        if "*" in value:
            raise ValueError(f"got {value!r}; a wildcard is not a name clients can call: use e.g. llm.example.com")
        if not DOMAIN_NAME.match(value):
            raise ValueError(
                f"got {value!r}; must be a fully qualified DNS name such as llm.example.com (letters, digits, hyphens)"
            )
        if len(value) > MAX_DOMAIN_NAME:
            raise ValueError(
                f"got {len(value)} characters; an ACM certificate's first name (its Common Name) is limited to "
                f"{MAX_DOMAIN_NAME}: use a shorter name"
            )
        return value

    @field_validator("health_check_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or len(value) > MAX_RESOURCE_PATH or any(c.isspace() for c in value):
            raise ValueError(
                f"got {value!r}; must be an absolute path without spaces, at most {MAX_RESOURCE_PATH} characters "
                "(e.g. /healthz/model)"
            )
        return value

    @field_validator("search_string")
    @classmethod
    def _search(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_SEARCH_STRING:
            raise ValueError(
                f"got {len(value)} characters; Route 53 searches for 1 to {MAX_SEARCH_STRING} characters: shorten it, "
                "or set null to accept any 2xx/3xx answer (weaker: an error page in JSON would pass)"
            )
        return value

    def regional_name(self, region: str) -> str:
        """The region's own public name, ``<region>.<domainName>`` (health-checked, and callable directly)."""
        return f"{region}.{self.domain_name}"

    @property
    def port(self) -> int:
        """The port clients, the health checks and the accelerator use."""
        return 443 if self.tls else 80


def _primary_names(primary: str | Iterable[str] | None) -> list[str]:
    if primary is None:
        return []
    if isinstance(primary, str):
        return [primary]
    return list(primary)


def validate_regions(
    spec: GlobalLoadBalancerSpec,
    region_names: Sequence[str],
    primary: str | Iterable[str] | None,
    *,
    key: str = DEFAULT_KEY,
    regions_key: str = "vllm-infra:regions",
) -> list[str]:
    """Problems with putting ``spec`` in front of ``region_names``; empty when the combination is valid.

    ``primary`` names the region(s) marked ``primary: true`` (a name, several names, or None). Each problem names the
    config key and the fix, in the style of ``ConfigError``; the stack's cross-field validation reports them.

    >>> spec = GlobalLoadBalancerSpec(hosted_zone_id="Z0123456789ABC", domain_name="llm.example.com", policy="failover")
    >>> validate_regions(spec, ["us-east-1", "eu-west-1"], "us-east-1")
    []
    >>> len(validate_regions(spec, ["us-east-1", "eu-west-1", "ap-south-1"], None))  # three regions, no primary
    2
    """
    problems: list[str] = []
    names = list(region_names)
    primaries = _primary_names(primary)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(
            f"{regions_key}: each region may appear once behind the global name; repeated: {', '.join(duplicates)}"
        )
    unknown = [name for name in primaries if name not in names]
    if unknown:
        problems.append(
            f"{regions_key}: primary region(s) {', '.join(unknown)} are not among the regions ({', '.join(names)}): "
            "mark one of them primary"
        )
    if not names:
        problems.append(f"{regions_key}: the global load balancer needs at least one region")
    if spec.policy == "failover":
        if len(names) != 2:
            problems.append(
                f"{key}.policy: failover routes to a primary and a secondary, so it needs exactly two regions; got "
                f"{len(names)} ({', '.join(names) or 'none'}): list two regions, or use policy: latency for "
                "any number"
            )
        if len(primaries) != 1:
            got = "none" if not primaries else ", ".join(primaries)
            problems.append(
                f"{regions_key}: policy failover needs exactly one region with primary: true; got {got}: mark the "
                "region that serves while healthy, and only that one"
            )
    return problems
