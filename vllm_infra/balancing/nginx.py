"""nginx in front of vLLM pods: settings, the complete ``nginx.conf``, and what its Kubernetes container needs.

The configuration starts from the production guide's nginx (``least_conn``, ``max_fails=3 fail_timeout=30s``,
``keepalive 32``, HTTP/1.1 with ``Connection ""``, Host/X-Real-IP/X-Forwarded-* headers, ``/health`` passthrough)
and changes what matters for LLM traffic:

* **Streaming-safe.** ``proxy_buffering off`` so server-sent-event chunks reach the client as vLLM writes them,
  and ``X-Accel-Buffering: no`` on responses so an nginx-based ingress in front of this one does not buffer them.
* **Request buffering stays on** (nginx's default, written out explicitly). A prompt is read completely before an
  upstream is chosen, so a request whose pod died can be re-sent to the next pod (with request buffering off
  nginx cannot re-send a body it already streamed), and a slow client never pins a GPU pod's connection.
  Bodies up to ``client_body_buffer_size`` stay in memory; larger ones spool to ``temp_dir`` (an emptyDir).
* **Retry only before the answer began.** ``proxy_next_upstream error timeout http_502 http_503`` with bounded
  tries and time. nginx re-sends a request to the next server only while nothing has been sent to the client;
  once a response (or the first SSE chunk) started, a failure ends that response, it is never replayed.
  ``non_idempotent`` is on by default: vLLM's completion endpoints change no server state, so re-sending a POST
  whose pod died before answering is safe; ``next_upstream_timeout_s`` keeps such retries to fast failures.
* **Fast dead-pod skip, slow generation.** Connect timeout in seconds; send/read timeouts in minutes.
* **Upstream keepalive shorter than vLLM's.** uvicorn (vLLM's server) closes idle keep-alive connections after
  5 s; nginx drops its idle upstream connections after ``keepalive_timeout_s`` (4 s) so it never writes a
  request into a connection the pod is closing.
* **Pods come and go.** In Kubernetes the upstream is the headless Service's DNS name with ``resolve``: nginx
  re-resolves it at run time (``zone`` + ``resolver``) and follows pods as they scale. ``resolve`` in open-source
  nginx needs 1.27.3 or later, hence :data:`NGINX_IMAGE`. The generator takes the servers as input: Kubernetes
  passes the DNS name with ``resolve=True``, loopback tests pass ``127.0.0.1:PORT`` with ``resolve=False``, and
  nothing else in the file differs (a test diffs the two).
* **Unprivileged, read-only root.** No ``user`` directive, a port above 1024, pid and temp paths under an
  emptyDir. ``daemon off`` is given on the command line (the official image's CMD), not in the file.
* **Optional API key at the edge**, never in the config text: see :data:`API_KEY_TEMPLATE`.
* **Model probe for Route 53, cached and fenced.** ``/healthz/model`` answers from a cached result of one
  authenticated one-token completion (at most one per ``model_probe_cache_s`` per nginx pod, refreshed in the
  background while the last answer is served), and only to ``model_probe_allow_cidrs`` (default: the Route 53
  health checkers' published ranges), so nobody gets free completions and a slow, loaded region still answers in
  time. See :func:`render_nginx_conf`.
* **Worker-auth proxy for vllm-router** (``worker_auth_proxy_port``): a loopback-only forward proxy that adds the
  API key to the router's calls to the pods; see :func:`render_nginx_conf`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from vllm_infra.kube.pods import empty_dir_volume
from vllm_infra.kube.probes import http_probe
from vllm_infra.kube.security import restricted_security_context

__all__ = [
    "API_KEY_ENV_VAR",
    "API_KEY_INCLUDE_NAME",
    "API_KEY_TEMPLATE",
    "API_KEY_TEMPLATE_NAME",
    "KUBE_DNS_RESOLVER",
    "NGINX_IMAGE",
    "NGINX_MIN_VERSION_FOR_RESOLVE",
    "NGINX_VERSION",
    "NginxConfExtension",
    "NginxKubernetesSpec",
    "NginxSettings",
    "PRESTOP_DELAY_S",
    "UpstreamServer",
    "WORKER_AUTH_PROXY_PORT",
    "nginx_kubernetes_spec",
    "render_nginx_conf",
    "route53_health_checker_cidrs",
]

# The official image's mainline Debian variant (nginx/docker-nginx, mainline/debian/Dockerfile, ENV NGINX_VERSION
# 1.29.8). Pinned to an exact version, never "mainline"/"latest": the `resolve` server parameter and this file
# were written against it, and a floating tag would change nginx under a running fleet.
NGINX_VERSION = "1.29.8"
# No digest: Docker Hub's registry API cannot be reached from where this was written, and no source of the nginx
# project itself pins one. Pin `nginx:1.29.8@sha256:...` through `balancer.nginx.image` for production.
NGINX_IMAGE = f"nginx:{NGINX_VERSION}"
# First open-source release whose upstream `server` accepts `resolve` (before: NGINX Plus only).
NGINX_MIN_VERSION_FOR_RESOLVE = (1, 27, 3)

# The cluster DNS Service (CoreDNS on EKS keeps the kube-dns name). nginx resolves this name once at start with the
# pod's own resolv.conf and then sends its run-time `resolve` queries to that ClusterIP.
KUBE_DNS_RESOLVER = "kube-dns.kube-system.svc.cluster.local"

# nginx's preStop waits this long for the endpoint removal to reach the load balancer before it drains.
PRESTOP_DELAY_S = 5

# Loopback port of the worker-auth forward proxy in the multi-model router pod (see render_nginx_conf).
WORKER_AUTH_PROXY_PORT = 8090

API_KEY_ENV_VAR = "VLLM_API_KEY"
API_KEY_TEMPLATE_NAME = "vllm-api-key.conf.template"
API_KEY_INCLUDE_NAME = "vllm-api-key.conf"

# Rendered at container start by the official image's entrypoint (docker-entrypoint.d/20-envsubst-on-templates.sh
# turns /etc/nginx/templates/*.template into $NGINX_ENVSUBST_OUTPUT_DIR/*, substituting only variables that are
# set). The key comes from a Kubernetes Secret through the environment and lands in an in-memory emptyDir; it is
# never part of nginx.conf, the ConfigMap, or this repository. Fail-closed by construction:
#  * variable unset: the placeholder stays, nginx reads it as an nginx variable that does not exist and refuses
#    to start ("unknown variable");
#  * variable empty: the expected header is "Bearer " with a trailing blank, which no request can carry because
#    nginx strips trailing blanks from header values, so every request is refused;
#  * `if ($a != $b)` is an exact, case-sensitive comparison (a `map` keyed on the header would lowercase it).
# Keys are expected to be URL/base64-safe ([A-Za-z0-9._~+/=-]); a `"` `\` or `$` in a key breaks the line.
API_KEY_TEMPLATE = (
    "# Rendered from the environment at container start; do not commit the rendered file.\n"
    "map $host $vllm_expected_authorization {\n"
    f'    default "Bearer ${{{API_KEY_ENV_VAR}}}";\n'
    "}\n"
)

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_NGINX_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_host(value: str) -> str:
    """A hostname or IP literal, nothing that could smuggle nginx syntax (blanks, ``;``, braces) into the file."""
    if _is_ip(value) or _HOSTNAME.match(value):
        return value
    raise ValueError(f"not a hostname or IP address: {value!r}")


@functools.cache
def route53_health_checker_cidrs() -> tuple[str, ...]:
    """The Route 53 health checkers' address ranges (IPv4, then IPv6), from the vendored snapshot of AWS's
    ``ip-ranges.json`` (``ROUTE53_HEALTHCHECKS``; ``vllm_infra/data/route53_healthchecks.SOURCE.md``).

    >>> "15.177.0.0/18" in route53_health_checker_cidrs()
    True
    """
    data = json.loads(resources.files("vllm_infra.data").joinpath("route53_healthchecks.json").read_text())
    return tuple(data["ipv4_prefixes"]) + tuple(data["ipv6_prefixes"])


def _check_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    """Normalised CIDRs (``ipaddress``); a host address is a /32 or /128."""
    return tuple(str(ipaddress.ip_network(v, strict=False)) for v in values)


class _Model(BaseModel):
    """Same conventions as the stack configuration: camelCase or snake_case keys, unknown keys rejected, frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class UpstreamServer(_Model):
    """One ``server`` line of the upstream block.

    In Kubernetes: the vLLM headless Service's DNS name (``vllm-engine.NS.svc.cluster.local``), port 8000,
    ``resolve=True`` so nginx follows the Service's ready pods at run time. In loopback tests: ``127.0.0.1`` and a
    stub's port with ``resolve=False`` (Debian 12's nginx 1.22 does not know ``resolve``).
    """

    host: str = Field(description="DNS name or IP address of the vLLM pods (or of one stub).")
    port: int = Field(default=8000, ge=1, le=65535, description="vLLM's HTTP port.")
    resolve: bool = Field(
        default=False,
        description="Re-resolve the name at run time (nginx >= 1.27.3, needs a resolver); only for DNS names.",
    )

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return _check_host(value)

    @model_validator(mode="after")
    def _resolve_needs_a_name(self) -> UpstreamServer:
        if self.resolve and _is_ip(self.host):
            raise ValueError("resolve=True needs a DNS name, not an IP address")
        return self

    def address(self) -> str:
        """``host:port`` as nginx writes it (IPv6 literals in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class NginxSettings(_Model):
    """Tunables of the generated ``nginx.conf``; defaults are the production values.

    Timeouts are in seconds, sizes in the unit their name says. Paths are absolute so the file works under any
    ``-p`` prefix; every path nginx writes to is under ``temp_dir`` / ``pid_file`` / ``runtime_conf_dir``, which
    in Kubernetes are emptyDir volumes on a read-only root filesystem.
    """

    listen_port: int = Field(
        default=8080,
        ge=1024,
        le=65535,
        description="Port nginx listens on; above 1024 so nginx runs as a non-root user without capabilities.",
    )
    listen_address: str | None = Field(
        default=None, description="Address to bind; None = every address (in a pod), 127.0.0.1 in loopback tests."
    )
    listen_ipv6: bool = Field(default=False, description="Also listen on [::] (only where pods have IPv6).")
    worker_processes: int | Literal["auto"] = Field(
        default="auto", description="nginx worker processes; 'auto' = one per CPU the container can see."
    )
    worker_connections: int = Field(
        default=4096,
        ge=64,
        le=65535,
        description="Connections per worker; each proxied request holds two (client + upstream).",
    )
    load_balancing: Literal["least_conn", "round_robin"] = Field(
        default="least_conn",
        description=(
            "least_conn sends each request to the pod with the fewest requests in flight, which is what uneven "
            "generation lengths need; round_robin is nginx's default and piles long requests onto one pod."
        ),
    )
    max_fails: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Failed attempts within fail_timeout_s before a pod is skipped for fail_timeout_s (0 = never).",
    )
    fail_timeout_s: int = Field(default=30, ge=1, le=3600, description="Window and penalty time of max_fails.")
    keepalive: int = Field(
        default=32, ge=1, le=4096, description="Idle upstream connections kept per nginx worker (reuse, no handshake)."
    )
    keepalive_timeout_s: int = Field(
        default=4,
        ge=1,
        le=3600,
        description="Idle time after which nginx closes a pooled upstream connection; keep it below vLLM's 5 s.",
    )
    keepalive_requests: int = Field(default=1000, ge=1, le=1_000_000, description="Requests per pooled connection.")
    connect_timeout_s: int = Field(
        default=3, ge=1, le=60, description="TCP connect timeout to a pod: short, so a dead pod is skipped fast."
    )
    send_timeout_s: int = Field(
        default=600, ge=1, le=86_400, description="Max gap between two writes of the request to the pod."
    )
    read_timeout_s: int = Field(
        default=600,
        ge=1,
        le=86_400,
        description=(
            "Max gap between two reads from the pod: for a non-streamed completion the whole generation time, "
            "for a stream the longest pause between two chunks."
        ),
    )
    next_upstream_tries: int = Field(
        default=3, ge=1, le=20, description="Attempts per request, the first included (1 = never retry)."
    )
    next_upstream_timeout_s: int = Field(
        default=30,
        ge=0,
        le=86_400,
        description=(
            "Time since the first attempt after which a failed request is no longer passed on (0 = no limit); "
            "keeps retries to fast failures instead of replaying a long generation that timed out."
        ),
    )
    retry_non_idempotent: bool = Field(
        default=True,
        description=(
            "Also re-send POSTs that reached a pod which failed before answering (vLLM completions have no side "
            "effects). Never applies once the response began: nginx does not retry then."
        ),
    )
    client_max_body_size_mb: int = Field(
        default=64, ge=1, le=4096, description="Largest request body (long prompts, base64 images) before 413."
    )
    client_body_buffer_size_kb: int = Field(
        default=1024,
        ge=8,
        le=65_536,
        description="Request bodies up to this size stay in memory, larger spool to disk.",
    )
    client_body_timeout_s: int = Field(default=60, ge=1, le=3600, description="Max gap between two reads of the body.")
    health_read_timeout_s: int = Field(
        default=5, ge=1, le=300, description="Read timeout of the /health passthrough (probes must answer fast)."
    )
    model_probe_cache_s: int = Field(
        default=10,
        ge=1,
        le=300,
        description=(
            "/healthz/model: how long one probe answer (a one-token completion, or its failure) is served to every "
            "checker before the next completion refreshes it; at most one completion per this many seconds per pod."
        ),
    )
    model_probe_timeout_s: int = Field(
        default=30,
        ge=2,
        le=600,
        description=(
            "/healthz/model: how long the background completion may take before it counts as failed; checkers "
            "keep getting the previous answer meanwhile, so a loaded model is not reported down for being slow."
        ),
    )
    model_probe_allow_cidrs: tuple[str, ...] = Field(
        default_factory=route53_health_checker_cidrs,
        min_length=1,
        description=(
            "/healthz/model: client ranges allowed (403 for others); default the Route 53 health checkers' "
            "published ranges. The balancer must see client addresses (NLB client IP preservation, or real_ip_from)."
        ),
    )
    real_ip_from: tuple[str, ...] = Field(
        default=(),
        description=(
            "Proxies whose X-Forwarded-For names the client (an ALB in the VPC); empty = the TCP peer is the client."
        ),
    )
    resolver_valid_s: int = Field(
        default=5, ge=1, le=3600, description="How long nginx trusts a DNS answer before re-resolving (pod churn)."
    )
    resolver_timeout_s: int = Field(default=5, ge=1, le=60, description="DNS query timeout.")
    resolver_ipv6: bool = Field(default=False, description="Also ask for AAAA records (IPv6 clusters only).")
    upstream_name: str = Field(default="vllm_backends", description="Name of the upstream block and its zone.")
    zone_size_kb: int = Field(
        default=256, ge=64, le=65_536, description="Shared-memory zone of the upstream (resolved peers, counters)."
    )
    pid_file: str = Field(default="/tmp/nginx.pid", description="Where the master writes its pid (writable path).")
    temp_dir: str = Field(default="/tmp", description="Parent of every nginx temp directory (writable path).")
    runtime_conf_dir: str = Field(
        default="/etc/nginx/conf.d",
        description="Directory of files rendered at container start (the API key include); an emptyDir.",
    )
    access_log: str = Field(default="/dev/stdout", description="Access log path, or 'off'.")
    error_log: str = Field(default="stderr", description="Error log target ('stderr' or a path).")
    error_log_level: Literal["debug", "info", "notice", "warn", "error", "crit"] = Field(
        default="warn", description="Error log level."
    )

    @field_validator("upstream_name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NGINX_NAME.match(value):
            raise ValueError("upstream_name must match [a-z][a-z0-9_]*")
        return value

    @field_validator("model_probe_allow_cidrs", "real_ip_from")
    @classmethod
    def _valid_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_cidrs(value)

    @field_validator("pid_file", "temp_dir", "runtime_conf_dir")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not _SAFE_PATH.match(value):
            raise ValueError(f"must be an absolute path of [A-Za-z0-9._/-]: {value!r}")
        return value.rstrip("/") or "/"

    @field_validator("access_log", "error_log")
    @classmethod
    def _valid_log(cls, value: str) -> str:
        if value in ("off", "stderr") or _SAFE_PATH.match(value):
            return value
        raise ValueError(f"log target must be 'off', 'stderr' or an absolute path: {value!r}")

    @field_validator("listen_address")
    @classmethod
    def _valid_listen(cls, value: str | None) -> str | None:
        if value is not None and not _is_ip(value):
            raise ValueError(f"listen_address must be an IP address: {value!r}")
        return value

    @field_validator("worker_processes")
    @classmethod
    def _valid_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 256:
            raise ValueError("worker_processes must be 1..256 or 'auto'")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> NginxSettings:
        if not self.pid_file.startswith(self.temp_dir.rstrip("/") + "/"):
            # The only writable volume on a read-only root; the router container also watches the file there.
            raise ValueError("pid_file must lie under temp_dir (the writable volume)")
        if self.connect_timeout_s >= self.read_timeout_s:
            raise ValueError("connect_timeout_s must be shorter than read_timeout_s")
        if self.next_upstream_timeout_s and self.next_upstream_timeout_s < self.connect_timeout_s:
            raise ValueError("next_upstream_timeout_s shorter than one connect timeout would forbid every retry")
        return self


def _check_resolver(resolver: str) -> str:
    """``ADDRESS[:PORT]`` where ADDRESS is an IP or a DNS name (nginx resolves a name once, at start)."""
    host, port = resolver, None
    if resolver.startswith("["):
        host, _, rest = resolver[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif resolver.count(":") == 1:
        host, port = resolver.split(":")
    _check_host(host)
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"bad resolver port in {resolver!r}")
    return resolver


@dataclass(frozen=True)
class NginxConfExtension:
    """Lines another strategy adds to the generated ``nginx.conf`` (each line complete, indented as it will stand).

    - ``http_lines``: in ``http {}``, after the upstream block, before the front-door ``server``;
    - ``front_door_lines``: replace ``proxy_pass http://<upstream>;`` in the front door's ``location /``;
    - ``server_lines``: in the front-door ``server {}``, after ``location /``.

    The ``affinity`` strategy (``vllm_infra.balancing.affinity``) uses it for its capped upstream and fallback.
    """

    http_lines: tuple[str, ...] = ()
    front_door_lines: tuple[str, ...] | None = None
    server_lines: tuple[str, ...] = ()


# Inside a location: reject a request whose Authorization header is not "Bearer <the key>", as vLLM would.
_API_KEY_GUARD = (
    "            if ($http_authorization != $vllm_expected_authorization) {",
    '                add_header WWW-Authenticate "Bearer" always;',
    '                return 401 \'{"error":{"message":"Invalid or missing API key",'
    '"type":"invalid_request_error","code":"invalid_api_key"}}\';',
    "            }",
)


def render_nginx_conf(
    settings: NginxSettings,
    upstream_servers: Sequence[UpstreamServer],
    *,
    resolver: str | None,
    api_key_check: bool,
    served_models: Sequence[str] | None = None,
    probe_model: str | None = None,
    worker_auth_proxy_port: int | None = None,
    extension: NginxConfExtension | None = None,
) -> str:
    """Return a complete ``nginx.conf`` (``events`` + ``http``) for the given upstream servers.

    ``probe_model``: answer ``GET /healthz/model`` with the result of asking a pod for one token of that model (a
    POST to ``/v1/completions`` with the API key): 200 with a completion only when the model really serves. Route 53
    points here; ``/health`` only proves the server process answers. Route 53 checks from many places (each
    checker every 10 or 30 s) and wants an answer within 2 s of connecting ("How Amazon Route 53 determines whether
    a health check is healthy", Route 53 Developer Guide), so the completion is not run per check: the location
    serves a cached answer (``model_probe_cache_s``), one request refreshes it while the others get the previous one
    (``proxy_cache_lock``, ``proxy_cache_use_stale updating``, ``proxy_cache_background_update``), and failures are
    cached like successes, so a dead model shows within one validity period and a slow one within
    ``model_probe_cache_s + model_probe_timeout_s``. The completion runs in a second ``server`` on a unix socket
    under ``temp_dir``, which turns an upstream failure into a real 502/504 answer the cache can hold. Only
    ``model_probe_allow_cidrs`` may ask (403 otherwise).

    ``worker_auth_proxy_port``: also listen on ``127.0.0.1:<port>`` as a forward proxy to the vLLM pods that sets
    ``Authorization: Bearer <key>`` on every request. vllm-router 0.1.17 asks a new worker's ``/v1/models`` without
    its ``--api-key`` (seen against the real binary: ``Failed to discover model ... 401``), registers it as model
    ``unknown`` and then sends every model's requests to it; pointing the router's ``http_proxy`` here makes that
    call (and every other) carry the key. Only IP-literal targets are forwarded (pod IPs from discovery); nothing
    but the pod's own containers can reach a loopback listener.

    The key (``$vllm_expected_authorization``, from :data:`API_KEY_TEMPLATE`) is included whenever the API-key check,
    the model probe or the worker-auth proxy needs it.

    ``served_models``: answer ``GET /v1/models`` here, in the OpenAI list shape, with these model ids (the
    multi-model gateway: vllm-router 0.1.17 answers that path with ``{"models": [...]}``, which OpenAI clients cannot
    read). The list is the stack's configuration, so it is known when the config is rendered.

    ``resolver`` is the DNS server nginx asks at run time (in EKS ``kube-dns.kube-system.svc.cluster.local``,
    resolved once at start, or the kube-dns ClusterIP); it is required when any server has ``resolve=True`` and
    harmless otherwise. With ``api_key_check`` every path but ``/health`` and ``/healthz`` needs
    ``Authorization: Bearer <key>``, the key coming from :data:`API_KEY_TEMPLATE` rendered into
    ``runtime_conf_dir`` at container start. Start nginx with ``-g 'daemon off;'``.
    """
    servers = list(upstream_servers)
    if not servers:
        raise ValueError("at least one upstream server is required")
    if any(s.resolve for s in servers) and resolver is None:
        raise ValueError("servers with resolve=True need a resolver")
    if resolver is not None:
        _check_resolver(resolver)
    if worker_auth_proxy_port is not None and not 1024 <= worker_auth_proxy_port <= 65535:
        raise ValueError(f"worker_auth_proxy_port must be 1024..65535, got {worker_auth_proxy_port}")
    if worker_auth_proxy_port is not None and worker_auth_proxy_port == settings.listen_port:
        raise ValueError("worker_auth_proxy_port must differ from listen_port")
    needs_key = api_key_check or probe_model is not None or worker_auth_proxy_port is not None
    s = settings
    name = s.upstream_name
    tmp = s.temp_dir.rstrip("/")
    retry_on = "error timeout http_502 http_503" + (" non_idempotent" if s.retry_non_idempotent else "")
    lines: list[str] = []
    add = lines.append

    add("# Generated by vllm_infra.balancing.nginx; edit the generator, not this file.")
    add("# Run in the foreground with: nginx -g 'daemon off;'")
    add(f"worker_processes {s.worker_processes};")
    # Each proxied request holds two descriptors; raise the soft limit accordingly (within the hard limit).
    add(f"worker_rlimit_nofile {2 * s.worker_connections + 64};")
    add(f"pid {s.pid_file};")
    add(f"error_log {s.error_log} {s.error_log_level};")
    add("")
    add("events {")
    add(f"    worker_connections {s.worker_connections};")
    add("}")
    add("")
    add("http {")
    add("    # Every path nginx writes is under temp_dir, so the root filesystem can be read-only.")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        add(f"    {kind}_temp_path {tmp}/nginx_{kind}_temp;")
    add("")
    add("    default_type application/octet-stream;")
    add("    server_tokens off;")
    add("    tcp_nodelay on;")
    add("    keepalive_timeout 75s;")
    add("")
    add("    # Keep the client's request id, or mint one; it is passed to vLLM and logged.")
    add("    map $http_x_request_id $vllm_request_id {")
    add("        default $http_x_request_id;")
    add('        "" $request_id;')
    add("    }")
    add("    log_format vllm_json escape=json")
    add('        \'{"time":"$time_iso8601","remote":"$remote_addr","request_id":"$vllm_request_id",\'')
    add('        \'"method":"$request_method","uri":"$uri","status":$status,"bytes":$body_bytes_sent,\'')
    add('        \'"request_time":$request_time,"upstream":"$upstream_addr",\'')
    add('        \'"upstream_status":"$upstream_status","upstream_connect_time":"$upstream_connect_time",\'')
    add('        \'"upstream_header_time":"$upstream_header_time",\'')
    add('        \'"upstream_response_time":"$upstream_response_time"}\';')
    add("    access_log off;" if s.access_log == "off" else f"    access_log {s.access_log} vllm_json;")
    add("")
    if resolver is not None:
        add("    # DNS for `resolve` servers: answers trusted resolver_valid_s, so nginx follows pods as they churn.")
        add(f"    resolver {resolver} valid={s.resolver_valid_s}s ipv6={'on' if s.resolver_ipv6 else 'off'};")
        add(f"    resolver_timeout {s.resolver_timeout_s}s;")
        add("")
    if needs_key:
        add("    # Defines $vllm_expected_authorization; rendered from the environment at container start.")
        add(f"    include {s.runtime_conf_dir}/{API_KEY_INCLUDE_NAME};")
        add("")
    probe_socket = f"{tmp}/nginx_model_probe.sock"
    if probe_model is not None:
        add("    # One cached answer of the model probe; inactive long enough to keep a stale answer to serve while a")
        add("    # refresh runs.")
        add(f"    proxy_cache_path {tmp}/nginx_model_probe_cache levels=1 keys_zone=vllm_model_probe:1m max_size=1m")
        add("                     inactive=1h use_temp_path=off;")
        add("")
    if worker_auth_proxy_port is not None:
        add("    # Worker-auth proxy targets: pod IPs only (IPv4, or IPv6 in brackets), with their port.")
        add("    map $http_host $vllm_worker_target {")
        add('        default "";')
        add(r'        "~^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]{1,5}$" $http_host;')
        add(r'        "~^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$" $http_host;')
        add("    }")
        add("")
    add(f"    upstream {name} {{")
    add("        # Shared state across workers: resolved peers, least_conn counters, max_fails accounting.")
    add(f"        zone {name} {s.zone_size_kb}k;")
    if s.load_balancing == "least_conn":
        # Must precede `keepalive`: the balancing method has to be set before keepalive wraps it.
        add("        least_conn;")
    for server in servers:
        params = " resolve" if server.resolve else ""
        add(f"        server {server.address()}{params} max_fails={s.max_fails} fail_timeout={s.fail_timeout_s}s;")
    add(f"        keepalive {s.keepalive};")
    add(f"        keepalive_timeout {s.keepalive_timeout_s}s;")
    add(f"        keepalive_requests {s.keepalive_requests};")
    add("    }")
    add("")
    if extension is not None:
        lines.extend(extension.http_lines)
    add("    server {")
    if s.listen_address is None:
        add(f"        listen {s.listen_port};")
    else:
        bind = f"[{s.listen_address}]" if ":" in s.listen_address else s.listen_address
        add(f"        listen {bind}:{s.listen_port};")
    if s.listen_ipv6 and s.listen_address is None:
        add(f"        listen [::]:{s.listen_port};")
    add("        server_name _;")
    add("")
    if s.real_ip_from:
        add("        # The client address from X-Forwarded-For, believed only from these proxies (the ALB).")
        for cidr in s.real_ip_from:
            add(f"        set_real_ip_from {cidr};")
        add("        real_ip_header X-Forwarded-For;")
        add("        real_ip_recursive on;")
        add("")
    add(f"        client_max_body_size {s.client_max_body_size_mb}m;")
    add(f"        client_body_buffer_size {s.client_body_buffer_size_kb}k;")
    add(f"        client_body_timeout {s.client_body_timeout_s}s;")
    add("")
    add("        # Upstream keepalive needs HTTP/1.1 and an empty Connection header.")
    add("        proxy_http_version 1.1;")
    add('        proxy_set_header Connection "";')
    add("        proxy_set_header Host $host;")
    add("        proxy_set_header X-Real-IP $remote_addr;")
    add("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    add("        proxy_set_header X-Forwarded-Proto $scheme;")
    add("        proxy_set_header X-Forwarded-Host $host;")
    add("        proxy_set_header X-Request-Id $vllm_request_id;")
    add("")
    add("        # Streaming: pass SSE chunks on as they arrive; a backend cannot switch buffering back on.")
    add("        proxy_buffering off;")
    add("        proxy_cache off;")
    add("        proxy_ignore_headers X-Accel-Buffering;")
    add("        # Read the whole prompt before picking a pod, so a failed attempt can be re-sent elsewhere.")
    add("        proxy_request_buffering on;")
    add("")
    add(f"        proxy_connect_timeout {s.connect_timeout_s}s;")
    add(f"        proxy_send_timeout {s.send_timeout_s}s;")
    add(f"        proxy_read_timeout {s.read_timeout_s}s;")
    add("        # Retried only while nothing has been sent to the client; bounded in tries and time.")
    add(f"        proxy_next_upstream {retry_on};")
    add(f"        proxy_next_upstream_tries {s.next_upstream_tries};")
    add(f"        proxy_next_upstream_timeout {s.next_upstream_timeout_s}s;")
    add("")
    add("        # The balancer's own liveness, answered by nginx without touching a pod.")
    add("        location = /healthz {")
    add("            access_log off;")
    add("            default_type text/plain;")
    add('            return 200 "ok\\n";')
    add("        }")
    add("")
    add("        # vLLM's /health through the balancer: 200 while at least one pod is up. No API key.")
    add("        location = /health {")
    add("            access_log off;")
    add(f"            proxy_read_timeout {s.health_read_timeout_s}s;")
    add(f"            proxy_pass http://{name};")
    add("        }")
    add("")
    add("        # Per-pod metrics through a balancer mix pods at random; Prometheus scrapes the pods directly.")
    add("        location = /metrics {")
    add("            return 404;")
    add("        }")
    add("")
    if probe_model is not None:
        add(
            "        # Route 53's check that the model serves: a cached answer of the probe server below "
            "(one completion"
        )
        add("        # per validity period, refreshed in the background), for the health checkers' addresses only.")
        add("        location = /healthz/model {")
        add("            access_log off;")
        for cidr in s.model_probe_allow_cidrs:
            add(f"            allow {cidr};")
        add("            deny all;")
        add("            proxy_cache vllm_model_probe;")
        add('            proxy_cache_key "model_probe";')
        add(f"            proxy_cache_valid any {s.model_probe_cache_s}s;")
        add("            proxy_cache_lock on;")
        add(f"            proxy_cache_lock_timeout {s.model_probe_timeout_s + 5}s;")
        add(f"            proxy_cache_lock_age {s.model_probe_timeout_s + 5}s;")
        add("            proxy_cache_use_stale updating;")
        add("            proxy_cache_background_update on;")
        add("            proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires X-Accel-Buffering;")
        add("            add_header X-Probe-Cache $upstream_cache_status always;")
        add("            # A cache needs the whole answer buffered.")
        add("            proxy_buffering on;")
        add("            proxy_next_upstream off;")
        add(f"            proxy_read_timeout {s.model_probe_timeout_s + 5}s;")
        add(f"            proxy_pass http://unix:{probe_socket}:/healthz/model;")
        add("        }")
        add("")
    if served_models is not None:
        listing = json.dumps(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "vllm"} for m in served_models]},
            separators=(",", ":"),
        )
        add("        # The OpenAI model list, from the stack's configuration.")
        add("        location = /v1/models {")
        add("            default_type application/json;")
        if api_key_check:
            lines.extend(_API_KEY_GUARD)
        add("            return 200 '" + listing.replace("\\", "\\\\").replace("'", "\\'") + "';")
        add("        }")
        add("")
    add("        location / {")
    if api_key_check:
        add("            default_type application/json;")
        lines.extend(_API_KEY_GUARD)
    add("            # Tells an nginx-based ingress in front of this one not to buffer the stream either.")
    add("            add_header X-Accel-Buffering no always;")
    if extension is not None and extension.front_door_lines is not None:
        lines.extend(extension.front_door_lines)
    else:
        add(f"            proxy_pass http://{name};")
    add("        }")
    if extension is not None:
        lines.extend(extension.server_lines)
    add("    }")
    if probe_model is not None:
        probe = json.dumps(
            {"model": probe_model, "prompt": "ping", "max_tokens": 1, "temperature": 0}, separators=(",", ":")
        )
        add("")
        add("    # The model probe itself: one token of a real completion, authenticated with the key. Reached only")
        add("    # through the cache above; an upstream failure becomes a 502/504 answer the cache keeps.")
        add("    server {")
        add(f"        listen unix:{probe_socket};")
        add("        access_log off;")
        add("        proxy_http_version 1.1;")
        add('        proxy_set_header Connection "";')
        add("        location = /healthz/model {")
        add("            proxy_method POST;")
        add('            proxy_set_header Content-Type "application/json";')
        add("            proxy_set_header Authorization $vllm_expected_authorization;")
        add("            proxy_set_body '" + probe.replace("'", "\\'") + "';")
        add(f"            proxy_connect_timeout {s.connect_timeout_s}s;")
        add(f"            proxy_read_timeout {s.model_probe_timeout_s}s;")
        add(f"            proxy_next_upstream {retry_on};")
        add(f"            proxy_next_upstream_tries {s.next_upstream_tries};")
        add(f"            proxy_pass http://{name}/v1/completions;")
        add("        }")
        add("        location / {")
        add("            return 404;")
        add("        }")
        add("    }")
    if worker_auth_proxy_port is not None:
        add("")
        add(
            "    # vllm-router's requests to the pods (its http_proxy), each with the API key: "
            "vllm-router 0.1.17 lists a"
        )
        add("    # new worker's models without one. Loopback only; streaming-safe like the front door.")
        add("    server {")
        add(f"        listen 127.0.0.1:{worker_auth_proxy_port};")
        add("        server_name _;")
        add(f"        client_max_body_size {s.client_max_body_size_mb}m;")
        add(f"        client_body_buffer_size {s.client_body_buffer_size_kb}k;")
        add("        proxy_http_version 1.1;")
        add("        proxy_set_header Host $http_host;")
        add("        proxy_set_header Authorization $vllm_expected_authorization;")
        add("        proxy_buffering off;")
        add("        proxy_request_buffering off;")
        add(f"        proxy_connect_timeout {s.connect_timeout_s}s;")
        add(f"        proxy_send_timeout {s.send_timeout_s}s;")
        add(f"        proxy_read_timeout {s.read_timeout_s}s;")
        add("        # The router retries on its own; nginx must not pick another target for it.")
        add("        proxy_next_upstream off;")
        add("        location / {")
        add('            if ($vllm_worker_target = "") {')
        add("                return 403;")
        add("            }")
        add("            proxy_pass http://$vllm_worker_target$request_uri;")
        add("        }")
        add("    }")
    add("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NginxKubernetesSpec:
    """Everything the nginx Deployment needs, as plain Kubernetes-shaped dicts (camelCase keys).

    ``config_map_data`` goes into a ConfigMap named ``config_map_name`` (nginx.conf and, with the API key check,
    the envsubst template: neither holds a secret). ``container`` is a complete container spec using that
    ConfigMap and the ``volumes``; ``volumes`` go into the pod spec. ``config_map_data`` should also feed a
    checksum annotation on the pod template, so a config change rolls the pods (subPath mounts do not refresh).
    """

    image: str
    config_map_name: str
    config_map_data: dict[str, str]
    container: dict[str, Any]
    volumes: list[dict[str, Any]] = field(default_factory=list)


def nginx_kubernetes_spec(
    settings: NginxSettings,
    upstream_servers: Sequence[UpstreamServer],
    *,
    resolver: str | None,
    api_key_secret: tuple[str, str] | None = None,
    config_map_name: str = "vllm-nginx",
    container_name: str = "nginx",
    resources: dict[str, Any] | None = None,
    served_models: Sequence[str] | None = None,
    probe_model: str | None = None,
    api_key_check: bool | None = None,
    worker_auth_proxy_port: int | None = None,
    image: str = NGINX_IMAGE,
    extension: NginxConfExtension | None = None,
) -> NginxKubernetesSpec:
    """Build the nginx container for Kubernetes from the same settings as :func:`render_nginx_conf`.

    ``api_key_secret=(secret_name, key)`` brings the API key into the container: it is read from that Secret into
    ``VLLM_API_KEY`` and rendered by the image's envsubst step into an in-memory emptyDir at
    ``settings.runtime_conf_dir``. ``api_key_check`` (default: whether a Secret is given) makes the edge demand it
    from clients; ``probe_model`` and ``worker_auth_proxy_port`` (see :func:`render_nginx_conf`) need the Secret.
    ``image`` is the nginx image (``nginx:1.29.8``, better ``nginx:1.29.8@sha256:...``); ``extension`` goes to
    :func:`render_nginx_conf`. The container keeps the image's entrypoint (which runs that step) and its
    ``nginx -g 'daemon off;'`` command, runs as the image's ``nginx`` user (uid 101) on a read-only root with
    emptyDirs at ``temp_dir`` and ``runtime_conf_dir``, and is probed on nginx's own ``/healthz``.
    """
    if api_key_check is None:
        api_key_check = api_key_secret is not None
    if api_key_secret is None and (api_key_check or probe_model is not None or worker_auth_proxy_port is not None):
        raise ValueError("the API-key check, probe_model and worker_auth_proxy_port need api_key_secret")
    conf = render_nginx_conf(
        settings,
        upstream_servers,
        resolver=resolver,
        api_key_check=api_key_check,
        served_models=served_models,
        probe_model=probe_model,
        worker_auth_proxy_port=worker_auth_proxy_port,
        extension=extension,
    )
    data = {"nginx.conf": conf}
    templates_dir = "/etc/nginx/templates"
    mounts: list[dict[str, Any]] = [
        {"name": "nginx-conf", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf", "readOnly": True},
        {"name": "nginx-tmp", "mountPath": settings.temp_dir},
    ]
    volumes: list[dict[str, Any]] = [
        {
            "name": "nginx-conf",
            "configMap": {"name": config_map_name, "items": [{"key": "nginx.conf", "path": "nginx.conf"}]},
        },
        empty_dir_volume("nginx-tmp", 2),
    ]
    env: list[dict[str, Any]] = []
    if api_key_secret is not None:
        secret_name, secret_key = api_key_secret
        data[API_KEY_TEMPLATE_NAME] = API_KEY_TEMPLATE
        mounts += [
            {"name": "nginx-templates", "mountPath": templates_dir, "readOnly": True},
            {"name": "nginx-runtime-conf", "mountPath": settings.runtime_conf_dir},
        ]
        volumes += [
            {
                "name": "nginx-templates",
                "configMap": {
                    "name": config_map_name,
                    "items": [{"key": API_KEY_TEMPLATE_NAME, "path": API_KEY_TEMPLATE_NAME}],
                },
            },
            # Memory-backed: the rendered key never touches the node's disk.
            {"name": "nginx-runtime-conf", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ]
        env += [
            {"name": API_KEY_ENV_VAR, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": secret_key}}},
            # Only this variable is substituted; nginx's own $variables in templates stay untouched.
            {"name": "NGINX_ENVSUBST_FILTER", "value": f"^{API_KEY_ENV_VAR}$"},
            {"name": "NGINX_ENVSUBST_TEMPLATE_DIR", "value": templates_dir},
            {"name": "NGINX_ENVSUBST_OUTPUT_DIR", "value": settings.runtime_conf_dir},
        ]
    probe_timing = {"period_seconds": 5, "timeout_seconds": 2}
    container: dict[str, Any] = {
        "name": container_name,
        "image": image,
        # The image's ENTRYPOINT renders templates then execs this; daemon mode is off on the command line.
        "args": ["nginx", "-g", "daemon off;"],
        "ports": [{"name": "http", "containerPort": settings.listen_port, "protocol": "TCP"}],
        "env": env,
        "volumeMounts": mounts,
        "readinessProbe": http_probe("/healthz", settings.listen_port, **probe_timing, failure_threshold=2),
        "livenessProbe": http_probe("/healthz", settings.listen_port, **probe_timing, failure_threshold=6),
        # The official image's nginx user and group (101).
        "securityContext": restricted_security_context(101, True),
        # SIGTERM is nginx's *fast* stop and would cut running streams. Instead: wait for the endpoint removal to
        # reach clients, send SIGQUIT (graceful: finish in-flight requests), and wait until the master is gone.
        # The pod's terminationGracePeriodSeconds bounds the wait; set it to cover the longest generation.
        "lifecycle": {
            "preStop": {
                "exec": {
                    "command": [
                        "/bin/sh",
                        "-c",
                        f"sleep {PRESTOP_DELAY_S}; kill -QUIT $(cat {settings.pid_file}); "
                        f"while [ -e {settings.pid_file} ]; do sleep 1; done",
                    ]
                }
            }
        },
    }
    if resources is not None:
        container["resources"] = resources
    return NginxKubernetesSpec(
        image=image,
        config_map_name=config_map_name,
        config_map_data=data,
        container=container,
        volumes=volumes,
    )
