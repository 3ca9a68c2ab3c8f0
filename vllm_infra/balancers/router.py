"""The ``router`` strategy: vllm-router with Kubernetes pod discovery by label (its pods list pods through a narrow
Role), cache-aware routing and, with several models, routing by the request's ``model`` behind an nginx sidecar.
Its pure generator is ``vllm_infra.balancing.router`` (the command line).

Its settings (``vllm-infra:balancer.router``) are ``RouterBalancerSettings``: the generator's ``RouterSettings`` and
the image. Module-level imports stay clear of ``vllm_infra.config`` and ``vllm_infra.observability`` (see
``vllm_infra.balancers.registry``); ``ScrapeTarget`` is imported where it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
from pydantic import Field

from vllm_infra import vllm_release
from vllm_infra.balancers.base import BalancerContext, BalancerPods, BalancerTraffic, content_hash
from vllm_infra.balancers.nginx import NGINX_PRESTOP_DELAY_S, nginx_container, nginx_settings
from vllm_infra.balancers.registry import register
from vllm_infra.balancers.settings import PinnedImage
from vllm_infra.balancing.nginx import WORKER_AUTH_PROXY_PORT
from vllm_infra.balancing.router import ROUTER_IMAGE, KubernetesDiscovery, RouterSettings, router_args
from vllm_infra.kube.labels import inference_pods_selector, selector_labels
from vllm_infra.kube.probes import http_probe
from vllm_infra.kube.security import restricted_security_context

if TYPE_CHECKING:
    from vllm_infra.config.balancer import BalancerSpec
    from vllm_infra.config.stack import StackConfig
    from vllm_infra.observability.monitors import ScrapeTarget

ROUTER_PORT = 8000
# What vllm-router needs after SIGTERM once nothing is in flight any more (graceful HTTP shutdown).
ROUTER_SHUTDOWN_S = 30


class RouterBalancerSettings(RouterSettings):
    """router: vllm-router's routing, retry, circuit-breaker and health-check settings, and its image.

    Example::

        balancer:
          strategy: router
          router:
            policy: cache_aware
            image: vllm/vllm-router:v0.1.17@sha256:<digest>
    """

    image: PinnedImage = Field(
        ROUTER_IMAGE,
        description="vllm-router image; pin repository:tag@sha256:<digest> for production (tag alone: allowed).",
    )


class RouterStrategy:
    """vllm-router: discovers the vLLM pods through the Kubernetes API, routes by prefix cache and by ``model``, and
    counts requests per model even while none of its replicas runs (what wakes a model scaled to zero)."""

    name = "router"
    routes_by_model = True
    wakes_from_zero = True
    edge_health_check = True
    settings_field = "router"
    settings_model = RouterBalancerSettings
    kubernetes_api_rules: tuple[dict, ...] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    )

    def build(self, ctx: BalancerContext) -> BalancerPods:
        """The router pod spec (and, multi-model, its nginx sidecar and that sidecar's ConfigMap)."""
        args, spec = ctx.args, ctx.args.spec
        if args.multi_model:
            # Every vLLM pod of the namespace: the router asks each pod's /v1/models which model it serves.
            selector = inference_pods_selector()
        else:
            (backend,) = args.backends
            selector = backend.selector
        settings = spec.router.model_copy(update={"worker_api_key_env": "VLLM_API_KEY"})
        container_args = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: router_args(
                settings,
                KubernetesDiscovery(selector=selector, namespace=namespace, port=vllm_release.VLLM_PORT),
                multi_model=args.multi_model,
                port=ROUTER_PORT,
            )
        )
        # /liveness answers while the router runs even with no healthy worker, so the router stays reachable and
        # answers fast (and, scaled to zero, its request counter can wake the model).
        probe_timing = {"period_seconds": 5, "timeout_seconds": 3}
        container = {
            "name": "router",
            "image": settings.image,
            "command": ["vllm-router"],
            "args": container_args,
            "env": [args.api_key.env("VLLM_API_KEY")],
            "ports": [
                {"name": "router", "containerPort": ROUTER_PORT, "protocol": "TCP"},
                {"name": "metrics", "containerPort": settings.prometheus_port, "protocol": "TCP"},
            ],
            "readinessProbe": http_probe("/liveness", "router", **probe_timing, failure_threshold=2),
            "livenessProbe": http_probe("/liveness", "router", **probe_timing, failure_threshold=6),
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
            # The image's non-root user; its primary group stays the image's.
            "securityContext": restricted_security_context(65532, True, run_as_group=None),
        }
        pod_spec: dict = {
            # The router watches pods through the Kubernetes API: this pod keeps its token (the narrow Role).
            "serviceAccountName": ctx.service_account_name,
            "automountServiceAccountToken": True,
            "containers": [container],
        }
        config_hash = container_args.apply(content_hash)
        if not args.multi_model:
            # Regular mode: clients talk to the router itself (its /v1/models is a worker's, OpenAI-shaped). It keeps
            # serving while the load balancer deregisters the pod, then drains on SIGTERM.
            container["ports"][0]["name"] = "http"
            for probe_name in ("readinessProbe", "livenessProbe"):
                container[probe_name]["httpGet"]["port"] = "http"
            container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(NGINX_PRESTOP_DELAY_S)]}}}
            pod_spec["terminationGracePeriodSeconds"] = (
                NGINX_PRESTOP_DELAY_S + settings.request_timeout_secs + ROUTER_SHUTDOWN_S
            )
            return BalancerPods(health_path="/liveness", pod_spec=pod_spec, config_hash=config_hash)
        # Multi-model: an nginx sidecar is the pod's front door. vllm-router 0.1.17 answers /v1/models with
        # {"models": [...]} in this mode, which OpenAI clients cannot read; nginx answers it in the OpenAI shape from
        # the configured models, checks the API key at the edge, and proxies everything else to the router.
        # It also carries the router's own calls to the pods (http_proxy) and adds the key to them: the router
        # lists a new worker's models without its --api-key, gets 401 from vLLM and would file the worker under
        # model "unknown", sending every model's requests to it (seen with the real 0.1.17 binary).
        sidecar, volumes, sidecar_hash = nginx_container(
            ctx,
            "127.0.0.1",
            ROUTER_PORT,
            resolve=False,
            served_models=[b.served_model_name for b in args.backends],
            worker_auth_proxy=True,
        )
        proxy_url = f"http://127.0.0.1:{WORKER_AUTH_PROXY_PORT}"
        # The Kubernetes API is https (http_proxy does not apply); no_proxy names it anyway, so a client library
        # that reads proxies more broadly still watches pods directly. $(KUBERNETES_SERVICE_HOST) is expanded by the
        # kubelet from the service variables it injects into every container.
        no_proxy = "$(KUBERNETES_SERVICE_HOST),kubernetes.default.svc,kubernetes.default.svc.cluster.local,localhost"
        container["env"] += [
            # reqwest (the router's HTTP client) reads both spellings.
            {"name": "http_proxy", "value": proxy_url},
            {"name": "HTTP_PROXY", "value": proxy_url},
            {"name": "no_proxy", "value": no_proxy},
            {"name": "NO_PROXY", "value": no_proxy},
        ]
        # nginx drains through the router: the router must outlive it. nginx's preStop waits, sends SIGQUIT and
        # returns once its master has exited (its pid file is gone); the router's preStop waits for that too, so
        # the router gets SIGTERM only after the last request through nginx is done. The nginx temp volume (where
        # the pid file lives) is shared read-only for this. A fixed sleep would hold every terminating pod for the
        # whole request timeout even when nothing is in flight.
        sidecar_settings = nginx_settings(spec)
        shared = "/run/nginx-state"
        pid_file = shared + sidecar_settings.pid_file[len(sidecar_settings.temp_dir.rstrip("/")) :]
        container["volumeMounts"] = [{"name": "nginx-tmp", "mountPath": shared, "readOnly": True}]
        container["lifecycle"] = {
            "preStop": {
                "exec": {
                    "command": [
                        "/bin/sh",
                        "-c",
                        f"sleep {NGINX_PRESTOP_DELAY_S}; while [ -e {pid_file} ]; do sleep 1; done",
                    ]
                }
            }
        }
        # nginx's drain is bounded by the router's request timeout (the router ends longer requests itself).
        pod_spec["terminationGracePeriodSeconds"] = (
            NGINX_PRESTOP_DELAY_S + settings.request_timeout_secs + ROUTER_SHUTDOWN_S
        )
        pod_spec["containers"] = [sidecar, container]
        pod_spec["volumes"] = volumes
        both = pulumi.Output.all(config_hash, sidecar_hash).apply(lambda hashes: content_hash(hashes))
        return BalancerPods(health_path="/healthz", pod_spec=pod_spec, config_hash=both)

    def traffic(self, spec: BalancerSpec, *, multi_model: bool) -> BalancerTraffic:
        """The router's port (multi-model: the nginx sidecar's, the router being reached over loopback only) and
        its metrics port."""
        return BalancerTraffic(
            ports=[spec.nginx.listen_port if multi_model else ROUTER_PORT],
            metrics_ports=[spec.router.prometheus_port],
        )

    def scrape_target(self, object_name: str) -> ScrapeTarget:
        """The router's ``metrics`` port on the balancer pods (vllm_router_* series)."""
        from vllm_infra.observability.monitors import ScrapeTarget  # imports the config: see the module docstring

        return ScrapeTarget(selector_labels("balancer", object_name), port="metrics")

    def validate(self, stack_config: StackConfig) -> list[str]:
        """No rule beyond the shared ones."""
        return []


register(RouterStrategy())
