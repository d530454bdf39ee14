"""Trim runaway repeats from one chunk's text.

Models of this family sometimes loop on long or noisy audio ("好的好的好的…" hundreds of times, or one phrase
over and over until the token limit). A phrase said more than `MAX_REPEATS` times in a row is a loop, not
speech: keep it `KEEP` times and tell the user the chunk was trimmed. Short runs (under `MIN_LOOP_CHARS`) stay
untouched, so "1000000" or "哈哈哈哈哈哈哈哈哈" are never mangled.
"""

from __future__ import annotations

import re

MAX_REPEATS = 8
KEEP = 2
MIN_LOOP_CHARS = 24
_LOOP = re.compile(r"(.{1,30}?)\1{" + str(MAX_REPEATS) + ",}", re.DOTALL)


def trim_repeats(text: str) -> tuple[str, bool]:
    """`text` with every loop cut down to `KEEP` repeats, and whether anything was cut."""

    def cut(match: re.Match[str]) -> str:
        loop = match.group(0)
        return loop if len(loop) < MIN_LOOP_CHARS else match.group(1) * KEEP

    trimmed = _LOOP.sub(cut, text)
    return trimmed, trimmed != text
