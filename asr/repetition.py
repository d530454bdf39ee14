"""Trim runaway repeats from one chunk's text, with the reference's thresholds.

Models of this family sometimes loop on long or noisy audio ("好的好的好的…" hundreds of times, or one phrase
until the token limit). The rule is the reference's (`qwen_asr` 0.0.6 `detect_and_fix_repetitions`, which
transformers' processor follows too): one character repeated more than 20 times in a row becomes one, and a
phrase of 1-20 characters said 20 times or more in a row is kept once. Real speech repeats far less than
that, so "no no no", a chant, or a sentence said ten times in a drill stay whole (an earlier, stricter rule
of ours cut those at 9). Whatever is cut is still reported: the segment keeps what the model said
(`Segment.untrimmed_text`), the card warns, and the JSON carries both texts.
"""

from __future__ import annotations

import re

THRESHOLD = 20
MAX_PHRASE_CHARS = 20
_CHAR_RUN = re.compile(r"(.)\1{" + str(THRESHOLD) + ",}", re.DOTALL)  # more than THRESHOLD in a row
_PHRASE_LOOP = re.compile(r"(.{1," + str(MAX_PHRASE_CHARS) + r"}?)\1{" + str(THRESHOLD - 1) + ",}", re.DOTALL)


def trim_repeats(text: str) -> tuple[str, bool]:
    """`text` with every loop cut down to one copy, and whether anything was cut."""
    trimmed = _PHRASE_LOOP.sub(r"\1", _CHAR_RUN.sub(r"\1", text))
    return trimmed, trimmed != text
