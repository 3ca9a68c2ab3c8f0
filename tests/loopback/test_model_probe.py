"""``/healthz/model`` on real nginx: a cached, background-refreshed probe open only to the configured checkers."""

from __future__ import annotations

import pytest

from .conftest import servers_for
from .procs import request, run_bounded, settle, wait_until
from .stub_backend import DEFAULT_API_KEY

pytestmark = pytest.mark.slow

MODEL = "stub-model"


def _completions(stubs) -> int:
    return sum(s.stats()["by_path"].get("/v1/completions", 0) for s in stubs)


def test_rapid_probes_cost_at_most_one_completion_per_validity(make_stubs, nginx) -> None:
    """40 probes, 8 at a time, then 20 more one after the other, all within one validity period (60 s here):
    every one answers 200 with the completion's body, yet the pods see one authenticated completion (two at most,
    should a refresh fall in the run). Without the cache each probe would be a completion."""
    stubs = make_stubs(2, delay_ms=300)
    proxy = nginx(
        servers_for(stubs),
        api_key=DEFAULT_API_KEY,
        probe_model=MODEL,
        model_probe_allow_cidrs=("127.0.0.0/8",),
        model_probe_cache_s=60,
    )
    burst = run_bounded(
        lambda _: request("GET", proxy.url + "/healthz/model", timeout=10), count=40, concurrency=8, deadline_s=30
    )
    serial = [request("GET", proxy.url + "/healthz/model", timeout=10) for _ in range(20)]
    assert settle(stubs)
    answers = burst + serial
    assert all(a is not None and a.status == 200 and b'"choices"' in a.body for a in answers), [
        getattr(a, "status", a) for a in answers
    ]
    assert 1 <= _completions(stubs) <= 2, [s.stats()["by_path"] for s in stubs]
    assert sum(s.stats()["unauthorized"] for s in stubs) == 0, "the probe must carry the key"
    assert {a.headers.get("x-probe-cache") for a in serial} <= {"HIT", "UPDATING", "STALE"}


def test_failure_is_cached_and_shows_within_one_validity_period(make_stubs, nginx) -> None:
    """When no pod answers, the probe turns 5xx after at most one validity period (here 2 s) plus one refresh,
    without a completion per probe; while pods are up it stays 200."""
    stubs = make_stubs(1)
    proxy = nginx(
        servers_for(stubs),
        api_key=DEFAULT_API_KEY,
        probe_model=MODEL,
        model_probe_allow_cidrs=("127.0.0.0/8",),
        model_probe_cache_s=2,
    )
    assert request("GET", proxy.url + "/healthz/model").status == 200
    stubs[0].kill()
    assert wait_until(lambda: request("GET", proxy.url + "/healthz/model", timeout=10).status >= 500, timeout=15)
    assert request("GET", proxy.url + "/healthz").status == 200


def test_a_client_outside_the_allowed_ranges_gets_403(make_stubs, nginx) -> None:
    """Allowed: only 10.0.0.0/8. A probe from 127.0.0.1 is refused before anything reaches a pod."""
    stubs = make_stubs(1)
    proxy = nginx(
        servers_for(stubs), api_key=DEFAULT_API_KEY, probe_model=MODEL, model_probe_allow_cidrs=("10.0.0.0/8",)
    )
    assert request("GET", proxy.url + "/healthz/model").status == 403
    assert request("GET", proxy.url + "/health").status == 200
    assert _completions(stubs) == 0


def test_forwarded_client_address_is_believed_only_from_real_ip_from(make_stubs, nginx) -> None:
    """Behind an ALB nginx sees the ALB's address; with ``real_ip_from`` naming it, X-Forwarded-For decides. Allowed
    here: 203.0.113.0/24 only; the ALB is 127.0.0.1."""
    stubs = make_stubs(1)
    allowed = {"X-Forwarded-For": "203.0.113.7"}
    trusting = nginx(
        servers_for(stubs),
        api_key=DEFAULT_API_KEY,
        probe_model=MODEL,
        model_probe_allow_cidrs=("203.0.113.0/24",),
        real_ip_from=("127.0.0.1/32",),
    )
    assert request("GET", trusting.url + "/healthz/model", headers=allowed).status == 200
    assert request("GET", trusting.url + "/healthz/model", headers={"X-Forwarded-For": "198.51.100.1"}).status == 403
    distrusting = nginx(
        servers_for(stubs), api_key=DEFAULT_API_KEY, probe_model=MODEL, model_probe_allow_cidrs=("203.0.113.0/24",)
    )
    assert request("GET", distrusting.url + "/healthz/model", headers=allowed).status == 403
