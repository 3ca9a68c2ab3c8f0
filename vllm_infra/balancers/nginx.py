"""The ``nginx`` strategy: least connections over a headless Service per model, the generated ``nginx.conf`` in a
ConfigMap, the API key checked at the edge. Its pure generator is ``vllm_infra.balancing.nginx``; this module turns
it into Kubernetes objects. The router's multi-model pod reuses ``nginx_container`` as its front door.

Its settings (``vllm-infra:balancer.nginx``) are ``NginxBalancerSettings``: the generator's ``NginxSettings`` and
the image. Module-level imports stay clear of ``vllm_infra.config`` (see ``vllm_infra.balancers.registry``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, Field

from vllm_infra import vllm_release
from vllm_infra.balancers.base import BalancerContext, BalancerPods, BalancerTraffic, content_hash
from vllm_infra.balancers.registry import register
from vllm_infra.balancers.settings import PinnedImage
from vllm_infra.balancing.nginx import (
    KUBE_DNS_RESOLVER,
    NGINX_IMAGE,
    PRESTOP_DELAY_S,
    WORKER_AUTH_PROXY_PORT,
    NginxConfExtension,
    NginxSettings,
    UpstreamServer,
    nginx_kubernetes_spec,
)
from vllm_infra.kube.labels import object_meta

if TYPE_CHECKING:
    from vllm_infra.config.balancer import BalancerSpec
    from vllm_infra.config.stack import StackConfig
    from vllm_infra.observability.monitors import ScrapeTarget

# nginx's preStop waits this long for the endpoint removal to reach the load balancer before it drains.
NGINX_PRESTOP_DELAY_S = PRESTOP_DELAY_S
# An ALB connects from the VPC's private addresses; behind it X-Forwarded-For names the client (RFC 1918, RFC 6598).
PRIVATE_PROXY_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


class NginxBalancerSettings(NginxSettings):
    """nginx: the generated ``nginx.conf``'s tunables (defaults are the production values) and the nginx image.

    Example::

        balancer:
          strategy: nginx
          nginx:
            readTimeoutS: 900
            image: nginx:1.29.8@sha256:<digest>
    """

    image: PinnedImage = Field(
        NGINX_IMAGE, description="nginx image; pin repository:tag@sha256:<digest> for production (tag alone: allowed)."
    )


def nginx_settings(spec: BalancerSpec) -> NginxBalancerSettings:
    """``spec.nginx``, trusting X-Forwarded-For from the VPC's private ranges behind an ALB unless set explicitly."""
    if spec.exposure.kind == "ingress" and not spec.nginx.real_ip_from:
        # Behind the ALB the TCP peer is the ALB; the client (a Route 53 checker) is in X-Forwarded-For.
        return spec.nginx.model_copy(update={"real_ip_from": PRIVATE_PROXY_CIDRS})
    return spec.nginx


