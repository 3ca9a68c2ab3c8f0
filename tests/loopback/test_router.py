"""Real vllm-router 0.1.17, started with the generated command line, in front of stub backends on 127.0.0.1."""

from __future__ import annotations

import json
import random
import string
from collections import Counter

import pytest

from vllm_infra.balancing.router import StaticWorkers, add_worker_path

from .conftest import servers_for
from .procs import chat_body, free_port, load_with_kill, request, run_bounded, settle, stream, wait_until
from .stub_backend import DEFAULT_API_KEY, StubBackend

pytestmark = pytest.mark.slow

MODEL = "stub-model"
# Clients send the pods' key; the router passes it on (and uses its own --api-key for its tokenizer calls).
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def _workers(stubs: list[StubBackend]) -> StaticWorkers:
    return StaticWorkers(urls=tuple(s.url for s in stubs))


def _post(url: str, prompt: str, model: str = MODEL, timeout: float = 30.0, headers: dict | None = None):
    return request("POST", url + "/v1/chat/completions", chat_body(model, prompt), {**AUTH, **(headers or {})}, timeout)


def test_router_killing_a_backend_mid_run_loses_no_request(make_stubs, router, record_property) -> None:
    """3 backends, 90 requests from 4 concurrent clients, the backend with a request in flight killed after 30
    answers. The router's retries and circuit breaker must turn every request into a 200, each completed by
    exactly one backend. (With cache_aware, retries return to the dead worker until its breaker opens; hence
    ``retry_max_retries > cb_failure_threshold`` in the settings. With retries=3/breaker=5 this test loses one
    request per run; with ``--disable-retries`` about ten.)"""
    stubs = make_stubs(3, delay_ms=40)
    proc = router(_workers(stubs))
    # Unrelated prompts (no shared prefix), so cache_aware spreads them by load and the victim gets traffic.
    prompts = ["".join(random.Random(i).choices(string.ascii_letters, k=200)) for i in range(90)]
    run = load_with_kill(lambda i: _post(proc.url, prompts[i]), stubs[1], count=90, concurrency=4, kill_after=30)
    assert settle(stubs)
    served = {s.name: sum(1 for r in s.stats()["records"] if r["completed"]) for s in stubs}
    summary = {
        "non_200": sum(1 for x in run.statuses if x != 200),
        "served": served,
        "cut_in_flight": run.cut_in_flight,
    }
    record_property("router_kill", json.dumps(summary))
    print("router kill run:", summary)
    assert run.statuses == [200] * 90, summary
    assert run.cut_in_flight >= 1, "the kill must hit a request in flight"
    assert sum(served.values()) == 90, summary


