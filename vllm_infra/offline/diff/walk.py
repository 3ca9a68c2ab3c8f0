"""The structural walk: two normalised values in, the ``PropertyChange``s between them out.

Why a hand-written walk rather than ``deepdiff``: the inputs are plain JSON (dicts, lists, strings, numbers), and
every interesting decision is domain-specific — pairing Kubernetes list items by their merge key (``name``,
``mountPath``), reading container ``args`` as ``--flag value`` pairs, comparing set-typed AWS properties without
order, numbers as numbers (``1`` = ``1.0``), secrets by their marker only, and emitting paths in the engine's own
syntax. deepdiff would give index-level list changes and ``root['spec']['template']`` paths that would all have to be
post-processed; the walk below is shorter than that adaptation and adds no runtime dependency to every Pulumi
program that imports the library.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from vllm_infra.offline.diff.argv import diff_argv
from vllm_infra.offline.diff.model import PropertyChange
from vllm_infra.offline.diff.paths import Segment, format_path, is_prefix
from vllm_infra.offline.diff.values import MISSING, canonical

_MERGE_KEYS = ("name", "mountPath", "containerPort", "devicePath")
_ARGV_KEYS = ("args", "command")


@dataclass
class Walk:
    """Diffs two normalised values; lists at the ``unordered`` paths (set-typed AWS properties) ignore order."""

    unordered: tuple[list[Segment], ...] = ()

    def diff(self, old: Any, new: Any, path: list[Segment]) -> list[PropertyChange]:
        if old is not MISSING and new is not MISSING and canonical(old) == canonical(new):
            return []
        if isinstance(old, dict) and isinstance(new, dict):
            changes: list[PropertyChange] = []
            for key in sorted(set(old) | set(new)):
                changes += self.diff(old.get(key, MISSING), new.get(key, MISSING), [*path, key])
            return changes
        if isinstance(old, list) and isinstance(new, list):
            return self._diff_list(old, new, path)
        return [_leaf(old, new, path)]

    def _diff_list(self, old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
        if any(is_prefix(pattern, path) and len(pattern) == len(path) for pattern in self.unordered):
            return _diff_unordered(old, new, path)
        if path and path[-1] in _ARGV_KEYS and _all_strings(old) and _all_strings(new):
            flag_changes = diff_argv(old, new, path)
            if flag_changes is not None:
                return flag_changes
        key = _merge_key(old, new)
        if key is not None:
            return self._diff_keyed(old, new, path, key)
        return self._diff_sequence(old, new, path)

    def _diff_keyed(self, old: list, new: list, path: list[Segment], key: str) -> list[PropertyChange]:
        old_by_key = {item[key]: (index, item) for index, item in enumerate(old)}
        new_keys = {item[key] for item in new}
        changes: list[PropertyChange] = []
        for index, item in enumerate(new):
            if item[key] in old_by_key:
                changes += self.diff(old_by_key[item[key]][1], item, [*path, index])
            else:
                changes.append(_leaf(MISSING, item, [*path, index]))
        for index, item in enumerate(old):
            if item[key] not in new_keys:
                changes.append(_leaf(item, MISSING, [*path, index]))
        if not changes:
            # Same items, new order: Pulumi still sees a different list (and Kubernetes rolls the pods).
            order = [item[key] for item in new]
            changes.append(
                PropertyChange(
                    format_path(path),
                    "update",
                    [i[key] for i in old],
                    order,
                    note=f"order changed ({key}: {', '.join(map(str, order))})",
                )
            )
        return changes

    def _diff_sequence(self, old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
        matcher = difflib.SequenceMatcher(None, [canonical(v) for v in old], [canonical(v) for v in new], False)
        changes: list[PropertyChange] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for offset in range(paired):
                changes += self.diff(old[i1 + offset], new[j1 + offset], [*path, j1 + offset])
            for index in range(i1 + paired, i2):
                changes.append(_leaf(old[index], MISSING, [*path, index]))
            for index in range(j1 + paired, j2):
                changes.append(_leaf(MISSING, new[index], [*path, index]))
        return changes


def _leaf(old: Any, new: Any, path: list[Segment]) -> PropertyChange:
    kind = "add" if old is MISSING else "delete" if new is MISSING else "update"
    return PropertyChange(format_path(path), kind, old, new)


def _all_strings(values: list) -> bool:
    return all(isinstance(v, str) for v in values)


def _merge_key(old: list, new: list) -> str | None:
    items = [*old, *new]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _MERGE_KEYS:
        scalar = all(isinstance(item.get(key), (str, int)) and not isinstance(item.get(key), bool) for item in items)
        if scalar and len({item[key] for item in old}) == len(old) and len({item[key] for item in new}) == len(new):
            return key
    return None


def _diff_unordered(old: list, new: list, path: list[Segment]) -> list[PropertyChange]:
    old_counts: dict[str, list[Any]] = {}
    for item in old:
        old_counts.setdefault(canonical(item), []).append(item)
    changes: list[PropertyChange] = []
    for index, item in enumerate(new):
        bucket = old_counts.get(canonical(item))
        if bucket:
            bucket.pop()
        else:
            changes.append(_leaf(MISSING, item, [*path, index]))
    remaining = {key for key, bucket in old_counts.items() if bucket}
    for index, item in enumerate(old):
        key = canonical(item)
        if key in remaining and old_counts[key]:
            old_counts[key].pop()
            changes.append(_leaf(item, MISSING, [*path, index]))
    return changes
