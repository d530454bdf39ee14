"""A `Transcript` as TXT, SRT, WebVTT or JSON text, or a Word document (`asr.outputs.word_doc`), built in
memory.

Nothing here touches the disk: the UI hands the bytes to a download button and the CLI writes it where the
user asked, so this module can never leave a stray copy of a private transcript behind.

Subtitle layout (SRT and VTT share it):

* A cue holds at most 2 lines of 42 columns and lasts at most 7 s (the usual broadcast limits).
* Width is counted in display columns: a CJK character (East Asian Wide/Fullwidth) counts 2, everything else
  1. A line of 42 Chinese characters would be twice as wide on screen as 42 Latin letters and run off the
  frame; counting columns gives ~21 Chinese characters a line, close to what Chinese subtitle guides ask
  for, and still never more than 42 characters of any script.
* Breaks go after clause punctuation (。，！？；、 .,!?;) when that does not leave a stub cue, else at a
  space (Latin) or between two characters (CJK). Closing punctuation stays on the line it closes.
* A segment with word timestamps (`Segment.words`, from the forced aligner) times each cue from the first
  word it holds to the last, and a cue is full once it spans 7 s of real speech. Without them segments
  carry only chunk boundaries, so each cue gets a share of its segment's time in proportion to its width
  (a Chinese character takes about as long to say as two Latin letters, which is what the column count
  says too), and cues under 0.5 s are lengthened at the expense of longer ones in the same segment when the
  segment has the time. Either way a cue still under 0.5 s runs on into the silence after it. Times are
  whole milliseconds, monotonic and never overlapping.

JSON gives each segment a `words` list (start, end, text) only when it has word timestamps, and the model's
own text before a runaway repeat was cut (`untrimmed_text`) only when one was. A segment the model wrote
(not one the user edited) carries its `probability` (`asr.outputs.confidence.segment_probability`) and
`tokens`: the pieces of its text with the probability `generate` gave each.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from asr.outputs.confidence import segment_probability
from asr.outputs.transcript import Names, Piece, Segment, Transcript, Word, speaker_name, speaker_turns
from asr.outputs.word_doc import to_docx

TextFormat = Literal["txt", "srt", "vtt", "json", "rttm"]
Format = TextFormat | Literal["docx"]
FORMAT_NAMES: tuple[Format, ...] = (*get_args(TextFormat), "docx")


@dataclass(frozen=True)
class FormatInfo:
    """How a download or an output file of one format is labelled."""

    mime: str
    extension: str


FORMATS: dict[str, FormatInfo] = {
    "txt": FormatInfo("text/plain; charset=utf-8", "txt"),
    "srt": FormatInfo("application/x-subrip; charset=utf-8", "srt"),
    "vtt": FormatInfo("text/vtt; charset=utf-8", "vtt"),
    "json": FormatInfo("application/json", "json"),
    "rttm": FormatInfo("text/plain; charset=utf-8", "rttm"),
    "docx": FormatInfo("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}

LINE_COLUMNS = 42
MAX_CUE_MS = 7000
MIN_CUE_MS = 500
# A punctuation break is taken when the cue it ends fills at least this share of what a cue may hold;
# an earlier one would leave a stub cue, so the break moves to the last space or character instead.
MIN_CLAUSE_SHARE = 0.4

_CLAUSE_END = frozenset("。，！？；、.,!?;")


# --- measuring ----------------------------------------------------------------------------------------------


def char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(char_width(char) for char in text)


@dataclass(frozen=True)
class Unit:
    """Text never split across lines: a Latin word or one CJK character, with the punctuation around it.

    `start_ms`/`end_ms` are set only when the segment has word timestamps.
    """

    text: str
    space_before: bool
    start_ms: float = 0.0
    end_ms: float = 0.0

    @property
    def width(self) -> int:
        return _width(self.text)

    @property
    def ends_clause(self) -> bool:
        return self.text[-1] in _CLAUSE_END


def _line_width(units: list[Unit]) -> int:
    """Columns of `units` on one line: their widths plus the spaces between Latin words."""
    return sum(u.width for u in units) + sum(1 for u in units[1:] if u.space_before)


def _spoken(units: list[Unit]) -> int:
    """How long `units` take to say, in columns (spaces are not spoken)."""
    return sum(u.width for u in units)


# --- splitting text into units ------------------------------------------------------------------------------


def _joins(previous: str, char: str) -> bool:
    """Whether `char`, written right after `previous` with no space, belongs to the same unit."""
    category = unicodedata.category(char)
    if category in ("Po", "Pe", "Pf"):  # commas, stops, closing brackets and quotes never start a line
        return True
    if unicodedata.category(previous[-1]) in ("Ps", "Pi"):  # an opening bracket never ends one
        return True
    if char_width(char) == 2:  # each CJK character is a break opportunity
        return False
    return all(char_width(c) < 2 for c in previous)  # Latin letters continue a Latin word ("3.5", "e.g.")


def _hard_split(text: str, space_before: bool) -> list[Unit]:
    """A unit wider than a line (a long URL) is cut between characters; nothing else can fit it."""
    units: list[Unit] = []
    piece = ""
    for char in text:
        if piece and _width(piece + char) > LINE_COLUMNS:
            units.append(Unit(piece, space_before if not units else False))
            piece = ""
        piece += char
    units.append(Unit(piece, space_before if not units else False))
    return units


def split_units(text: str) -> list[Unit]:
    """Split one segment's text at every point where a line may break."""
    pieces: list[tuple[str, bool]] = []
    space = False
    for char in text:
        if char.isspace():
            space = True
            continue
        if pieces and not space and _joins(pieces[-1][0], char):
            pieces[-1] = (pieces[-1][0] + char, pieces[-1][1])
        else:
            pieces.append((char, space))
        space = False
    return [unit for text, space_before in pieces for unit in _hard_split(text, space_before)]


