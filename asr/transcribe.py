"""Chunks of speech in -> language verdict -> new segments out, call by call.

`stream_transcription` is a generator (like faster-whisper's `transcribe`): it takes its audio from an
`asr.speech.sources.ChunkSource` (a decoded file now, a microphone later) and yields a `Progress` after every
engine call with the segments that call finished, so the UI can show partial text and an ETA and stop between
calls (closing the generator is the cancel; calls still running on a server are ended with it). An in-process
engine gets one batch at a time; a server engine one chunk per call, many calls at once. It talks to the model
through `asr.engines.protocol.Backend` only. The language check is the first chunk's own first tokens: an
engine with an early probe generates that chunk alone until its `language <Name>` tag is certain and, when
accepted, goes on from that very decoder state inside the first batch; an engine without one decodes the
first chunk up to its tag. Either way a refused recording costs one chunk's encoder pass and a few tokens.
Batching is the source's: a file batches chunks of similar length (`asr.speech.sources.batches`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

import numpy as np

from asr.engines.protocol import Backend, Cancel, ChunkOutput, LanguageProbe, LanguageProber
from asr.engines.qwen3_output import MAX_TAG_TOKENS, parse_language_prefix
from asr.errors import UserFacingError
from asr.langid import DEFAULT_ACCEPTED, Verdict, decide_verdict, is_accepted, refusal_error
from asr.outputs.confidence import fit_pieces
from asr.outputs.transcript import LanguageCheck, Segment, join_texts
from asr.repetition import trim_repeats
from asr.speech.chunking import LONG_PAUSE_S, Chunk
from asr.speech.sources import AudioChunk, ChunkSource

if TYPE_CHECKING:
    from asr.speakers.known import KnownVoice

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
    known_voices: tuple[KnownVoice, ...] = ()  # with identify_speakers: found speakers that match are named

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
    # the segments that, with this step, join the unbroken run of finished chunks from the recording's
    # start, in time order (each once): text that can be shown as final, for a stream that only appends
    settled: tuple[Segment, ...] = field(default_factory=tuple)

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


def segment_of(chunk: Chunk, output: ChunkOutput, max_new_tokens: int) -> Segment:
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


@dataclass(frozen=True)
class _Finished:
    """One engine call's chunks and what the engine said for them."""

    chunks: list[Chunk]
    outputs: list[ChunkOutput]
    budget: int


def _recognized(
    backend: Backend, source: ChunkSource, options: TranscribeOptions, cancel: Cancel
) -> Iterator[_Finished | LanguageProbe]:
    """Every call's result as it finishes, after the language probe (yielded first, when there is one).

    An engine with `calls_in_flight` > 1 (a server, which batches across requests itself) gets one chunk
    per call and that many calls at once, or `options.batch_size`: each result is yielded as soon as it
    is back, so the server is never left idle waiting for the slowest chunk of a batch of ours. Leaving
    early (an error, a refusal, a closed generator) sets `cancel` for the calls still running.
    """
    in_flight = backend.capabilities.calls_in_flight
    window = (options.batch_size or in_flight) if in_flight > 1 else 1
    size = 1 if in_flight > 1 else options.batch_size or backend.preferred_batch_size()

    def call(batch: list[AudioChunk], resume: LanguageProbe | None) -> _Finished:
        chunks = [item.chunk for item in batch]
        budget = token_budget(chunks, options.tokens_per_second)
        outputs = backend.transcribe(
            [item.pcm for item in batch],
            language=options.language,
            context=options.context,
            max_new_tokens=budget,
            resume=resume,
            cancel=cancel,
        )
        return _Finished(chunks, outputs, budget)

    running: set[Future[_Finished]] = set()
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="engine-call") as pool:
        try:
            for number, batch in enumerate(source.batches(size)):
                resume: LanguageProbe | None = None
                if number == 0 and options.language is None and options.accepted is not None:
                    probe = probe_language(backend, batch[0].pcm, options.context)
                    yield probe
                    resume = probe if backend.capabilities.language_probe else None
                if window == 1:
                    yield call(batch, resume)
                    continue
                running.add(pool.submit(call, batch, resume))
                while len(running) >= window:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        finally:
            cancel.set()
            for future in running:
                future.cancel()


def stream_transcription(
    backend: Backend, source: ChunkSource, options: TranscribeOptions, cancel: Cancel | None = None
) -> Generator[Progress, None, None]:
    """Yield progress after each engine call, with the segments that call finished (each segment once).

    Raises `UserFacingError("no_speech")` when the source gives no chunk, and the language refusal for a
    rejected language (read from the first chunk before anything else is transcribed). Once `cancel` (the
    job's) is set, the engine calls in flight end early and raise `Aborted`.
    """
    started = time.perf_counter()
    log.info("Recognition started")
    languages: list[str | None] = []
    probs: list[float] = []
    texts: dict[int, str] = {}  # each finished chunk's text, for the verdict's script mix
    unsettled: dict[int, Segment] = {}  # finished chunks after the first one still missing
    settled_up_to = 0  # chunks 0 .. this - 1 are all finished
    verdict_seconds = 0.0
    done_s = 0.0
    calls = Cancel()  # set when this generator ends, whoever ends it, and by the job's cancel
    with Cancel.hook(cancel, calls.set):
        for result in _recognized(backend, source, options, calls):
            if isinstance(result, LanguageProbe):  # only made when a policy is to be checked
                verdict_seconds = result.seconds
                accepted = options.accepted or frozenset()
                if not is_accepted(result.language, accepted):
                    log.info("Language refused after %.2f s", verdict_seconds)
                    raise refusal_error(accepted, result.language)
                continue
            said = list(zip(result.chunks, result.outputs, strict=True))
            added = tuple(segment_of(chunk, output, result.budget) for chunk, output in said)
            for (chunk, output), segment in zip(said, added, strict=True):
                texts[chunk.index] = segment.text
                unsettled[chunk.index] = segment
                languages.append(output.language)
                probs.append(output.language_prob or 0.0)
            settled = []
            while settled_up_to in unsettled:
                settled.append(unsettled.pop(settled_up_to))
                settled_up_to += 1
            done_s += sum(c.duration_s for c in result.chunks)
            in_order = [texts[index] for index in sorted(texts)]
            verdict = verdict_of(options, languages, probs, in_order, verdict_seconds)
            log.info("Chunks done: %d", len(texts))
            elapsed = time.perf_counter() - started
            total = source.total_chunks
            yield Progress(len(texts), total, elapsed, verdict, added, done_s, source.total_s, tuple(settled))
    if not texts:
        raise UserFacingError("no_speech")


def verdict_of(
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
    cancel: Cancel | None = None,
) -> Recognition:
    """Every chunk of `source` transcribed, reporting each step of `stream_transcription` on the way."""
    segments: list[Segment] = []
    last: Progress | None = None
    # closed as soon as a callback raises (a cancel), not when the traceback is freed: a server's requests
    # in flight end then
    with closing(stream_transcription(backend, source, options, cancel)) as steps:
        for step in steps:
            if on_progress is not None:
                on_progress(step)
            segments.extend(step.added)
            last = step
    assert last is not None  # stream_transcription yields at least once or raises
    segments.sort(key=lambda segment: segment.start)
    return Recognition(tuple(segments), last.verdict, last.elapsed_s)
