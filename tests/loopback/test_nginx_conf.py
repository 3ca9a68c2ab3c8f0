"""The nginx generator by itself: production defaults, Kubernetes/loopback parity, validation, the API-key
template, the Kubernetes container, and ``nginx -t`` on what it renders (real nginx, no server started)."""

from __future__ import annotations

import difflib
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from vllm_infra.balancing.nginx import (
    API_KEY_ENV_VAR,
    API_KEY_INCLUDE_NAME,
    API_KEY_TEMPLATE,
    API_KEY_TEMPLATE_NAME,
    KUBE_DNS_RESOLVER,
    NGINX_IMAGE,
    NGINX_MIN_VERSION_FOR_RESOLVE,
    NGINX_VERSION,
    NginxSettings,
    UpstreamServer,
    nginx_kubernetes_spec,
    render_nginx_conf,
)

from .conftest import NGINX_PATHS, require_binary
from .procs import NginxProcess, free_port, loopback_nginx_settings, render_api_key_include

K8S_SERVERS = [UpstreamServer(host="vllm-engine.llm.svc.cluster.local", port=8000, resolve=True)]
LOOPBACK_SERVERS = [UpstreamServer(host="127.0.0.1", port=p) for p in (40001, 40002, 40003)]
KUBE_DNS = KUBE_DNS_RESOLVER


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _block(conf: str, header: str) -> str:
    """The text of the ``{ ... }`` block that starts at ``header`` (brace-matched)."""
    start = conf.index(header)
    depth = 0
    for i in range(conf.index("{", start), len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[i], 0)
        if depth == 0:
            return conf[start : i + 1]
    raise AssertionError(f"unbalanced block {header}")


def test_defaults_are_the_production_guide_plus_streaming_and_retries() -> None:
    """The production guide's directives are all there, plus streaming, retries, timeouts and the probes."""
    conf = render_nginx_conf(NginxSettings(), K8S_SERVERS, resolver=KUBE_DNS, api_key_check=False)
    lines = _lines(conf)
    upstream = _block(conf, "upstream vllm_backends")
    # The production guide's baseline.
    assert "least_conn;" in upstream
    assert "max_fails=3 fail_timeout=30s;" in upstream
    assert "keepalive 32;" in upstream
    for expected in (
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        # What this generator adds.
        "proxy_buffering off;",
        "proxy_request_buffering on;",
        "proxy_next_upstream error timeout http_502 http_503 non_idempotent;",
        "proxy_next_upstream_tries 3;",
        "proxy_next_upstream_timeout 30s;",
        "proxy_connect_timeout 3s;",
        "proxy_read_timeout 600s;",
        "proxy_send_timeout 600s;",
        "client_max_body_size 64m;",
        "keepalive_timeout 4s;",
        "listen 8080;",
        "location = /healthz {",
        "location = /health {",
        "add_header X-Accel-Buffering no always;",
    ):
        assert expected in lines, expected
    # The balancing method must be set before keepalive wraps it (nginx's documented order).
    assert upstream.index("least_conn;") < upstream.index("keepalive 32;")
    # Runs unprivileged: no user switch, no daemon mode in the file, nothing under /var.
    assert not any(line.startswith(("user ", "daemon ")) for line in lines)
    assert "/var/" not in conf
    assert conf.count("{") == conf.count("}")


