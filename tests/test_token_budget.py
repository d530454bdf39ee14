"""The per-chunk token budget (16 + 10 a second) holds the fastest speech our users record.

Our budget is below the reference's flat 512 on purpose (`asr.transcribe.token_budget` says why), so it must
be shown to fit fast speech, in the model's real vocabulary rather than the tiny test tokenizer: Qwen's
byte-level BPE (151,643 merges, shared by Qwen2 and Qwen3), which the dashscope wheel ships as
`qwen.tiktoken`. `.ci/run` downloads that wheel (without installing it) and names it in QWEN_VOCAB_WHEEL.
"""

from __future__ import annotations

import base64
import os
import zipfile
from pathlib import Path

import pytest

from asr.speech.chunking import Chunk
from asr.transcribe import TAG_TOKENS, token_budget
from tests.test_export import EN, MIXED, ZH

# Qwen's pre-tokenizer pattern (the same in its tokenizer.json).
_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
    r"""|\s+(?!\S)|\s+"""
)
LONGEST_CHUNK_S = 28.0  # TranscribeOptions.chunk_max_s
# Faster than fast: Mandarin news is read at ~5 syllables (characters) a second and quick talkers reach ~7;
# 270 words a minute is a very fast English talker.
ZH_CHARS_PER_S = 9.0
EN_WORDS_PER_S = 4.5


@pytest.fixture(scope="module")
def qwen_tokens():
    wheel = os.environ.get("QWEN_VOCAB_WHEEL")
    if not wheel or not Path(wheel).is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("QWEN_VOCAB_WHEEL must name the dashscope wheel on CI (see .ci/run)")
        pytest.skip("Qwen's vocabulary not downloaded (set QWEN_VOCAB_WHEEL)")
    tiktoken = pytest.importorskip("tiktoken")
    data = zipfile.ZipFile(wheel).read("dashscope/resources/qwen.tiktoken")
    pairs = (line.split() for line in data.splitlines())
    ranks = {base64.b64decode(token): int(rank) for token, rank in pairs}
    assert len(ranks) == 151643
    encoding = tiktoken.Encoding("qwen", pat_str=_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return lambda text: len(encoding.encode(text))


def _fast(text: str, units_per_s: float, words: bool) -> str:
    """As much of `text` (repeated) as a fast speaker says in the longest chunk."""
    count = int(LONGEST_CHUNK_S * units_per_s)
    if words:
        return " ".join((text.split() * 10)[:count])
    return "".join(char for char in text * 10 if not char.isspace())[:count]


@pytest.mark.parametrize(
    ("name", "text", "rate", "words"),
    [
        ("Mandarin", ZH, ZH_CHARS_PER_S, False),
        ("code-switched", MIXED, ZH_CHARS_PER_S, False),
        ("English", EN, EN_WORDS_PER_S, True),
    ],
)
def test_the_longest_chunk_of_fast_speech_fits_its_budget(qwen_tokens, name, text, rate, words) -> None:
    said = _fast(text, rate, words)
    tag = qwen_tokens("language Chinese") + 1  # + the <asr_text> special token
    budget = token_budget([Chunk(0, 0.0, LONGEST_CHUNK_S)])
    needed = tag + qwen_tokens(said) + 1  # + <|im_end|>
    assert tag <= TAG_TOKENS
    assert needed <= budget, f"{name}: {needed} tokens needed, budget {budget}"
    assert needed <= 0.8 * budget, f"{name}: less than 20 % headroom ({needed} of {budget})"
