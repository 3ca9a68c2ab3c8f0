"""Small PromQL writing helpers shared by the alert and dashboard builders (strings in, strings out)."""

from __future__ import annotations

import json
from collections.abc import Mapping

#: Rate window of every alert: long enough to smooth per-request noise, short enough to page within minutes.
RATE_WINDOW = "5m"


def string(value: str) -> str:
    """A PromQL double-quoted string literal (PromQL strings use Go's escapes, which JSON's are a subset of).

    >>> string('meta-llama/Llama-3.1-8B-Instruct')
    '"meta-llama/Llama-3.1-8B-Instruct"'
    >>> string('a"b')
    '"a\\\\"b"'
    """
    return json.dumps(value, ensure_ascii=False)


def selector(metric: str, matchers: Mapping[str, str], *, regex: Mapping[str, str] | None = None) -> str:
    """``metric{k="v", ...}`` with equality matchers (and ``=~`` matchers from ``regex``), in the given order.

    An empty selector (``metric{}``) is never written: every series the library queries is scoped at least by
    namespace, so a query cannot pick up another stack's pods.

    >>> selector("vllm:num_requests_waiting", {"namespace": "vllm", "model_name": "m"})
    'vllm:num_requests_waiting{namespace="vllm", model_name="m"}'
    """
    parts = [f"{key}={string(value)}" for key, value in matchers.items()]
    parts += [f"{key}=~{string(value)}" for key, value in (regex or {}).items()]
    if not parts:
        raise ValueError(f"refusing to write an unscoped selector for {metric}")
    return f"{metric}{{{', '.join(parts)}}}"


def number(value: float) -> str:
    """A threshold as PromQL reads it, without float noise: ``2.0`` -> ``2``, ``0.01`` -> ``0.01``.

    >>> number(2.0), number(0.95), number(0.01), number(20)
    ('2', '0.95', '0.01', '20')
    """
    return format(float(value), ".15g")
