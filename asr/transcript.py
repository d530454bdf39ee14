"""The result of a transcription, as plain data the UI, the CLI and the exporters share."""

from __future__ import annotations

from dataclasses import dataclass, field

from asr.langid import Verdict


@dataclass(frozen=True)
class Word:
    """When one word was said (seconds from the start of the recording), as the forced aligner timed it.

    The aligner splits text its own way: Chinese (and any CJK ideograph) one character per word, other
    scripts at spaces, punctuation dropped. So `text` is not a slice of the segment's text.
    """

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Segment:
    """What was said between `start` and `end` (seconds from the start of the recording).

    `words` is empty unless word timestamps were asked for and the aligner supports the segment's language.
    """

    start: float
    end: float
    text: str
    language: str | None
    repetition_trimmed: bool = False
    hit_token_limit: bool = False
    words: tuple[Word, ...] = ()


@dataclass
class Transcript:
    """Segments in order, with the language verdict and how long each stage took."""

    segments: list[Segment]
    verdict: Verdict
    duration_s: float
    forced_language: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return join_texts(segment.text for segment in self.segments)

    @property
    def repetition_trimmed(self) -> bool:
        return any(segment.repetition_trimmed for segment in self.segments)


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def join_texts(texts) -> str:
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
