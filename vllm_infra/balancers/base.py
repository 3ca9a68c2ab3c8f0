"""What a balancer strategy provides: the ``BalancerStrategy`` protocol and the values it trades with
``LoadBalancer``, the network policies, the observability wiring and the stack validation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pulumi

if TYPE_CHECKING:
    from pydantic import BaseModel

    from vllm_infra.components.load_balancer import LoadBalancerArgs
    from vllm_infra.config.balancer import BalancerSpec
    from vllm_infra.config.stack import StackConfig
    from vllm_infra.observability.monitors import ScrapeTarget


def content_hash(data: object) -> str:
    """A short, stable hash of configuration content; as a pod-template annotation it rolls pods when it changes.

    >>> content_hash({"a": 1}) == content_hash({"a": 1})
    True
    """
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class BalancerContext:
    """What ``LoadBalancer`` hands a strategy's ``build``: the component's names, labels and child options, its
    inputs, and (for a strategy with ``kubernetes_api_rules``) the ServiceAccount its pods run as.

    - ``name``: the component's Pulumi name, the prefix of every child's resource name;
    - ``object_name``: the Kubernetes name of the balancer's objects (``vllm-gateway``);
    - ``labels`` / ``selector``: the balancer pods' labels and the subset that selects them;
    - ``child``: resource options that parent a resource to the component;
    - ``service_account_name``: None unless the strategy asked for Kubernetes API access.
    """

    name: str
    object_name: str
    args: LoadBalancerArgs
    labels: dict[str, str]
    selector: dict[str, str]
    child: pulumi.ResourceOptions
    service_account_name: pulumi.Output[str] | None = None


@dataclass
class BalancerPods:
    """What a strategy's ``build`` returns to ``LoadBalancer``.

    - ``health_path``: the path the NLB/ALB health check asks;
    - ``pod_spec``: the balancer pods' spec (containers, volumes, grace period), or None for no balancer pods (the
      Service then selects ``service_selector`` directly); ``LoadBalancer`` adds the zone spread and the Deployment;
    - ``config_hash``: the pod-template annotation that rolls the pods when their configuration changes;
    - ``service_selector``: the pods the client-facing Service selects; None = the balancer pods;
    - ``target_port``: the (named) container port the Service sends to;
    - ``service_spec``: extra keys of the client-facing Service's spec (``service``: ClientIP affinity).
    """

    health_path: str
    pod_spec: dict | None = None
    config_hash: pulumi.Input[str] | None = None
    service_selector: dict[str, str] | None = None
    target_port: str = "http"
    service_spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BalancerTraffic:
    """The ports a strategy's pods need opened by the namespace's NetworkPolicies: ``ports`` (the front door, from
    the clients and the load balancer's health checks) and ``metrics_ports`` (from the monitoring namespace). Egress to
    the vLLM pods is always allowed; egress to the Kubernetes API follows ``kubernetes_api_rules``."""

    ports: Sequence[int]
    metrics_ports: Sequence[int] = ()


@runtime_checkable
class BalancerStrategy(Protocol):
    """One way to balance requests over the vLLM pods, registered by name (``balancers.register``).

    Attributes, read by the stack validation and the docs:

    - ``name``: the ``vllm-infra:balancer.strategy`` value;
    - ``routes_by_model``: sends each request to a pod serving its ``model`` (several models need this);
    - ``wakes_from_zero``: counts requests for a model that has no replica, which KEDA scales up from (scale to
      zero needs this);
    - ``edge_health_check``: answers ``/healthz/model`` with a real completion, authenticated at the edge
      (multi-region's Route 53 health checks need this, with ``enforceApiKey``);
    - ``settings_field`` / ``settings_model``: its settings' key under ``vllm-infra:balancer`` (a Python name; the
      stack file writes it camelCase) and their model (a ``StrategySettings``, every setting with a default), or
      both None. ``BalancerSpec`` gets the field from the registry; the strategy reads ``spec.<settings_field>``;
    - ``kubernetes_api_rules``: RBAC rules its pods need on the namespace (a Role, a ServiceAccount, a mounted token
      and egress to the API server); empty = none of these.

    Example (a strategy in its own module)::

        class FakeSettings(StrategySettings):
            # its docstring describes balancer.fake in the schema
            timeout_seconds: int = Field(600, ge=60, description="Stickiness, in seconds.")

        class Fake:
            name = "fake"
            routes_by_model = wakes_from_zero = edge_health_check = False
            settings_field, settings_model = "fake", FakeSettings  # balancer.fake.timeoutSeconds
            kubernetes_api_rules = ()
            def build(self, ctx):
                timeout = ctx.args.spec.fake.timeout_seconds
                return BalancerPods(health_path="/health", service_selector=ctx.args.backends[0].selector,
                                    service_spec={"sessionAffinity": "ClientIP", "sessionAffinityConfig":
                                                  {"clientIP": {"timeoutSeconds": timeout}}})
            def traffic(self, spec, *, multi_model): return None
            def scrape_target(self, object_name): return None
            def validate(self, stack_config): return []

        register(Fake())
    """

    # Read-only properties rather than plain attributes: a strategy declares them as class attributes of narrower
    # types (``settings_field = "nginx"``, ``kubernetes_api_rules = ()``), which a mutable protocol attribute would
    # refuse (attributes are invariant, read-only members covariant).
    @property
    def name(self) -> str: ...
    @property
    def routes_by_model(self) -> bool: ...
    @property
    def wakes_from_zero(self) -> bool: ...
    @property
    def edge_health_check(self) -> bool: ...
    @property
    def settings_field(self) -> str | None: ...
    @property
    def settings_model(self) -> type[BaseModel] | None: ...
    @property
    def kubernetes_api_rules(self) -> Sequence[dict]: ...

    def build(self, ctx: BalancerContext) -> BalancerPods:
        """Create the strategy's own resources (parented with ``ctx.child``) and describe its pods."""
        ...

    def traffic(self, spec: BalancerSpec, *, multi_model: bool) -> BalancerTraffic | None:
        """The ports its pods need open, or None when it runs no pods of its own."""
        ...

    def scrape_target(self, object_name: str) -> ScrapeTarget | None:
        """Where Prometheus scrapes its metrics (a PodMonitor), or None."""
        ...

    def validate(self, stack_config: StackConfig) -> list[str]:
        """Stack-level problems specific to this strategy (config-key messages with the fix); [] when none. Runs
        after the rules every strategy shares (``routes_by_model``, ``wakes_from_zero``, ``edge_health_check``)."""
        ...
