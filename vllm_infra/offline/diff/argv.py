"""Container command lines diffed as flags: ``--max-model-len 8192`` → ``16384`` is one change of one flag, wherever
it moved in the list; a switch flipped (``--enable-x`` → ``--no-enable-x``) is one change, not a removal and an
addition."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vllm_infra.offline.diff.model import PropertyChange
from vllm_infra.offline.diff.paths import Segment, format_path
from vllm_infra.offline.diff.values import MISSING


@dataclass(frozen=True)
class _Token:
    key: tuple[str, int]  # (flag or "#positional", occurrence)
    flag: str | None
    value: str | None  # None for a switch without a value
    flag_index: int
    value_index: int | None


def _looks_like_flag(item: str) -> bool:
    return item.startswith("-") and len(item) > 1 and not re.fullmatch(r"-\d+(\.\d+)?", item)


def _tokens(argv: list[str]) -> list[_Token]:
    tokens: list[_Token] = []
    seen: dict[str, int] = {}
    positional = 0
    index = 0
    while index < len(argv):
        item = argv[index]
        if _looks_like_flag(item):
            name, has_value, value = item.partition("=")
            occurrence = seen.get(name, 0)
            seen[name] = occurrence + 1
            if has_value:
                tokens.append(_Token((name, occurrence), name, value, index, index))
            elif index + 1 < len(argv) and not _looks_like_flag(argv[index + 1]):
                tokens.append(_Token((name, occurrence), name, argv[index + 1], index, index + 1))
                index += 1
            else:
                tokens.append(_Token((name, occurrence), name, None, index, None))
        else:
            tokens.append(_Token(("#positional", positional), None, item, index, index))
            positional += 1
        index += 1
    return tokens


def _negation(flag: str) -> set[str]:
    """The spellings that switch ``flag`` the other way: ``--x``/``--no-x``, ``--enable-x``/``--disable-x``."""
    body = flag[2:] if flag.startswith("--") else ""
    if not body:
        return set()
    names = {f"--{body.removeprefix('no-')}" if body.startswith("no-") else f"--no-{body}"}
    for this, that in (("enable-", "disable-"), ("disable-", "enable-")):
        if body.startswith(this):
            names.add(f"--{that}{body.removeprefix(this)}")
    return names


def diff_argv(old: list[str], new: list[str], path: list[Segment]) -> list[PropertyChange] | None:
    """Flag-aware diff of a command line; ``None`` when it has no flags (then it is diffed as a plain list)."""
    old_tokens, new_tokens = _tokens(old), _tokens(new)
    if not any(t.flag for t in (*old_tokens, *new_tokens)):
        return None
    old_by_key = {t.key: t for t in old_tokens}
    new_keys = {t.key for t in new_tokens}
    changes: list[PropertyChange] = []
    added: list[_Token] = []
    for token in new_tokens:
        before = old_by_key.get(token.key)
        if before is None:
            added.append(token)
        elif before.value != token.value:
            index = token.value_index if token.value_index is not None else token.flag_index
            if token.flag is None:
                changes.append(PropertyChange(format_path([*path, index]), "update", before.value, token.value))
            else:
                changes.append(
                    PropertyChange(format_path([*path, index]), "update", before.value, token.value, flag=token.flag)
                )
    removed = [t for t in old_tokens if t.key not in new_keys]
    # A switch flipped (--enable-x → --no-enable-x) reads as one change, not a removal and an addition.
    for gone in list(removed):
        if gone.flag is None or gone.value is not None:
            continue
        partner = next((t for t in added if t.flag in _negation(gone.flag) and t.value is None), None)
        if partner is not None:
            removed.remove(gone)
            added.remove(partner)
            changes.append(
                PropertyChange(
                    format_path([*path, partner.flag_index]),
                    "update",
                    gone.flag,
                    partner.flag,
                    flag=f"{gone.flag} → {partner.flag}",
                )
            )
    for token in added:
        changes.append(
            PropertyChange(format_path([*path, token.flag_index]), "add", MISSING, token.value, flag=token.flag)
        )
    for token in removed:
        changes.append(
            PropertyChange(format_path([*path, token.flag_index]), "delete", token.value, MISSING, flag=token.flag)
        )
    if not changes:
        changes.append(PropertyChange(format_path(path), "update", old, new, note="same flags, order changed"))
    return sorted(changes, key=lambda c: _index_of(c.path))


def _index_of(path: str) -> tuple[int, str]:
    match = re.search(r"\[(\d+)\]$", path)
    return (int(match.group(1)) if match else -1, path)