# --- word timestamps ----------------------------------------------------------------------------------------


def _aligned_chars(text: str) -> str:
    """The characters the aligner keeps and times: letters (CJK included), digits and apostrophes."""
    return "".join(char for char in text if char == "'" or unicodedata.category(char)[0] in "LN")


def time_units(units: list[Unit], words: tuple[Word, ...]) -> list[Unit] | None:
    """`units` with the times of the words they hold, or None when the words do not spell the same text.

    Units and words split the text differently ("3.5%" is one unit and the word "35"; a URL cut to fit a
    line is several units of one word), so both are compared on the characters the aligner keeps: a unit
    starts with the word holding its first such character and ends with the word holding its last. A unit
    of punctuation alone takes the instant where the previous one ended. Text edited after alignment no
    longer matches its words and falls back to proportional timing.
    """
    owner = [index for index, word in enumerate(words) for _ in _aligned_chars(word.text)]
    if "".join(_aligned_chars(u.text) for u in units) != "".join(_aligned_chars(w.text) for w in words):
        return None
    timed: list[Unit] = []
    at, previous_end = 0, words[0].start * 1000
    for unit in units:
        count = len(_aligned_chars(unit.text))
        start, end = previous_end, previous_end
        if count:
            start, end = words[owner[at]].start * 1000, words[owner[at + count - 1]].end * 1000
        timed.append(replace(unit, start_ms=start, end_ms=end))
        at += count
        previous_end = end
    return timed


# --- laying out cues ----------------------------------------------------------------------------------------

# How much of the 7-second limit a run of units takes to say.
_TimeShare = Callable[[list[Unit]], float]


def _word_share(units: list[Unit]) -> float:
    return (units[-1].end_ms - units[0].start_ms) / MAX_CUE_MS


def _fits(units: list[Unit], share: _TimeShare) -> bool:
    """True when `units` can be said within the cue's time limit and set in at most two lines.

    Filling the first line as far as it goes is enough to decide: a shorter first line only makes the
    second one longer.
    """
    if share(units) > 1:
        return False
    used, first = 0, 0
    for index, unit in enumerate(units):
        used += unit.width + (1 if index and unit.space_before else 0)
        if used > LINE_COLUMNS:
            break
        first = index + 1
    return first > 0 and _line_width(units[first:]) <= LINE_COLUMNS


def _clause_cut(units: list[Unit], share: _TimeShare) -> int:
    """Where to end a full cue: after the last clause punctuation that leaves no stub, else after all.

    A cue is as full as the larger of its share of the two lines and its share of the time limit.
    """
    for cut in range(len(units), 0, -1):
        fill = max(_spoken(units[:cut]) / (2 * LINE_COLUMNS), share(units[:cut]))
        if units[cut - 1].ends_clause and fill >= MIN_CLAUSE_SHARE:
            return cut
    return len(units)


def _pack(units: list[Unit], share: _TimeShare) -> list[list[Unit]]:
    """Greedily fill cues, breaking at punctuation where possible; a lone unit is a cue even if too long."""
    cues: list[list[Unit]] = []
    current: list[Unit] = []
    for unit in units:
        if current and not _fits(current + [unit], share):
            cut = _clause_cut(current, share)
            cues.append(current[:cut])
            current = current[cut:]
            if current and not _fits(current + [unit], share):
                cues.append(current)
                current = []
        current.append(unit)
    if current:
        cues.append(current)
    return cues


