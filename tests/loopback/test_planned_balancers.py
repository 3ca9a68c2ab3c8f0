"""The balancers exactly as the shipped stacks plan them — nginx.conf from the planned ConfigMap, vllm-router's
command line from the planned Deployment — run for real in front of stub backends on 127.0.0.1.

Only what binds the config to a cluster is rewritten, and a test checks that nothing else differs: the upstream
``server`` lines (the headless Service's name → the stubs), the kube-dns resolver, the listen address, the writable
paths (into a temporary directory) and, for the router, Kubernetes pod discovery (→ the stubs' URLs).
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from vllm_infra.balancing.nginx import API_KEY_INCLUDE_NAME, API_KEY_TEMPLATE_NAME
from vllm_infra.balancing.router import add_worker_path
from vllm_infra.offline.runner import plan_stack

from .procs import NginxProcess, chat_body, free_port, render_api_key_include, request, stream, wait_until

pytestmark = pytest.mark.slow
API_KEY = "sk-loopback-test-key"

# What may differ between the planned file and the one that runs here, line by line.
ENVIRONMENT_LINES = re.compile(
    r"^\s*(server \S+ (service=http )?(resolve )?(max_conns=\d+ )?max_fails|resolver |listen |pid |error_log "
    r"|access_log |include |\w+_temp_path |proxy_cache_path |proxy_pass http://unix:|allow )"
)


@pytest.fixture(scope="module")
def planned():
    cwd = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        return {stack: plan_stack(stack) for stack in ("load-balanced", "multi-model")}
    finally:
        os.chdir(cwd)


def planned_nginx(plan) -> dict[str, str]:
    (config_map,) = [c for c in plan.by_type("kubernetes:core/v1:ConfigMap") if "nginx.conf" in c.inputs["data"]]
    return config_map.inputs["data"]


def start_planned_nginx(
    data: dict[str, str],
    nginx_bin: str,
    workdir: Path,
    upstream_ports: list[int],
    *,
    probe_clients: str | None = "127.0.0.1",
    worker_proxy_port: int | None = None,
):
    (workdir / "conf.d").mkdir(exist_ok=True)
    (workdir / "conf.d" / API_KEY_INCLUDE_NAME).write_text(render_api_key_include(data[API_KEY_TEMPLATE_NAME], API_KEY))
    port = free_port()
    conf = bind_to_loopback(
        data["nginx.conf"],
        workdir,
        port,
        upstream_ports,
        probe_clients=probe_clients,
        worker_proxy_port=worker_proxy_port,
    )
    return NginxProcess(nginx_bin, workdir, conf, port).start(), conf


def bind_to_loopback(
    conf: str,
    workdir: Path,
    port: int,
    stub_ports: list[int],
    *,
    probe_clients: str | None = "127.0.0.1",
    worker_proxy_port: int | None = None,
) -> str:
    """Rewrite the cluster-bound lines of a planned nginx.conf for loopback; everything else is kept.

    ``probe_clients`` replaces the planned ``/healthz/model`` allowlist (the Route 53 checkers) with this address
    (None keeps the planned list); ``worker_proxy_port`` moves the worker-auth proxy's loopback port."""
    lines = []
    allow_done = False
    for line in conf.splitlines():
        # The headless Service's name (A records, or SRV records for the affinity upstream) → the stubs.
        match = re.match(r"^(\s*)server \S+ (?:service=http )?(?:resolve )?((?:max_conns=\d+ )?max_fails.*)$", line)
        if match:
            indent, params = match.groups()
            lines += [f"{indent}server 127.0.0.1:{p} {params}" for p in stub_ports]
            continue
        allow = re.match(r"^(\s*)allow \S+;$", line)
        if allow and probe_clients is not None:
            if not allow_done:
                lines.append(f"{allow.group(1)}allow {probe_clients};")
                allow_done = True
            continue
        if worker_proxy_port is not None:
            line = re.sub(r"^(\s*)listen 127\.0\.0\.1:\d+;", rf"\1listen 127.0.0.1:{worker_proxy_port};", line)
        line = line.replace("/tmp/", f"{workdir}/")
        line = re.sub(r"^(\s*)resolver \S+", r"\1resolver 127.0.0.1", line)
        line = re.sub(r"^(\s*)listen \d+;", rf"\1listen 127.0.0.1:{port};", line)
        line = re.sub(r"^(\s*)access_log /dev/stdout", rf"\1access_log {workdir}/access.log", line)
        line = re.sub(r"^(\s*include )/etc/nginx/conf\.d/", rf"\g<1>{workdir}/conf.d/", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def planned_nginx_process(planned, nginx_bin, workdir, make_stubs):
    data = planned_nginx(planned["load-balanced"])
    stubs = make_stubs(2, model="llama-3.1-8b-instruct", api_key=API_KEY)
    process, conf = start_planned_nginx(data, nginx_bin, workdir, [s.port for s in stubs])
    yield process, stubs, data["nginx.conf"], conf
    process.stop()


def test_only_cluster_bound_lines_are_rewritten(planned_nginx_process):
    _, _, original, running = planned_nginx_process
    changed = [
        line[1:]
        for line in difflib.unified_diff(original.splitlines(), running.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed, "the planned file names the cluster's Service; something must have been rewritten"
    assert [line for line in changed if not ENVIRONMENT_LINES.match(line)] == []


def test_planned_nginx_serves_with_the_api_key_and_rejects_without(planned_nginx_process):
    process, stubs, _, _ = planned_nginx_process
    body = chat_body("llama-3.1-8b-instruct", "hello")
    assert request("POST", process.url + "/v1/chat/completions", body).status == 401
    answered = request("POST", process.url + "/v1/chat/completions", body, {"Authorization": f"Bearer {API_KEY}"})
    assert answered.status == 200
    assert request("GET", process.url + "/health").status == 200, "/health needs no key"
    assert sum(s.stats()["generation_requests"] for s in stubs) == 1, "the rejected request never reached a pod"


def test_model_health_probe_proves_the_model_serves(planned_nginx_process):
    """/healthz/model (what Route 53 checks) needs no key from the checker, answers many checks with one
    authenticated completion to a pod, and fails once no pod can answer (after at most the planned cache validity)
    — unlike /healthz, which only proves nginx runs."""
    process, stubs, _, _ = planned_nginx_process
    probes = [request("GET", process.url + "/healthz/model") for _ in range(10)]
    assert all(p.status == 200 and b'"choices"' in p.body for p in probes), [p.status for p in probes]
    records = [r for s in stubs for r in s.stats()["records"] if r["path"] == "/v1/completions"]
    assert len(records) == 1 and records[0]["model"] == "llama-3.1-8b-instruct"
    assert records[0]["headers"].get("authorization") == f"Bearer {API_KEY}"
    for stub in stubs:
        stub.kill()
    assert wait_until(lambda: request("GET", process.url + "/healthz/model", timeout=15).status >= 500, timeout=40)
    assert request("GET", process.url + "/healthz").status == 200


def test_planned_model_probe_refuses_clients_outside_the_route53_ranges(planned, nginx_bin, workdir, make_stubs):
    """The planned allowlist kept as it is (Route 53's health checkers): a probe from 127.0.0.1 gets 403 and no
    completion reaches a pod."""
    stubs = make_stubs(1, model="llama-3.1-8b-instruct", api_key=API_KEY)
    process, _ = start_planned_nginx(
        planned_nginx(planned["load-balanced"]), nginx_bin, workdir, [s.port for s in stubs], probe_clients=None
    )
    try:
        assert request("GET", process.url + "/healthz/model").status == 403
        assert stubs[0].generation_requests == 0
    finally:
        process.stop()


def test_planned_nginx_streams_incrementally(planned_nginx_process):
    process, _, _, _ = planned_nginx_process
    body = chat_body("llama-3.1-8b-instruct", "stream please", stream=True, stub_chunks=6, stub_chunk_delay_ms=150)
    result = stream(process.url + "/v1/chat/completions", body, {"Authorization": f"Bearer {API_KEY}"})
    assert result.status == 200 and result.done
    first, last = result.events[0][0], result.events[-1][0]
    # The stub paces 6 chunks 150 ms apart (0.75 s): buffered, they would all arrive within a few ms.
    assert last - first > 0.5, "chunks arrived together: the response was buffered"


def planned_router_container(plan) -> dict:
    (deployment,) = [d for d in plan.by_type("kubernetes:apps/v1:Deployment") if d.name.endswith("-gateway-deployment")]
    (container,) = [c for c in deployment.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == "router"]
    return container


def planned_router_args(plan) -> list[str]:
    return planned_router_container(plan)["args"]


def test_planned_multi_model_gateway_lists_and_routes_by_model(planned, router_bin, nginx_bin, workdir, make_stubs):
    """The multi-model gateway pod as planned: its nginx front door (OpenAI model list from the config, API key)
    and vllm-router (routing by ``model``), in front of one stub per model."""
    plan = planned["multi-model"]
    args = planned_router_args(plan)
    assert "--enable-igw" in args and "--service-discovery" in args
    served = ["llama-3.1-8b-instruct", "qwen2.5-32b-instruct"]
    stubs = [make_stubs(1, model=name, prefix=name, api_key=API_KEY)[0] for name in served]
    port, metrics_port, proxy_port = free_port(), free_port(), free_port()
    # Kubernetes discovery is replaced by registering the stubs; the API key comes from the environment as in the pod.
    local = _without_discovery(args)
    local = _set(local, "--host", "127.0.0.1")
    local = _set(local, "--port", str(port))
    local = _set(local, "--prometheus-host", "127.0.0.1")
    local = _set(local, "--prometheus-port", str(metrics_port))
    # The planned container environment (the key from the Secret; http_proxy to the sidecar, port moved here).
    planned_env = {e["name"]: e.get("value") for e in planned_router_container(plan)["env"]}
    assert planned_env["http_proxy"] == "http://127.0.0.1:8090"
    # What the kubelet expands: $(KUBERNETES_SERVICE_HOST) is the API's ClusterIP (an example one here).
    proxies = {
        k: v.replace(":8090", f":{proxy_port}").replace("$(KUBERNETES_SERVICE_HOST)", "172.20.0.1")
        for k, v in planned_env.items()
        if k.lower() in ("http_proxy", "no_proxy")
    }
    assert len(proxies) == 4, planned_env
    base = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env = {**base, "VLLM_API_KEY": API_KEY, **proxies}
    expanded = [a.replace("$(VLLM_API_KEY)", env["VLLM_API_KEY"]) for a in local]  # what Kubernetes does
    front, _ = start_planned_nginx(planned_nginx(plan), nginx_bin, workdir, [port], worker_proxy_port=proxy_port)
    log = (workdir / "router.log").open("wb")
    proc = subprocess.Popen([router_bin, *expanded], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: request("GET", url + "/liveness", timeout=1).status == 200, 30)
        for stub in stubs:
            added = request("POST", url + add_worker_path(stub.url), timeout=10)
            assert added.status in (200, 201, 202), added.body
        auth = {"Authorization": f"Bearer {API_KEY}"}
        assert request("GET", front.url + "/v1/models").status == 401
        listed = request("GET", front.url + "/v1/models", headers=auth)
        assert listed.status == 200, listed.body
        configured = [m.served_name for m in _stack_models("multi-model")]
        assert listed.json()["object"] == "list"
        assert [m["id"] for m in listed.json()["data"]] == configured
        for _ in range(2):
            for name, stub in zip(served, stubs, strict=True):
                before = stub.stats()["generation_requests"]
                answer = request("POST", front.url + "/v1/chat/completions", chat_body(name, f"to {name}"), auth)
                assert answer.status == 200 and answer.json()["model"] == name, answer.body
                assert stub.stats()["generation_requests"] == before + 1
        assert all(s.stats()["unauthorized"] == 0 for s in stubs), "every call to a pod must carry the key"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        front.stop()


def _without_discovery(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if arg in {"--service-discovery"}:
            continue
        if arg in {"--selector", "--service-discovery-port", "--service-discovery-namespace"}:
            skip = True
            continue
        if skip and not arg.startswith("--"):
            continue
        skip = False
        out.append(arg)
    return out


def _set(args: list[str], flag: str, value: str) -> list[str]:
    index = args.index(flag)
    return [*args[: index + 1], value, *args[index + 2 :]]


def _stack_models(stack: str):
    import yaml

    from vllm_infra.config import StackConfig

    document = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return StackConfig.model_validate(
        {
            key.split(":", 1)[1]: value
            for key, value in document.items()
            if key.split(":", 1)[1] not in ("apiKey", "hfToken")
        }
    ).models


def test_planned_router_prestop_returns_only_after_nginx_has_drained(planned, nginx_bin, workdir, make_stubs):
    """The multi-model pod's two preStop hooks as planned, run side by side as the kubelet runs them, around the
    planned front door with a request in flight (7 s, so it outlasts nginx's 5 s wait): nginx finishes that request
    after SIGQUIT, and the router's hook returns only after nginx's master is gone — so the router, which gets
    SIGTERM when its hook returns, never stops under a request nginx is still draining into it."""
    import threading
    import time

    plan = planned["multi-model"]
    (deployment,) = [d for d in plan.by_type("kubernetes:apps/v1:Deployment") if d.name.endswith("-gateway-deployment")]
    containers = {c["name"]: c for c in deployment.inputs["spec"]["template"]["spec"]["containers"]}
    shared = next(m["mountPath"] for m in containers["router"]["volumeMounts"] if m["name"] == "nginx-tmp")

    def local(command: list[str]) -> list[str]:
        return [part.replace("/tmp/", f"{workdir}/").replace(f"{shared}/", f"{workdir}/") for part in command]

    (stub,) = make_stubs(1, model="llama-3.1-8b-instruct", api_key=API_KEY)
    front, _ = start_planned_nginx(planned_nginx(plan), nginx_bin, workdir, [stub.port])
    outcome: dict = {}
    body = chat_body("llama-3.1-8b-instruct", "long one", stub_delay_ms=7000)
    client = threading.Thread(
        target=lambda: outcome.update(
            r=request(
                "POST", front.url + "/v1/chat/completions", body, {"Authorization": f"Bearer {API_KEY}"}, timeout=30
            )
        )
    )
    client.start()
    hooks = {}
    try:
        assert wait_until(lambda: stub.stats()["in_flight"] == 1, timeout=10)
        hooks = {
            name: subprocess.Popen(local(containers[name]["lifecycle"]["preStop"]["exec"]["command"]))
            for name in ("nginx", "router")
        }
        exited: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while len(exited) < 3 and time.monotonic() < deadline:
            for name, proc in (("nginx-master", front.proc), *hooks.items()):
                if name not in exited and proc.poll() is not None:
                    exited[name] = time.monotonic()
            time.sleep(0.01)
        client.join(timeout=30)
        assert outcome["r"].status == 200, outcome["r"]
        assert set(exited) == {"nginx-master", "nginx", "router"}, exited
        assert exited["router"] >= exited["nginx-master"], exited
        assert hooks["router"].returncode == 0
    finally:
        for proc in hooks.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        front.stop()
