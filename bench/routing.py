"""Routing bench: how each balancing strategy uses vLLM's prefix cache, measured in one run on loopback.

Not a test: it asserts nothing, it prints numbers. For every strategy, fresh simulated engines
(``bench/sim_engine.py``, one process each, LRU prefix cache of 16-token blocks, prefill proportional to uncached
tokens, decode slowed by the batch) serve the same deterministic multi-turn chat workload (``bench/workload.py``)
through the balancer, and the bench reports the prefix-cache hit rate (the engines' counters), TTFT p50/p99,
throughput and imbalance (max/mean requests per engine), with ratios against the production guide's plain nginx
``least_conn``.

Strategies (all real programs on 127.0.0.1, the library's generated configuration where the library has one):

* ``guide-least_conn``: the production guide's nginx upstream and location blocks as written (baseline);
* ``nginx-default``: ``vllm_infra.balancing.nginx.render_nginx_conf`` with its defaults (the ``nginx`` strategy);
* ``service-clientip``: the ``service`` strategy's ClientIP session affinity, *approximated* as nginx
  ``hash $remote_addr consistent`` on the generated config (kube-proxy pins a client address to the endpoint its
  first connection drew; both pin per address, regardless of load), once with one source address per user and once
  with every request from one address (``-single-source``, as behind one NLB);
* ``router-cache_aware``: vllm-router with ``vllm_infra.balancing.router.router_args`` at its defaults;
* ``affinity``: the ``affinity`` strategy (the default): ``vllm_infra.balancing.affinity`` on the generated config,
  consistent hashing on ``X-Session-Id`` / the body's ``user`` / the first user message / the client address with
  a per-engine cap and a ``least_conn`` fallback; also with one source address, with the ``user`` field only, with
  no key at all (with and without the first-message key), and with a tight cap (``-cap4``);
* candidates the library does not offer today: vllm-router ``consistent_hash`` (it hashes ``X-Session-ID``, then
  other id headers, then the body's ``user`` ...; vllm-project/router docs/load_balancing), ``sticky_least_loaded``,
  ``power_of_two``, ``cache_aware`` with tighter balance thresholds, and nginx ``hash $http_x_session_id
  consistent``.

    PYTHONPATH=. python bench/routing.py                 # all strategies, default workload (about 11 minutes)
    PYTHONPATH=. python bench/routing.py --only guide-least_conn,nginx-default --max-requests 200 --repeat 1

The rows issue 12's goals are judged on (``decides_goal``) run ``--repeat`` times (default 3) on the workloads of
seeds seed, seed+1, ...; the table shows their medians and a second table their ``median [min-max]``, so a
difference can be set against the run-to-run spread.

Times are reported in simulated milliseconds (real time / ``--time-scale``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sim_engine import DEFAULT_API_KEY, EngineModel  # noqa: E402 - after the sys.path fix above
from bench.workload import SourceMode, UserSession, Workload, WorkloadSpec, generate, history_messages, source_address  # noqa: E402
from tests.loopback.procs import (  # noqa: E402
    NginxProcess,
    RouterProcess,
    find_binary,
    free_port,
    loopback_router_settings,
    make_workdir,
    missing_message,
    percentile,
    request,
    start_nginx,
    wait_until,
)
from vllm_infra.balancing.affinity import AffinitySettings, affinity_extension, load_cap  # noqa: E402
from vllm_infra.balancing.nginx import UpstreamServer  # noqa: E402
from vllm_infra.balancing.router import StaticWorkers, router_args  # noqa: E402

MODEL = "bench-model"
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
BASELINE = "guide-least_conn"

# The production guide's "Create Nginx configuration" upstream and server blocks as written, with its four servers
# replaced by the simulated engines and the listen address moved to loopback. The surrounding events/http/paths
# are what any nginx needs to start in a work directory; /healthz is the bench harness's readiness check only.
GUIDE_CONF = """\
worker_processes auto;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    client_max_body_size 64m;

    upstream vllm_backend {{
        least_conn;  # Use least connections algorithm
{servers}
        keepalive 32;  # Connection pooling
    }}

    server {{
        listen 127.0.0.1:{port};

        location = /healthz {{ return 200; }}

        location / {{
            proxy_pass http://vllm_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;

            # Timeouts for long-running requests
            proxy_connect_timeout 300s;
            proxy_send_timeout 300s;
            proxy_read_timeout 300s;
        }}

        location /health {{
            proxy_pass http://vllm_backend/health;
            proxy_http_version 1.1;
        }}
    }}
}}
"""


# What identifies a user in its requests: the X-Session-Id header and the body's `user` field ("session"), the
# `user` field only ("user"), or nothing ("none").
KeyMode = Literal["session", "user", "none"]


@dataclass(frozen=True)
class Strategy:
    """One row of the table: how to start the balancer, where its clients come from and which keys they send."""

    name: str
    description: str
    kind: str  # "nginx-guide", "nginx", "affinity", "router"
    upstream_method: str | None = None  # nginx: replaces the generated "least_conn;" line
    router_policy: str | None = None
    source_mode: SourceMode = "per-user"
    keys: KeyMode = "session"
    affinity: AffinitySettings | None = None  # kind "affinity": the strategy's settings
    router_overrides: tuple[tuple[str, Any], ...] = ()  # RouterSettings fields changed from the defaults
    decides_goal: bool = False  # a row issue 12's goals are judged on: run --repeat times, with different seeds


STRATEGIES: tuple[Strategy, ...] = (
    Strategy(BASELINE, "production guide's nginx least_conn (baseline)", "nginx-guide", decides_goal=True),
    Strategy("nginx-default", "this project's nginx (render_nginx_conf defaults)", "nginx"),
    Strategy(
        "service-clientip",
        "service ClientIP affinity ~ nginx hash $remote_addr consistent",
        "nginx",
        upstream_method="hash $remote_addr consistent;",
    ),
    Strategy(
        "service-clientip-single-source",
        "same, every request from one source address (one NLB)",
        "nginx",
        upstream_method="hash $remote_addr consistent;",
        source_mode="single",
    ),
    Strategy(
        "router-cache_aware",
        "vllm-router cache_aware (router_args defaults)",
        "router",
        router_policy="cache_aware",
        decides_goal=True,
    ),
    Strategy(
        "router-consistent_hash",
        "candidate: vllm-router consistent_hash (X-Session-ID)",
        "router",
        router_policy="consistent_hash",
    ),
    Strategy(
        "router-sticky_least_loaded",
        "candidate: vllm-router sticky_least_loaded",
        "router",
        router_policy="sticky_least_loaded",
        decides_goal=True,
    ),
    Strategy("router-power_of_two", "candidate: vllm-router power_of_two", "router", router_policy="power_of_two"),
    Strategy(
        "nginx-hash-session",
        "candidate: nginx hash $http_x_session_id consistent",
        "nginx",
        upstream_method="hash $http_x_session_id consistent;",
        decides_goal=True,
    ),
    Strategy(
        "router-cache_aware-balanced",
        "candidate: cache_aware, balance thresholds abs 4 / rel 1.2",
        "router",
        router_policy="cache_aware",
        router_overrides=(("balance_abs_threshold", 4), ("balance_rel_threshold", 1.2)),
    ),
    Strategy(
        "affinity",
        "affinity strategy defaults (key: X-Session-Id, cap auto)",
        "affinity",
        affinity=AffinitySettings(),
        decides_goal=True,
    ),
    Strategy(
        "affinity-single-source",
        "same, every request from one source address",
        "affinity",
        affinity=AffinitySettings(),
        source_mode="single",
    ),
    Strategy(
        "affinity-user-field-single-source",
        "same, no header: only the body's user field, one address",
        "affinity",
        affinity=AffinitySettings(),
        source_mode="single",
        keys="user",
    ),
    Strategy(
        "affinity-no-key",
        "same, no header and no user field: the client address",
        "affinity",
        affinity=AffinitySettings(),
        keys="none",
    ),
    Strategy(
        "affinity-no-key-single-source",
        "same, no header or user field and one source address: the first user message",
        "affinity",
        affinity=AffinitySettings(),
        source_mode="single",
        keys="none",
        decides_goal=True,
    ),
    Strategy(
        "affinity-no-conversation-no-key-single-source",
        "firstMessageKey false, no key, one address: every request has the address's key",
        "affinity",
        affinity=AffinitySettings(first_message_key=False),
        source_mode="single",
        keys="none",
    ),
    Strategy(
        "affinity-no-address-no-key-single-source",
        "clientAddressFallback and firstMessageKey false, no key, one address",
        "affinity",
        affinity=AffinitySettings(client_address_fallback=False, first_message_key=False),
        source_mode="single",
        keys="none",
    ),
    Strategy(
        "affinity-cap4",
        "candidate: affinity with maxInFlightPerPod 4",
        "affinity",
        affinity=AffinitySettings(max_in_flight_per_pod=4),
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Engines and balancers


@dataclass
class Engines:
    """The simulated engine processes of one phase."""

    procs: list[subprocess.Popen[str]]
    urls: list[str]

    def stats(self) -> list[dict[str, Any]]:
        """Each engine's ``/sim/stats`` (three tries each: on a loaded machine one may time out);
        ``RuntimeError`` when an engine does not answer, so the phase is reported as not run."""
        results = []
        for url in self.urls:
            for _ in range(3):
                response = request("GET", url + "/sim/stats", timeout=10)
                if response.status == 200:
                    results.append(response.json())
                    break
            else:
                raise RuntimeError(f"engine {url} did not answer /sim/stats: {response.error or response.status}")
        return results

    def stop(self) -> None:
        """SIGTERM each engine we started, SIGKILL after 5 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def start_engines(count: int, engine: EngineModel) -> Engines:
    """Start ``count`` simulated engines, one process each, and wait until each answers ``/health``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.sim_engine",
                "--port",
                "0",
                "--name",
                f"engine{i}",
                "--model",
                MODEL,
                "--engine-json",
                json.dumps(asdict(engine)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for i in range(count)
    ]
    engines = Engines(procs, [])
    for proc in procs:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            engines.stop()
            raise RuntimeError("a simulated engine did not start")
        engines.urls.append(json.loads(line)["url"])

    def healthy(url: str) -> bool:
        return request("GET", url + "/health", timeout=1).status == 200

    if not all(wait_until(functools.partial(healthy, url), 10) for url in engines.urls):
        engines.stop()
        raise RuntimeError("a simulated engine is not healthy")
    return engines


def _ports(urls: list[str]) -> list[int]:
    return [int(u.rsplit(":", 1)[1]) for u in urls]


def replace_upstream_method(conf: str, method: str) -> str:
    """The generated nginx config with its ``least_conn;`` upstream line replaced by ``method`` (a candidate).

    >>> replace_upstream_method("upstream u {\\n        least_conn;\\n}", "hash $remote_addr consistent;")
    'upstream u {\\n        hash $remote_addr consistent;\\n}'
    """
    if conf.count("        least_conn;\n") != 1:
        raise RuntimeError("the generated nginx config no longer has one 'least_conn;' line to replace")
    return conf.replace("        least_conn;\n", f"        {method}\n")


def start_balancer(
    strategy: Strategy,
    engines: Engines,
    nginx_bin: str | None,
    router_bin: str | None,
    workdir: Path,
    engine: EngineModel | None = None,
) -> NginxProcess | RouterProcess:
    """Start the balancer of ``strategy`` in front of ``engines`` (generated config unless the guide's).

    ``affinity``: the strategy's extension with its cap from the engines' ``max_running`` (vLLM's max_num_seqs)
    and one balancer replica, as ``load_cap`` sizes it in a stack."""
    if strategy.kind == "nginx-guide":
        if nginx_bin is None:
            raise RuntimeError(missing_message("nginx"))
        port = free_port()
        server_lines = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=3 fail_timeout=30s;" for p in _ports(engines.urls)
        )
        conf = GUIDE_CONF.format(workdir=workdir, servers=server_lines, port=port)
        return NginxProcess(nginx_bin, workdir, conf, port).start()
    if strategy.kind == "nginx":
        if nginx_bin is None:
            raise RuntimeError(missing_message("nginx"))
        method = strategy.upstream_method
        servers = [UpstreamServer(host="127.0.0.1", port=p) for p in _ports(engines.urls)]
        return start_nginx(
            nginx_bin,
            workdir,
            servers,
            conf_transform=None if method is None else lambda c: replace_upstream_method(c, method),
        )
    if strategy.kind == "affinity":
        if nginx_bin is None or strategy.affinity is None:
            raise RuntimeError(missing_message("nginx") if nginx_bin is None else "affinity settings missing")
        affinity = strategy.affinity
        servers = [UpstreamServer(host="127.0.0.1", port=p) for p in _ports(engines.urls)]
        cap = load_cap(affinity, max_num_seqs=(engine or EngineModel()).max_running, replicas=1)
        return start_nginx(
            nginx_bin, workdir, servers, extension=lambda nginx: affinity_extension(affinity, nginx, servers, cap=cap)
        )
    if router_bin is None:
        raise RuntimeError(missing_message("vllm-router"))
    port = free_port()
    settings = loopback_router_settings(worker_api_key_env="VLLM_API_KEY", **dict(strategy.router_overrides))
    args = router_args(settings, StaticWorkers(urls=tuple(engines.urls)), multi_model=False, port=port)
    # RouterSettings' Policy type lists the library's policies only; candidates replace the generated value.
    args[args.index("--policy") + 1] = strategy.router_policy or "cache_aware"
    args = [a.replace("$(VLLM_API_KEY)", DEFAULT_API_KEY) for a in args]  # what Kubernetes expands
    return RouterProcess(router_bin, workdir, args, port).start()


# ---------------------------------------------------------------------------------------------------------------
# Load


@dataclass
class Outcome:
    """One request as the client saw it (real seconds)."""

    ok: bool
    ttft_s: float = float("nan")
    total_s: float = float("nan")
    backend: str | None = None
    error: str | None = None


def request_identity(user: UserSession, keys: KeyMode) -> tuple[dict[str, str], dict[str, str]]:
    """The headers and body fields that identify ``user`` in ``keys`` mode.

    >>> from bench.workload import UserSession
    >>> request_identity(UserSession(0, "user-0000", 0.0, 0, None, ()), "user")
    ({}, {'user': 'user-0000'})
    """
    headers = {"X-Session-Id": user.user_id} if keys == "session" else {}
    fields = {"user": user.user_id} if keys in ("session", "user") else {}
    return headers, fields


def chat_stream(
    port: int,
    source: str,
    user: UserSession,
    messages: list[dict[str, str]],
    max_tokens: int,
    timeout: float,
    keys: KeyMode = "session",
) -> tuple[Outcome, str]:
    """Send one streamed chat completion from ``source``; return the outcome and the reply text."""
    identity_headers, identity_fields = request_identity(user, keys)
    body = json.dumps(
        {"model": MODEL, "messages": messages, "max_tokens": max_tokens, "stream": True, **identity_fields}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": f"Bearer {DEFAULT_API_KEY}",
        **identity_headers,
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    start = time.monotonic()
    outcome = Outcome(ok=False)
    pieces: list[str] = []
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            outcome.error = f"HTTP {resp.status}"
            resp.read()
            return outcome, ""
        while True:
            line = resp.readline()
            if not line:
                break
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                outcome.ok = True
                break
            event = json.loads(payload)
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if not pieces:
                        outcome.ttft_s = time.monotonic() - start
                        outcome.backend = event.get("sim_backend")
                    pieces.append(text)
        outcome.total_s = time.monotonic() - start
        if not outcome.ok:
            outcome.error = "stream ended without [DONE]"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        outcome.error = repr(exc)
    finally:
        conn.close()
    return outcome, " ".join("".join(pieces).split())


def run_workload(
    port: int,
    workload: Workload,
    source_mode: SourceMode,
    time_scale: float,
    deadline_s: float,
    keys: KeyMode = "session",
) -> tuple[list[Outcome], float]:
    """Replay ``workload`` against ``port``: one thread per user, arrivals and think times scaled to real time.

    A user stops at its first failed request (it has no reply to continue from) and whenever the deadline has
    passed. Returns the outcomes and the real seconds from start to the last answer.
    """
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = time.monotonic()
    end = start + deadline_s

    def user_loop(user: UserSession) -> None:
        source = source_address(user, source_mode)
        replies: list[str] = []
        at = start + user.arrival_s * time_scale
        for turn in user.turns:
            at = max(at, time.monotonic()) + (turn.think_s * time_scale if replies else 0.0)
            if at > end:
                return
            time.sleep(max(0.0, at - time.monotonic()))
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            outcome, reply = chat_stream(
                port,
                source,
                user,
                history_messages(workload, user, replies),
                turn.max_tokens,
                timeout=max(1.0, remaining),
                keys=keys,
            )
            with lock:
                outcomes.append(outcome)
            if not outcome.ok:
                return
            replies.append(reply)
            at = time.monotonic()

    threads = [threading.Thread(target=user_loop, args=(u,), daemon=True) for u in workload.users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.monotonic()) + 5)
    return outcomes, time.monotonic() - start


# ---------------------------------------------------------------------------------------------------------------
# One phase, the table


@dataclass
class PhaseResult:
    """The numbers of one strategy (times in simulated ms, throughput per simulated second)."""

    name: str
    description: str
    sent: int = 0
    ok: int = 0
    errors: int = 0
    hit_rate: float = float("nan")
    ttft_p50_ms: float = float("nan")
    ttft_p99_ms: float = float("nan")
    engine_ttft_p50_ms: float = float("nan")
    engine_ttft_p99_ms: float = float("nan")
    throughput_rps: float = float("nan")
    output_tps: float = float("nan")
    imbalance: float = float("nan")
    requests_per_engine: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    failure: str | None = None


def run_phase(
    strategy: Strategy,
    workload: Workload,
    engine: EngineModel,
    engines_count: int,
    nginx_bin: str | None,
    router_bin: str | None,
    deadline_s: float,
) -> PhaseResult:
    """Fresh engines, the strategy's balancer, the workload; collect the numbers; stop everything started."""
    result = PhaseResult(strategy.name, strategy.description)
    engines = start_engines(engines_count, engine)
    balancer: NginxProcess | RouterProcess | None = None
    try:
        balancer = start_balancer(strategy, engines, nginx_bin, router_bin, make_workdir("vllm-infra-routing-"), engine)
        outcomes, wall = run_workload(
            balancer.port, workload, strategy.source_mode, engine.time_scale, deadline_s, strategy.keys
        )
        wait_until(lambda: all(s["running"] == 0 and s["waiting"] == 0 for s in engines.stats()), timeout=10)
        stats = engines.stats()
    except RuntimeError as exc:
        result.failure = str(exc).splitlines()[0]
        return result
    finally:
        if balancer is not None:
            balancer.stop()
        engines.stop()
    scale = engine.time_scale
    good = [o for o in outcomes if o.ok]
    result.sent, result.ok, result.errors, result.wall_s = len(outcomes), len(good), len(outcomes) - len(good), wall
    queries = sum(s["prefix_cache_queries"] for s in stats)
    result.hit_rate = sum(s["prefix_cache_hits"] for s in stats) / queries if queries else float("nan")
    if good:
        ttfts = [o.ttft_s / scale * 1000 for o in good]
        result.ttft_p50_ms, result.ttft_p99_ms = percentile(ttfts, 50), percentile(ttfts, 99)
    engine_ttfts = [t for s in stats for t in s["ttft_ms"]]
    if engine_ttfts:
        result.engine_ttft_p50_ms = percentile(engine_ttfts, 50)
        result.engine_ttft_p99_ms = percentile(engine_ttfts, 99)
    result.throughput_rps = len(good) / (wall / scale) if wall else float("nan")
    result.output_tps = sum(s["output_tokens"] for s in stats) / (wall / scale) if wall else float("nan")
    result.requests_per_engine = [s["requests"] for s in stats]
    mean = sum(result.requests_per_engine) / len(stats)
    result.imbalance = max(result.requests_per_engine) / mean if mean else float("nan")
    return result


def _ratio(value: float, base: float) -> str:
    return f"x{value / base:.2f}" if base and base == base and value == value else "-"


def format_table(results: list[PhaseResult]) -> str:
    """The results and their ratios against the baseline row, as text."""
    lines = [
        f"  {'strategy':32} {'ok':>4} {'err':>4} {'hit':>6} {'TTFT p50':>9} {'TTFT p99':>9} "
        f"{'eng p50':>8} {'eng p99':>8} {'req/s':>6} {'tok/s':>7} {'imbal':>6}  per-engine requests"
    ]
    for r in results:
        if r.failure:
            lines.append(f"  {r.name:32} not run: {r.failure}")
            continue
        lines.append(
            f"  {r.name:32} {r.ok:4d} {r.errors:4d} {r.hit_rate * 100:5.1f}% {r.ttft_p50_ms:8.0f}ms "
            f"{r.ttft_p99_ms:8.0f}ms {r.engine_ttft_p50_ms:6.0f}ms {r.engine_ttft_p99_ms:6.0f}ms "
            f"{r.throughput_rps:6.2f} {r.output_tps:7.1f} {r.imbalance:6.2f}  "
            f"{r.requests_per_engine}"
        )
    base = next((r for r in results if r.name == BASELINE and not r.failure), None)
    if base is not None:
        lines += ["", f"ratios against {BASELINE} (same run; hit rate as the difference in points)"]
        for r in results:
            if r.failure or r is base:
                continue
            lines.append(
                f"  {r.name:32} hit {100 * (r.hit_rate - base.hit_rate):+5.1f} pt  "
                f"TTFT p50 {_ratio(r.ttft_p50_ms, base.ttft_p50_ms):>6}  "
                f"p99 {_ratio(r.ttft_p99_ms, base.ttft_p99_ms):>6}  "
                f"throughput {_ratio(r.throughput_rps, base.throughput_rps):>6}  "
                f"imbalance {_ratio(r.imbalance, base.imbalance):>6}"
            )
    return "\n".join(lines)


# The columns a repeated row reports as median and min-max.
SPREAD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("hit_rate", "hit %", "pct"),
    ("ttft_p50_ms", "TTFT p50", "ms"),
    ("ttft_p99_ms", "TTFT p99", "ms"),
    ("engine_ttft_p50_ms", "eng p50", "ms"),
    ("engine_ttft_p99_ms", "eng p99", "ms"),
    ("throughput_rps", "req/s", "rate"),
    ("imbalance", "imbal", "ratio"),
)


def median_result(runs: list[PhaseResult]) -> PhaseResult:
    """One row standing for several runs of a strategy: each number the median over the runs that ran (counts
    summed over them, the per-engine requests of the run with the median imbalance); the first failure if none ran.

    >>> runs = [PhaseResult("a", "d", ok=1, hit_rate=h, imbalance=i) for h, i in ((0.8, 1.1), (0.9, 1.3), (0.7, 1.2))]
    >>> row = median_result(runs)
    >>> (row.hit_rate, row.imbalance, row.ok)
    (0.8, 1.2, 3)
    """
    good = [r for r in runs if not r.failure]
    if not good:
        return runs[0]
    numbers = {
        f.name: statistics.median(getattr(r, f.name) for r in good)
        for f in fields(PhaseResult)
        if f.type in ("float", float) and f.name != "wall_s"
    }
    counts = {name: sum(getattr(r, name) for r in good) for name in ("sent", "ok", "errors")}
    middle = sorted(good, key=lambda r: r.imbalance)[len(good) // 2]
    return replace(
        good[0],
        **numbers,
        **counts,
        requests_per_engine=middle.requests_per_engine,
        wall_s=sum(r.wall_s for r in good),
    )


def spread_cell(values: list[float], unit: str) -> str:
    """``median [min-max]`` of ``values``: ``unit`` "pct" as a percentage with one decimal, "ms" whole, else two
    decimals.

    >>> spread_cell([0.9, 0.885, 0.91], "pct"), spread_cell([1.2, 1.04], "ratio")
    ('90.0 [88.5-91.0]', '1.12 [1.04-1.20]')
    """

    def show(value: float) -> str:
        if unit == "pct":
            return f"{value * 100:.1f}"
        if unit == "ms":
            return f"{value:.0f}"
        return f"{value:.2f}"

    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{show(mid)} [{show(low)}-{show(high)}]"


def format_spread(groups: dict[str, list[PhaseResult]]) -> str:
    """The repeated rows as ``median [min-max]`` of each column over their runs, as text (empty if none ran twice).

    >>> runs = [PhaseResult("a", "d", hit_rate=h, ttft_p99_ms=t) for h, t in ((0.8, 300), (0.9, 500), (0.7, 320))]
    >>> line = format_spread({"a": runs}).splitlines()[1]
    >>> "80.0 [70.0-90.0]" in line and "320 [300-500]" in line
    True
    """
    repeated = {name: [r for r in runs if not r.failure] for name, runs in groups.items() if len(runs) > 1}
    if not repeated:
        return ""
    header = f"  {'strategy':32} {'runs':>4}" + "".join(f"  {title:>19}" for _, title, _ in SPREAD_COLUMNS)
    lines = [header]
    for name, runs in repeated.items():
        cells = [
            spread_cell([getattr(r, column) for r in runs], unit) if runs else "-" for column, _, unit in SPREAD_COLUMNS
        ]
        lines.append(f"  {name:32} {len(runs):4d}" + "".join(f"  {cell:>19}" for cell in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run each selected strategy (the goal rows ``--repeat`` times), print the table of medians and
    the spread of the repeated rows (and write every run as JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = WorkloadSpec()
    parser.add_argument("--engines", type=int, default=4, help="simulated engines (backends), 1..16")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests, help="request cap, at most 5000")
    parser.add_argument(
        "--user-arrival-rate", type=float, default=defaults.user_arrival_rate, help="users per simulated second"
    )
    parser.add_argument(
        "--time-scale", type=float, default=EngineModel().time_scale, help="real seconds per simulated second (0.05..1)"
    )
    parser.add_argument("--cache-blocks", type=int, default=EngineModel().cache_blocks, help="blocks per engine")
    parser.add_argument("--deadline-s", type=float, default=90.0, help="real-time limit of one phase's load")
    parser.add_argument("--only", default="", help="comma-separated strategy names (default: all)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the rows the goals are judged on (seeds seed, seed+1, ...); the others run once, 1..9",
    )
    parser.add_argument("--json", default=None, help="write every number to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.engines <= 16 or not 1 <= args.max_requests <= 5000 or not 0.05 <= args.time_scale <= 1:
        parser.error("--engines 1..16, --max-requests 1..5000, --time-scale 0.05..1")
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat 1..9")
    chosen = [s for s in STRATEGIES if not args.only or s.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only matches none of {[s.name for s in STRATEGIES]}")
    spec = replace(
        defaults,
        seed=args.seed,
        users=args.users,
        max_requests=args.max_requests,
        user_arrival_rate=args.user_arrival_rate,
    )
    engine = replace(EngineModel(), time_scale=args.time_scale, cache_blocks=args.cache_blocks)
    workload = generate(spec)
    nginx_bin = find_binary("nginx", NGINX_PATHS)
    router_bin = find_binary("vllm-router")
    print(
        f"date={time.strftime('%Y-%m-%d', time.gmtime())} cpus={os.cpu_count()} engines={args.engines} "
        f"requests={workload.request_count} users={len(workload.users)} seed={spec.seed} "
        f"time_scale={engine.time_scale} (times below are simulated)"
    )
    print(f"  workload: {asdict(spec)}")
    print(f"  engine: {asdict(engine)}")
    started = time.monotonic()
    runs: dict[str, list[PhaseResult]] = {strategy.name: [] for strategy in chosen}
    seeds = [spec.seed + k for k in range(args.repeat)]
    # Repetition k runs every repeated row on seed+k before the next repetition starts, so a slow spell of the
    # machine lands on several rows of one repetition rather than on every run of one row.
    for k, seed in enumerate(seeds):
        rows = chosen if k == 0 else [s for s in chosen if s.decides_goal]
        if not rows:
            break
        workload_k = workload if k == 0 else generate(replace(spec, seed=seed))
        if k:
            print(
                f"  repetition {k + 1}: seed={seed} requests={workload_k.request_count} users={len(workload_k.users)}"
            )
        for strategy in rows:
            result = run_phase(strategy, workload_k, engine, args.engines, nginx_bin, router_bin, args.deadline_s)
            print(
                f"  ... {strategy.name} (seed {seed}): {result.ok} ok, {result.errors} errors, {result.wall_s:.1f} s"
                + (f" (not run: {result.failure})" if result.failure else ""),
                flush=True,
            )
            runs[strategy.name].append(result)
    results = [median_result(runs[strategy.name]) for strategy in chosen]
    print()
    repeated = [name for name, group in runs.items() if len(group) > 1]
    if repeated:
        print(f"rows run {args.repeat} times (seeds {seeds}) show the median of each column: {', '.join(repeated)}")
    print(format_table(results))
    spread = format_spread(runs)
    if spread:
        print(f"\nspread of the repeated rows: median [min-max] over seeds {seeds}")
        print(spread)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "workload": asdict(spec),
                    "engine": asdict(engine),
                    "seeds": seeds,
                    "results": [asdict(r) for r in results],
                    "runs": {name: [asdict(r) for r in group] for name, group in runs.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
