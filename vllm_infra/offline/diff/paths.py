"""Property paths in Pulumi's syntax (``a.b[0]["c.d"][*]``), as ``ignoreChanges`` and the force-new rules write
them: formatting, parsing and matching (``[*]`` matches any list index)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

WILDCARD = "*"

Segment = str | int


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def format_path(segments: Sequence[Segment]) -> str:
    """Render path segments in Pulumi's property-path syntax.

    >>> format_path(["metadata", "labels", "app.kubernetes.io/name"])
    'metadata.labels["app.kubernetes.io/name"]'
    >>> format_path(["spec", "containers", 0, "args", 5])
    'spec.containers[0].args[5]'
    """
    text = ""
    for segment in segments:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif segment == WILDCARD:
            text += "[*]"
        elif _IDENTIFIER.fullmatch(segment):
            text += ("." if text else "") + segment
        else:
            text += "[" + json.dumps(segment) + "]"
    return text


def parse_path(text: str) -> list[Segment]:
    """Parse a Pulumi property path (as written in ``ignoreChanges``) into segments; ``[*]`` is ``WILDCARD``.

    >>> parse_path('spec.template.spec.containers[*].env["A.B"]')
    ['spec', 'template', 'spec', 'containers', '*', 'env', 'A.B']
    """
    segments: list[Segment] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == ".":
            index += 1
        elif char == "[":
            end = text.index("]", index) if text[index + 1 : index + 2] != '"' else _closing_quote(text, index + 1) + 1
            inner = text[index + 1 : end]
            if inner == "*":
                segments.append(WILDCARD)
            elif inner.startswith('"'):
                segments.append(json.loads(inner))
            else:
                segments.append(int(inner))
            index = end + 1
        else:
            match = re.compile(r"[^.\[]+").match(text, index)
            assert match is not None
            segments.append(WILDCARD if match.group() == "*" else match.group())
            index = match.end()
    return segments


def _closing_quote(text: str, start: int) -> int:
    index = start + 1
    while text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index


def _segment_matches(pattern: Segment, segment: Segment) -> bool:
    return pattern == segment or (pattern == WILDCARD and isinstance(segment, int))


def is_prefix(pattern: Sequence[Segment], path: Sequence[Segment]) -> bool:
    """Whether ``path`` starts with ``pattern`` (a ``WILDCARD`` in ``pattern`` matches any list index)."""
    return len(pattern) <= len(path) and all(_segment_matches(p, s) for p, s in zip(pattern, path, strict=False))


def values_at(value: Any, pattern: Sequence[Segment]) -> list[Any]:
    """Every value at ``pattern`` inside ``value`` (wildcards fan out over list items)."""
    if not pattern:
        return [value]
    head, rest = pattern[0], pattern[1:]
    if head == WILDCARD and isinstance(value, list):
        return [found for item in value for found in values_at(item, rest)]
    if isinstance(head, int) and isinstance(value, list) and head < len(value):
        return values_at(value[head], rest)
    if isinstance(head, str) and isinstance(value, dict) and head in value:
        return values_at(value[head], rest)
    return []
