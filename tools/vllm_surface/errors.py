"""The two ways an extraction stops: the tool refuses (:class:`ExtractionError`) or one expression is unknowable.

:class:`Unresolvable` is caught by callers that have a fallback (an allowlisted site, another import path);
:class:`ExtractionError` ends the run with its message, e.g.
``vllm/m.py:3: cannot resolve the metric name (...)``.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from tools.vllm_surface.sources import Module


class ExtractionError(RuntimeError):
    """The sources contain a construct this script does not understand."""


class Unresolvable(Exception):
    """An expression whose value cannot be known statically."""


def fail(msg: str) -> NoReturn:
    """Stop the extraction with ``msg`` (raises :class:`ExtractionError`)."""
    raise ExtractionError(msg)


def where(mod: Module, node: ast.AST) -> str:
    """``path:line`` of ``node`` in ``mod``, for messages and origins (``vllm/m.py:12``)."""
    return f"{mod.path}:{getattr(node, 'lineno', '?')}"
