"""Line diffs of text properties: a multi-line string (an nginx.conf), a long JSON document in a string (a Grafana
dashboard) or a long structured value added or removed whole (an alert group), JSON pretty-printed first."""

from __future__ import annotations

import difflib
import json
from typing import Any

from vllm_infra.offline.diff.values import MISSING, canonical

#: A string property is diffed line by line when either side has a line break or is a JSON document this long.
LINE_DIFF_JSON_CHARS = 200
#: Lines of context around each changed line of a line diff.
LINE_DIFF_CONTEXT = 2


def _json_document(text: str) -> Any:
    if len(text) < LINE_DIFF_JSON_CHARS or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def _raw_lines(value: Any) -> list[str]:
    return [] if value is MISSING else str(value).splitlines()


def _text_lines(value: Any) -> list[str]:
    if value is MISSING:
        return []
    parsed = value if isinstance(value, (dict, list)) else _json_document(value)
    if parsed is not None:
        return json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return value.splitlines()


def unified_line_diff(old: Any, new: Any) -> list[str] | None:
    """A unified diff (``@@`` hunks, ``+``/``-``/space lines, no file headers) of ``old`` and ``new`` (``MISSING``
    when absent) when they are text, as ``PropertyChange.line_diff`` describes; None otherwise.

    >>> unified_line_diff("a\\nb\\n", "a\\nc\\n")
    ['@@ -1,2 +1,2 @@', ' a', '-b', '+c']
    """
    sides = [value for value in (old, new) if value is not MISSING]
    if not sides:
        return None
    if all(isinstance(value, str) for value in sides):
        if not any("\n" in value or _json_document(value) is not None for value in sides):
            return None
    elif (
        not all(isinstance(value, (dict, list)) for value in sides)
        or max(len(canonical(value)) for value in sides) < LINE_DIFF_JSON_CHARS
    ):
        return None
    old_lines, new_lines = _text_lines(old), _text_lines(new)
    if old_lines == new_lines:  # differs in formatting only: compare the text as it is
        old_lines, new_lines = _raw_lines(old), _raw_lines(new)
    hunks = difflib.unified_diff(old_lines, new_lines, lineterm="", n=LINE_DIFF_CONTEXT)
    return [line for line in hunks if not line.startswith(("---", "+++"))]
