"""Decoded WAV -> language verdict -> transcript, chunk batch by chunk batch.

`stream_transcription` is a generator (like faster-whisper's `transcribe`): it yields a `Progress` after
every batch, so the UI can show partial text and an ETA and stop between batches (closing the generator is
the cancel). It talks to the model through `asr.backend.Backend` only. The language check is the first
chunk's own first tokens: the backend generates that chunk alone until its `language <Name>` tag is
certain, so a refused recording costs one chunk's encoder pass and prefill plus two tokens; an accepted one
goes on from that very decoder state inside the first batch, so nothing is computed twice and the rest of
the batch still shares every decoder step with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from asr.audio import DecodedAudio, load_pcm
from asr.backend import Backend, ChunkOutput, LanguageProbe
from asr.chunking import Chunk, plan_chunks
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
    """Where a transcription stands; `segments` holds everything finished so far."""

    done_chunks: int
    total_chunks: int
    elapsed_s: float
    verdict: Verdict
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def eta_s(self) -> float | None:
        if not self.done_chunks or self.done_chunks >= self.total_chunks:
            return None
        return self.elapsed_s / self.done_chunks * (self.total_chunks - self.done_chunks)


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


def stream_transcription(
    backend: Backend, audio: DecodedAudio, options: TranscribeOptions, changes: Sequence[float] = ()
) -> Iterator[Progress]:
    """Yield progress after each batch; the last one holds every segment.

    `changes` are times where the speaker changes: chunks are cut there (`asr.chunking.plan_chunks`).
    Raises `UserFacingError("no_speech")` for silence and the language refusal for a rejected language.
    """
    started = time.perf_counter()
    chunks = plan_chunks(
        audio.wav_path, audio.duration_s, options.chunk_target_s, options.chunk_max_s, changes=changes
    )
    speech = [c for c in chunks if not c.silent]
    if audio.is_silent or not speech:
        raise UserFacingError("no_speech")

    log.info("Recognition started")
    size = options.batch_size or backend.preferred_batch_size()
    languages: list[str | None] = []
    probs: list[float] = []
    segments: list[Segment] = []
    verdict_seconds = 0.0
    for at in range(0, len(speech), size):
        batch = speech[at : at + size]
        pcm = [load_pcm(audio.wav_path, c.start_s, c.end_s) for c in batch]
        probe: LanguageProbe | None = None
        if at == 0 and options.language is None and options.accepted is not None:
            probe = backend.probe_language(pcm[0], context=options.context)
            verdict_seconds = probe.seconds
            if not is_accepted(probe.language, options.accepted):
                log.info("Language refused after %.2f s", verdict_seconds)
                raise refusal_error(options.accepted)
        budget = token_budget(batch, options.tokens_per_second)
        outputs = backend.transcribe(
            pcm, language=options.language, context=options.context, max_new_tokens=budget, resume=probe
        )
        languages += [o.language for o in outputs]
        probs += [o.language_prob or 0.0 for o in outputs]
        segments += [_segment(c, o, budget) for c, o in zip(batch, outputs, strict=True)]
        verdict = _verdict(options, languages, probs, segments, verdict_seconds)
        done = at + len(batch)
        log.info("Chunks done: %d of %d", done, len(speech))
        yield Progress(done, len(speech), time.perf_counter() - started, verdict, tuple(segments))


def _verdict(
    options: TranscribeOptions,
    languages: list[str | None],
    probs: list[float],
    segments: list[Segment],
    seconds: float,
) -> Verdict:
    if options.language:
        return decide_verdict([options.language] * len(languages), [1.0] * len(languages), "", seconds)
    return decide_verdict(languages, probs, join_texts(s.text for s in segments), seconds)


def transcribe(
    backend: Backend,
    audio: DecodedAudio,
    options: TranscribeOptions,
    on_progress: Callable[[Progress], None] | None = None,
    changes: Sequence[float] = (),
) -> Transcript:
    """The whole recording as a `Transcript`, reporting each step of `stream_transcription` on the way."""
    last: Progress | None = None
    for step in stream_transcription(backend, audio, options, changes):
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
