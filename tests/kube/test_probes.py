"""Probes have the shape of the core/v1 ``Probe`` (``httpGet``, ``periodSeconds``, ``timeoutSeconds``,
``failureThreshold``); a startup probe's attempts cover its whole budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vllm_infra.kube.probes import http_probe, startup_probe


def test_an_http_probe_gets_a_path_on_a_port():
    assert http_probe("/healthz", "http", period_seconds=5, timeout_seconds=2, failure_threshold=6) == {
        "httpGet": {"path": "/healthz", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 6,
    }
    assert http_probe("/healthz", 8080, period_seconds=5, timeout_seconds=2, failure_threshold=6)["httpGet"] == {
        "path": "/healthz",
        "port": 8080,
    }


@pytest.mark.parametrize(
    ("budget", "period", "failures"),
    [(480, 10, 48), (481, 10, 49), (600, 15, 40), (5, 10, 1), (0, 10, 1)],
)
def test_a_startup_probe_allows_its_budget_in_whole_attempts(budget, period, failures):
    assert startup_probe("/health", "http", budget, period_seconds=period) == {
        "httpGet": {"path": "/health", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


@given(budget=st.integers(1, 7200), period=st.integers(1, 60))
def test_the_attempts_cover_the_budget_and_no_more_than_one_period_beyond(budget, period):
    probe = startup_probe("/health", "http", budget, period_seconds=period)
    covered = probe["failureThreshold"] * probe["periodSeconds"]
    assert budget <= covered < budget + period
