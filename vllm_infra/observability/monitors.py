"""``spec`` builders for prometheus-operator's PodMonitor and ServiceMonitor (monitoring.coreos.com/v1), camelCase.

vLLM serves ``/metrics`` on its HTTP port (named ``http`` in the library's pods) without the API key: only ``/v1``
routes need it, so Prometheus scrapes with no credentials. Per-pod metrics are scraped from the pods themselves,
never through a balancer, which would mix pods at random.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from vllm_infra.kube.labels import label_selector

__all__ = [
    "METRICS_PATH",
    "VLLM_PORT_NAME",
    "ScrapeTarget",
    "pod_monitor_spec",
    "service_monitor_spec",
    "vllm_scrape_target",
]

#: The vLLM container's port name (``HTTP_PORT_NAME`` in ``vllm_infra/components/vllm.py``).
VLLM_PORT_NAME = "http"
METRICS_PATH = "/metrics"

# IANA service name, the syntax of a named container port.
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods to scrape: the labels that select them, the *name* of the container port and the HTTP path. Nothing
    here knows a balancer: each balancer strategy supplies its own (``BalancerStrategy.scrape_target``), or None.

    Example (pods whose metrics listen on a port of their own)::

        ScrapeTarget(selector={"app.kubernetes.io/name": "exporter"}, port="metrics", path="/metrics")
    """

    selector: Mapping[str, str]
    port: str
    path: str = METRICS_PATH

    def __post_init__(self) -> None:
        if not self.selector:
            raise ValueError("a scrape target needs a non-empty pod selector (an empty one selects every pod)")
        if not _PORT_NAME.match(self.port):
            raise ValueError(
                f"port {self.port!r} must be a container port *name* (lowercase, at most 15 characters); "
                "monitors select ports by name so a changed port number needs no monitor change"
            )
        if not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with '/'")


def vllm_scrape_target(selector: Mapping[str, str]) -> ScrapeTarget:
    """vLLM pods selected by ``selector``, scraped on their ``http`` port at ``/metrics``.

    >>> vllm_scrape_target({"app.kubernetes.io/name": "vllm"}).port
    'http'
    """
    return ScrapeTarget(selector=dict(selector), port=VLLM_PORT_NAME, path=METRICS_PATH)


def _endpoint(target: ScrapeTarget, interval: str) -> dict:
    return {"port": target.port, "path": target.path, "scheme": "http", "interval": interval}


def pod_monitor_spec(target: ScrapeTarget, namespace: str, *, interval: str = "30s") -> dict:
    """A PodMonitor ``spec`` scraping ``target``'s pods in ``namespace`` every ``interval``.

    Prometheus adds ``namespace`` and ``pod`` labels to every scraped series, which the alerts group by.

    >>> pod_monitor_spec(vllm_scrape_target({"app": "vllm"}), "vllm")["podMetricsEndpoints"]
    [{'port': 'http', 'path': '/metrics', 'scheme': 'http', 'interval': '30s'}]
    """
    return {
        "selector": label_selector(target.selector),
        # Explicit: the monitor may live in another namespace than the pods, and must not follow them elsewhere.
        "namespaceSelector": {"matchNames": [namespace]},
        "podMetricsEndpoints": [_endpoint(target, interval)],
    }


def service_monitor_spec(target: ScrapeTarget, namespace: str, *, interval: str = "30s") -> dict:
    """A ServiceMonitor ``spec``: ``target.selector`` selects *Services* and ``target.port`` names a Service port.

    Prometheus then scrapes each endpoint (pod) behind the selected Services. Use it where a team's convention
    requires ServiceMonitors; note that two Services selecting the same pods (a ClusterIP and a headless one) are
    scraped twice.

    >>> service_monitor_spec(vllm_scrape_target({"app": "vllm"}), "vllm")["endpoints"][0]["port"]
    'http'
    """
    return {
        "selector": label_selector(target.selector),
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [_endpoint(target, interval)],
    }
