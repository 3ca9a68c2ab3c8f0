"""Request balancers in front of vLLM pods: nginx (least-connections, streaming-safe) and vllm-router.

``nginx`` renders a complete ``nginx.conf`` and the Kubernetes container around it; ``router`` builds the exact
``vllm-router`` command line and pins its image. Both are plain generators (no Pulumi, no I/O) so they are tested
by running the real programs on loopback in ``tests/loopback``.
"""

from vllm_infra.balancing.nginx import (
    API_KEY_ENV_VAR,
    API_KEY_TEMPLATE,
    KUBE_DNS_RESOLVER,
    NGINX_IMAGE,
    NGINX_VERSION,
    PRESTOP_DELAY_S,
    WORKER_AUTH_PROXY_PORT,
    NginxKubernetesSpec,
    NginxSettings,
    UpstreamServer,
    nginx_kubernetes_spec,
    render_nginx_conf,
    route53_health_checker_cidrs,
)
from vllm_infra.balancing.router import (
    PORTABLE_FLAGS,
    ROUTER_IMAGE,
    ROUTER_VERSION,
    KubernetesDiscovery,
    RouterSettings,
    StaticWorkers,
    add_worker_path,
    router_args,
)

__all__ = [
    "API_KEY_ENV_VAR",
    "API_KEY_TEMPLATE",
    "KUBE_DNS_RESOLVER",
    "NGINX_IMAGE",
    "NGINX_VERSION",
    "PORTABLE_FLAGS",
    "PRESTOP_DELAY_S",
    "ROUTER_IMAGE",
    "ROUTER_VERSION",
    "KubernetesDiscovery",
    "NginxKubernetesSpec",
    "NginxSettings",
    "RouterSettings",
    "StaticWorkers",
    "UpstreamServer",
    "WORKER_AUTH_PROXY_PORT",
    "add_worker_path",
    "nginx_kubernetes_spec",
    "render_nginx_conf",
    "route53_health_checker_cidrs",
    "router_args",
]
