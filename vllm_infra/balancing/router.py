"""vllm-router in front of vLLM pods: settings, the exact command line, and the pinned image.

vllm-router (https://github.com/vllm-project/router, PyPI ``vllm-router``) is a Rust request router that knows
OpenAI/vLLM requests: ``cache_aware`` sends requests sharing a prompt prefix to the pod that has that prefix in
its KV cache (approximated by a radix tree of past prompts per worker), falling back to the least loaded pod when
load is uneven; it retries failed requests on other workers with backoff, opens a circuit breaker on a failing
worker and health-checks workers. Two ways to give it workers:

* regular mode, one model: ``--worker-urls`` (static) or ``--service-discovery --selector ...`` (it watches the
  Kubernetes API for pods with those labels; the pod's service account needs get/list/watch on pods);
* multi-model (``--enable-igw``, "inference gateway"): each worker's model comes from its ``/v1/models`` and
  requests are routed by their ``model`` field. 0.1.17 asks that without its ``--api-key`` (a key-protected vLLM
  answers 401 and the worker is filed under model ``unknown``), so the deployed router reaches the pods through a
  key-adding proxy (``http_proxy``, see ``render_nginx_conf(worker_auth_proxy_port=...)``). ``POST /workers`` with
  a JSON ``model_id`` would skip the lookup, but Kubernetes discovery always registers without one. Workers are
  registered with ``POST /add_worker?url=...`` (see :func:`add_worker_path`) or found by the same Kubernetes
  service discovery. In this mode ``--worker-urls`` is ignored by the router, so :func:`router_args` refuses static
  workers there.

Two executables answer to ``vllm-router``: the PyPI wheel's Python launcher (what tests run) and the Rust binary
in the container image (``Dockerfile.router``: ``/usr/local/bin/vllm-router``). Their flags mostly agree but not
entirely (the Rust CLI spells ``--eviction-interval``, the launcher ``--eviction-interval-secs``; log levels are
``warn`` vs ``warning``; queue flags exist only in the launcher). :func:`router_args` emits only flags both accept
(:data:`PORTABLE_FLAGS`), so the command line tested here is the one the image runs.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from vllm_infra.balancing.nginx import _check_host, _Model

__all__ = [
    "PORTABLE_FLAGS",
    "ROUTER_IMAGE",
    "ROUTER_VERSION",
    "KubernetesDiscovery",
    "RouterSettings",
    "StaticWorkers",
    "add_worker_path",
    "router_args",
]

ROUTER_VERSION = "0.1.17"
# Official image, published by the router's release pipeline to Docker Hub as vllm/vllm-router with tags
# `latest` and `v<version>` (router repo, .buildkite/scripts/publish-release-images.sh). Pin the exact release,
# matching the PyPI version the tests run. No digest here: none could be verified from an authoritative source;
# pin `vllm/vllm-router:v0.1.17@sha256:...` through `balancer.router.image` for production.
ROUTER_IMAGE = f"vllm/vllm-router:v{ROUTER_VERSION}"

# Flags accepted by both the Python launcher of vllm-router 0.1.17 (checked against the real `--help` by the
# tests) and the Rust binary's clap CLI (src/main.rs). router_args() never emits anything else.
PORTABLE_FLAGS = frozenset(
    {
        "--host",
        "--port",
        "--worker-urls",
        "--policy",
        "--cache-threshold",
        "--balance-abs-threshold",
        "--balance-rel-threshold",
        "--max-tree-size",
        "--max-payload-size",
        "--request-timeout-secs",
        "--max-concurrent-requests",
        "--worker-startup-timeout-secs",
        "--worker-startup-check-interval",
        "--retry-max-retries",
        "--retry-initial-backoff-ms",
        "--retry-max-backoff-ms",
        "--retry-backoff-multiplier",
        "--retry-jitter-factor",
        "--disable-retries",
        "--cb-failure-threshold",
        "--cb-success-threshold",
        "--cb-timeout-duration-secs",
        "--cb-window-duration-secs",
        "--disable-circuit-breaker",
        "--health-failure-threshold",
        "--health-success-threshold",
        "--health-check-timeout-secs",
        "--health-check-interval-secs",
        "--health-check-endpoint",
        "--enable-igw",
        "--api-key",
        "--log-level",
        "--service-discovery",
        "--selector",
        "--service-discovery-port",
        "--service-discovery-namespace",
        "--prometheus-port",
        "--prometheus-host",
        "--request-id-headers",
    }
)

Policy = Literal["cache_aware", "round_robin", "random", "power_of_two", "consistent_hash"]
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class StaticWorkers(_Model):
    """A fixed list of worker base URLs (``http://host:port``), e.g. stubs on loopback or fixed pods.

    Empty means "registered at run time": in multi-model mode each worker is added with ``POST``
    :func:`add_worker_path` (the router reads its model from the worker's ``/v1/models``).
    """

    urls: tuple[str, ...] = Field(default=(), description="Worker base URLs, scheme and port included.")

    @field_validator("urls")
    @classmethod
    def _valid_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
                raise ValueError(f"worker URL must be http(s)://host:port, got {url!r}")
            _check_host(parts.hostname)
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"worker URL must have no path or query: {url!r}")
        return tuple(u.rstrip("/") for u in urls)


class KubernetesDiscovery(_Model):
    """Workers found by watching pods: label ``selector`` in ``namespace`` (None = all namespaces), vLLM ``port``.

    The router's service account needs get/list/watch on pods (a Role in ``namespace``; a ClusterRole without
    one). Only pods that are Ready are used, so vLLM's readiness probe gates traffic.
    """

    selector: dict[str, str] = Field(min_length=1, description="Pod labels that mark vLLM workers.")
    namespace: str | None = Field(default=None, description="Namespace to watch; None watches all namespaces.")
    port: int = Field(default=8000, ge=1, le=65535, description="vLLM's port on the pods.")

    @field_validator("selector")
    @classmethod
    def _valid_selector(cls, selector: dict[str, str]) -> dict[str, str]:
        for key, value in selector.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(f"not a Kubernetes label selector term: {key}={value}")
        return selector

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", value):
            raise ValueError(f"not a namespace name: {value!r}")
        return value


class RouterSettings(_Model):
    """Tunables of vllm-router; defaults are production values, all emitted explicitly.

    Explicit because the launcher and the Rust binary have different built-in defaults for some of them
    (``max_tree_size``: 2**25 vs 2**26), and because the binary's defaults are tuned for benchmarks, not for an
    autoscaled fleet (health checks every 60 s, retry backoff up to 30 s).
    """

    policy: Policy = Field(default="cache_aware", description="Load-balancing policy.")
    host: str = Field(default="0.0.0.0", description="Address the router binds (0.0.0.0 in a pod, 127.0.0.1 in tests).")
    cache_threshold: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="cache_aware: minimum prefix-match ratio to follow the cache; below it, the least-used worker.",
    )
    balance_abs_threshold: int = Field(
        default=64, ge=0, description="cache_aware: load gap (requests) beyond which balance beats cache affinity."
    )
    balance_rel_threshold: float = Field(
        default=1.5, ge=1.0, description="cache_aware: and the load ratio beyond which balance beats cache affinity."
    )
    max_tree_size: int = Field(
        default=2**25, ge=1024, description="cache_aware: characters remembered per worker before eviction."
    )
    max_payload_size_mb: int = Field(default=64, ge=1, le=4096, description="Largest request body accepted.")
    request_timeout_secs: int = Field(
        default=1800, ge=1, le=86_400, description="Whole-request timeout towards a worker (long generations)."
    )
    max_concurrent_requests: int = Field(
        default=4096, ge=1, description="Requests the router serves at once; more are queued, then 429."
    )
    worker_startup_timeout_secs: int = Field(
        default=600, ge=1, description="How long the router waits for static workers to turn healthy at start."
    )
    worker_startup_check_interval: int = Field(default=5, ge=1, description="Health poll interval during that wait.")
    retries: bool = Field(default=True, description="Retry failed requests on another worker.")
    retry_max_retries: int = Field(
        default=4,
        ge=1,
        le=20,
        description="Attempts per request (the router counts the first); must exceed cb_failure_threshold.",
    )
    retry_initial_backoff_ms: int = Field(default=50, ge=0, description="Backoff before the first retry.")
    retry_max_backoff_ms: int = Field(default=2000, ge=0, description="Backoff cap (interactive traffic: seconds).")
    retry_backoff_multiplier: float = Field(default=1.5, ge=1.0, description="Backoff growth per retry.")
    retry_jitter_factor: float = Field(default=0.2, ge=0.0, le=1.0, description="Random spread of the backoff.")
    circuit_breaker: bool = Field(default=True, description="Stop sending to a worker that keeps failing.")
    cb_failure_threshold: int = Field(default=3, ge=1, description="Failures that open a worker's breaker.")
    cb_success_threshold: int = Field(default=2, ge=1, description="Successes (half-open) that close it again.")
    cb_timeout_duration_secs: int = Field(default=30, ge=1, description="Open time before a half-open probe.")
    cb_window_duration_secs: int = Field(default=60, ge=1, description="Window in which failures are counted.")
    health_failure_threshold: int = Field(default=3, ge=1, description="Failed checks that mark a worker unhealthy.")
    health_success_threshold: int = Field(default=2, ge=1, description="Passed checks that mark it healthy again.")
    health_check_timeout_secs: int = Field(default=5, ge=1, description="Timeout of one health check.")
    health_check_interval_secs: int = Field(
        default=10, ge=1, description="Seconds between health checks (binary default 60 s is slow for autoscaling)."
    )
    health_check_endpoint: str = Field(default="/health", description="vLLM's health path.")
    log_level: Literal["debug", "info", "error"] = Field(
        default="info", description="Log level; only levels both CLIs spell alike (no 'warn'/'warning')."
    )
    prometheus_host: str = Field(default="0.0.0.0", description="Address of the router's Prometheus endpoint.")
    prometheus_port: int = Field(default=29000, ge=1, le=65535, description="Port of the router's /metrics.")
    request_id_headers: tuple[str, ...] = Field(
        default=("x-request-id",), description="Headers whose value becomes the request id (passed on, logged)."
    )
    worker_api_key_env: str | None = Field(
        default=None,
        description=(
            "Name of an env var (from a Secret) holding vLLM's --api-key, emitted as --api-key $(NAME), which "
            "Kubernetes expands, so the key is not in the pod spec. vllm-router 0.1.17 sends it on its tokenizer "
            "calls (/v1/.../render) but not when it lists a new worker's /v1/models (multi-model: see the "
            "worker-auth proxy of vllm_infra.balancing.nginx.render_nginx_conf)."
        ),
    )

    @field_validator("host", "prometheus_host")
    @classmethod
    def _valid_bind(cls, value: str) -> str:
        return _check_host(value)

    @field_validator("health_check_endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9._/-]*$", value):
            raise ValueError(f"not a URL path: {value!r}")
        return value

    @field_validator("request_id_headers")
    @classmethod
    def _valid_headers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for header in value:
            if not _HEADER.match(header):
                raise ValueError(f"not a header name: {header!r}")
        return value

    @field_validator("worker_api_key_env")
    @classmethod
    def _valid_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"not an environment variable name: {value!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> RouterSettings:
        if self.retry_max_backoff_ms < self.retry_initial_backoff_ms:
            raise ValueError("retry_max_backoff_ms must be >= retry_initial_backoff_ms")
        # Measured on loopback (tests/loopback/test_router.py): with cache_aware, a request's retries go back to
        # the worker holding its prefix, dead or not, until that worker's breaker opens. Unless the attempts
        # outlast the breaker, the request that finds a pod dead fails (1 lost request per dead pod with
        # retries=3/breaker=5; none with 4/3).
        if self.retries and self.circuit_breaker and self.retry_max_retries <= self.cb_failure_threshold:
            raise ValueError(
                "retry_max_retries must exceed cb_failure_threshold, or a retry pinned to a dead worker by "
                "cache affinity fails before the breaker takes that worker out"
            )
        return self


def _num(value: float) -> str:
    """Render a number the way both CLIs parse it (no exponent, no trailing zeros for whole floats)."""
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return repr(value) if isinstance(value, float) else str(value)


def router_args(
    settings: RouterSettings,
    workers: StaticWorkers | KubernetesDiscovery,
    *,
    multi_model: bool,
    port: int,
) -> list[str]:
    """The ``vllm-router`` arguments (without the executable) for these settings and workers.

    ``multi_model`` turns on ``--enable-igw``: requests are routed by their ``model`` field to workers serving
    that model. With :class:`KubernetesDiscovery` the router finds pods itself; with :class:`StaticWorkers` in
    regular mode the URLs go to ``--worker-urls``. In multi-model mode the router ignores ``--worker-urls``, so
    only an empty :class:`StaticWorkers` is accepted there: start without workers and register each with
    ``POST`` :func:`add_worker_path`. Every flag is in :data:`PORTABLE_FLAGS`.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"bad port {port}")
    if isinstance(workers, StaticWorkers):
        if multi_model and workers.urls:
            raise ValueError(
                "vllm-router ignores --worker-urls with --enable-igw; use KubernetesDiscovery, or pass "
                "StaticWorkers() and POST add_worker_path(url) for each worker"
            )
        if not multi_model and not workers.urls:
            raise ValueError("regular mode needs at least one worker URL (or KubernetesDiscovery)")
    s = settings
    args = ["--host", s.host, "--port", str(port), "--policy", s.policy]
    if isinstance(workers, StaticWorkers):
        if workers.urls:
            args += ["--worker-urls", *workers.urls]
    elif isinstance(workers, KubernetesDiscovery):
        args += ["--service-discovery", "--selector", *(f"{k}={v}" for k, v in sorted(workers.selector.items()))]
        args += ["--service-discovery-port", str(workers.port)]
        if workers.namespace is not None:
            args += ["--service-discovery-namespace", workers.namespace]
    if multi_model:
        args.append("--enable-igw")
    args += [
        "--cache-threshold",
        _num(s.cache_threshold),
        "--balance-abs-threshold",
        str(s.balance_abs_threshold),
        "--balance-rel-threshold",
        _num(s.balance_rel_threshold),
        "--max-tree-size",
        str(s.max_tree_size),
        "--max-payload-size",
        str(s.max_payload_size_mb * 1024 * 1024),
        "--request-timeout-secs",
        str(s.request_timeout_secs),
        "--max-concurrent-requests",
        str(s.max_concurrent_requests),
        "--worker-startup-timeout-secs",
        str(s.worker_startup_timeout_secs),
        "--worker-startup-check-interval",
        str(s.worker_startup_check_interval),
    ]
    if s.retries:
        args += [
            "--retry-max-retries",
            str(s.retry_max_retries),
            "--retry-initial-backoff-ms",
            str(s.retry_initial_backoff_ms),
            "--retry-max-backoff-ms",
            str(s.retry_max_backoff_ms),
            "--retry-backoff-multiplier",
            _num(s.retry_backoff_multiplier),
            "--retry-jitter-factor",
            _num(s.retry_jitter_factor),
        ]
    else:
        args.append("--disable-retries")
    if s.circuit_breaker:
        args += [
            "--cb-failure-threshold",
            str(s.cb_failure_threshold),
            "--cb-success-threshold",
            str(s.cb_success_threshold),
            "--cb-timeout-duration-secs",
            str(s.cb_timeout_duration_secs),
            "--cb-window-duration-secs",
            str(s.cb_window_duration_secs),
        ]
    else:
        args.append("--disable-circuit-breaker")
    args += [
        "--health-failure-threshold",
        str(s.health_failure_threshold),
        "--health-success-threshold",
        str(s.health_success_threshold),
        "--health-check-timeout-secs",
        str(s.health_check_timeout_secs),
        "--health-check-interval-secs",
        str(s.health_check_interval_secs),
        "--health-check-endpoint",
        s.health_check_endpoint,
        "--log-level",
        s.log_level,
        "--prometheus-host",
        s.prometheus_host,
        "--prometheus-port",
        str(s.prometheus_port),
        "--request-id-headers",
        *s.request_id_headers,
    ]
    if s.worker_api_key_env is not None:
        # Kubernetes expands $(NAME) in args from the container's env; the Secret's value stays out of the spec.
        args += ["--api-key", f"$({s.worker_api_key_env})"]
    unknown = {a for a in args if a.startswith("--")} - PORTABLE_FLAGS
    if unknown:  # a programming error in this function, caught by every call
        raise AssertionError(f"non-portable router flags: {sorted(unknown)}")
    return args


def add_worker_path(worker_url: str) -> str:
    """Path+query of the multi-model registration call: ``POST`` it to the router to add ``worker_url``."""
    StaticWorkers(urls=(worker_url,))  # same validation as static workers
    return f"/add_worker?url={quote(worker_url.rstrip('/'), safe='')}"
