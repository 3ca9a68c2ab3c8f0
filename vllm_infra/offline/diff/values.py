"""The values the diff compares and shows: absence (``MISSING``), normalisation, canonical JSON, display text.

Plan inputs are plain JSON plus Pulumi's secret and unknown markers; ``normalize`` turns them into what compares
equal exactly when the engine would see no change (secrets by marker only, ``1.0`` = ``1``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from vllm_infra.offline.redact import redact

#: How a value only known after apply is shown (matches the plan document's own marker).
UNKNOWN_TEXT = "[unknown]"


class _Missing:
    """The absence of a value (distinct from ``None``, which JSON ``null`` maps to)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def normalize(value: Any) -> Any:
    """Secrets become ``"[secret]"`` (compared by marker only), unknowns ``"[unknown]"``, integral floats ints."""
    value = redact(value) if rpc.is_rpc_secret(value) else value
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN_TEXT
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): normalize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """``value`` as compact JSON with sorted keys: equal strings mean equal values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def jsonable(value: Any) -> Any:
    """``value`` for a JSON document: ``MISSING`` becomes ``None``."""
    return None if value is MISSING else value


def display(value: Any, limit: int | None = None) -> str:
    """A compact rendering: strings bare, everything else as JSON; ``MISSING`` as ``(absent)``."""
    if value is MISSING:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": "))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
