"""The transcript as the review page shows it: timed segments of words with their confidence, the user's
corrections applied, and the segments a search finds.

Plain data, no Streamlit: the page draws it, the tests read it. Words are the exporters' units
(`asr.outputs.export.split_units`: a Latin word or one CJK character with its punctuation), so the page marks
and follows exactly what the subtitles would break at; with word timestamps each unit carries the times of the
aligned words it holds (`asr.outputs.export.time_units`), and each gets the least probability of the model's
pieces it overlaps (`asr.outputs.confidence.span_probabilities`).

Corrections are a mapping from segment index to new text (and to a new speaker): `apply_edits` returns a
new `Transcript` with the original times, which every export then uses. An edited segment keeps its start,
end and language but drops what described the model's text, not the user's: its aligned words, its pieces
(no probability is shown for words the model did not write) and the text before a repeat was cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from asr.outputs.confidence import segment_probability, span_probabilities
from asr.outputs.export import Unit, split_units, time_units
from asr.outputs.transcript import Segment, Transcript


@dataclass(frozen=True)
class ReviewWord:
    """One unit of a segment's text; times only with word timestamps, probability only for model text."""

    text: str
    space_before: bool
    start: float | None
    end: float | None
    probability: float | None


@dataclass(frozen=True)
class ReviewSegment:
    index: int  # position in `Transcript.segments`: what an edit refers to
    start: float
    end: float
    speaker: int | None
    words: tuple[ReviewWord, ...]
    probability: float | None


@dataclass(frozen=True)
class Match:
    """A segment holding the searched text; `spans` are [start, end) character offsets in its text."""

    index: int
    start: float
    speaker: int | None
    text: str
    spans: tuple[tuple[int, int], ...]


def _spans(text: str, units: list[Unit]) -> list[tuple[int, int]]:
    """Where each unit sits in `text` (units drop whitespace, so each is found after the previous one)."""
    spans = []
    at = 0
    for unit in units:
        start = text.index(unit.text, at)
        at = start + len(unit.text)
        spans.append((start, at))
    return spans


def review_segment(index: int, segment: Segment) -> ReviewSegment:
    units = split_units(segment.text)
    timed = time_units(units, segment.words) if segment.words and units else None
    probabilities = span_probabilities(segment.pieces, _spans(segment.text, units))
    words = tuple(
        ReviewWord(
            unit.text,
            unit.space_before,
            timed[at].start_ms / 1000 if timed else None,
            timed[at].end_ms / 1000 if timed else None,
            probability,
        )
        for at, (unit, probability) in enumerate(zip(units, probabilities, strict=True))
    )
    return ReviewSegment(
        index, segment.start, segment.end, segment.speaker, words, segment_probability(segment)
    )


def review_segments(transcript: Transcript) -> list[ReviewSegment]:
    """Every segment with text, in order."""
    return [review_segment(i, s) for i, s in enumerate(transcript.segments) if s.text.strip()]


def apply_edits(
    transcript: Transcript, texts: Mapping[int, str], speakers: Mapping[int, int] | None = None
) -> Transcript:
    """`transcript` with the user's texts (segment index -> text) and speakers (index -> label).

    A text equal to the model's (spaces around it aside) is no edit: its words, pieces and marks stay.
    """
    segments = list(transcript.segments)
    for index, text in texts.items():
        text = text.strip()
        if 0 <= index < len(segments) and text != segments[index].text.strip():
            segments[index] = replace(segments[index], text=text, words=(), pieces=(), untrimmed_text=None)
    for index, label in (speakers or {}).items():
        if 0 <= index < len(segments) and label != segments[index].speaker:
            segment = segments[index]
            words = tuple(replace(word, speaker=label) for word in segment.words)
            segments[index] = replace(segment, speaker=label, words=words)
    return replace(transcript, segments=tuple(segments))


def find_segments(transcript: Transcript, query: str) -> list[Match]:
    """The segments holding `query`, ignoring case (and the spaces around the query); [] for an empty one."""
    needle = query.strip().casefold()
    if not needle:
        return []
    found = []
    for index, segment in enumerate(transcript.segments):
        # casefold keeps offsets only when it keeps lengths ("ß" becomes "ss"): else search the text as is
        folded = segment.text.casefold()
        haystack = folded if len(folded) == len(segment.text) else segment.text
        spans = []
        at = haystack.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = haystack.find(needle, at + len(needle))
        if spans:
            found.append(Match(index, segment.start, segment.speaker, segment.text, tuple(spans)))
    return found
