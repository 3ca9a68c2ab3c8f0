"""Real nginx running the generated configuration in front of stub vLLM backends, all on 127.0.0.1.

Each test states what it measures; thresholds are generous ratios, not absolute timings, and every run is
bounded in request count and time.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from .conftest import servers_for
from .procs import chat_body, load_with_kill, raw_arrivals, request, settle, stream, wait_until
from .stub_backend import DEFAULT_API_KEY, StubBackend

pytestmark = pytest.mark.slow

MODEL = "stub-model"
# What a client of the pods sends; nginx passes it through (the edge check, when on, compares it first).
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def _post(
    url: str, prompt: str, headers: dict[str, str] | None = None, timeout: float = 30.0, *, auth: bool = True, **body
):
    sent = {**(AUTH if auth else {}), **(headers or {})}
    return request("POST", url + "/v1/chat/completions", chat_body(MODEL, prompt, **body), sent, timeout)


def _stubs_with_prompt(stubs: list[StubBackend], prompt: str) -> list[tuple[str, bool]]:
    """(stub name, completed) for every stub that received ``prompt``."""
    return [(s.name, r["completed"]) for s in stubs for r in s.stats()["records"] if r["prompt"] == prompt]


# ---- health, headers, limits -------------------------------------------------------------------------------------


def test_health_passthrough_and_own_healthz(make_stubs, nginx) -> None:
    """/healthz is nginx's own; /health reaches a pod and reflects whether any pod is up; /metrics is not proxied."""
    stubs = make_stubs(2)
    proxy = nginx(servers_for(stubs))
    healthz = request("GET", proxy.url + "/healthz")
    assert (healthz.status, healthz.body) == (200, b"ok\n")
    assert request("GET", proxy.url + "/health").status == 200
    assert sum(s.stats()["by_path"].get("/health", 0) for s in stubs) == 1
    assert request("GET", proxy.url + "/metrics").status == 404
    assert sum(s.stats()["by_path"].get("/metrics", 0) for s in stubs) == 0
    for stub in stubs:
        stub.kill()
    assert request("GET", proxy.url + "/health", timeout=10).status == 502
    assert request("GET", proxy.url + "/healthz").status == 200


