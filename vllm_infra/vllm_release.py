"""The pinned vLLM release: the single source of truth for its version, image and surface.

Everything the library emits towards vLLM -- the container image, the ``vllm serve``
command-line flags, the Prometheus series used in alerts, dashboards and autoscaling
queries -- must exist in this release. The set of flags and metric names is not typed by
hand: ``vllm_infra/data/vllm_surface_<version>.json`` is generated from the release's
wheel by ``python -m tools.vllm_surface`` (a static reading of the vLLM sources, run from
the repository root; each extraction rule has a fixture test in ``tests/tools/vllm_surface/``,
and the slow test in ``tests/test_vllm_release.py`` checks the result byte for byte against a
fresh PyPI download). The accessors below load that file once.

What the surface file says about 0.33.0, in short:

* Flags are the long options ``vllm serve`` accepts. A boolean flag ``--x`` also accepts
  ``--no-x``; for booleans named ``--enable-x`` / ``--disable-x`` the opposite prefix is
  accepted too (``--enable-prefix-caching`` / ``--disable-prefix-caching`` /
  ``--no-enable-prefix-caching``). ``store_true`` flags such as ``--disable-log-stats``
  have no negative form.
* Metric names are keyed by the name Prometheus scrapes: counters end in ``_total``,
  histograms are listed by their base name and expose ``_bucket``, ``_sum`` and
  ``_count`` series, gauges keep their name.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "VLLM_IMAGE",
    "VLLM_IMAGE_REPOSITORY",
    "VLLM_PORT",
    "VLLM_VERSION",
    "is_known_flag",
    "is_known_metric",
    "known_flags",
    "metric_types",
    "unknown_metrics_in_promql",
]

#: The vLLM release every component targets.
VLLM_VERSION = "0.33.0"
#: Docker Hub repository of the official OpenAI-compatible server image.
VLLM_IMAGE_REPOSITORY = "vllm/vllm-openai"
#: The pinned image; Docker Hub tags of ``vllm/vllm-openai`` are ``v<version>``. A tag can be re-pushed, a digest
#: cannot: for production set ``vllm-infra:vllmImage`` to ``vllm/vllm-openai:v0.33.0@sha256:<digest>`` (the
#: digest ``docker buildx imagetools inspect`` prints). No digest is pinned here because none could be verified
#: from an authoritative source where this was written (Docker Hub's registry API was out of reach).
VLLM_IMAGE = f"{VLLM_IMAGE_REPOSITORY}:v{VLLM_VERSION}"
#: Default ``--port`` of ``vllm serve`` (``FrontendArgs.port`` in 0.33.0).
VLLM_PORT = 8000

_SURFACE_FILE = f"vllm_surface_{VLLM_VERSION}.json"
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# A PromQL metric name is [a-zA-Z_:][a-zA-Z0-9_:]*; we want the ones in vLLM's namespace,
# and not a "vllm:" that is the tail of a longer identifier.
_VLLM_SERIES = re.compile(r"(?<![a-zA-Z0-9_:])vllm:[a-zA-Z0-9_:]*")


@functools.cache
def _surface() -> Mapping[str, Any]:
    """The parsed surface file of the pinned release (read once)."""
    text = resources.files("vllm_infra").joinpath("data", _SURFACE_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("vllm_version") != VLLM_VERSION:
        raise RuntimeError(f"{_SURFACE_FILE} describes vLLM {data.get('vllm_version')!r}, expected {VLLM_VERSION}")
    return data


@functools.cache
def known_flags() -> frozenset[str]:
    """Every long option ``vllm serve`` accepts in the pinned release.

    Includes the negative forms of boolean flags (``--no-x`` and the ``--enable-`` /
    ``--disable-`` twin), ``--help`` and ``--model``; excludes short aliases such as
    ``-tp`` and the positional model tag.

    >>> "--max-model-len" in known_flags()
    True
    >>> "--disable-prefix-caching" in known_flags()
    True
    >>> "--disable-log-requests" in known_flags()  # twin of --enable-log-requests
    True
    """
    return frozenset(_surface()["flags"])


def is_known_flag(arg: str) -> bool:
    """Whether ``arg`` (``"--flag"`` or ``"--flag=value"``) names a ``vllm serve`` option.

    Only the option name is checked, in its canonical dashed spelling: vLLM also
    accepts ``--max_model_len`` and dotted JSON keys (``--compilation-config.mode``),
    which this function rejects on purpose so the library emits one spelling. It does
    not check the value; note that argparse refuses ``=value`` on flags that take none
    (``--enable-prefix-caching=true`` fails in vLLM).

    >>> is_known_flag("--tensor-parallel-size=2")
    True
    >>> is_known_flag("--no-enable-prefix-caching")
    True
    >>> is_known_flag("--disable-log-stats")
    True
    >>> is_known_flag("--no-disable-log-stats")  # store_true: no negative form
    False
    >>> is_known_flag("-tp")
    False
    """
    if not arg.startswith("--"):
        return False
    name = arg.split("=", 1)[0]
    return name in known_flags()


@functools.cache
def metric_types() -> Mapping[str, str]:
    """Read-only map of exposed metric name to ``"counter"``, ``"gauge"`` or ``"histogram"``.

    Counters are keyed by their ``_total`` series, histograms by their base name (the
    scraped series add ``_bucket``, ``_sum``, ``_count``).

    >>> metric_types()["vllm:request_success_total"]
    'counter'
    >>> metric_types()["vllm:time_to_first_token_seconds"]
    'histogram'
    >>> metric_types()["vllm:kv_cache_usage_perc"]
    'gauge'
    """
    return MappingProxyType(dict(_surface()["metrics"]))


def is_known_metric(series: str) -> bool:
    """Whether ``series`` is a Prometheus series the pinned vLLM exposes.

    ``series`` is a name as written in PromQL: a counter's ``_total`` name, a gauge, a
    histogram's ``_bucket`` / ``_sum`` / ``_count`` series or its base name. A counter
    without its ``_total`` suffix is not a scraped series and is rejected, and so are the
    ``_created`` series (absent in multi-process mode).

    >>> is_known_metric("vllm:request_success_total")
    True
    >>> is_known_metric("vllm:request_success")
    False
    >>> is_known_metric("vllm:e2e_request_latency_seconds_bucket")
    True
    >>> is_known_metric("vllm:gpu_cache_usage_perc")  # removed before 0.33
    False
    """
    types = metric_types()
    if series in types:
        return True
    for suffix in _HISTOGRAM_SUFFIXES:
        if series.endswith(suffix) and types.get(series[: -len(suffix)]) == "histogram":
            return True
    return False


def unknown_metrics_in_promql(expr: str) -> list[str]:
    """The ``vllm:`` series referenced in a PromQL expression that the pinned vLLM lacks.

    Every token of metric-name characters that starts with ``vllm:`` is checked with
    :func:`is_known_metric`; the unknown ones are returned once each, in order of first
    appearance. An empty list means every ``vllm:`` series exists. The scan is lexical:
    a regex matcher such as ``{__name__=~"vllm:.*"}`` is reported, not expanded.

    >>> unknown_metrics_in_promql(
    ...     "histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[5m])))"
    ... )
    []
    >>> unknown_metrics_in_promql("avg(vllm:gpu_cache_usage_perc) > 0.9 or vllm:num_requests_waiting > 10")
    ['vllm:gpu_cache_usage_perc']
    """
    unknown: list[str] = []
    for match in _VLLM_SERIES.finditer(expr):
        name = match.group(0)
        if not is_known_metric(name) and name not in unknown:
            unknown.append(name)
    return unknown