def _prefix_groups(seed: int, groups: int, length: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(length // 8)) for _ in range(groups)
    ]


def _stickiness(url: str, stubs: list[StubBackend], groups: int, per_group: int) -> dict:
    """``groups`` concurrent sessions, each sending ``per_group`` requests one after the other that share a long
    prefix (a system prompt or a conversation so far). Returns how concentrated each session was: the fraction
    of its requests on its most used backend."""
    prefixes = _prefix_groups(seed=7, groups=groups, length=3000)

    def session(g: int) -> list[int]:
        return [_post(url, f"{prefixes[g]}\nquestion {g}-{i}: what next?").status for i in range(per_group)]

    statuses = run_bounded(session, count=groups, concurrency=groups, deadline_s=60)
    assert statuses == [[200] * per_group] * groups, statuses
    homes: dict[int, Counter] = {g: Counter() for g in range(groups)}
    for stub in stubs:
        for prompt in stub.stats()["prompts"]:
            g = next(i for i, p in enumerate(prefixes) if prompt.startswith(p))
            homes[g][stub.name] += 1
    modal = [c.most_common(1)[0][1] / per_group for c in homes.values()]
    return {
        "mean_modal_fraction": round(sum(modal) / groups, 3),
        "distinct_homes": len({c.most_common(1)[0][0] for c in homes.values()}),
        "per_group": {g: dict(c) for g, c in homes.items()},
    }


def test_cache_aware_keeps_a_shared_prefix_on_one_backend(make_stubs, router, record_property) -> None:
    """4 concurrent sessions of 8 requests, each session sharing a 3000-character prefix, over 3 backends (100 ms
    per request). With ``cache_aware`` a session should stay on one backend (its KV cache holds the prefix),
    while different sessions still spread over backends. Control: ``round_robin`` on the same traffic scatters
    each session (chance level is ~1/3 to 1/2 on the busiest backend), so the measurement separates the two.

    The stubs answer vLLM's ``/v1/chat/completions/render``: vllm-router 0.1.17 tokenizes through it (then
    ``/tokenize``) on every worker; without either, cache_aware has no prefix to match."""
    measured = {}
    for policy in ("cache_aware", "round_robin"):
        stubs = make_stubs(3, delay_ms=100, prefix=f"{policy}-")
        proc = router(_workers(stubs), policy=policy)
        measured[policy] = _stickiness(proc.url, stubs, groups=4, per_group=8)
        proc.stop()
    record_property("stickiness", json.dumps(measured))
    print("stickiness:", json.dumps(measured))
    assert measured["cache_aware"]["mean_modal_fraction"] >= 0.9, measured
    assert measured["cache_aware"]["distinct_homes"] >= 2, measured
    # Round-robin's figure wanders with how the sessions interleave (0.33-0.63 seen); it never nears 0.9.
    assert measured["round_robin"]["mean_modal_fraction"] <= 0.8, measured


def _igw_models(url: str) -> set[str]:
    listed = request("GET", url + "/v1/models", timeout=5)
    if listed.status != 200:
        return set()
    payload = listed.json()
    # vllm-router 0.1.17 answers {"models": [...]} in IGW mode; accept OpenAI's list shape as well.
    return set(payload.get("models") or [m["id"] for m in payload.get("data", [])])


def _register_and_route(router_url: str, a: StubBackend, b: StubBackend) -> None:
    for stub in (a, b):
        added = request("POST", router_url + add_worker_path(stub.url), timeout=10)
        assert added.status == 200, added.body
    assert wait_until(lambda: _igw_models(router_url) == {"model-a", "model-b"}, timeout=10), _igw_models(router_url)
    for i in range(8):
        model = "model-a" if i % 2 == 0 else "model-b"
        response = _post(router_url, f"igw {i}", model=model)
        assert response.status == 200 and response.json()["model"] == model, response.body


def test_multi_model_routes_by_model_through_the_key_adding_proxy(make_stubs, router, nginx) -> None:
    """``--enable-igw`` with two key-protected backends serving different models, registered with POST
    /add_worker: the router learns each worker's model from its ``/v1/models`` only through the planned
    worker-auth proxy (nginx, loopback, adds the key; the router's ``http_proxy``). Then its /v1/models lists both
    and each request lands only on the backend serving its model."""
    (a,) = make_stubs(1, model="model-a", prefix="a-")
    (b,) = make_stubs(1, model="model-b", prefix="b-")
    proxy_port = free_port()
    nginx(servers_for([a]), api_key=DEFAULT_API_KEY, worker_auth_proxy_port=proxy_port)
    proc = router(StaticWorkers(), multi_model=True, env={"http_proxy": f"http://127.0.0.1:{proxy_port}"})
    _register_and_route(proc.url, a, b)
    assert settle([a, b])
    assert [r["model"] for r in a.stats()["records"]] == ["model-a"] * 4
    assert [r["model"] for r in b.stats()["records"]] == ["model-b"] * 4
    assert a.stats()["unauthorized"] == b.stats()["unauthorized"] == 0
    # The proxy is on the streaming path too: SSE chunks 150 ms apart still arrive spread out.
    result = stream(
        proc.url + "/v1/chat/completions",
        chat_body("model-b", "stream via proxy"),
        {**AUTH, "X-Stub-Chunk-Delay-Ms": "150", "X-Stub-Chunks": "6"},
    )
    assert result.status == 200 and result.done and len(result.events) == 6, result
    times = [t for t, _ in result.events]
    assert (times[-1] - times[0]) > 0.6 * 0.15 * 5, times


def test_without_the_proxy_key_protected_workers_are_filed_under_unknown(make_stubs, router) -> None:
    """Control, the bug the proxy fixes: vllm-router 0.1.17 asks ``/v1/models`` without its ``--api-key``, vLLM
    answers 401, and both workers are registered as model ``unknown``."""
    (a,) = make_stubs(1, model="model-a", prefix="a-")
    (b,) = make_stubs(1, model="model-b", prefix="b-")
    proc = router(StaticWorkers(), multi_model=True)
    for stub in (a, b):
        assert request("POST", proc.url + add_worker_path(stub.url), timeout=10).status == 200
    assert wait_until(lambda: _igw_models(proc.url) == {"unknown"}, timeout=10), _igw_models(proc.url)
    assert a.stats()["unauthorized"] >= 1 and b.stats()["unauthorized"] >= 1


def test_router_streams_incrementally(make_stubs, router) -> None:
    """SSE chunks 150 ms apart at the pod arrive spread out through the router too."""
    (stub,) = make_stubs(1)
    proc = router(_workers([stub]))
    result = stream(
        proc.url + "/v1/chat/completions",
        chat_body(MODEL, "stream via router"),
        {**AUTH, "X-Stub-Chunk-Delay-Ms": "150", "X-Stub-Chunks": "8"},
    )
    assert result.status == 200 and result.done and len(result.events) == 8, result
    times = [t for t, _ in result.events]
    assert times[0] < 0.4 * times[-1], times
    assert (times[-1] - times[0]) > 0.6 * 0.15 * 7, times
