"""The stub vLLM backend guards its routes with the API key exactly as vLLM 0.33 does."""

from __future__ import annotations

import pytest

from .procs import chat_body, request
from .stub_backend import DEFAULT_API_KEY, StubBackend

pytestmark = pytest.mark.slow


def test_every_v1_route_needs_the_key_and_health_metrics_do_not(make_stubs) -> None:
    (stub,) = make_stubs(1)
    good = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("POST", "/v1/completions", {"prompt": "x"}),
        ("POST", "/v1/chat/completions", chat_body("stub-model", "x")),
        ("POST", "/v1/chat/completions/render", chat_body("stub-model", "x")),
    ):
        for headers in (
            None,
            {"Authorization": "Bearer wrong"},
            {"Authorization": DEFAULT_API_KEY},
            {"Authorization": f"Basic {DEFAULT_API_KEY}"},
        ):
            refused = request(method, stub.url + path, body, headers)
            assert (refused.status, refused.json()) == (401, {"error": "Unauthorized"}), (path, headers)
        assert request(method, stub.url + path, body, good).status == 200, path
    # vLLM compares the scheme case-insensitively and the key exactly.
    assert request("GET", stub.url + "/v1/models", headers={"Authorization": f"bearer {DEFAULT_API_KEY}"}).status == 200
    for path in ("/health", "/metrics"):
        assert request("GET", stub.url + path).status == 200, path
    assert request("POST", stub.url + "/tokenize", {"prompt": "x"}).status == 200
    assert stub.stats()["generation_requests"] == 2  # only the authorised completions ran
    assert stub.stats()["unauthorized"] == 16


def test_a_stub_cannot_run_without_a_key() -> None:
    with pytest.raises(ValueError, match="always enforce an API key"):
        StubBackend(api_key="")
