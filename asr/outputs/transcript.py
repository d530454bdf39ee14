"""The result of a transcription, as plain data the UI, the CLI and the exporters share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
class Piece:
    """A run of the model's own output and how sure it was: the probability `generate` gave the token it
    chose (the least of them when one character took several byte tokens). The pieces of a segment spell its
    text from the start; a segment the user edited has none."""

    text: str
    probability: float


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
    pieces: tuple[Piece, ...] = ()  # the model's token probabilities over `text` (asr.outputs.confidence)

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
class SpeakerTurn:
    """`speaker` (1, 2, ...) spoke from `start` to `end` (seconds); speakers are numbered by speaking time.

    `overlap` marks the second voice where two speak at once; the other turns never overlap each other.
    """

    start: float
    end: float
    speaker: int
    overlap: bool = False


@dataclass(frozen=True)
class Speaker:
    """One voice the diarization found: its number, how long it spoke, the known voice it matched (its name)
    and its voice print (`asr.speakers.known`: never exported, kept for "remember this voice")."""

    label: int
    seconds: float
    name: str | None = None
    voice: Any = field(default=None, compare=False, repr=False)


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
    turns: tuple[SpeakerTurn, ...] = ()  # who spoke when, as the diarizer heard it (RTTM, JSON)

    @property
    def text(self) -> str:
        return join_texts(segment.text for segment in self.segments)

    @property
    def repetition_trimmed(self) -> bool:
        return any(segment.repetition_trimmed for segment in self.segments)

    def names(self, renamed: Names | None = None) -> dict[int, str]:
        """What each speaker is called: the user's renames (`renamed`) over the known voices it matched."""
        named = {s.label: s.name for s in self.speakers if s.name}
        return {**named, **{label: name for label, name in (renamed or {}).items() if name}}


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


def clock(seconds: float) -> str:
    """A time as people read it on a player: "07:05", "1:02:03"."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


Names = Mapping[int, str]


def speaker_name(label: int, names: Names | None = None) -> str:
    """What the user named speaker `label` ("host"), else "Speaker <label>"."""
    return (names or {}).get(label) or f"Speaker {label}"


def speaker_turns(transcript: Transcript) -> list[tuple[int | None, float, str]]:
    """(speaker, start, text) of each run of segments by one speaker: the transcript as turns."""
    turns: list[tuple[int | None, float, list[str]]] = []
    for segment in transcript.segments:
        if not segment.text.strip():
            continue
        if turns and turns[-1][0] == segment.speaker:
            turns[-1][2].append(segment.text)
        else:
            turns.append((segment.speaker, segment.start, [segment.text]))
    return [(speaker, start, join_texts(texts)) for speaker, start, texts in turns]