def nginx_container(
    ctx: BalancerContext,
    upstream_host: pulumi.Input[str],
    upstream_port: int,
    *,
    resolve: bool,
    served_models: list[str] | None,
    worker_auth_proxy: bool = False,
    extension: Callable[[str], NginxConfExtension] | None = None,
) -> tuple[pulumi.Output[dict], pulumi.Output[list], pulumi.Output[str]]:
    """The nginx container (and its volumes, and the hash of its config) proxying to ``upstream_host``, with its
    ConfigMap; ``worker_auth_proxy`` adds the loopback proxy that gives vllm-router's calls to the pods the API key;
    ``extension(upstream_host)`` adds another strategy's lines to the config (``NginxConfExtension``)."""
    args, spec = ctx.args, ctx.args.spec
    # The key is in the container when the edge checks it or the worker-auth proxy adds it.
    with_key = spec.enforce_api_key or worker_auth_proxy
    settings = nginx_settings(spec)

    def render(host: str, secret_name: str, config_map_name: str):
        return nginx_kubernetes_spec(
            settings,
            [UpstreamServer(host=host, port=upstream_port, resolve=resolve)],
            resolver=KUBE_DNS_RESOLVER if resolve else None,
            api_key_secret=(secret_name, args.api_key.key) if with_key else None,
            api_key_check=spec.enforce_api_key,
            config_map_name=config_map_name,
            resources={"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            served_models=served_models,
            # /healthz/model: a cached one-token completion through the balancer, for global health checks.
            probe_model=args.backends[0].served_model_name if spec.enforce_api_key else None,
            worker_auth_proxy_port=WORKER_AUTH_PROXY_PORT if worker_auth_proxy else None,
            image=settings.image,
            extension=None if extension is None else extension(host),
        )

    inputs = pulumi.Output.all(upstream_host, args.api_key.name)
    config_data = inputs.apply(lambda values: render(values[0], values[1], "unused").config_map_data)
    # Auto-named (no metadata.name): a config change creates a new ConfigMap before the old one is deleted, and
    # the Deployment, which references the new name, rolls onto it — no pod ever mounts a missing ConfigMap.
    config_map = k8s.core.v1.ConfigMap(
        f"{ctx.name}-nginx",
        metadata={"labels": ctx.labels, "namespace": args.namespace},
        data=config_data,
        opts=ctx.child,
    )
    kube = pulumi.Output.all(upstream_host, args.api_key.name, config_map.metadata.name).apply(
        lambda values: render(*values)
    )
    return kube.apply(lambda k: k.container), kube.apply(lambda k: k.volumes), config_data.apply(content_hash)


def nginx_pods(ctx: BalancerContext, extension: Callable[[str], NginxConfExtension] | None = None) -> BalancerPods:
    """The headless Service, the ConfigMap and the nginx pod spec for the single backend (the ``nginx`` strategy's
    pods; the ``affinity`` strategy passes its ``extension``, called with the headless Service's DNS name)."""
    args = ctx.args
    (backend,) = args.backends  # nginx cannot route by the request's model; multi-model uses the router
    headless = k8s.core.v1.Service(
        f"{ctx.name}-{backend.model_name}-pods",
        metadata=object_meta(f"{backend.model_name}-pods", args.namespace, ctx.labels),
        spec={
            "clusterIP": "None",
            "selector": backend.selector,
            "ports": [{"name": "http", "port": vllm_release.VLLM_PORT, "targetPort": "http"}],
        },
        opts=ctx.child,
    )
    upstream_host = pulumi.Output.concat(headless.metadata.name, ".", headless.metadata.namespace,
                                         ".svc.cluster.local")  # fmt: skip
    container, volumes, config_hash = nginx_container(
        ctx, upstream_host, vllm_release.VLLM_PORT, resolve=True, served_models=None, extension=extension
    )
    pod_spec = {
        "containers": [container],
        "volumes": volumes,
        # nginx never calls the Kubernetes API: no token in the pod for an intruder to use.
        "automountServiceAccountToken": False,
        # nginx's preStop drains gracefully; the grace period covers the longest generation it proxies.
        "terminationGracePeriodSeconds": NGINX_PRESTOP_DELAY_S + args.spec.nginx.read_timeout_s + 30,
    }
    return BalancerPods(health_path="/healthz", pod_spec=pod_spec, config_hash=config_hash)


class NginxStrategy:
    """nginx in front of one model: a headless Service nginx re-resolves (it follows pods as they scale), the
    ``nginx.conf`` in an auto-named ConfigMap, no service-account token. It cannot route by the request's model."""

    name = "nginx"
    routes_by_model = False
    wakes_from_zero = False
    edge_health_check = True
    settings_field = "nginx"
    # Wider than its value: a strategy built on this one (affinity) declares settings of its own.
    settings_model: type[BaseModel] = NginxBalancerSettings
    kubernetes_api_rules: tuple[dict, ...] = ()

    def build(self, ctx: BalancerContext) -> BalancerPods:
        """The headless Service, the ConfigMap and the nginx pod spec for the single backend."""
        return nginx_pods(ctx)

    def traffic(self, spec: BalancerSpec, *, multi_model: bool) -> BalancerTraffic:
        """nginx's listen port; nginx exports no metrics."""
        return BalancerTraffic(ports=[spec.nginx.listen_port])

    def scrape_target(self, object_name: str) -> ScrapeTarget | None:
        """None: nginx has no Prometheus endpoint (vLLM's own metrics cover the requests)."""
        return None

    def validate(self, stack_config: StackConfig) -> list[str]:
        """No rule beyond the shared ones."""
        return []


register(NginxStrategy())
