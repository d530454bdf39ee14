"""Runaway repeats are cut with the reference's thresholds, and real repeated speech is left alone."""

from __future__ import annotations

import pytest

from asr.repetition import trim_repeats


@pytest.mark.parametrize(
    ("looped", "kept"),
    [
        ("好的" * 30, "好的"),  # a phrase said 20 times or more is kept once
        ("我们" + "对对对" * 25 + "然后", "我们对然后"),  # the loop is cut, the words around it stay
        ("哈" * 21, "哈"),  # one character more than 20 times
        ("thank you. " * 20 + "Bye.", "thank you. Bye."),
    ],
)
def test_loops_are_cut_to_one_copy(looped: str, kept: str) -> None:
    assert trim_repeats(looped) == (kept, True)


@pytest.mark.parametrize(
    "speech",
    [
        "no no no no no no no no no no no no, not again",  # twelve: an earlier rule of ours cut this at 9
        "Repeat after me: the quick brown fox. " * 10,  # a drill sentence ten times
        "加油加油加油加油加油加油加油加油加油加油",  # a chant, ten times
        "哈" * 19,  # laughter just under the reference's limit (20 copies of any phrase is a loop)
        "1000000",
    ],
)
def test_real_repetition_is_kept_whole(speech: str) -> None:
    assert trim_repeats(speech) == (speech, False)
