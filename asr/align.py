"""Word timestamps from Qwen3-ForcedAligner, loaded only when the user asks for them.

Why it looks like this:

* The aligner is a second 0.6B checkpoint that most users never need, so nothing loads it unless asked
  (`Aligner.load`), and it obeys the speech model's offline rules (`asr.model_source`: a folder named by
  `ASR_ALIGNER_MODEL` or the Hugging Face cache, never a download).
* It does not generate. The processor writes every word followed by two `<timestamp>` slots, one forward
  pass classifies each slot into an 80 ms bin, and `decode_forced_alignment` repairs out-of-order bins, so
  a segment's times come back non-decreasing. Several segments share one forward pass.
* Each segment is aligned against its own stretch of audio (chunks are at most ~28 s, far inside the
  aligner's range) and its words shifted by the segment start; a time the model puts past the end of that
  audio is clamped to it, because no word can be said outside the audio it was heard in.
* The aligner knows 11 languages. Chinese dialects map to Chinese, Cantonese to Cantonese, and every
  segment of a mixed zh-en recording to Chinese (its splitter times each Han character and each Latin word).
  Other languages, and Japanese or Korean without their word splitters installed, get no words rather than
  wrong ones.

Only counts and timings are logged, never text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from transformers import Qwen3ASRForTokenClassification
from transformers.models.qwen3_asr.processing_qwen3_asr import FORCED_ALIGNER_LANGUAGES
from transformers.utils.import_utils import is_nagisa_available, is_soynlp_available

from asr.engines.loading import DevicePlan, LocalModel, load_local
from asr.langid import CHINESE, ENGLISH, is_chinese
from asr.outputs.transcript import Segment, Transcript, Word
from asr.speech.audio import SAMPLE_RATE, load_pcm

log = logging.getLogger(__name__)
T = TypeVar("T")

CANTONESE = "Cantonese"
#: Segments per forward pass: enough to share each weight read, small enough for a laptop's memory.
ALIGN_BATCH = 4
#: Shorter audio holds less than two 80 ms bins; there is nothing to time.
MIN_CLIP_S = 0.2

# Japanese and Korean words come from optional packages the processor imports on demand.
_SPLITTER_AVAILABLE: dict[str, Callable[[], bool]] = {
    "Japanese": is_nagisa_available,
    "Korean": is_soynlp_available,
}


def aligner_language(language: str | None, mixed: bool = False) -> str | None:
    """The aligner's name for the model's `language`, or None when the aligner cannot time it.

    `mixed` (a zh-en recording) maps English to Chinese too: the Chinese splitter handles both scripts.
    """
    if language is None:
        return None
    if is_chinese(language):
        return CANTONESE if CANTONESE.casefold() in language.casefold() else CHINESE
    if mixed and language == ENGLISH:
        return CHINESE
    if language not in FORCED_ALIGNER_LANGUAGES:
        return None
    available = _SPLITTER_AVAILABLE.get(language)
    return language if available is None or available() else None


@dataclass(frozen=True)
class Clip:
    """One stretch of 16 kHz audio, what was said in it, and where it starts on the recording's clock."""

    audio: np.ndarray
    text: str
    language: str  # one of the aligner's languages (see `aligner_language`)
    start_s: float = 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.audio) / SAMPLE_RATE


class Aligner(LocalModel):
    """A loaded forced aligner and its processor; `align` is safe to call from many threads."""

    @classmethod
    def load(cls, model: str, plan: DevicePlan | None = None) -> Aligner:
        """Load from a local folder or the hub cache; never downloads. Raises `UserFacingError`."""
        return cls(load_local(Qwen3ASRForTokenClassification, model, "aligner", plan))

    def time_words(self, wav_path: Path, transcript: Transcript) -> Transcript:
        """`asr.models.WordTimer`: `align_transcript` with this aligner."""
        return align_transcript(self, wav_path, transcript)

    def words(self, text: str, language: str) -> list[str]:
        """The words the aligner will time in `text`, split exactly as the processor splits them."""
        words: list[str] = self.processor.split_words_for_alignment(text, language)
        return words

    def align(self, clips: Sequence[Clip]) -> list[tuple[Word, ...]]:
        """Time the words of every clip in one forward pass; each clip must have at least one word."""
        inputs, word_lists = self.processor.prepare_forced_aligner_inputs(
            [clip.audio for clip in clips], [clip.text for clip in clips], [clip.language for clip in clips]
        )
        inputs = inputs.to(self.model.device)
        inputs["input_features"] = inputs["input_features"].to(self.plan.dtype)
        with self._lock, torch.inference_mode():
            logits = self.model(**inputs).logits
        timed = self.processor.decode_forced_alignment(
            logits, inputs["input_ids"], word_lists, self.model.config.timestamp_token_id
        )
        return [_placed(clip, items) for clip, items in zip(clips, timed, strict=True)]


def _placed(clip: Clip, items: list[dict[str, Any]]) -> tuple[Word, ...]:
    """The processor's clip-relative times on the recording's clock, clamped to the clip's audio."""

    def at(seconds: float) -> float:
        return round(min(clip.start_s + seconds, clip.end_s), 3)

    return tuple(Word(at(item["start_time"]), at(item["end_time"]), item["text"]) for item in items)


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def align_transcript(
    aligner: Aligner, wav_path: Path, transcript: Transcript, batch_size: int = ALIGN_BATCH
) -> Transcript:
    """The transcript with `Segment.words` filled wherever the aligner supports the segment's language.

    `wav_path` is the job's decoded WAV (`asr.speech.audio.decode_to_wav`); segments are read from it one
    batch at a time, so memory stays bounded on long recordings. Sets `align_s` in the timings.
    """
    started = time.perf_counter()
    mixed = transcript.verdict.code == "zh-en"
    fallback = transcript.forced_language or transcript.verdict.language_name
    segments = list(transcript.segments)
    todo: list[tuple[int, str]] = []
    for index, segment in enumerate(segments):
        language = aligner_language(segment.language or fallback, mixed)
        if language is not None and _alignable(aligner, segment, language):
            todo.append((index, language))
    spoken = sum(1 for segment in segments if segment.text.strip())
    log.info("Alignment started: %d of %d segments with text", len(todo), spoken)
    for batch in _batches(todo, batch_size):
        clips = [_clip(wav_path, segments[index], language) for index, language in batch]
        for (index, _), words in zip(batch, aligner.align(clips), strict=True):
            segments[index] = replace(segments[index], words=words)
    seconds = time.perf_counter() - started
    log.info("Alignment finished in %.1f s", seconds)
    timings = replace(transcript.timings, align_s=seconds)
    return replace(transcript, segments=tuple(segments), timings=timings)


def _alignable(aligner: Aligner, segment: Segment, language: str) -> bool:
    return segment.end - segment.start >= MIN_CLIP_S and bool(aligner.words(segment.text, language))


def _clip(wav_path: Path, segment: Segment, language: str) -> Clip:
    return Clip(load_pcm(wav_path, segment.start, segment.end), segment.text, language, segment.start)
