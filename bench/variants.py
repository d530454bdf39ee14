"""The three things compared, each run in a fresh child process so load time and peak RSS are its own.

(a) the seed article's recipe: FP16 weights, `device_map="auto"`, one `generate` over the whole recording;
(b) the bare model in fp32: `apply_transcription_request` + one `generate` over the whole recording;
(c) our pipeline: `run_job` end to end (decode, speech detection, chunking, language ID, batches, cleanup).

(a) and (b) start from already-decoded samples, so everything (c) does besides the model is its overhead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from transformers import AutoProcessor, LogitsProcessor, LogitsProcessorList, Qwen3ASRForConditionalGeneration

import asr.job as job_stage
from asr.engines.loading import plan_device
from asr.engines.transformers_engine import SAMPLE_RATE, AsrEngine
from asr.job import JobEvent, Transcribed, run_job
from asr.settings import load_settings
from asr.transcribe import TranscribeOptions
from bench.probe import Probe, decoded_tokens, peak_rss_mb

# Random weights never name a language, and the pipeline refuses a recording whose language it cannot tell;
# the bench makes the first tokens of every chunk spell this tag, as a real model's would, so the language
# check runs for real and the whole recording is transcribed.
SPOKEN_TAG = "language English<asr_text>"
VARIANTS = {"a": "seed fp16 auto", "b": "bare fp32", "c": "pipeline (app dtype)"}


@dataclass(frozen=True)
class RunSpec:
    """One measurement, as passed to the child process (JSON round trip)."""

    variant: str
    input_name: str
    mp3: str
    pcm: str  # .npy of decoded samples, for (a) and (b)
    checkpoint: str
    tokens_per_second: float
    tag_tokens: int
    batch_size: int | None
    threads: int | None
    repeat: int


def run(spec: RunSpec) -> dict[str, Any]:
    """Measure `spec` in this process and return its numbers."""
    if spec.threads:
        torch.set_num_threads(spec.threads)
    runner = {"a": _seed, "b": _bare, "c": _pipeline}[spec.variant]
    result = runner(spec)
    result.update(
        variant=spec.variant,
        input=spec.input_name,
        repeat=spec.repeat,
        threads=torch.get_num_threads(),
        peak_rss_mb=peak_rss_mb(),
        dtype=str(result.pop("dtype")).removeprefix("torch."),
    )
    result["rtf"] = result["total_s"] / result["audio_s"]
    return result


def _warm_up(model: torch.nn.Module, processor: Any) -> float:
    """One tiny generate first: oneDNN primitive creation and allocator growth belong to no recording."""
    started = time.perf_counter()
    noise = np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE).astype(np.float32)
    inputs = processor.apply_transcription_request(audio=[noise]).to(model.device, dtype=model.dtype)
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=2, do_sample=False)
    return time.perf_counter() - started


def _whole_file(spec: RunSpec, dtype: torch.dtype, device_map: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    processor = AutoProcessor.from_pretrained(spec.checkpoint, local_files_only=True)
    model = Qwen3ASRForConditionalGeneration.from_pretrained(
        spec.checkpoint, dtype=dtype, device_map=device_map, local_files_only=True
    ).eval()
    load_s = time.perf_counter() - started
    load_peak = peak_rss_mb()
    warmup_s = _warm_up(model, processor)
    probe = Probe(model, processor)
    pcm = np.load(spec.pcm)
    audio_s = len(pcm) / SAMPLE_RATE
    budget = decoded_tokens(audio_s, spec.tokens_per_second, spec.tag_tokens)
    started = time.perf_counter()
    inputs = processor.apply_transcription_request(audio=[pcm]).to(model.device, dtype=model.dtype)
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=budget, do_sample=False)
    total_s = time.perf_counter() - started
    return {
        "dtype": model.dtype,
        "audio_s": audio_s,
        "load_s": load_s,
        "load_peak_rss_mb": load_peak,
        "warmup_s": warmup_s,
        "total_s": total_s,
        **probe.times.summary(),
    }


def _seed(spec: RunSpec) -> dict[str, Any]:
    return _whole_file(spec, torch.float16, "auto")


def _bare(spec: RunSpec) -> dict[str, Any]:
    return _whole_file(spec, torch.float32, None)


class _Timed:
    """Wraps a module-level function of the pipeline (as `module` calls it) to add up the time spent in it."""

    def __init__(self, module: ModuleType, name: str):
        self.seconds = 0.0
        self._original = getattr(module, name)
        setattr(module, name, self)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


class ForceTag(LogitsProcessor):
    """Make every sequence's first generated tokens spell `ids` (a language tag), each from `done[row]` on:
    the number of tag tokens that row already has."""

    def __init__(self, ids: list[int], prompt_len: int, done: list[int]):
        self.ids = ids
        self.prompt_len = prompt_len
        self.done = done

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len
        forced = scores
        for row, done in enumerate(self.done):
            if done + step < len(self.ids):
                forced = forced.clone() if forced is scores else forced
                forced[row] = float("-inf")
                forced[row, self.ids[done + step]] = 0.0
        return forced


def _tag_tokens_present(row: torch.Tensor, ids: list[int]) -> int:
    """How many of the tag's first tokens `row` already ends with (a resumed probe stopped inside its tag)."""
    tail = row.tolist()
    return max((k for k in range(len(ids) + 1) if k == 0 or tail[-k:] == ids[:k]), default=0)


