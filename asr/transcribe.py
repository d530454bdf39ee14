"""Decoded WAV -> language verdict -> transcript, chunk batch by chunk batch.

`stream_transcription` is a generator (like faster-whisper's `transcribe`): it yields a `Progress` after
every batch, so the UI can show partial text and an ETA and stop between batches (closing the generator is
the cancel). The language check is the first chunk's own first tokens: the engine generates that chunk
alone until its `language <Name>` tag is certain, so a refused recording costs one chunk's encoder pass and
prefill plus two tokens; an accepted one goes on from that very decoder state inside the first batch, so
nothing is computed twice and the rest of the batch still shares every decoder step with it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asr.audio import DecodedAudio, load_pcm
from asr.chunking import Chunk, plan_chunks
from asr.errors import UserFacingError
from asr.langid import DEFAULT_ACCEPTED, Verdict, decide_verdict, is_accepted, refusal_error
from asr.repetition import trim_repeats
from asr.transcript import Segment, Transcript, join_texts

if TYPE_CHECKING:  # the engine brings torch; the page imports this module before torch has loaded
    from asr.engine import AsrEngine, ChunkOutput

log = logging.getLogger(__name__)

# Fast Mandarin runs ~5-6 characters (≈ tokens) a second and English ~4 tokens a second; 10 a second plus the
# tag leaves room for both and still ends a runaway loop within one chunk.
TOKENS_PER_SECOND = 10.0
TAG_TOKENS = 16


@dataclass(frozen=True)
class TranscribeOptions:
    """What the user chose; defaults are the app's."""

    language: str | None = None  # force this language (the model's name), None = detect
    context: str | None = None  # hotwords / context prompt
    accepted: frozenset[str] = DEFAULT_ACCEPTED
    check_language: bool = True  # False: "transcribe anyway" with automatic language, nothing refused
    batch_size: int | None = None  # None: by device and memory
    chunk_target_s: float = 20.0
    chunk_max_s: float = 28.0
    tokens_per_second: float = TOKENS_PER_SECOND
    word_timestamps: bool = False  # time each word with the forced aligner (the caller loads it)


@dataclass
class Progress:
    """Where a transcription stands; `segments` holds everything finished so far."""

    done_chunks: int
    total_chunks: int
    elapsed_s: float
    verdict: Verdict | None
    segments: list[Segment] = field(default_factory=list)

    @property
    def eta_s(self) -> float | None:
        if not self.done_chunks or self.done_chunks >= self.total_chunks:
            return None
        return self.elapsed_s / self.done_chunks * (self.total_chunks - self.done_chunks)


# Memory one more ~20 s chunk in a batch needs: its KV cache (28 layers x 2 x 8 heads x 128 x ~600 tokens,
# ~130 MB in fp32, half in fp16), encoder activations and logits, with headroom.
BYTES_PER_SEQUENCE = 512 * 1024 * 1024
CPU_MAX_BATCH = 8  # past this a CPU decode step grows ~linearly with the batch: nothing left to share
GPU_MAX_BATCH = 32


def choose_batch_size(device: str, free_bytes: int | None, configured: str = "") -> int:
    """`ASR_BATCH_SIZE` when set; else as many chunks as free memory holds, capped per device.

    On a CPU a batch shares each decoder weight read across chunks (decode is memory-bound); on a GPU it
    fills the device.
    """
    if configured.strip().isdigit() and int(configured) > 0:
        return int(configured)
    cap = GPU_MAX_BATCH if device == "cuda" else CPU_MAX_BATCH
    if free_bytes is None:
        return cap
    return max(1, min(cap, free_bytes // BYTES_PER_SEQUENCE))


def _free_memory(device: str) -> int | None:
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on Windows / macOS: fall back to the cap
        return None


def default_batch_size(engine: AsrEngine) -> int:
    device = engine.plan.device
    return choose_batch_size(device, _free_memory(device), os.environ.get("ASR_BATCH_SIZE", ""))


def _segment(chunk: Chunk, output: ChunkOutput, max_new_tokens: int) -> Segment:
    text, trimmed = trim_repeats(output.text)
    if trimmed:
        log.warning("Repetition trimmed in one chunk")
    return Segment(
        start=chunk.start_s,
        end=chunk.end_s,
        text=text,
        language=output.language,
        repetition_trimmed=trimmed,
        hit_token_limit=output.tokens >= max_new_tokens,
    )


def stream_transcription(
    engine: AsrEngine, audio: DecodedAudio, options: TranscribeOptions
) -> Iterator[Progress]:
    """Yield progress after the language check and each batch; the last one holds every segment.

    Raises `UserFacingError("no_speech")` for silence and the language refusal for a rejected language.
    """
    started = time.perf_counter()
    chunks = plan_chunks(audio.wav_path, audio.duration_s, options.chunk_target_s, options.chunk_max_s)
    speech = [c for c in chunks if not c.silent]
    if audio.is_silent or not speech:
        raise UserFacingError("no_speech")

    def budget(batch: list[Chunk]) -> int:
        return TAG_TOKENS + int(max(c.duration_s for c in batch) * options.tokens_per_second)

    log.info("Recognition started")
    size = options.batch_size or default_batch_size(engine)
    languages: list[str | None] = []
    probs: list[float] = []
    segments: list[Segment] = []
    verdict_seconds = 0.0
    verdict = None
    for at in range(0, len(speech), size):
        batch = speech[at : at + size]
        pcm = [load_pcm(audio.wav_path, c.start_s, c.end_s) for c in batch]
        probe = None
        if at == 0 and options.check_language and not options.language:
            probe = engine.probe_language(pcm[0], context=options.context)
            verdict_seconds = probe.seconds
            if not is_accepted(probe.language, options.accepted):
                log.info("Language refused after %.2f s", verdict_seconds)
                raise refusal_error(options.accepted)
        outputs = engine.transcribe(
            pcm,
            language=options.language,
            context=options.context,
            max_new_tokens=budget(batch),
            resume=probe,
        )
        languages += [o.language for o in outputs]
        probs += [o.language_prob or 0.0 for o in outputs]
        segments += [_segment(c, o, budget(batch)) for c, o in zip(batch, outputs, strict=True)]
        verdict = _verdict(options, languages, probs, segments, verdict_seconds)
        done = at + len(batch)
        log.info("Chunks done: %d of %d", done, len(speech))
        yield Progress(done, len(speech), time.perf_counter() - started, verdict, list(segments))


def _verdict(
    options: TranscribeOptions, languages: list, probs: list[float], segments: list[Segment], seconds: float
) -> Verdict:
    if options.language:
        return decide_verdict(
            [options.language] * len(languages),
            [1.0] * len(languages),
            "",
            frozenset({options.language}),
            seconds,
        )
    return decide_verdict(languages, probs, join_texts(s.text for s in segments), options.accepted, seconds)


def transcribe(
    engine: AsrEngine,
    audio: DecodedAudio,
    options: TranscribeOptions,
    on_progress: Callable[[Progress], None] | None = None,
) -> Transcript:
    """The whole recording as a `Transcript`, reporting each step of `stream_transcription` on the way."""
    last = None
    for step in stream_transcription(engine, audio, options):
        if on_progress is not None:
            on_progress(step)
        last = step
    return Transcript(
        segments=last.segments,
        verdict=last.verdict,
        duration_s=audio.duration_s,
        forced_language=options.language,
        timings={"verdict_s": last.verdict.seconds, "transcribe_s": last.elapsed_s},
    )
