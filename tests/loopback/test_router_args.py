"""The vllm-router command line: every flag :func:`router_args` emits exists in the real vllm-router 0.1.17
(its ``--help`` is run and parsed), values are in its choices, and its own argument parser reads them back as
the settings meant. No router is started here (see test_router.py)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import pytest
from pydantic import ValidationError

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

from .conftest import require_binary
from .procs import in_ci, missing_message

STATIC = StaticWorkers(urls=("http://127.0.0.1:8001", "http://127.0.0.1:8002/"))
K8S = KubernetesDiscovery(selector={"app.kubernetes.io/name": "vllm", "tier": "engine"}, namespace="llm", port=8000)

COMBINATIONS = [
    (RouterSettings(), STATIC, False),
    (RouterSettings(), K8S, False),
    (RouterSettings(), K8S, True),
    (RouterSettings(), StaticWorkers(), True),
    (RouterSettings(policy="round_robin", retries=False, circuit_breaker=False, log_level="debug"), STATIC, False),
    (RouterSettings(policy="power_of_two", worker_api_key_env="VLLM_API_KEY"), K8S, False),
    (RouterSettings(policy="consistent_hash", log_level="error"), K8S, True),
    (RouterSettings(policy="random"), StaticWorkers(urls=("http://[::1]:9000",)), False),
]


@pytest.fixture(scope="module")
def router_help() -> str:
    """The real ``vllm-router --help`` text."""
    binary = require_binary("vllm-router")
    done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _help_flags(help_text: str) -> set[str]:
    options = help_text[help_text.index("options:") :]
    return set(re.findall(r"(?m)^\s+(--[a-z0-9][a-z0-9-]*)", options))


def _choices(help_text: str, flag: str) -> set[str]:
    match = re.search(rf"{re.escape(flag)} \{{([^}}]+)\}}", help_text)
    assert match, f"no choices listed for {flag}"
    return set(match.group(1).split(","))


def test_installed_router_is_the_pinned_version() -> None:
    """The router the tests run is the version the image tag pins."""
    try:
        installed = importlib.metadata.version("vllm-router")
    except importlib.metadata.PackageNotFoundError:
        if in_ci():
            pytest.fail(missing_message("vllm-router"), pytrace=False)
        pytest.skip(missing_message("vllm-router"))
    assert installed == ROUTER_VERSION
    assert f"vllm/vllm-router:v{ROUTER_VERSION}" == ROUTER_IMAGE


def test_help_is_parsed(router_help: str) -> None:
    """The --help parser finds the options (guards against vacuous subset checks)."""
    flags = _help_flags(router_help)
    # Sanity of the parser itself, so the subset checks below cannot pass vacuously.
    assert len(flags) > 50 and {"--worker-urls", "--enable-igw", "--cb-failure-threshold"} <= flags


def test_portable_flags_exist_in_the_real_router(router_help: str) -> None:
    """Every flag router_args may emit exists in the real vllm-router."""
    missing = PORTABLE_FLAGS - _help_flags(router_help)
    assert not missing, f"flags vllm-router {ROUTER_VERSION} does not know: {sorted(missing)}"


@pytest.mark.parametrize(("settings", "workers", "multi_model"), COMBINATIONS)
def test_every_emitted_flag_and_choice_exists(router_help: str, settings, workers, multi_model) -> None:
    """Each generated command line uses only real flags and listed choices."""
    args = router_args(settings, workers, multi_model=multi_model, port=30001)
    emitted = {a for a in args if a.startswith("--")}
    assert emitted <= _help_flags(router_help), emitted - _help_flags(router_help)
    assert emitted <= PORTABLE_FLAGS
    assert args[args.index("--policy") + 1] in _choices(router_help, "--policy")
    assert args[args.index("--log-level") + 1] in _choices(router_help, "--log-level")


@pytest.mark.parametrize(("settings", "workers", "multi_model"), COMBINATIONS)
def test_the_router_parser_reads_back_the_settings(settings, workers, multi_model) -> None:
    """vllm-router's own argparse (``parse_router_args``) must see exactly what the settings say."""
    try:
        from vllm_router.launch_router import parse_router_args
    except ImportError:
        if in_ci():
            pytest.fail(missing_message("vllm-router"), pytrace=False)
        pytest.skip(missing_message("vllm-router"))
    parsed = parse_router_args(router_args(settings, workers, multi_model=multi_model, port=30001))
    assert parsed.port == 30001 and parsed.host == settings.host
    assert parsed.policy == settings.policy
    assert parsed.enable_igw is multi_model
    assert parsed.max_payload_size == settings.max_payload_size_mb * 1024 * 1024
    assert parsed.request_timeout_secs == settings.request_timeout_secs
    assert parsed.health_check_interval_secs == settings.health_check_interval_secs
    assert parsed.cache_threshold == pytest.approx(settings.cache_threshold)
    assert parsed.balance_rel_threshold == pytest.approx(settings.balance_rel_threshold)
    assert parsed.max_tree_size == settings.max_tree_size
    assert parsed.prometheus_port == settings.prometheus_port
    assert parsed.log_level == settings.log_level
    assert parsed.disable_retries is (not settings.retries)
    assert parsed.disable_circuit_breaker is (not settings.circuit_breaker)
    if settings.retries:
        assert parsed.retry_max_retries == settings.retry_max_retries
        assert parsed.retry_max_backoff_ms == settings.retry_max_backoff_ms
    if settings.circuit_breaker:
        assert parsed.cb_failure_threshold == settings.cb_failure_threshold
        assert parsed.cb_timeout_duration_secs == settings.cb_timeout_duration_secs
    if isinstance(workers, KubernetesDiscovery):
        assert parsed.service_discovery is True
        assert parsed.selector == workers.selector
        assert parsed.service_discovery_port == workers.port
        assert parsed.service_discovery_namespace == workers.namespace
        assert parsed.worker_urls == []
    else:
        assert parsed.service_discovery is False
        assert parsed.worker_urls == list(workers.urls)
    assert parsed.api_key == (f"$({settings.worker_api_key_env})" if settings.worker_api_key_env else None)


