"""Container probes: HTTP GET against a named port, and a startup probe sized from a time budget."""

from __future__ import annotations

import math

__all__ = ["http_probe", "startup_probe"]

# The startup probe's per-attempt timeout: long enough for /health under load, short enough to retry often.
STARTUP_PROBE_TIMEOUT_SECONDS = 5


def http_probe(
    path: str, port: str | int, *, period_seconds: int, timeout_seconds: int, failure_threshold: int
) -> dict:
    """An HTTP GET probe against a container port (by name, or by number).

    >>> http_probe("/healthz", "http", period_seconds=5, timeout_seconds=2, failure_threshold=2)["httpGet"]
    {'path': '/healthz', 'port': 'http'}
    """
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_seconds,
        "timeoutSeconds": timeout_seconds,
        "failureThreshold": failure_threshold,
    }


def startup_probe(path: str, port: str | int, budget_seconds: int, period_seconds: int = 10) -> dict:
    """A startup probe that allows ``budget_seconds`` before the kubelet gives up; liveness waits until it passes.

    >>> startup_probe("/health", "http", 480)["failureThreshold"]
    48
    """
    return http_probe(
        path,
        port,
        period_seconds=period_seconds,
        timeout_seconds=STARTUP_PROBE_TIMEOUT_SECONDS,
        failure_threshold=max(1, math.ceil(budget_seconds / period_seconds)),
    )