def test_headers_request_ids_and_upstream_keepalive(make_stubs, nginx) -> None:
    """Forwarding headers reach the pod, request ids are kept or minted, upstream connections are reused."""
    (stub,) = make_stubs(1)
    proxy = nginx(servers_for([stub]))
    given = _post(proxy.url, "with id", {"X-Request-Id": "req-abc-123"})
    minted = _post(proxy.url, "without id")
    assert given.status == minted.status == 200
    assert given.headers.get("x-accel-buffering") == "no"
    seen = {r["prompt"]: r["headers"] for r in stub.stats()["records"]}
    assert seen["with id"]["x-request-id"] == "req-abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", seen["without id"]["x-request-id"])
    assert seen["with id"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["with id"]["x-real-ip"] == "127.0.0.1"
    assert "connection" not in seen["with id"]  # `Connection ""`: keep-alive towards the pod
    stub.reset_stats()
    results = [_post(proxy.url, f"sequential {i}") for i in range(40)]
    assert all(r.status == 200 for r in results)
    connections = stub.stats()["connections"]
    # 40 requests over at most a handful of pooled connections (one per nginx worker), not 40 handshakes.
    assert connections <= 4, connections


def test_long_prompt_passes_and_oversized_body_is_refused(make_stubs, nginx) -> None:
    """A 3 MB prompt (spooled to nginx's temp dir) arrives whole; a body over client_max_body_size gets 413."""
    (stub,) = make_stubs(1)
    proxy = nginx(servers_for([stub]), client_max_body_size_mb=4)
    prompt = "lorem ipsum " * (3 * 1024 * 1024 // 12)
    ok = _post(proxy.url, prompt, timeout=60)
    assert ok.status == 200
    assert stub.stats()["prompts"] == [prompt]
    assert settle([stub])
    too_big = _post(proxy.url, "x" * (5 * 1024 * 1024), timeout=60)
    assert too_big.status == 413
    assert stub.generation_requests == 1


def test_api_key_is_enforced_at_the_edge(make_stubs, nginx) -> None:
    """401 without or with a wrong key (case-sensitive), 200 with it; probes stay open; refused requests never
    reach a pod."""
    key = "sk-Loopback-7f3a9"
    (stub,) = make_stubs(1, api_key=key)
    proxy = nginx(servers_for([stub]), api_key_check=True, api_key=key)
    assert key not in proxy.conf_text
    missing = _post(proxy.url, "no key", auth=False)
    assert missing.status == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert missing.headers.get("www-authenticate") == "Bearer"
    assert _post(proxy.url, "wrong", {"Authorization": "Bearer sk-wrong"}).status == 401
    assert _post(proxy.url, "case", {"Authorization": f"Bearer {key.lower()}"}).status == 401
    assert _post(proxy.url, "raw key", {"Authorization": key}).status == 401
    assert request("GET", proxy.url + "/v1/models").status == 401
    assert stub.generation_requests == 0
    good = _post(proxy.url, "good", {"Authorization": f"Bearer {key}"})
    assert good.status == 200
    assert request("GET", proxy.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status == 200
    assert request("GET", proxy.url + "/health").status == 200
    assert request("GET", proxy.url + "/healthz").status == 200
    assert stub.stats()["prompts"] == ["good"]


def test_empty_api_key_refuses_everything(make_stubs, nginx) -> None:
    """A Secret with an empty value must not open the door: every request is refused."""
    (stub,) = make_stubs(1)
    proxy = nginx(servers_for([stub]), api_key_check=True, api_key="")
    for auth in (None, "Bearer ", "Bearer", "Bearer x"):
        headers = {"Authorization": auth} if auth is not None else None
        assert _post(proxy.url, "empty", headers, auth=False).status == 401
    assert stub.generation_requests == 0


# ---- least_conn vs round-robin ------------------------------------------------------------------------------------


def _open_loop_run(url: str, count: int, gap_s: float, slow_ms: int, fast_ms: int) -> tuple[list, float]:
    """Send request i at i*gap_s on its own thread (arrivals do not wait for answers, like real traffic);
    even requests are slow. Returns the responses and the time until the last one finished."""
    results: list = [None] * count

    def fire(i: int) -> None:
        delay = slow_ms if i % 2 == 0 else fast_ms
        results[i] = _post(url, f"load {i}", {"X-Stub-Delay-Ms": str(delay)}, timeout=30)

    threads = []
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i * gap_s - time.monotonic()))
        thread = threading.Thread(target=fire, args=(i,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=60)
    return results, time.monotonic() - start


def _slow_share(stubs: list[StubBackend], slow_ms: int) -> float:
    """Fraction of all slow requests that the busiest backend got (0.5 = even, 1.0 = all on one)."""
    per_stub = [sum(1 for r in s.stats()["records"] if r["delay_ms"] == slow_ms) for s in stubs]
    return max(per_stub) / sum(per_stub)


def test_least_conn_spreads_uneven_requests_better_than_round_robin(make_stubs, nginx, record_property) -> None:
    """Two backends that each process two requests at a time (like a saturated engine), 24 requests arriving
    every 100 ms, every other one slow (800 ms). Round-robin alternates backends, so every slow request lands on
    the same one and queues there; least_conn sends each request to the backend with fewer in flight. Both runs
    use the generated config; the round-robin one differs only by the missing ``least_conn`` line."""
    count, gap_s, slow_ms, fast_ms = 24, 0.1, 800, 50
    measured = {}
    for mode in ("round_robin", "least_conn"):
        stubs = make_stubs(2, max_concurrency=2, prefix=f"{mode}-")
        proxy = nginx(servers_for(stubs), load_balancing=mode)
        assert ("least_conn;" in proxy.conf_text) is (mode == "least_conn")
        results, makespan = _open_loop_run(proxy.url, count, gap_s, slow_ms, fast_ms)
        assert all(r is not None and r.status == 200 for r in results), [getattr(r, "status", r) for r in results]
        slow_latencies = [r.elapsed for i, r in enumerate(results) if i % 2 == 0]
        measured[mode] = {
            "makespan_s": round(makespan, 3),
            "slow_share": round(_slow_share(stubs, slow_ms), 3),
            "max_in_flight": [s.stats()["max_in_flight"] for s in stubs],
            "slow_max_latency_s": round(max(slow_latencies), 3),
        }
        proxy.stop()
        for stub in stubs:
            stub.stop()
    record_property("least_conn_vs_round_robin", json.dumps(measured))
    print("least_conn vs round_robin:", json.dumps(measured))
    rr, lc = measured["round_robin"], measured["least_conn"]
    # The scenario really is the pathological one for round-robin...
    assert rr["slow_share"] >= 0.9, measured
    # ...and least_conn undoes it: slow requests split, the batch finishes clearly sooner.
    assert lc["slow_share"] <= 0.75, measured
    assert rr["makespan_s"] >= 1.15 * lc["makespan_s"], measured
    assert max(rr["max_in_flight"]) > max(lc["max_in_flight"]), measured


# ---- streaming -----------------------------------------------------------------------------------------------------


def _stream_spread(url: str, chunk_delay_ms: int, chunks: int) -> dict:
    """Stream through ``url`` and compare SSE arrival times with the pod's nominal pacing."""
    result = stream(
        url + "/v1/chat/completions",
        chat_body(MODEL, "stream me"),
        {**AUTH, "X-Stub-Chunk-Delay-Ms": str(chunk_delay_ms), "X-Stub-Chunks": str(chunks)},
    )
    assert result.status == 200 and result.done and len(result.events) == chunks, result
    times = [t for t, _ in result.events]
    nominal = chunk_delay_ms * (chunks - 1) / 1000
    return {
        "first_s": round(times[0], 3),
        "last_s": round(times[-1], 3),
        "spread_ratio": round((times[-1] - times[0]) / nominal, 3),
    }


def _gzip_spread(url: str, chunk_delay_ms: int, chunks: int) -> dict:
    """Same, measured on the raw (gzip-compressed) bytes as they arrive."""
    status, headers, arrivals = raw_arrivals(
        url + "/v1/chat/completions",
        chat_body(MODEL, "stream me", stream=True),
        {**AUTH, "Accept-Encoding": "gzip", "X-Stub-Chunk-Delay-Ms": str(chunk_delay_ms), "X-Stub-Chunks": str(chunks)},
    )
    assert status == 200 and headers.get("content-encoding") == "gzip", headers
    nominal = chunk_delay_ms * (chunks - 1) / 1000
    return {
        "first_s": round(arrivals[0][0], 3),
        "last_s": round(arrivals[-1][0], 3),
        "spread_ratio": round((arrivals[-1][0] - arrivals[0][0]) / nominal, 3),
    }


_GZIP = "gzip on; gzip_types text/event-stream; gzip_min_length 1;"


def test_stream_arrives_incrementally(make_stubs, nginx, record_property) -> None:
    """SSE chunks written 150 ms apart by the pod reach the client spread out the same way: the first long
    before the last. The same holds when gzip is switched on around the generated config (a common inherited
    setting), because ``proxy_buffering off`` makes nginx flush every piece it reads. Control: that gzip config
    with ``proxy_buffering on`` delivers the whole stream in one lump at the end, so the measurement does tell
    buffered from streamed."""
    (stub,) = make_stubs(1)
    plain = _stream_spread(nginx(servers_for([stub])).url, 150, 10)
    gzip_live = _gzip_spread(
        nginx(
            servers_for([stub]),
            conf_transform=lambda c: c.replace("proxy_buffering off;", f"proxy_buffering off;\n        {_GZIP}"),
        ).url,
        150,
        10,
    )
    gzip_buffered = _gzip_spread(
        nginx(
            servers_for([stub]),
            conf_transform=lambda c: c.replace("proxy_buffering off;", f"proxy_buffering on;\n        {_GZIP}"),
        ).url,
        150,
        10,
    )
    measured = {"sse": plain, "gzip": gzip_live, "gzip_buffering_on_control": gzip_buffered}
    record_property("stream", json.dumps(measured))
    print("stream timing:", json.dumps(measured))
    for spread in (plain, gzip_live):
        assert spread["first_s"] < 0.4 * spread["last_s"], measured
        assert spread["spread_ratio"] > 0.6, measured
    assert gzip_buffered["spread_ratio"] < 0.3 and gzip_buffered["first_s"] > 0.7 * 1.35, measured


# ---- failures ------------------------------------------------------------------------------------------------------


def test_killing_a_backend_mid_run_loses_no_request(make_stubs, nginx, record_property) -> None:
    """3 backends, 90 requests from 4 concurrent clients; once 30 are answered, the backend with a request in
    flight is killed (listener closed, open connections reset). Every request must still get a 200: the cut
    ones are re-sent (their response had not begun) and new ones skip the dead pod."""
    stubs = make_stubs(3, delay_ms=40)
    proxy = nginx(servers_for(stubs))
    run = load_with_kill(lambda i: _post(proxy.url, f"kill-run {i}"), stubs[1], count=90, concurrency=4, kill_after=30)
    assert settle(stubs)
    served = {s.name: sum(1 for r in s.stats()["records"] if r["completed"]) for s in stubs}
    retried = [e for e in proxy.access_log_entries() if "," in e["upstream_status"]]
    summary = {
        "non_200": sum(1 for x in run.statuses if x != 200),
        "served": served,
        "cut_in_flight": run.cut_in_flight,
        "retried_log_entries": len(retried),
    }
    record_property("nginx_kill", json.dumps(summary))
    print("nginx kill run:", summary)
    assert run.statuses == [200] * 90, summary
    assert run.cut_in_flight >= 1, "the kill must hit a request in flight"
    assert sum(served.values()) == 90  # each request completed exactly once
    assert len(retried) >= run.cut_in_flight, summary


def _kill_when_in_flight(stubs: list[StubBackend], timeout: float = 5.0) -> StubBackend:
    assert wait_until(lambda: any(s.stats()["in_flight"] for s in stubs), timeout=timeout, interval=0.005)
    target = next(s for s in stubs if s.stats()["in_flight"])
    target.kill()
    return target


def test_request_is_re_sent_only_before_the_response_began(make_stubs, nginx) -> None:
    """nginx re-sends a request only while nothing has been sent to the client.

    (1) A pod dies while generating a non-streamed answer: nothing was sent yet, nginx re-sends the request to
    the other pod and the client gets 200 (the prompt reached both pods). (2) A pod dies after the first SSE
    chunk reached the client: the stream is cut and the request is never replayed elsewhere (one pod saw it).
    """
    stubs = make_stubs(2)
    proxy = nginx(servers_for(stubs))
    outcome: dict = {}
    thread = threading.Thread(
        target=lambda: outcome.update(r=_post(proxy.url, "before-answer", {"X-Stub-Delay-Ms": "1500"})), daemon=True
    )
    thread.start()
    first = _kill_when_in_flight(stubs)
    thread.join(timeout=20)
    assert outcome["r"].status == 200
    assert settle(stubs)
    seen = _stubs_with_prompt(stubs, "before-answer")
    assert sorted(seen) == sorted([(first.name, False), (next(s for s in stubs if s is not first).name, True)])

    stubs = make_stubs(2, chunk_delay_ms=300, chunks=6)
    proxy = nginx(servers_for(stubs))
    killed: list[StubBackend] = []

    def on_event(n: int, _payload: str) -> None:
        if n == 1:
            killed.append(_kill_when_in_flight(stubs))

    result = stream(
        proxy.url + "/v1/chat/completions", chat_body(MODEL, "mid-stream"), AUTH, on_event=on_event, timeout=20
    )
    time.sleep(0.5)  # a replay, if nginx did one, would have reached the other stub by now
    assert settle(stubs)
    assert killed and result.status == 200
    assert not result.done and 1 <= len(result.events) < 6, result
    assert _stubs_with_prompt(stubs, "mid-stream") == [(killed[0].name, False)]


def test_without_non_idempotent_a_cut_post_is_not_re_sent(make_stubs, nginx) -> None:
    """Control for the previous test: with ``retry_non_idempotent=False`` nginx's default applies, and a POST
    whose pod died after receiving it fails with 502 instead of being re-sent."""
    stubs = make_stubs(2)
    proxy = nginx(servers_for(stubs), retry_non_idempotent=False)
    outcome: dict = {}
    thread = threading.Thread(
        target=lambda: outcome.update(r=_post(proxy.url, "no-replay", {"X-Stub-Delay-Ms": "1500"})), daemon=True
    )
    thread.start()
    first = _kill_when_in_flight(stubs)
    thread.join(timeout=20)
    assert outcome["r"].status == 502
    assert settle(stubs)
    assert _stubs_with_prompt(stubs, "no-replay") == [(first.name, False)]