def test_static_worker_urls_are_refused_in_multi_model_mode() -> None:
    """Worker URLs the router would ignore (IGW) or an empty regular router are refused."""
    with pytest.raises(ValueError, match="add_worker"):
        router_args(RouterSettings(), STATIC, multi_model=True, port=30001)
    with pytest.raises(ValueError, match="at least one worker"):
        router_args(RouterSettings(), StaticWorkers(), multi_model=False, port=30001)


@pytest.mark.parametrize(
    "make",
    [
        lambda: StaticWorkers(urls=("127.0.0.1:8000",)),
        lambda: StaticWorkers(urls=("http://127.0.0.1",)),
        lambda: StaticWorkers(urls=("http://127.0.0.1:8000/v1",)),
        lambda: KubernetesDiscovery(selector={}),
        lambda: KubernetesDiscovery(selector={"app": "vllm engine"}),
        lambda: KubernetesDiscovery(selector={"app": "vllm"}, namespace="Bad_NS"),
        lambda: RouterSettings(log_level="warning"),
        lambda: RouterSettings(policy="kv_aware"),
        lambda: RouterSettings(cache_threshold=1.5),
        lambda: RouterSettings(retry_initial_backoff_ms=5000, retry_max_backoff_ms=100),
        lambda: RouterSettings(worker_api_key_env="vllm-key"),
        lambda: RouterSettings(retry_max_retries=3, cb_failure_threshold=3),  # retries must outlast the breaker
        lambda: RouterSettings(host="0.0.0.0; rm"),
    ],
)
def test_invalid_inputs_are_refused(make) -> None:
    """Malformed workers, selectors, levels, policies and incoherent retry settings are refused."""
    with pytest.raises(ValidationError):
        make()


def test_add_worker_path_quotes_the_url() -> None:
    """The IGW registration path URL-encodes the worker URL."""
    assert add_worker_path("http://127.0.0.1:8001/") == "/add_worker?url=http%3A%2F%2F127.0.0.1%3A8001"
    with pytest.raises(ValidationError):
        add_worker_path("not a url")


def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(monkeypatch) -> None:
    """The loopback suite never silently skips in CI: ``.ci/run`` must install nginx and vllm-router."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/run must install it"):
        require_binary("no-such-balancer-binary")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"\.ci/run must install it"):
        require_binary("no-such-balancer-binary")
