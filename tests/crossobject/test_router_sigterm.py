"""The fact ``traffic_outlives_endpoints`` relies on for the router pod, measured on the real vllm-router binary:
at SIGTERM it finishes the streams it has (graceful shutdown) but refuses new connections at once — so a router
that gets SIGTERM while nginx beside it still forwards requests turns them into 502s."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.loopback.procs import chat_body, find_binary, make_workdir, missing_message, request, start_router, stream
from tests.loopback.stub_backend import DEFAULT_API_KEY, StubBackend
from vllm_infra.balancing.router import StaticWorkers

# The stubs demand the pods' key, as vLLM does; clients send it and the router passes it on.
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


@pytest.mark.slow
def test_router_refuses_new_connections_at_sigterm():
    router_bin = find_binary("vllm-router")
    assert router_bin, missing_message("vllm-router")
    stub = StubBackend("stub-model", chunk_delay_ms=150, chunks=20).start()  # a stream of ~3 s
    router = start_router(router_bin, make_workdir(), StaticWorkers(urls=(stub.url,)))
    try:
        streamed, first_token = {}, threading.Event()
        reader = threading.Thread(
            target=lambda: streamed.update(
                result=stream(
                    router.url + "/v1/chat/completions",
                    chat_body("stub-model", "long"),
                    AUTH,
                    timeout=20,
                    on_event=lambda count, _: first_token.set(),
                )
            )
        )
        reader.start()
        assert first_token.wait(10), "the stream never started"
        router.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        late = request(
            "POST", router.url + "/v1/chat/completions", body=chat_body("stub-model", "new"), headers=AUTH, timeout=3
        )
        reader.join(20)
        assert streamed["result"].done, "the in-flight stream was cut at SIGTERM"
        assert late.status == 0 and "ConnectionRefused" in (late.error or ""), (late.status, late.error)
    finally:
        router.stop()
        stub.stop()
