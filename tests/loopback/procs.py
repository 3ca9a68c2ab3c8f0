"""Helpers shared by the loopback tests and ``bench/balancers.py``: find and run real nginx / vllm-router on
127.0.0.1, and talk HTTP to them with the standard library only.

Every process started here is started by us, tracked by its ``Popen`` handle, and stopped by that handle; every
request goes to a loopback address (checked), with a timeout.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vllm_infra.balancing.nginx import (
    API_KEY_ENV_VAR,
    API_KEY_INCLUDE_NAME,
    API_KEY_TEMPLATE,
    NginxConfExtension,
    NginxSettings,
    UpstreamServer,
    render_nginx_conf,
)
from vllm_infra.balancing.router import KubernetesDiscovery, RouterSettings, StaticWorkers, router_args

from .stub_backend import DEFAULT_API_KEY

CI_INSTALL_HINT = {
    "nginx": "apt-get install -y nginx",
    "vllm-router": "pip install vllm-router==0.1.17",
    "envsubst": "apt-get install -y gettext-base",
}


class MissingTool(RuntimeError):
    """A real program the loopback tests need is not installed."""


def in_ci() -> bool:
    """True under CI (``CI=true``), where a missing tool is a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def find_binary(name: str, extra_paths: Iterable[str] = ()) -> str | None:
    """``name`` installed beside this interpreter (a virtualenv's console scripts, e.g. the pinned vllm-router, need
    not be on PATH), else on PATH, else the first existing executable among ``extra_paths`` (e.g. /usr/sbin/nginx)."""
    beside_python = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(beside_python) and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which(name)
    if found:
        return found
    for candidate in extra_paths:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_message(name: str) -> str:
    """The message a skipped (or, in CI, failed) test gives for a missing program."""
    return f"{name} is not installed; .ci/run must install it ({CI_INSTALL_HINT.get(name, name)})"


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_workdir(prefix: str = "vllm-infra-loopback-") -> Path:
    """A fresh directory under /tmp, world-traversable: nginx workers run as ``nobody`` when the tests are root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return path


def _check_loopback_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"loopback tests only talk to 127.0.0.0/8, not {url}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, int(parts.port or 80), path


# ---------------------------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Response:
    """A completed HTTP exchange (status 0 = transport error, described in ``error``)."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    error: str | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """One HTTP request on a fresh connection; ``body`` is JSON-encoded unless already bytes."""
    host, port, path = _check_loopback_url(url)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload, time.monotonic() - start)
    except (OSError, http.client.HTTPException) as exc:
        return Response(0, {}, b"", time.monotonic() - start, error=repr(exc))
    finally:
        conn.close()


@dataclass
class StreamResult:
    """A streamed (SSE) response: each ``data:`` payload with its arrival time since the request was sent."""

    status: int
    events: list[tuple[float, str]] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def stream(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    on_event: Callable[[int, str], None] | None = None,
) -> StreamResult:
    """POST ``body`` (``stream: true`` added) and read server-sent events as they arrive."""
    host, port, path = _check_loopback_url(url)
    hdrs = {"Content-Type": "application/json", "Accept": "text/event-stream", **(headers or {})}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    start = time.monotonic()
    result = StreamResult(status=0)
    try:
        conn.request("POST", path, body=json.dumps({**body, "stream": True}).encode(), headers=hdrs)
        resp = conn.getresponse()
        result.status = resp.status
        result.headers = {k.lower(): v for k, v in resp.getheaders()}
        while True:
            line = resp.readline()
            if not line:
                break
            text = line.decode().strip()
            if not text.startswith("data:"):
                continue
            payload = text[5:].strip()
            if payload == "[DONE]":
                result.done = True
                break
            result.events.append((time.monotonic() - start, payload))
            if on_event is not None:
                on_event(len(result.events), payload)
    except (OSError, http.client.HTTPException) as exc:
        result.error = repr(exc)
    finally:
        conn.close()
    return result


def raw_arrivals(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], list[tuple[float, int]]]:
    """POST and record when each piece of the (possibly compressed) body arrives: [(seconds, bytes), ...]."""
    host, port, path = _check_loopback_url(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    start = time.monotonic()
    arrivals: list[tuple[float, int]] = []
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        resp = conn.getresponse()
        while True:
            piece = resp.read1(65536)
            if not piece:
                break
            arrivals.append((time.monotonic() - start, len(piece)))
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, arrivals
    finally:
        conn.close()


def chat_body(model: str, prompt: str, **extra: Any) -> dict[str, Any]:
    """A minimal OpenAI chat-completions body."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8, **extra}


def run_bounded(fn: Callable[[int], Any], count: int, concurrency: int, deadline_s: float) -> list[Any]:
    """Call ``fn(i)`` for i < count on ``concurrency`` threads; calls not started by ``deadline_s`` are skipped.

    The count bounds the work, the deadline bounds the time; a skipped call yields ``None`` so a test notices.
    """
    end = time.monotonic() + deadline_s

    def guarded(i: int) -> Any:
        if time.monotonic() > end:
            return None
        return fn(i)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(guarded, range(count)))


