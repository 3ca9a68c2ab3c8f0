"""The ``affinity`` strategy's nginx.conf on real nginx in front of stub backends: ``nginx -t`` accepts it; a key
sticks to one backend; a backend at its cap spills the key to another; with every backend at its cap the request
falls back to least_conn (or 503 with ``fallback: reject``), never a 502; without a key the client address keys it;
one address with many session keys spreads."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from vllm_infra.balancing.affinity import FIRST_MESSAGE_KEY_CHARS, AffinitySettings, affinity_extension
from vllm_infra.balancing.nginx import (
    API_KEY_INCLUDE_NAME,
    API_KEY_TEMPLATE,
    NGINX_MIN_VERSION_FOR_RESOLVE,
    UpstreamServer,
    render_nginx_conf,
)

from .conftest import servers_for
from .procs import (
    NginxProcess,
    free_port,
    loopback_nginx_settings,
    render_api_key_include,
    wait_until,
)
from .stub_backend import DEFAULT_API_KEY

pytestmark = pytest.mark.slow

MODEL = "stub-model"


def affinity_nginx(nginx, stubs, *, cap: int = 64, nginx_options: dict | None = None, **settings):
    """Real nginx running the affinity strategy's config (``settings``) over ``stubs``; ``nginx_options`` are
    :class:`NginxSettings` fields."""
    servers = servers_for(stubs)
    affinity = AffinitySettings(**settings)
    return nginx(
        servers,
        extension=lambda nginx_settings: affinity_extension(affinity, nginx_settings, servers, cap=cap),
        **(nginx_options or {}),
    )


def send(
    proc: NginxProcess,
    *,
    key: str | None = None,
    user: str | None = None,
    source: str = "127.0.0.1",
    delay_ms: int = 0,
    prompt: str = "hello",
    messages: list[dict[str, str]] | None = None,
) -> tuple[int, str | None, dict[str, str]]:
    """One chat completion from ``source`` (``messages``, else one user message ``prompt``); (status, the stub that
    answered, response headers)."""
    body: dict = {
        "model": MODEL,
        "messages": messages if messages is not None else [{"role": "user", "content": prompt}],
        "max_tokens": 4,
        "stub_delay_ms": delay_ms,
    }
    if user is not None:
        body["user"] = user
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {DEFAULT_API_KEY}"}
    if key is not None:
        headers["X-Session-Id"] = key
    conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        response_headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, response_headers.get("x-stub-backend"), response_headers
    finally:
        conn.close()


def hold(proc: NginxProcess, stubs, count: int, **kwargs) -> list[threading.Thread]:
    """Start ``count`` slow requests in threads and wait until the stubs hold that many in flight."""
    before = sum(s.stats()["in_flight"] for s in stubs)
    threads = [
        threading.Thread(target=send, args=(proc,), kwargs={"delay_ms": 4000, **kwargs}, daemon=True)
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
        # One at a time, so each new request sees the caps of the ones before it.
        target = before + threads.index(thread) + 1
        assert wait_until(lambda t=target: sum(s.stats()["in_flight"] for s in stubs) >= t, timeout=10)
    return threads


def busy(stubs) -> set[str]:
    return {s.name for s in stubs if s.stats()["in_flight"] > 0}


@pytest.mark.parametrize("fallback", ["least_conn", "reject"])
def test_nginx_accepts_the_generated_config(nginx_bin, workdir: Path, make_stubs, fallback) -> None:
    servers = servers_for(make_stubs(3))
    settings = loopback_nginx_settings(workdir, free_port())
    ext = affinity_extension(AffinitySettings(fallback=fallback), settings, servers, cap=8)
    conf = render_nginx_conf(
        settings, servers, resolver="127.0.0.1", api_key_check=True, probe_model=MODEL, extension=ext
    )
    runtime = Path(settings.runtime_conf_dir)
    runtime.mkdir()
    (runtime / API_KEY_INCLUDE_NAME).write_text(render_api_key_include(API_KEY_TEMPLATE, DEFAULT_API_KEY))
    result = NginxProcess(nginx_bin, workdir, conf, settings.listen_port).test_config()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def _nginx_version(nginx_bin: str) -> tuple[int, ...]:
    done = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True, timeout=10, check=True)
    return tuple(int(part) for part in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", done.stderr).groups())


def test_the_kubernetes_render_loads_on_nginx_with_resolve(nginx_bin, workdir: Path) -> None:
    """The SRV form (``service=http resolve``) with ``max_conns``: accepted by nginx >= 1.27.3 (the image pins
    1.29.8; put such an nginx first on PATH to check it here), refused by older open-source nginx, which has
    neither parameter (Debian 12's 1.22)."""
    settings = loopback_nginx_settings(workdir, free_port())
    servers = [UpstreamServer(host="vllm-engine.invalid", port=8000, resolve=True)]
    ext = affinity_extension(AffinitySettings(), settings, servers, cap=128)
    conf = render_nginx_conf(settings, servers, resolver="127.0.0.1", api_key_check=False, extension=ext)
    done = NginxProcess(nginx_bin, workdir, conf, settings.listen_port).test_config()
    if _nginx_version(nginx_bin) >= NGINX_MIN_VERSION_FOR_RESOLVE:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0 and ("resolve" in done.stderr or "service" in done.stderr), done.stderr


def test_the_same_session_key_always_reaches_the_same_backend(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs)
    for key in ("session-a", "session-b", "session-c"):
        answers = [send(proc, key=key, source=f"127.0.3.{i + 1}", user=f"u{i}") for i in range(8)]
        assert {status for status, _, _ in answers} == {200}
        # The header wins over the source address and the body's user field.
        assert len({backend for _, backend, _ in answers}) == 1, (key, answers)


def test_one_address_with_different_session_keys_spreads(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs)
    backends = [send(proc, key=f"conversation-{i}")[1] for i in range(30)]
    assert len(set(backends)) == 3, backends


def test_without_a_header_the_body_user_field_keys_the_request(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs)
    for user in ("alice", "bob"):
        # Different addresses and first messages: the user field wins over both.
        backends = {send(proc, user=user, source=f"127.0.4.{i + 1}", prompt=f"question {i}")[1] for i in range(6)}
        assert len(backends) == 1, (user, backends)
    assert len({send(proc, user=f"user-{i}")[1] for i in range(30)}) == 3


def test_without_any_key_the_client_address_keys_the_request(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs, first_message_key=False)
    for source in ("127.0.5.1", "127.0.5.2"):
        assert len({send(proc, source=source)[1] for _ in range(6)}) == 1
    assert len({send(proc, source=f"127.0.6.{i + 1}")[1] for i in range(30)}) == 3


SYSTEM = {"role": "system", "content": "You are a helpful assistant. " * 20}


def conversation(first: str, turns: int) -> list[dict[str, str]]:
    """The messages of a chat's turn ``turns`` (1 = the first): the shared system prompt, then the whole history."""
    messages = [SYSTEM, {"role": "user", "content": first}]
    for turn in range(2, turns + 1):
        messages += [
            {"role": "assistant", "content": f"answer {turn - 1}"},
            {"role": "user", "content": f'follow-up {turn} with "quotes" and \\ backslash'},
        ]
    return messages


def test_without_header_or_user_the_first_user_message_keys_the_conversation(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs)
    # One address (one NLB), no header, no user field: different conversations still spread...
    firsts = [f'Conversation {i}: explain "item {i}" in detail, please.' for i in range(30)]
    homes = [send(proc, messages=conversation(first, 1))[1] for first in firsts]
    assert len(set(homes)) == 3, homes
    # ...and each conversation's later turns, which resend the history, stay on its first turn's backend.
    for first, home in zip(firsts[:6], homes[:6], strict=True):
        later = {send(proc, messages=conversation(first, turns))[1] for turns in (2, 3, 5)}
        assert later == {home}, (first, home, later)


def test_the_first_message_key_reads_content_before_role_and_only_the_start_of_long_messages(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs)
    # Field order as some serialisers write it: content first. Same start, different tails beyond the key's length.
    long_start = "x" * FIRST_MESSAGE_KEY_CHARS
    backends = {
        send(proc, messages=[SYSTEM, {"content": long_start + f" tail {i}", "role": "user"}])[1] for i in range(10)
    }
    assert len(backends) == 1, backends
    spread = {send(proc, messages=[{"content": f"topic {i}", "role": "user"}])[1] for i in range(30)}
    assert len(spread) == 3, spread


def test_a_body_nginx_spooled_to_a_file_falls_back_to_the_client_address(nginx, make_stubs) -> None:
    """Bodies over client_body_buffer_size are not in $request_body: neither `user` nor the first message keys
    them, the client address does (one address: one backend, different addresses: spread)."""
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs, nginx_options={"client_body_buffer_size_kb": 8})
    padding = {"role": "assistant", "content": "y" * 20_000}  # over 8 KiB + the 25 % nginx may add
    one_address = {send(proc, messages=[{"role": "user", "content": f"topic {i}"}, padding])[1] for i in range(12)}
    assert len(one_address) == 1, one_address
    many = {
        send(proc, source=f"127.0.8.{i + 1}", messages=[{"role": "user", "content": "same"}, padding])[1]
        for i in range(30)
    }
    assert len(many) == 3, many
    # The same small bodies from one address do spread: it is the spooling that removed the key.
    small = {send(proc, messages=[{"role": "user", "content": f"topic {i}"}])[1] for i in range(30)}
    assert len(small) == 3, small


