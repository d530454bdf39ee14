"""The result of a transcription, as plain data the UI, the CLI and the exporters share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from asr.langid import Verdict

#: How the language was settled: the first chunk's tag passed the policy, the user chose "transcribe anyway"
#: with automatic language (no check), or the user forced a language.
LanguageCheck = Literal["passed", "skipped", "forced"]


@dataclass(frozen=True)
class Word:
    """When one word was said (seconds from the start of the recording), as the forced aligner timed it.

    The aligner splits text its own way: Chinese (and any CJK ideograph) one character per word, other
    scripts at spaces, punctuation dropped. So `text` is not a slice of the segment's text.
    """

    start: float
    end: float
    text: str
    speaker: int | None = None  # with speakers identified: who said it, by overlap with the turns


@dataclass(frozen=True)
class Segment:
    """What was said between `start` and `end` (seconds from the start of the recording).

    `words` is empty unless word timestamps were asked for and the aligner supports the segment's language.
    """

    start: float
    end: float
    text: str
    language: str | None
    untrimmed_text: str | None = None  # what the model said before a runaway repeat was cut (asr.repetition)
    hit_token_limit: bool = False  # generation stopped at the chunk's token budget: the text may end early
    words: tuple[Word, ...] = ()
    speaker: int | None = None  # with speakers identified: 1, 2, ... (numbered by speaking time)

    @property
    def repetition_trimmed(self) -> bool:
        return self.untrimmed_text is not None


@dataclass(frozen=True)
class Timings:
    """Seconds each stage took; None for a stage that did not run."""

    transcribe_s: float
    verdict_s: float = 0.0
    decode_s: float | None = None
    align_s: float | None = None
    diarize_s: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {name: seconds for name, seconds in asdict(self).items() if seconds is not None}


@dataclass(frozen=True)
class Speaker:
    """One voice the diarization found: its number and how long it spoke."""

    label: int
    seconds: float


@dataclass(frozen=True)
class Transcript:
    """Segments in order, with the language verdict, how it was settled and how long each stage took."""

    segments: tuple[Segment, ...]
    verdict: Verdict
    duration_s: float
    timings: Timings
    language_check: LanguageCheck = "passed"
    forced_language: str | None = None
    speakers: tuple[Speaker, ...] = ()  # empty unless speakers were identified

    @property
    def text(self) -> str:
        return join_texts(segment.text for segment in self.segments)

    @property
    def repetition_trimmed(self) -> bool:
        return any(segment.repetition_trimmed for segment in self.segments)


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def join_texts(texts: Iterable[str]) -> str:
    """Join pieces with a space only between two Latin words; Chinese runs on without one."""
    out = ""
    for piece in texts:
        piece = piece.strip()
        if not piece:
            continue
        after_word = out and (_is_word_char(out[-1]) or out[-1] in ",.!?;:" and _is_word_char(piece[0]))
        if after_word:
            out += " "
        out += piece
    return out
