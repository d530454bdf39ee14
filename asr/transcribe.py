"""Chunks of speech in -> language verdict -> new segments out, batch by batch.

`stream_transcription` is a generator (like faster-whisper's `transcribe`): it takes its audio from an
`asr.speech.sources.ChunkSource` (a decoded file now, a microphone later) and yields a `Progress` after every
batch with the segments that batch finished, so the UI can show partial text and an ETA and stop between
batches (closing the generator is the cancel). It talks to the model through `asr.engines.protocol.Backend`
only. The language check is the first chunk's own first tokens: an engine with an early probe generates that
chunk alone until its `language <Name>` tag is certain and, when accepted, goes on from that very decoder
state inside the first batch; an engine without one decodes the first chunk up to its tag. Either way a
refused recording costs one chunk's encoder pass and a few tokens. Batching is the source's: a file batches
chunks of similar length (`asr.speech.sources.batches`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np

from asr.engines.protocol import Backend, ChunkOutput, LanguageProbe, LanguageProber
from asr.engines.qwen3_output import MAX_TAG_TOKENS, parse_language_prefix
from asr.errors import UserFacingError
from asr.langid import DEFAULT_ACCEPTED, Verdict, decide_verdict, is_accepted, refusal_error
from asr.outputs.confidence import fit_pieces
from asr.outputs.transcript import LanguageCheck, Segment, join_texts
from asr.repetition import trim_repeats
from asr.speech.chunking import LONG_PAUSE_S, Chunk
from asr.speech.sources import ChunkSource

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
    """Where a transcription stands, and `added`: the segments this step finished (never the earlier ones,
    so an hour's progress events do not copy its whole transcript again at every step)."""

    done_chunks: int
    total_chunks: int | None  # None while the source is still giving audio
    elapsed_s: float
    verdict: Verdict
    added: tuple[Segment, ...] = field(default_factory=tuple)
    done_s: float = 0.0  # seconds of audio transcribed so far, of `total_s`
    total_s: float | None = None

    @property
    def eta_s(self) -> float | None:
        total, total_s = self.total_chunks, self.total_s
        if total is None or total_s is None or not self.done_chunks or self.done_chunks >= total:
            return None
        if self.done_s <= 0:
            return None
        return self.elapsed_s / self.done_s * (total_s - self.done_s)


@dataclass(frozen=True)
class Recognition:
    """What the speech model gave for a whole recording: its segments in time order and the verdict."""

    segments: tuple[Segment, ...]
    verdict: Verdict
    seconds: float


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


def probe_language(backend: Backend, audio: np.ndarray, context: str | None) -> LanguageProbe:
    """The first chunk's language: from the engine's own probe where it has one, else by decoding that chunk
    up to its tag (a few tokens, which the first batch then decodes again: nothing to resume from)."""
    if backend.capabilities.language_probe:
        return cast(LanguageProber, backend).probe_language(audio, context=context)
    started = time.perf_counter()
    [output] = backend.transcribe([audio], context=context, max_new_tokens=MAX_TAG_TOKENS)
    tag = parse_language_prefix(output.raw)
    return LanguageProbe(tag.language, output.language_prob, time.perf_counter() - started)


def stream_transcription(
    backend: Backend, source: ChunkSource, options: TranscribeOptions
) -> Iterator[Progress]:
    """Yield progress after each batch, with the segments that batch finished (each segment once).

    Raises `UserFacingError("no_speech")` when the source gives no chunk, and the language refusal for a
    rejected language (read from the first chunk before anything else is transcribed).
    """
    started = time.perf_counter()
    log.info("Recognition started")
    size = options.batch_size or backend.preferred_batch_size()
    languages: list[str | None] = []
    probs: list[float] = []
    texts: dict[int, str] = {}  # each finished chunk's text, for the verdict's script mix
    verdict_seconds = 0.0
    done_s = 0.0
    for number, batch in enumerate(source.batches(size)):
        chunks = [item.chunk for item in batch]
        pcm = [item.pcm for item in batch]
        probe: LanguageProbe | None = None
        if number == 0 and options.language is None and options.accepted is not None:
            probe = probe_language(backend, pcm[0], options.context)
            verdict_seconds = probe.seconds
            if not is_accepted(probe.language, options.accepted):
                log.info("Language refused after %.2f s", verdict_seconds)
                raise refusal_error(options.accepted)
        budget = token_budget(chunks, options.tokens_per_second)
        resume = probe if backend.capabilities.language_probe else None
        outputs = backend.transcribe(
            pcm, language=options.language, context=options.context, max_new_tokens=budget, resume=resume
        )
        added = tuple(_segment(c, o, budget) for c, o in zip(chunks, outputs, strict=True))
        for chunk, output, segment in zip(chunks, outputs, added, strict=True):
            texts[chunk.index] = segment.text
            languages.append(output.language)
            probs.append(output.language_prob or 0.0)
        done_s += sum(c.duration_s for c in chunks)
        in_order = [texts[index] for index in sorted(texts)]
        verdict = _verdict(options, languages, probs, in_order, verdict_seconds)
        log.info("Chunks done: %d", len(texts))
        elapsed = time.perf_counter() - started
        total = source.total_chunks
        yield Progress(len(texts), total, elapsed, verdict, added, done_s, source.total_s)
    if not texts:
        raise UserFacingError("no_speech")


def _verdict(
    options: TranscribeOptions,
    languages: list[str | None],
    probs: list[float],
    texts: Sequence[str],
    seconds: float,
) -> Verdict:
    if options.language:
        return decide_verdict([options.language] * len(languages), [1.0] * len(languages), "", seconds)
    return decide_verdict(languages, probs, join_texts(texts), seconds)


def transcribe(
    backend: Backend,
    source: ChunkSource,
    options: TranscribeOptions,
    on_progress: Callable[[Progress], None] | None = None,
) -> Recognition:
    """Every chunk of `source` transcribed, reporting each step of `stream_transcription` on the way."""
    segments: list[Segment] = []
    last: Progress | None = None
    for step in stream_transcription(backend, source, options):
        if on_progress is not None:
            on_progress(step)
        segments.extend(step.added)
        last = step
    assert last is not None  # stream_transcription yields at least once or raises
    segments.sort(key=lambda segment: segment.start)
    return Recognition(tuple(segments), last.verdict, last.elapsed_s)