def test_a_backend_at_its_cap_spills_the_key_to_another(nginx, make_stubs) -> None:
    stubs = make_stubs(3)
    proc = affinity_nginx(nginx, stubs, cap=1)
    home = send(proc, key="hot")[1]
    threads = hold(proc, stubs, 1, key="hot")
    assert busy(stubs) == {home}  # the held request went to the key's pod, which is now at its cap
    status, spilled, _ = send(proc, key="hot")
    assert status == 200 and spilled is not None and spilled != home
    for thread in threads:
        thread.join(timeout=15)
    assert send(proc, key="hot")[1] == home  # below the cap again: back to its pod


def test_with_every_backend_at_its_cap_the_request_falls_back_to_least_conn(nginx, make_stubs) -> None:
    stubs = make_stubs(2)
    proc = affinity_nginx(nginx, stubs, cap=1)
    threads = hold(proc, stubs, 2, key="hot")
    assert len(busy(stubs)) == 2  # the second request spilled: every backend is at its cap of 1
    status, backend, _ = send(proc, key="hot", prompt="the fallback gets the whole body")
    assert status == 200 and backend is not None
    served = next(s for s in stubs if s.name == backend)
    assert any(r["prompt"].endswith("the fallback gets the whole body") for r in served.stats()["records"])
    # It was nginx's "every server is at max_conns", answered by the fallback instead of a 502.
    assert "no live upstreams" in proc.error_log()
    for thread in threads:
        thread.join(timeout=15)


def test_with_fallback_reject_every_backend_at_its_cap_is_a_503_with_retry_after(nginx, make_stubs) -> None:
    stubs = make_stubs(2)
    proc = affinity_nginx(nginx, stubs, cap=1, fallback="reject")
    threads = hold(proc, stubs, 2, key="hot")
    started = time.monotonic()
    status, backend, headers = send(proc, key="hot")
    assert status == 503 and backend is None and headers.get("retry-after") == "1"
    assert time.monotonic() - started < 3  # answered at once, not after a held request finished
    for thread in threads:
        thread.join(timeout=15)
