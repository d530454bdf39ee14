"""Decoded WAV -> language verdict -> transcript, chunk batch by chunk batch.

`stream_transcription` is a generator (like faster-whisper's `transcribe`): it yields a `Progress` after
every batch, so the UI can show partial text and an ETA and stop between batches (closing the generator is
the cancel). It talks to the model through `asr.backend.Backend` only. The language check is the first
chunk's own first tokens: the backend generates that chunk alone until its `language <Name>` tag is
certain, so a refused recording costs one chunk's encoder pass and prefill plus two tokens; an accepted one
goes on from that very decoder state inside the first batch, so nothing is computed twice and the rest of
the batch still shares every decoder step with it.

Batches hold chunks of similar length (sorted by duration; the batch that holds the first chunk runs first,
for the language check). A batch decodes until its longest row is done and its KV cache is sized for that
row, so mixing a 3 s reply with 28 s monologues made the short rows wait; speech-bounded chunks and cuts at
speaker changes make many short ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from asr.audio import DecodedAudio, load_pcm
from asr.backend import Backend, ChunkOutput, LanguageProbe
from asr.chunking import LONG_PAUSE_S, Chunk
from asr.confidence import fit_pieces
from asr.errors import UserFacingError
from asr.langid import DEFAULT_ACCEPTED, Verdict, decide_verdict, is_accepted, refusal_error
from asr.repetition import trim_repeats
from asr.transcript import LanguageCheck, Segment, Timings, Transcript, join_texts

log = logging.getLogger(__name__)

# Fast Mandarin runs ~5-6 characters (≈ tokens) a second and English ~4 tokens a second; 10 a second plus the
# tag leaves room for both and still ends a runaway loop within one chunk (see `token_budget`).
TOKENS_PER_SECOND = 10.0
TAG_TOKENS = 16


#: The most speakers a user may ask for (page and CLI).
MAX_SPEAKERS = 8


@dataclass(frozen=True)
class TranscribeOptions:
    """What the user chose; defaults are the app's."""

    language: str | None = None  # force this language (the model's name), None = detect
    context: str | None = None  # hotwords / context prompt
    accepted: frozenset[str] | None = DEFAULT_ACCEPTED  # None: any language, no check ("transcribe anyway")
    batch_size: int | None = None  # None: the backend's preference for this device and its free memory
    chunk_target_s: float = 20.0
    chunk_max_s: float = 28.0
    chunk_pause_s: float = LONG_PAUSE_S  # a pause this long always ends a chunk (and so a segment)
    tokens_per_second: float = TOKENS_PER_SECOND
    word_timestamps: bool = False  # time each word with the forced aligner (the caller loads it)
    identify_speakers: bool = False  # diarize first (the caller loads the speaker model)
    speakers: int | None = None  # with identify_speakers: the exact count the user knows; None = estimate

    def anyway(self, language: str | None) -> TranscribeOptions:
        """ "Transcribe anyway" after a refusal: in `language`, or (None) in whatever language is heard."""
        return replace(self, language=language, accepted=None)

    @property
    def language_check(self) -> LanguageCheck:
        if self.language:
            return "forced"
        return "skipped" if self.accepted is None else "passed"


@dataclass(frozen=True)
class Progress:
    """Where a transcription stands; `segments` holds everything finished so far, in time order, and
    `added` the segments this step finished."""

    done_chunks: int
    total_chunks: int
    elapsed_s: float
    verdict: Verdict
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    added: tuple[Segment, ...] = field(default_factory=tuple)
    done_s: float = 0.0  # seconds of audio transcribed so far, of `total_s`
    total_s: float = 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.done_chunks or self.done_chunks >= self.total_chunks or self.done_s <= 0:
            return None
        return self.elapsed_s / self.done_s * (self.total_s - self.done_s)


def token_budget(chunks: list[Chunk], tokens_per_second: float = TOKENS_PER_SECOND) -> int:
    """New tokens a batch may generate: the tag plus `tokens_per_second` of its longest chunk.

    The reference allows 512 whatever the length. Ours is lower on purpose: a batch decodes until its longest
    row stops, so one looping chunk holds the whole batch, and the static KV cache (and so every decode
    step's attention read) is sized prompt + budget: 296 tokens at the 28 s maximum instead of 512. A hit is
    never silent (`Segment.hit_token_limit` becomes a warning on the card and in the CLI).
    """
    return TAG_TOKENS + int(max(c.duration_s for c in chunks) * tokens_per_second)