def test_kubernetes_and_loopback_configs_differ_only_in_upstream_server_lines() -> None:
    """Same settings, Kubernetes servers vs loopback servers: only `server` lines differ."""
    settings = NginxSettings()
    k8s = render_nginx_conf(settings, K8S_SERVERS, resolver=KUBE_DNS, api_key_check=True)
    loop = render_nginx_conf(settings, LOOPBACK_SERVERS, resolver=KUBE_DNS, api_key_check=True)
    changed = [
        line[1:].strip()
        for line in difflib.unified_diff(k8s.splitlines(), loop.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed, "the two renders should differ in their server lines"
    assert all(line.startswith("server ") for line in changed), changed
    assert [line for line in changed if " resolve " in line] == [
        "server vllm-engine.llm.svc.cluster.local:8000 resolve max_fails=3 fail_timeout=30s;"
    ]
    assert sum(1 for line in changed if line.startswith("server 127.0.0.1:")) == 3
    # Everything around them, including the zone that `resolve` needs, is shared.
    assert "zone vllm_backends 256k;" in _lines(loop)


def test_round_robin_variant_only_drops_least_conn() -> None:
    """The round-robin control used by the least_conn test differs by exactly one line."""
    lc = render_nginx_conf(NginxSettings(), LOOPBACK_SERVERS, resolver=None, api_key_check=False)
    rr = render_nginx_conf(
        NginxSettings(load_balancing="round_robin"), LOOPBACK_SERVERS, resolver=None, api_key_check=False
    )
    diff = [d for d in difflib.ndiff(lc.splitlines(), rr.splitlines()) if d[:1] in "+-"]
    assert len(diff) == 1 and diff[0].startswith("-") and diff[0][1:].strip() == "least_conn;", diff


def test_retry_policy_switches() -> None:
    """Turning non_idempotent retries off and retries down renders as such."""
    conf = render_nginx_conf(
        NginxSettings(retry_non_idempotent=False, next_upstream_tries=1),
        LOOPBACK_SERVERS,
        resolver=None,
        api_key_check=False,
    )
    assert "proxy_next_upstream error timeout http_502 http_503;" in _lines(conf)
    assert "proxy_next_upstream_tries 1;" in _lines(conf)


def test_resolve_needs_a_resolver_and_a_name() -> None:
    """`resolve` without a resolver, `resolve` on an IP, and an empty upstream are refused."""
    with pytest.raises(ValueError, match="resolver"):
        render_nginx_conf(NginxSettings(), K8S_SERVERS, resolver=None, api_key_check=False)
    with pytest.raises(ValidationError, match="DNS name"):
        UpstreamServer(host="10.0.0.1", resolve=True)
    with pytest.raises(ValueError, match="at least one"):
        render_nginx_conf(NginxSettings(), [], resolver=None, api_key_check=False)


@pytest.mark.parametrize("host", ["a;b", "vllm engine", "x{", "bad_host!", "", "a" * 300])
def test_hosts_that_could_inject_config_are_refused(host: str) -> None:
    """Host strings that could inject nginx syntax are refused."""
    with pytest.raises(ValidationError):
        UpstreamServer(host=host)


@pytest.mark.parametrize("resolver", ["1.2.3.4; evil", "kube dns", "10.0.0.10:99999"])
def test_bad_resolvers_are_refused(resolver: str) -> None:
    """Resolver strings that could inject syntax or carry a bad port are refused."""
    with pytest.raises(ValueError):
        render_nginx_conf(NginxSettings(), K8S_SERVERS, resolver=resolver, api_key_check=False)


def test_ipv6_addresses_are_bracketed() -> None:
    """IPv6 upstream addresses are written as [addr]:port."""
    conf = render_nginx_conf(
        NginxSettings(), [UpstreamServer(host="::1", port=9000)], resolver="[::1]:53", api_key_check=False
    )
    assert "server [::1]:9000 max_fails=3 fail_timeout=30s;" in _lines(conf)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"listen_port": 80},  # needs root
        {"keepalive": 0},
        {"max_fails": -1},
        {"connect_timeout_s": 0},
        {"connect_timeout_s": 30, "read_timeout_s": 30},
        {"next_upstream_timeout_s": 1, "connect_timeout_s": 3},
        {"worker_processes": 0},
        {"pid_file": "relative/nginx.pid"},
        {"pid_file": "/var/run/nginx.pid"},  # outside temp_dir: not writable on a read-only root
        {"model_probe_allow_cidrs": []},
        {"model_probe_allow_cidrs": ["not-a-cidr"]},
        {"real_ip_from": ["10.0.0.0/33"]},
        {"model_probe_cache_s": 0},
        {"temp_dir": "/tmp/a b"},
        {"upstream_name": "Vllm-Backends"},
        {"listen_address": "localhost"},
        {"no_such_setting": 1},
    ],
)
def test_settings_are_validated(kwargs: dict) -> None:
    """Out-of-range, incoherent, unsafe or unknown settings are refused."""
    with pytest.raises(ValidationError):
        NginxSettings(**kwargs)


