"""How long Pulumi waits for a Kubernetes object to become ready: custom-timeout strings (``"15m"``)."""

from __future__ import annotations

import math

__all__ = ["minutes"]


def minutes(seconds: int) -> str:
    """A Pulumi custom-timeout string, rounded up to whole minutes.

    >>> minutes(601)
    '11m'
    """
    return f"{math.ceil(seconds / 60)}m"