@dataclass
class KillRun:
    """Outcome of :func:`load_with_kill`."""

    responses: list[Response | None]
    cut_in_flight: int

    @property
    def statuses(self) -> list[int | None]:
        """Status per request (None = not sent before the deadline)."""
        return [r.status if r is not None else None for r in self.responses]


def load_with_kill(
    send: Callable[[int], Response],
    victim: Any,
    *,
    count: int,
    concurrency: int,
    kill_after: int,
    deadline_s: float = 60.0,
) -> KillRun:
    """Run ``count`` requests on ``concurrency`` threads; once ``kill_after`` are answered, wait (up to 5 s) for
    ``victim`` (a stub) to have a request in flight and kill it, so the kill cuts a request mid-way."""
    answered = [0]
    lock = threading.Lock()
    cut = [-1]

    def killer() -> None:
        wait_until(lambda: answered[0] >= kill_after, timeout=deadline_s)
        wait_until(lambda: victim.stats()["in_flight"] > 0, timeout=5, interval=0.002)
        cut[0] = victim.stats()["in_flight"]
        victim.kill()

    def one(i: int) -> Response:
        response = send(i)
        with lock:
            answered[0] += 1
        return response

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    responses = run_bounded(one, count=count, concurrency=concurrency, deadline_s=deadline_s)
    thread.join(timeout=10)
    return KillRun(responses=responses, cut_in_flight=cut[0])


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(interval)
    return check()


def settle(stubs: Iterable[Any], timeout: float = 5.0) -> bool:
    """Wait until no stub has a request in flight, so their records are final.

    A client can hold its 200 a moment before the stub's handler thread marks the request completed; reading
    the stats before that would count a served request as lost.
    """
    stubs = list(stubs)
    return wait_until(lambda: all(s.stats()["in_flight"] == 0 for s in stubs), timeout=timeout, interval=0.01)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------------------------------------------------------
# Processes


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def loopback_nginx_settings(workdir: Path, port: int, **overrides: Any) -> NginxSettings:
    """Production settings with the listen address, port and every writable path moved into ``workdir``."""
    values: dict[str, Any] = {
        "listen_address": "127.0.0.1",
        "listen_port": port,
        "pid_file": str(workdir / "nginx.pid"),
        "temp_dir": str(workdir),
        "runtime_conf_dir": str(workdir / "conf.d"),
        "access_log": str(workdir / "access.log"),
        "error_log": str(workdir / "error.log"),
    }
    values.update(overrides)
    return NginxSettings(**values)


def render_api_key_include(template: str, api_key: str | None) -> str:
    """What the nginx image's envsubst step writes: the real ``envsubst`` when installed, else the same rule.

    Only ``$VLLM_API_KEY``/``${VLLM_API_KEY}`` is substituted, and only when the variable is set (as the image
    does); an unset variable is left as it is, which nginx then rejects.
    """
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV_VAR}
    if api_key is not None:
        env[API_KEY_ENV_VAR] = api_key
    envsubst = find_binary("envsubst")
    if envsubst and api_key is not None:
        done = subprocess.run(
            [envsubst, f"${{{API_KEY_ENV_VAR}}}"],
            input=template.encode(),
            env=env,
            capture_output=True,
            check=True,
            timeout=10,
        )
        return done.stdout.decode()
    if api_key is None:
        return template
    return template.replace(f"${{{API_KEY_ENV_VAR}}}", api_key).replace(f"${API_KEY_ENV_VAR}", api_key)