def test_settings_accept_camel_case_and_are_frozen() -> None:
    """Stack-file spelling (camelCase) works and settings are immutable."""
    settings = NginxSettings(listenPort=9090, readTimeoutS=900)
    assert settings.listen_port == 9090 and settings.read_timeout_s == 900
    with pytest.raises(ValidationError):
        settings.listen_port = 1  # type: ignore[misc]


def test_api_key_check_keeps_the_key_out_of_the_config() -> None:
    """The key is only a placeholder in the template; probes stay unauthenticated."""
    conf = render_nginx_conf(NginxSettings(), K8S_SERVERS, resolver=KUBE_DNS, api_key_check=True)
    assert f"include /etc/nginx/conf.d/{API_KEY_INCLUDE_NAME};" in _lines(conf)
    assert API_KEY_ENV_VAR not in conf and "vllm_expected_authorization" in _block(conf, "location / {")
    # Probes stay open.
    for header in ("location = /healthz", "location = /health "):
        assert "vllm_expected_authorization" not in _block(conf, header)
    assert "include" not in render_nginx_conf(NginxSettings(), K8S_SERVERS, resolver=KUBE_DNS, api_key_check=False)
    # The template is the only place the key appears, as a placeholder.
    assert f"${{{API_KEY_ENV_VAR}}}" in API_KEY_TEMPLATE
    rendered = render_api_key_include(API_KEY_TEMPLATE, "sk-abc_123")
    assert 'default "Bearer sk-abc_123";' in _lines(rendered)
    assert render_api_key_include(API_KEY_TEMPLATE, None) == API_KEY_TEMPLATE


def test_kubernetes_container_spec() -> None:
    """The container: pinned image, daemon off on the command line, read-only root, mounts, secret as a ref."""
    settings = NginxSettings()
    spec = nginx_kubernetes_spec(
        settings, K8S_SERVERS, resolver=KUBE_DNS, api_key_secret=("vllm-api-key", "key"), config_map_name="edge"
    )
    container = spec.container
    assert container["image"] == NGINX_IMAGE == f"nginx:{NGINX_VERSION}"
    assert container["args"] == ["nginx", "-g", "daemon off;"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["ports"][0]["containerPort"] == settings.listen_port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": settings.listen_port}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/nginx/nginx.conf"]["subPath"] == "nginx.conf"
    assert {settings.temp_dir, settings.runtime_conf_dir, "/etc/nginx/templates"} <= set(mounts)
    volumes = {v["name"]: v for v in spec.volumes}
    assert volumes["nginx-runtime-conf"]["emptyDir"]["medium"] == "Memory"
    # Config and template are in the ConfigMap; the key only as a secretKeyRef.
    assert set(spec.config_map_data) == {"nginx.conf", API_KEY_TEMPLATE_NAME}
    assert spec.config_map_data["nginx.conf"] == render_nginx_conf(
        settings, K8S_SERVERS, resolver=KUBE_DNS, api_key_check=True
    )
    env = {e["name"]: e for e in container["env"]}
    assert env[API_KEY_ENV_VAR]["valueFrom"]["secretKeyRef"] == {"name": "vllm-api-key", "key": "key"}
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"]["value"] == settings.runtime_conf_dir
    # The rendered include lands exactly where nginx.conf includes it.
    assert f"include {env['NGINX_ENVSUBST_OUTPUT_DIR']['value']}/{API_KEY_INCLUDE_NAME};" in _lines(
        spec.config_map_data["nginx.conf"]
    )
    assert API_KEY_TEMPLATE_NAME.removesuffix(".template") == API_KEY_INCLUDE_NAME
    # Without the check: no template, no secret, no runtime directory.
    plain = nginx_kubernetes_spec(settings, K8S_SERVERS, resolver=KUBE_DNS)
    assert set(plain.config_map_data) == {"nginx.conf"} and plain.container["env"] == []


