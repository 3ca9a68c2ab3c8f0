"""Benchmark the two balancers on loopback: latency and throughput through nginx, through vllm-router, and
straight to the stub backends, measured in one run so the ratios compare like with like.

Not a test: it asserts nothing, it prints numbers. Everything runs on 127.0.0.1: stub backends
(``tests/loopback/stub_backend.py``, each in its own process so the load generator does not share their GIL),
real nginx with the generated production config, and real vllm-router started with the generated command line.
The request count and a wall-clock deadline bound every phase.

    PYTHONPATH=. python bench/balancers.py                  # defaults: 3 stubs, 600 requests, 8 clients
    PYTHONPATH=. python bench/balancers.py --delay-ms 0 --requests 2000 --json out.json

See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.loopback.procs import (  # noqa: E402 - after the sys.path fix above
    NginxProcess,
    RouterProcess,
    find_binary,
    free_port,
    loopback_nginx_settings,
    loopback_router_settings,
    make_workdir,
    missing_message,
    percentile,
    request,
    wait_until,
)
from tests.loopback.stub_backend import DEFAULT_API_KEY  # noqa: E402
from vllm_infra.balancing.nginx import UpstreamServer, render_nginx_conf  # noqa: E402
from vllm_infra.balancing.router import StaticWorkers, router_args  # noqa: E402

MODEL = "bench-model"
# The stubs enforce an API key as vLLM does; the load generator sends it like any client.
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {DEFAULT_API_KEY}"}


def start_stub_process(delay_ms: int, chunk_delay_ms: int, name: str) -> tuple[subprocess.Popen[str], str]:
    """Run one stub as ``python -m tests.loopback.stub_backend`` and return (process, base URL)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.loopback.stub_backend",
            "--port",
            "0",
            "--model",
            MODEL,
            "--name",
            name,
            "--delay-ms",
            str(delay_ms),
            "--chunk-delay-ms",
            str(chunk_delay_ms),
            "--chunks",
            "8",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise RuntimeError("stub backend did not start")
    return proc, json.loads(line)["url"]


class Client:
    """One keep-alive HTTP/1.1 connection per load thread, as an SDK client would hold."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, float]:
        """Send one request, return (status, seconds); reconnects once if the pooled connection was closed."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            start = time.perf_counter()
            try:
                self.conn.request("POST", path, body=body, headers=HEADERS)
                resp = self.conn.getresponse()
                resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self.close()
                return resp.status, time.perf_counter() - start
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return 0, time.perf_counter() - start
        return 0, 0.0

    def first_chunk(self, path: str, body: bytes) -> tuple[int, float]:
        """Stream one request; return (status, seconds to the first SSE data line)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        start = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=HEADERS)
            resp = conn.getresponse()
            ttft = None
            while True:
                line = resp.readline()
                if not line:
                    break
                if ttft is None and line.startswith(b"data:"):
                    ttft = time.perf_counter() - start
            return resp.status, ttft if ttft is not None else float("nan")
        except (OSError, http.client.HTTPException):
            return 0, float("nan")
        finally:
            conn.close()

    def close(self) -> None:
        """Drop the pooled connection (the next request opens a new one)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _body(i: int, stream: bool) -> bytes:
    # Unrelated prompts: measures plain proxying, not cache-aware stickiness.
    prompt = "".join(random.Random(i).choices(string.ascii_letters + " ", k=400))
    return json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8, "stream": stream}
    ).encode()


def measure(ports: list[int], count: int, concurrency: int, deadline_s: float, *, stream: bool) -> dict[str, Any]:
    """``count`` requests on ``concurrency`` threads spread over ``ports`` (one port = one balancer)."""
    end = time.monotonic() + deadline_s
    local = threading.local()
    lock = threading.Lock()
    counter = [0]

    def one(i: int) -> tuple[int, float] | None:
        if time.monotonic() > end:
            return None
        if not hasattr(local, "clients"):
            local.clients = {p: Client(p) for p in ports}
        with lock:
            port = ports[counter[0] % len(ports)]
            counter[0] += 1
        client = local.clients[port]
        path = "/v1/chat/completions"
        return client.first_chunk(path, _body(i, True)) if stream else client.post(path, _body(i, False))

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(count)))
    wall = time.perf_counter() - start
    done = [r for r in results if r is not None]
    ok = [t for status, t in done if status == 200 and t == t]
    return {
        "requests": len(done),
        "errors": len(done) - len(ok),
        "p50_ms": round(percentile(ok, 50) * 1000, 2) if ok else None,
        "p99_ms": round(percentile(ok, 99) * 1000, 2) if ok else None,
        "throughput_rps": round(len(ok) / wall, 1) if wall else None,
    }


def _healthy(url: str) -> bool:
    return request("GET", url + "/health", timeout=1).status == 200


