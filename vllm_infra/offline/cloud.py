"""Answers to the data-source invokes the stack program makes, for offline runs (no cloud account)."""

from __future__ import annotations

from vllm_infra.offline.runner import InvokeResults


def default_invokes() -> InvokeResults:
    """The invoke answers used by ``vllm-infra plan``: plausible, clearly fake values."""
    return InvokeResults({})