def speak_tag(engine: AsrEngine, tag: str) -> None:
    """Every `generate` of this engine instance starts its answer with `tag` (bench-only, never `asr/`).

    A call that resumes from the language probe (it passes a cache) goes on with row 0's tag where the probe
    left it."""
    ids = engine.processor.tokenizer.encode(tag, add_special_tokens=False)
    original = engine.model.generate

    def generate(*args, **kwargs):
        processors = LogitsProcessorList(kwargs.get("logits_processor") or [])
        input_ids = kwargs["input_ids"]
        done = [0] * input_ids.shape[0]
        if kwargs.get("past_key_values") is not None:
            done[0] = _tag_tokens_present(input_ids[0], ids)
        processors.insert(0, ForceTag(ids, input_ids.shape[1], done))
        kwargs["logits_processor"] = processors
        return original(*args, **kwargs)

    engine.model.generate = generate


def fix_pipeline_length(
    engine: AsrEngine, tokens_per_second: float, tag_tokens: int, tag: str = SPOKEN_TAG
) -> None:
    """Make every engine call decode the bench's token budget for its longest chunk, its first tokens a real
    language tag. Bench-only: patches this engine instance, never `asr/`."""
    original = engine.transcribe
    speak_tag(engine, tag)

    def transcribe(audios, **kwargs):
        seconds = max(len(a) for a in audios) / SAMPLE_RATE
        kwargs["max_new_tokens"] = decoded_tokens(seconds, tokens_per_second, tag_tokens)
        return original(audios, **kwargs)

    engine.transcribe = transcribe


def _pipeline(spec: RunSpec) -> dict[str, Any]:
    settings = load_settings()
    engine = AsrEngine.load(spec.checkpoint, plan_device(settings.dtype, settings.cpu_int8))
    load_peak = peak_rss_mb()
    warmup_s = _warm_up(engine.model, engine.processor)
    probe = Probe(engine.model, engine.processor)
    fix_pipeline_length(engine, spec.tokens_per_second, spec.tag_tokens)
    plan = _Timed(job_stage, "plan_chunks")
    speech = _Timed(job_stage, "detect_speech")
    events: dict[str, float] = {}

    def on_event(event: JobEvent) -> None:
        events.setdefault(event.stage, time.perf_counter())

    started = time.perf_counter()
    options = TranscribeOptions(batch_size=spec.batch_size)
    outcome = run_job(Path(spec.mp3), engine, settings, options, on_event=on_event)
    ended = time.perf_counter()
    if not isinstance(outcome, Transcribed):
        raise RuntimeError(f"pipeline job did not transcribe: {outcome.kind}")
    transcript = outcome.transcript
    return {
        "dtype": engine.plan.dtype,
        "audio_s": transcript.duration_s,
        "load_s": engine.load_seconds,
        "load_peak_rss_mb": load_peak,
        "warmup_s": warmup_s,
        "total_s": ended - started,
        "audio_decode_s": transcript.timings.decode_s,
        "verdict_s": transcript.verdict.seconds,
        "speech_s": speech.seconds,
        "chunk_plan_s": plan.seconds,
        "chunks": len(transcript.segments),
        "cleanup_s": ended - events["cleaning"],
        "removal_s": outcome.cleanup.removal_seconds,
        **probe.times.summary(),
    }