def _segment(chunk: Chunk, output: ChunkOutput, max_new_tokens: int) -> Segment:
    text, trimmed = trim_repeats(output.text)
    if trimmed:
        log.warning("Repetition trimmed in one chunk")
    return Segment(
        start=chunk.start_s,
        end=chunk.end_s,
        text=text,
        language=output.language,
        untrimmed_text=output.text if trimmed else None,
        hit_token_limit=output.tokens >= max_new_tokens,
        pieces=fit_pieces(output.pieces, text),
    )


def batches(chunks: Sequence[Chunk], size: int) -> list[list[Chunk]]:
    """Chunks of similar length together; the batch holding the first chunk first (the language probe)."""
    ordered = sorted(chunks, key=lambda c: (c.duration_s, c.index))
    groups = [ordered[at : at + size] for at in range(0, len(ordered), size)]
    first = next(i for i, group in enumerate(groups) if any(c.index == chunks[0].index for c in group))
    head = sorted(groups[first], key=lambda c: c.index != chunks[0].index)  # the probed chunk is row 0
    return [head, *groups[:first], *groups[first + 1 :]]


def stream_transcription(
    backend: Backend, audio: DecodedAudio, options: TranscribeOptions, chunks: Sequence[Chunk]
) -> Iterator[Progress]:
    """Yield progress after each batch; the last one holds every segment.

    `chunks` are the speech to transcribe (`asr.chunking.plan_chunks`), in time order. Raises
    `UserFacingError("no_speech")` when there is none and the language refusal for a rejected language.
    """
    started = time.perf_counter()
    if audio.is_silent or not chunks:
        raise UserFacingError("no_speech")

    log.info("Recognition started")
    size = options.batch_size or backend.preferred_batch_size()
    languages: list[str | None] = []
    probs: list[float] = []
    done: dict[int, Segment] = {}
    verdict_seconds = 0.0
    total_s = sum(c.duration_s for c in chunks)
    done_s = 0.0
    for number, batch in enumerate(batches(chunks, size)):
        pcm = [load_pcm(audio.wav_path, c.start_s, c.end_s) for c in batch]
        probe: LanguageProbe | None = None
        if number == 0 and options.language is None and options.accepted is not None:
            probe = backend.probe_language(pcm[0], context=options.context)
            verdict_seconds = probe.seconds
            if not is_accepted(probe.language, options.accepted):
                log.info("Language refused after %.2f s", verdict_seconds)
                raise refusal_error(options.accepted)
        budget = token_budget(batch, options.tokens_per_second)
        outputs = backend.transcribe(
            pcm, language=options.language, context=options.context, max_new_tokens=budget, resume=probe
        )
        added = tuple(_segment(c, o, budget) for c, o in zip(batch, outputs, strict=True))
        for chunk, output, segment in zip(batch, outputs, added, strict=True):
            done[chunk.index] = segment
            languages.append(output.language)
            probs.append(output.language_prob or 0.0)
        done_s += sum(c.duration_s for c in batch)
        segments = tuple(done[index] for index in sorted(done))
        verdict = _verdict(options, languages, probs, segments, verdict_seconds)
        log.info("Chunks done: %d of %d", len(done), len(chunks))
        elapsed = time.perf_counter() - started
        yield Progress(len(done), len(chunks), elapsed, verdict, segments, added, done_s, total_s)


def _verdict(
    options: TranscribeOptions,
    languages: list[str | None],
    probs: list[float],
    segments: Sequence[Segment],
    seconds: float,
) -> Verdict:
    if options.language:
        return decide_verdict([options.language] * len(languages), [1.0] * len(languages), "", seconds)
    return decide_verdict(languages, probs, join_texts(s.text for s in segments), seconds)


def transcribe(
    backend: Backend,
    audio: DecodedAudio,
    options: TranscribeOptions,
    chunks: Sequence[Chunk],
    on_progress: Callable[[Progress], None] | None = None,
) -> Transcript:
    """The whole recording as a `Transcript`, reporting each step of `stream_transcription` on the way."""
    last: Progress | None = None
    for step in stream_transcription(backend, audio, options, chunks):
        if on_progress is not None:
            on_progress(step)
        last = step
    assert last is not None  # stream_transcription yields at least once or raises
    return Transcript(
        segments=last.segments,
        verdict=last.verdict,
        duration_s=audio.duration_s,
        timings=Timings(transcribe_s=last.elapsed_s, verdict_s=last.verdict.seconds),
        language_check=options.language_check,
        forced_language=options.language,
    )