def main(argv: list[str] | None = None) -> int:
    """Parse options, start everything, measure each target, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stubs", type=int, default=3, help="stub backends (default 3)")
    parser.add_argument("--requests", type=int, default=600, help="requests per target (default 600, max 20000)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--delay-ms", type=int, default=10, help="stub latency per request (default 10 ms)")
    parser.add_argument("--stream-requests", type=int, default=120, help="streamed requests for TTFT (0 = skip)")
    parser.add_argument(
        "--router-policy",
        default="cache_aware",
        choices=["cache_aware", "round_robin", "power_of_two", "random", "consistent_hash"],
    )
    parser.add_argument("--deadline-s", type=float, default=120.0, help="time limit per measured phase")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    args.requests = max(1, min(args.requests, 20_000))
    args.concurrency = max(1, min(args.concurrency, 64))

    nginx_bin = find_binary("nginx", ["/usr/sbin/nginx", "/usr/local/sbin/nginx"])
    router_bin = find_binary("vllm-router")
    if nginx_bin is None or router_bin is None:
        print(missing_message("nginx" if nginx_bin is None else "vllm-router"), file=sys.stderr)
        return 2

    workdir = make_workdir("vllm-infra-bench-")
    stubs: list[subprocess.Popen[str]] = []
    nginx: NginxProcess | None = None
    router: RouterProcess | None = None
    try:
        urls = []
        for i in range(args.stubs):
            proc, url = start_stub_process(args.delay_ms, 5, f"bench-stub{i}")
            stubs.append(proc)
            urls.append(url)
        ports = [int(u.rsplit(":", 1)[1]) for u in urls]
        assert all(wait_until(functools.partial(_healthy, url), 10) for url in urls)

        nginx_port = free_port()
        settings = loopback_nginx_settings(workdir, nginx_port, access_log="off")
        conf = render_nginx_conf(
            settings,
            [UpstreamServer(host="127.0.0.1", port=p) for p in ports],
            resolver="127.0.0.1",
            api_key_check=False,
        )
        nginx = NginxProcess(nginx_bin, workdir, conf, nginx_port).start()

        router_port = free_port()
        rargs = router_args(
            loopback_router_settings(policy=args.router_policy, log_level="error", worker_api_key_env="VLLM_API_KEY"),
            StaticWorkers(urls=tuple(urls)),
            multi_model=False,
            port=router_port,
        )
        rargs = [a.replace("$(VLLM_API_KEY)", DEFAULT_API_KEY) for a in rargs]  # what Kubernetes expands
        router = RouterProcess(router_bin, workdir, rargs, router_port).start()

        targets = {"direct": ports, "nginx": [nginx.port], "router": [router.port]}
        results: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json"}}
        for mode, count in (("plain", args.requests), ("stream_ttft", args.stream_requests)):
            if count <= 0:
                continue
            results[mode] = {}
            for name, target_ports in targets.items():
                measure(target_ports, min(50, count), args.concurrency, args.deadline_s, stream=mode != "plain")
                results[mode][name] = measure(
                    target_ports, count, args.concurrency, args.deadline_s, stream=mode != "plain"
                )
        ratios: dict[str, Any] = {}
        for mode in ("plain", "stream_ttft"):
            if mode not in results:
                continue
            direct = results[mode]["direct"]
            for name in ("nginx", "router"):
                r = results[mode][name]
                if direct["p50_ms"] and r["p50_ms"]:
                    ratios[f"{mode}.{name}/direct"] = {
                        "p50": round(r["p50_ms"] / direct["p50_ms"], 2),
                        "p99": round(r["p99_ms"] / direct["p99_ms"], 2),
                        "throughput": round(r["throughput_rps"] / direct["throughput_rps"], 2),
                        "p50_overhead_ms": round(r["p50_ms"] - direct["p50_ms"], 2),
                    }
        results["ratios"] = ratios
        _print(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        for balancer in (router, nginx):
            if balancer is not None:
                balancer.stop()
        for stub in stubs:
            stub.send_signal(signal.SIGTERM)
        for stub in stubs:
            try:
                stub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stub.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _print(results: dict[str, Any]) -> None:
    cfg = results["config"]
    print(
        f"stubs={cfg['stubs']} requests={cfg['requests']} concurrency={cfg['concurrency']} "
        f"stub_delay={cfg['delay_ms']}ms router_policy={cfg['router_policy']} cpus={os.cpu_count()}"
    )
    for mode, title in (
        ("plain", "non-streamed completions (latency = full response)"),
        ("stream_ttft", "streamed completions (latency = time to first chunk)"),
    ):
        if mode not in results:
            continue
        print(f"\n{title}")
        print(f"  {'target':8} {'ok':>6} {'errors':>6} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9}")
        for name, r in results[mode].items():
            print(
                f"  {name:8} {r['requests'] - r['errors']:>6} {r['errors']:>6} {r['p50_ms']!s:>9} "
                f"{r['p99_ms']!s:>9} {r['throughput_rps']!s:>9}"
            )
    print("\nratios (balancer / direct; same run)")
    for key, r in results["ratios"].items():
        print(
            f"  {key:28} p50 x{r['p50']:<6} p99 x{r['p99']:<6} throughput x{r['throughput']:<6} "
            f"({r['p50_overhead_ms']:+.2f} ms at p50)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