def test_image_is_pinned_to_a_version_with_open_source_resolve() -> None:
    """The image is an exact version at or after 1.27.3."""
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+", NGINX_IMAGE), "pin an exact version, not a floating tag"
    assert tuple(int(p) for p in NGINX_VERSION.split(".")) >= NGINX_MIN_VERSION_FOR_RESOLVE


# ---- real nginx: `nginx -t` on the rendered files ----------------------------------------------------------------


@pytest.fixture
def nginx_t(workdir: Path):
    """``nginx_t(conf_text, include=None)`` runs ``nginx -t`` on the text inside a throwaway prefix."""
    nginx_bin = require_binary("nginx", NGINX_PATHS)

    def run(conf: str, include: str | None = None) -> subprocess.CompletedProcess[str]:
        if include is not None:
            (workdir / "conf.d").mkdir(exist_ok=True)
            (workdir / "conf.d" / API_KEY_INCLUDE_NAME).write_text(include)
        return NginxProcess(nginx_bin, workdir, conf, 0).test_config()

    return run


def _nginx_version(nginx_bin: str) -> tuple[int, ...]:
    out = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, timeout=10).stderr
    return tuple(int(p) for p in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out).groups())


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"load_balancing": "round_robin"},
        {"retry_non_idempotent": False, "next_upstream_timeout_s": 0},
        {"worker_processes": 2, "access_log": "off", "error_log": "stderr"},
    ],
)
def test_nginx_accepts_the_loopback_render(nginx_t, workdir: Path, overrides: dict) -> None:
    """`nginx -t` accepts the rendered configuration in several variants."""
    settings = loopback_nginx_settings(workdir, free_port(), **overrides)
    conf = render_nginx_conf(settings, LOOPBACK_SERVERS, resolver="127.0.0.1", api_key_check=False)
    done = nginx_t(conf)
    assert done.returncode == 0, done.stderr


def test_nginx_accepts_the_api_key_include_and_refuses_an_unrendered_one(nginx_t, workdir: Path) -> None:
    """A rendered key include loads; an unrendered or missing one stops nginx (fail closed)."""
    settings = loopback_nginx_settings(workdir, free_port())
    conf = render_nginx_conf(settings, LOOPBACK_SERVERS, resolver="127.0.0.1", api_key_check=True)
    ok = nginx_t(conf, include=render_api_key_include(API_KEY_TEMPLATE, "sk-Loopback-1"))
    assert ok.returncode == 0, ok.stderr
    # Variable unset in the container: the placeholder survives envsubst and nginx refuses to start (fail closed).
    unset = nginx_t(conf, include=render_api_key_include(API_KEY_TEMPLATE, None))
    assert unset.returncode != 0
    assert 'unknown "vllm_api_key" variable' in unset.stderr
    # Include missing altogether (envsubst step did not run): nginx refuses to start too.
    (workdir / "conf.d" / API_KEY_INCLUDE_NAME).unlink()
    missing = NginxProcess(require_binary("nginx", NGINX_PATHS), workdir, conf, 0).test_config()
    assert missing.returncode != 0


def test_resolve_lines_need_nginx_1_27_3(nginx_t, workdir: Path) -> None:
    """Documents why the servers are an input: the Kubernetes render only loads on nginx >= 1.27.3."""
    nginx_bin = require_binary("nginx", NGINX_PATHS)
    settings = loopback_nginx_settings(workdir, free_port())
    servers = [UpstreamServer(host="vllm-engine.invalid", port=8000, resolve=True)]
    done = nginx_t(render_nginx_conf(settings, servers, resolver="127.0.0.1", api_key_check=False))
    if _nginx_version(nginx_bin) >= NGINX_MIN_VERSION_FOR_RESOLVE:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0 and "resolve" in done.stderr, done.stderr