def _line_text(units: list[Unit]) -> str:
    return "".join((" " if u.space_before and i else "") + u.text for i, u in enumerate(units))


def _cue_text(units: list[Unit]) -> str:
    """One line if it fits, else the two-line split with the most even lines, a clause end counting extra."""
    if _line_width(units) <= LINE_COLUMNS:
        return _line_text(units)
    splits = [
        (max(_line_width(units[:k]), _line_width(units[k:])) - (8 if units[k - 1].ends_clause else 0), k)
        for k in range(1, len(units))
        if _line_width(units[:k]) <= LINE_COLUMNS and _line_width(units[k:]) <= LINE_COLUMNS
    ]
    _, k = min(splits)
    return _line_text(units[:k]) + "\n" + _line_text(units[k:])


def _durations(weights: list[int], span: float) -> list[float]:
    """Split `span` in proportion to `weights`, raising short shares to `MIN_CUE_MS` when the span allows.

    Each round fixes the shares that fell under the minimum and shares the rest among the others, which
    only shrinks them, so no cue grows past what the packing allowed.
    """
    if MIN_CUE_MS * len(weights) > span:
        return [span * w / sum(weights) for w in weights]
    floored: set[int] = set()
    while True:
        free = span - MIN_CUE_MS * len(floored)
        rest = sum(w for i, w in enumerate(weights) if i not in floored)
        shares = [MIN_CUE_MS if i in floored else free * w / rest for i, w in enumerate(weights)]
        short = {i for i, share in enumerate(shares) if i not in floored and share < MIN_CUE_MS}
        if not short:
            return shares
        floored |= short


@dataclass(frozen=True)
class Cue:
    """One subtitle: start and end in milliseconds, text of one or two lines, and who says it."""

    start_ms: int
    end_ms: int
    text: str
    speaker: int | None = None


def _segment_cues(segment: Segment) -> list[Cue]:
    return [replace(cue, speaker=segment.speaker) for cue in _timed_cues(segment)]


def _timed_cues(segment: Segment) -> list[Cue]:
    units = split_units(segment.text)
    if not units:
        return []
    timed = time_units(units, segment.words) if segment.words else None
    if timed is not None:
        groups = _pack(timed, _word_share)
        return [Cue(round(g[0].start_ms), round(g[-1].end_ms), _cue_text(g)) for g in groups]
    start = round(segment.start * 1000)
    span = max(0, round(segment.end * 1000) - start)
    ms_per_column = span / max(1, _spoken(units))
    groups = _pack(units, lambda group: _spoken(group) * ms_per_column / MAX_CUE_MS)
    cues = []
    at = float(start)
    for group, duration in zip(groups, _durations([max(1, _spoken(g)) for g in groups], span), strict=True):
        begin = round(at)
        at += duration
        cues.append(Cue(begin, min(round(at), begin + MAX_CUE_MS), _cue_text(group)))
    return cues


def _settle(cues: list[Cue]) -> list[Cue]:
    """Make times monotonic and non-overlapping, and give cues under the minimum the silence after them."""
    settled: list[Cue] = []
    for i, cue in enumerate(cues):
        start = max(cue.start_ms, settled[-1].end_ms if settled else 0)
        following = cues[i + 1].start_ms if i + 1 < len(cues) else math.inf
        end = max(cue.end_ms, min(start + MIN_CUE_MS, following), start + 1)
        settled.append(Cue(start, int(min(end, start + MAX_CUE_MS)), cue.text, cue.speaker))
    return settled


def subtitle_cues(transcript: Transcript) -> list[Cue]:
    """The transcript laid out as subtitles under the rules in the module docstring."""
    return _settle([cue for segment in transcript.segments for cue in _segment_cues(segment)])


# --- formats ------------------------------------------------------------------------------------------------


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _blocks(cues: Iterable[Cue], separator: str, text: Callable[[Cue], str]) -> list[str]:
    return [
        f"{_timestamp(c.start_ms, separator)} --> {_timestamp(c.end_ms, separator)}\n{text(c)}\n"
        for c in cues
    ]


def to_srt(transcript: Transcript, names: Names | None = None) -> str:
    """SRT; with speakers, each cue starts "Speaker 1: " (SRT has no voice markup of its own)."""

    def text(cue: Cue) -> str:
        return cue.text if cue.speaker is None else f"{speaker_name(cue.speaker, names)}: {cue.text}"

    blocks = _blocks(subtitle_cues(transcript), ",", text)
    return "\n".join(f"{index}\n{block}" for index, block in enumerate(blocks, start=1))


