"""A finished transcript in each `response_format` of the OpenAI audio API, shaped as its SDK parses them.

`json` is `{text}`; `text`, `srt` and `vtt` are the page's own exports (with speakers: "Speaker 1: ..."
paragraphs, cue prefixes and voice spans); `verbose_json` fills every field of the SDK's segment type, with
`words` both at the top level and in each segment (clients read one or the other); `diarized_json` is one
segment per speaker turn. Fields a Whisper model has and this one does not are filled with what is true
here: `tokens` is empty (the text's token ids are not kept), `temperature` 0 (greedy decoding),
`no_speech_prob` 0 (segments are cut around detected speech), `seek` the segment's start in centiseconds.
`avg_logprob` is the model's own mean log-probability of the segment's tokens. Streaming (`stream=true`)
sends `transcript.text.delta` per settled segment and one `transcript.text.done`, as Server-Sent Events.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable
from typing import Any, Literal, get_args

from asr.outputs.confidence import segment_probability
from asr.outputs.export import to_srt, to_txt, to_vtt
from asr.outputs.transcript import Segment, Transcript, Word, join_texts, speaker_name

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "verbose_json": "application/json",
    "diarized_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def render(transcript: Transcript, fmt: ResponseFormat, words: bool) -> str:
    """The response body; `words`: word times were asked for (`timestamp_granularities[]=word`)."""
    if fmt == "text":
        return to_txt(transcript)
    if fmt == "srt":
        return to_srt(transcript)
    if fmt == "vtt":
        return to_vtt(transcript)
    if fmt == "verbose_json":
        return _json(verbose(transcript, words))
    if fmt == "diarized_json":
        return _json(diarized(transcript))
    return _json({"text": transcript.text, "usage": _usage(transcript)})


def verbose(transcript: Transcript, words: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "task": "transcribe",
        "language": (transcript.verdict.language_name or "unknown").lower(),
        "duration": round(transcript.duration_s, 3),
        "text": transcript.text,
        "segments": [_segment(index, s, words) for index, s in enumerate(transcript.segments)],
        "usage": _usage(transcript),
    }
    if words:
        document["words"] = [_word(w) for s in transcript.segments for w in s.words]
    return document


def diarized(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's diarized transcription: each segment's speaker is a known voice's name or "Speaker N"."""
    names = transcript.names()
    return {
        "task": "transcribe",
        "duration": round(transcript.duration_s, 3),
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{index}",
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "speaker": speaker_name(s.speaker, names) if s.speaker is not None else "Speaker ?",
                "text": s.text,
            }
            for index, s in enumerate(transcript.segments)
        ],
        "usage": _usage(transcript),
    }


def _segment(index: int, segment: Segment, words: bool) -> dict[str, Any]:
    probability = segment_probability(segment)
    encoded = segment.text.encode("utf-8")
    shown: dict[str, Any] = {
        "id": index,
        "seek": round(segment.start * 100),
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": round(math.log(probability), 4) if probability else 0.0,
        "compression_ratio": round(len(encoded) / len(zlib.compress(encoded)), 4) if encoded else 0.0,
        "no_speech_prob": 0.0,
    }
    if segment.speaker is not None:
        shown["speaker"] = speaker_name(segment.speaker)
    if words:
        shown["words"] = [_word(w) for w in segment.words]
    return shown


def _word(word: Word) -> dict[str, Any]:
    timed: dict[str, Any] = {"word": word.text, "start": round(word.start, 3), "end": round(word.end, 3)}
    return timed if word.speaker is None else {**timed, "speaker": speaker_name(word.speaker)}


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration_s)}


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def event(document: dict[str, Any]) -> str:
    """One Server-Sent Event carrying `document`."""
    return f"data: {_json(document)}\n\n"


class TextDeltas:
    """The `transcript.text.delta` events of settled segments, in time order: concatenated they are the
    transcript's text (a space only where `join_texts` puts one)."""

    def __init__(self) -> None:
        self._said = ""

    def events(self, settled: Iterable[Segment]) -> list[str]:
        found = []
        for segment in settled:
            joined = join_texts([self._said, segment.text])
            delta, self._said = joined[len(self._said) :], joined
            if delta:
                found.append(event({"type": "transcript.text.delta", "delta": delta}))
        return found

    def done(self, transcript: Transcript) -> str:
        return event({"type": "transcript.text.done", "text": transcript.text})