class NginxProcess:
    """A real nginx on 127.0.0.1 running a generated configuration, in the foreground, in ``workdir``."""

    def __init__(self, nginx_bin: str, workdir: Path, conf_text: str, port: int) -> None:
        self.nginx_bin = nginx_bin
        self.workdir = workdir
        self.conf_text = conf_text
        self.port = port
        self.conf_path = workdir / "nginx.conf"
        self.log_path = workdir / "nginx.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of this nginx."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """``nginx -p DIR -c DIR/nginx.conf -e stderr -g 'daemon off;'``: daemon mode off on the command line."""
        return [self.nginx_bin, "-p", str(self.workdir), "-c", str(self.conf_path), "-e", "stderr", "-g", "daemon off;"]

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """Run ``nginx -t`` on the configuration (it must have been written)."""
        self.conf_path.write_text(self.conf_text)
        cmd = [self.nginx_bin, "-t", "-p", str(self.workdir), "-c", str(self.conf_path), "-e", "stderr"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 15.0) -> NginxProcess:
        """Write the config, start nginx, and wait until its own ``/healthz`` answers."""
        self.conf_path.write_text(self.conf_text)
        with self.log_path.open("wb") as log:
            proc = self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        healthy = wait_until(
            lambda: proc.poll() is not None or request("GET", self.url + "/healthz", timeout=1).status == 200,
            timeout,
        )
        if self.proc.poll() is not None or not healthy:
            self.stop()
            raise RuntimeError(f"nginx did not come up:\n{_tail(self.log_path)}\n{_tail(self.workdir / 'error.log')}")
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGTERM) of the master we started; it stops its workers."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)

    def error_log(self) -> str:
        """nginx's error log (configured into the work directory by the tests)."""
        return _tail(self.workdir / "error.log", 20000)

    def access_log_entries(self) -> list[dict[str, Any]]:
        """The JSON access-log lines written so far."""
        path = self.workdir / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_nginx(
    nginx_bin: str,
    workdir: Path,
    servers: Sequence[UpstreamServer],
    *,
    api_key: str | None = None,
    api_key_check: bool = False,
    resolver: str | None = "127.0.0.1",
    conf_transform: Callable[[str], str] | None = None,
    probe_model: str | None = None,
    worker_auth_proxy_port: int | None = None,
    extension: Callable[[NginxSettings], NginxConfExtension] | None = None,
    **settings_overrides: Any,
) -> NginxProcess:
    """Render the production config for ``servers`` (loopback paths), optionally transform it, and start nginx.

    A resolver line is rendered as in Kubernetes (here a loopback address nginx never queries: IP servers need no
    DNS), so the running file differs from the cluster's only in the ``server`` lines and the local paths.

    With ``api_key_check`` the API-key include is rendered from :data:`API_KEY_TEMPLATE` as the image would,
    with ``api_key`` as the environment variable's value (None = unset); so it is for ``probe_model`` and
    ``worker_auth_proxy_port``, which need the key too (see :func:`render_nginx_conf`). ``extension(settings)``
    adds another strategy's lines (the ``affinity`` strategy's), given the loopback settings.
    """
    port = free_port()
    settings = loopback_nginx_settings(workdir, port, **settings_overrides)
    conf = render_nginx_conf(
        settings,
        servers,
        resolver=resolver,
        api_key_check=api_key_check,
        probe_model=probe_model,
        worker_auth_proxy_port=worker_auth_proxy_port,
        extension=None if extension is None else extension(settings),
    )
    if conf_transform is not None:
        conf = conf_transform(conf)
    if api_key_check or probe_model is not None or worker_auth_proxy_port is not None:
        runtime = Path(settings.runtime_conf_dir)
        runtime.mkdir(exist_ok=True)
        (runtime / API_KEY_INCLUDE_NAME).write_text(render_api_key_include(API_KEY_TEMPLATE, api_key))
    return NginxProcess(nginx_bin, workdir, conf, port).start()


class RouterProcess:
    """A real ``vllm-router`` on 127.0.0.1 started with :func:`router_args`."""

    def __init__(
        self, router_bin: str, workdir: Path, args: list[str], port: int, env: dict[str, str] | None = None
    ) -> None:
        self.router_bin = router_bin
        self.workdir = workdir
        self.args = args
        self.port = port
        self.env = env
        self.log_path = workdir / f"router-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of this router."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> RouterProcess:
        """Start the router and wait until ``/health`` answers 200 (in regular mode: workers found healthy)."""
        with self.log_path.open("wb") as log:
            # A proxy set in the test's own environment would divert the router's calls; only `env` may set one.
            base = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
            proc = self.proc = subprocess.Popen(
                [self.router_bin, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**base, **(self.env or {})},
            )
        healthy = wait_until(
            lambda: proc.poll() is not None or request("GET", self.url + "/health", timeout=1).status == 200,
            timeout,
        )
        if self.proc.poll() is not None or not healthy:
            self.stop()
            raise RuntimeError(f"vllm-router did not come up:\n{_tail(self.log_path)}")
        return self

    def stop(self) -> None:
        """SIGTERM (the router shuts down gracefully), SIGKILL after 10 s."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)

    def log(self) -> str:
        """Everything the router printed."""
        return _tail(self.log_path, 200_000)


def loopback_router_settings(**overrides: Any) -> RouterSettings:
    """Production router settings bound to 127.0.0.1 with a free Prometheus port."""
    values: dict[str, Any] = {"host": "127.0.0.1", "prometheus_host": "127.0.0.1", "prometheus_port": free_port()}
    values.update(overrides)
    return RouterSettings(**values)


def start_router(
    router_bin: str,
    workdir: Path,
    workers: StaticWorkers | KubernetesDiscovery,
    *,
    multi_model: bool = False,
    env: dict[str, str] | None = None,
    **settings_overrides: Any,
) -> RouterProcess:
    """Start vllm-router with production settings bound to loopback; ``StaticWorkers()`` + multi_model for IGW.

    The router gets the stubs' key as its ``--api-key`` (as the pod's ``$(VLLM_API_KEY)``); ``env`` adds variables
    (e.g. ``http_proxy``)."""
    port = free_port()
    settings = loopback_router_settings(**{"worker_api_key_env": "VLLM_API_KEY", **settings_overrides})
    args = router_args(settings, workers, multi_model=multi_model, port=port)
    args = [a.replace("$(VLLM_API_KEY)", DEFAULT_API_KEY) for a in args]  # what Kubernetes expands
    return RouterProcess(router_bin, workdir, args, port, env).start()