def _vtt_escape(text: str) -> str:
    """WebVTT cue text is markup: a literal <, > or & must be an entity (this also defuses "-->")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: Transcript, names: Names | None = None) -> str:
    """WebVTT; with speakers, each cue is a voice span `<v Speaker 1>...`."""

    def text(cue: Cue) -> str:
        escaped = _vtt_escape(cue.text)
        if cue.speaker is None:
            return escaped
        return f"<v {_vtt_escape(speaker_name(cue.speaker, names))}>{escaped}"

    return "\n".join(["WEBVTT\n", *_blocks(subtitle_cues(transcript), ".", text)])


def to_json(transcript: Transcript, names: Names | None = None) -> str:
    verdict = transcript.verdict
    document: dict[str, Any] = {
        "language": {
            "code": verdict.code,
            "name": verdict.language_name,
            "dialect": verdict.dialect,
            "confidence": round(verdict.confidence, 4),
            "check": transcript.language_check,
        },
        "forced_language": transcript.forced_language,
        "duration_s": round(transcript.duration_s, 3),
        "text": transcript.text,
        "segments": [_segment_json(s) for s in transcript.segments],
        "timings": {name: round(seconds, 3) for name, seconds in transcript.timings.as_dict().items()},
    }
    if transcript.speakers:
        document["speakers"] = [
            {"label": s.label, "name": speaker_name(s.label, names), "seconds": s.seconds}
            for s in transcript.speakers
        ]
    if transcript.turns:
        document["speaker_turns"] = [
            {"start": t.start, "end": t.end, "speaker": t.speaker, "overlap": t.overlap}
            for t in transcript.turns
        ]
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _rttm_field(text: str) -> str:
    """RTTM fields are separated by white space: none may hold any."""
    return "_".join(text.split()) or "_"


def to_rttm(transcript: Transcript, names: Names | None = None, uri: str = "recording") -> str:
    """Who spoke when, one `SPEAKER` line per diarizer turn (NIST RTTM, as pyannote and md-eval read it);
    empty when speakers were not identified."""
    file_id = _rttm_field(uri)
    lines = [
        f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> "
        f"{_rttm_field(speaker_name(t.speaker, names))} <NA> <NA>"
        for t in transcript.turns
    ]
    return "".join(line + "\n" for line in lines)


def _segment_json(segment: Segment) -> dict[str, Any]:
    probability = segment_probability(segment)
    return {
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "language": segment.language,
        **({"speaker": segment.speaker} if segment.speaker is not None else {}),
        "repetition_trimmed": segment.repetition_trimmed,
        "hit_token_limit": segment.hit_token_limit,
        **({"untrimmed_text": segment.untrimmed_text} if segment.untrimmed_text is not None else {}),
        **({"words": [_word_json(w) for w in segment.words]} if segment.words else {}),
        **({"probability": round(probability, 4)} if probability is not None else {}),
        **({"tokens": [_piece_json(p) for p in segment.pieces]} if segment.pieces else {}),
    }


def _piece_json(piece: Piece) -> dict[str, Any]:
    return {"text": piece.text, "probability": round(piece.probability, 4)}


def _word_json(word: Word) -> dict[str, Any]:
    timed: dict[str, Any] = {"start": round(word.start, 3), "end": round(word.end, 3), "text": word.text}
    return timed if word.speaker is None else {**timed, "speaker": word.speaker}


def to_txt(transcript: Transcript, names: Names | None = None) -> str:
    """The text; with speakers, one "Speaker 1: ..." paragraph per turn."""
    if not transcript.speakers:
        text = transcript.text
        return text + "\n" if text else ""
    paragraphs = [
        f"{speaker_name(s, names) if s else '?'}: {text}" for s, _, text in speaker_turns(transcript)
    ]
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


_RENDER: dict[str, Callable[[Transcript, Names | None], str]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,
    "rttm": to_rttm,
}


def export(transcript: Transcript, fmt: TextFormat, names: Names | None = None) -> str:
    """The transcript in `fmt` (see `FORMATS` for each one's MIME type and file extension); `names` are
    what the user called the speakers (label -> name), over the known voices they matched, "Speaker <label>"
    for the others."""
    if fmt not in _RENDER:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMAT_NAMES)}")
    return _RENDER[fmt](transcript, transcript.names(names))


def export_file(
    transcript: Transcript, fmt: Format, names: Names | None = None, title: str | None = None
) -> bytes:
    """What a download or an output file of `fmt` holds: UTF-8 text, or a Word document titled `title`."""
    if fmt == "docx":
        return to_docx(transcript, transcript.names(names), title)
    if fmt == "rttm" and title:
        return to_rttm(transcript, transcript.names(names), uri=title.rsplit(".", 1)[0]).encode("utf-8")
    return export(transcript, fmt, names).encode("utf-8")
