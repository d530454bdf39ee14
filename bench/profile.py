"""`python -m bench profile`: where one decode step's time goes at batch 1 vs batch 8, and what changes it.

The team measured 295 ms/step at batch 1 and 952 ms/step at batch 8: if a step were only weight reads, eight
rows would cost barely more than one. Module hooks split a step into lm_head, attention (projections, KV-cache
update, the rest), MLP, norms, the rest of the forward, and generate()'s own per-step work; torch.profiler
lists the top ops. Then each alternative (threads, eager attention, static cache, torch's default float32 GEMM
instead of oneDNN's, bf16/fp16, int8) is timed on the same inputs. Everything runs in this one process on the
engine's own fp32 load.
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from transformers import Qwen3ASRForConditionalGeneration
from transformers.cache_utils import DynamicLayer

from asr.engines.cpu_tuning import OneDnnLinear
from asr.engines.loading import plan_device
from asr.engines.transformers_engine import SAMPLE_RATE, AsrEngine
from asr.settings import load_settings
from bench import assets

Inputs = Any  # the processor's BatchFeature
_SPLIT_BY_SHAPE = {"aten::mm", "aten::addmm", "aten::bmm", "quantized::linear_dynamic"}


class StepTimers:
    """Wall time per module category, counted only during decode steps (after the prefill forward)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.seconds: dict[str, float] = defaultdict(float)
        self.decoding = False
        self.prefill_done = 0.0
        self._handles: list = []
        self._starts: dict[int, float] = {}
        lm = model.model.language_model
        self._time(model, "model forward", on_post=self._after_forward)
        self._time(model.lm_head, "lm_head")
        self._time(lm.norm, "RMSNorm")
        for layer in lm.layers:
            self._time(layer.self_attn, "attention block")
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                self._time(getattr(layer.self_attn, proj), "attention: q/k/v/o projections")
            self._time(layer.mlp, "MLP")
            self._time(layer.input_layernorm, "RMSNorm")
            self._time(layer.post_attention_layernorm, "RMSNorm")

    def _time(self, module: torch.nn.Module, name: str, on_post: Callable[[], None] | None = None) -> None:
        key = id(module)

        def pre(mod, args):
            self._starts[key] = time.perf_counter()

        def post(mod, args, out):
            if self.decoding:
                self.seconds[name] += time.perf_counter() - self._starts[key]
            if on_post:
                on_post()

        self._handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def _after_forward(self) -> None:
        if not self.decoding:
            self.decoding = True
            self.prefill_done = time.perf_counter()

    @contextmanager
    def cache_update_timer(self) -> Iterator[None]:
        """Time DynamicCache's per-layer `update` (a torch.cat of the whole cache every step)."""
        original = DynamicLayer.update

        def update(layer, *args, **kwargs):
            started = time.perf_counter()
            out = original(layer, *args, **kwargs)
            if self.decoding:
                self.seconds["attention: KV-cache update"] += time.perf_counter() - started
            return out

        DynamicLayer.update = update
        try:
            yield
        finally:
            DynamicLayer.update = original

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _inputs(processor: Any, pcm: np.ndarray, batch: int, seconds: float, dtype: torch.dtype) -> Inputs:
    """`batch` different slices of the recording, `seconds` each: like one pipeline batch of chunks."""
    size = int(seconds * SAMPLE_RATE)
    audios = [pcm[i * size : (i + 1) * size] for i in range(batch)]
    return processor.apply_transcription_request(audio=audios).to("cpu", dtype=dtype)


def decode_step(
    model: torch.nn.Module, inputs: Inputs, steps: int, breakdown: bool = False, **generate_kwargs
) -> dict[str, Any]:
    """ms per decode step of one `generate` forced to `steps` + 1 tokens (the prefill makes the first)."""
    timers = StepTimers(model)
    try:
        with timers.cache_update_timer(), torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=steps + 1,
                min_new_tokens=steps + 1,
                do_sample=False,
                **generate_kwargs,
            )
            ended = time.perf_counter()
    finally:
        timers.remove()
    step_s = (ended - timers.prefill_done) / steps
    result = {"step_ms": 1000 * step_s, "sequences": out}
    if breakdown:
        result["parts_ms"] = {name: 1000 * s / steps for name, s in timers.seconds.items()}
    return result


def _breakdown_rows(parts: dict[str, float], step_ms: float) -> dict[str, float]:
    """Exclusive categories that add up to the step: nested timers are subtracted from their parents."""
    attention = parts.get("attention block", 0.0)
    projections = parts.get("attention: q/k/v/o projections", 0.0)
    cache = parts.get("attention: KV-cache update", 0.0)
    forward = parts.get("model forward", 0.0)
    named = attention + parts.get("MLP", 0.0) + parts.get("RMSNorm", 0.0) + parts.get("lm_head", 0.0)
    return {
        "lm_head (1024 -> 151936)": parts.get("lm_head", 0.0),
        "MLP (gate/up/down)": parts.get("MLP", 0.0),
        "attention: q/k/v/o projections": projections,
        "attention: KV-cache update": cache,
        "attention: sdpa + rope + q/k norm": attention - projections - cache,
        "RMSNorm": parts.get("RMSNorm", 0.0),
        "rest of forward (embed, masks, positions)": forward - named,
        "generate() per-step work (logits procs, stopping, inputs)": step_ms - forward,
        "whole step": step_ms,
    }


def _top_ops(model: torch.nn.Module, inputs: Inputs, steps: int, top: int) -> str:
    """torch.profiler over the decode steps only (started after the prefill forward), grouped by shape."""
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
    state = {"started": False}

    def start(mod, args, out):
        if not state["started"]:
            state["started"] = True
            prof.start()

    handle = model.register_forward_hook(start)
    try:
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=steps + 1, min_new_tokens=steps + 1, do_sample=False)
    finally:
        handle.remove()
        prof.stop()
    # matmuls split by shape (lm_head vs MLP vs projections); everything else by name (sdpa's KV length
    # changes every step and would scatter it over many rows)
    by_shape = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in _SPLIT_BY_SHAPE]
    by_name = [e for e in prof.key_averages() if e.key not in _SPLIT_BY_SHAPE]
    rows = sorted(by_shape + by_name, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    lines = ["| op | input shapes | calls/step | self CPU ms/step |", "|---|---|---|---|"]
    for event in rows:
        shapes = str(event.input_shapes)[:70].replace("|", "/") if event.key in _SPLIT_BY_SHAPE else "(all)"
        per_step_ms = event.self_cpu_time_total / 1000 / steps
        lines.append(f"| {event.key} | {shapes} | {event.count / steps:.0f} | {per_step_ms:.1f} |")
    return "\n".join(lines)


@contextmanager
def _setting(model: torch.nn.Module, name: str) -> Iterator[dict[str, Any]]:
    """Apply one alternative to the fp32 model for the duration of the block; yield generate kwargs."""
    if name == "threads=1":
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield {}
        finally:
            torch.set_num_threads(before)
    elif name == "eager attention":
        model.set_attn_implementation("eager")
        try:
            yield {}
        finally:
            model.set_attn_implementation("sdpa")
    elif name == "static cache":
        yield {"cache_implementation": "static"}
    elif name == "default GEMM (no oneDNN)":
        swapped = [module for module in model.modules() if type(module) is OneDnnLinear]
        for module in swapped:
            module.__class__ = torch.nn.Linear
        try:
            yield {}
        finally:
            for module in swapped:
                module.__class__ = OneDnnLinear
    else:
        raise ValueError(name)


def _agreement(
    reference: torch.Tensor, free_running: torch.Tensor, other_model: torch.nn.Module, inputs: Inputs
) -> str:
    """Teacher-forced top-1 agreement on fp32's own tokens, and how many greedy tokens match fp32's unforced.

    Random weights give nearly flat logits, so these understate what a trained model would keep."""
    prompt_len = inputs["input_ids"].shape[1]
    with torch.inference_mode():
        mask = torch.ones_like(reference)
        mask[:, :prompt_len] = inputs["attention_mask"]
        logits = other_model(
            input_ids=reference,
            attention_mask=mask,
            input_features=inputs["input_features"],
            input_features_mask=inputs["input_features_mask"],
        ).logits
    predicted = logits[:, prompt_len - 1 : -1].argmax(-1)
    forced = (predicted == reference[:, prompt_len:]).float().mean().item()
    same = (free_running[:, prompt_len:] == reference[:, prompt_len:]).float().mean().item()
    return f"vs fp32: teacher-forced top-1 {forced:.1%}, free-running greedy {same:.1%}"


def profile_main(args: argparse.Namespace) -> None:
    steps = 4 if args.quick else args.steps
    seconds = 5.0 if args.quick else args.chunk_seconds
    batches = [int(b) for b in args.batches.split(",")]
    experiments = [e for e in args.experiments.split(",") if e] + (["int8"] if args.int8 else [])
    root = assets.cache_dir(args.cache)
    ckpt = assets.checkpoint(root)
    pcm = np.load(assets.decoded_pcm(assets.speech_mp3(root, 600)))
    settings = load_settings()
    engine = AsrEngine.load(str(ckpt), plan_device(settings.dtype, settings.cpu_int8))
    model, processor = engine.model, engine.processor
    print(
        f"# Decode-step profile: {seconds:g} s chunks, {steps} steps, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}\n"
    )
    inputs = {b: _inputs(processor, pcm, b, seconds, torch.float32) for b in batches}
    decode_step(model, inputs[batches[0]], 1)  # warm-up
    base = {b: decode_step(model, inputs[b], steps, breakdown=True) for b in batches}

    print("## Where a step goes (fp32, sdpa, DynamicCache; ms per step)\n")
    rows = {b: _breakdown_rows(base[b]["parts_ms"], base[b]["step_ms"]) for b in batches}
    header = [f"batch {b}" for b in batches]
    extra = len(batches) > 1 and batches[-1] > batches[0]
    print("| part | " + " | ".join(header) + (" | per extra sequence |" if extra else " |"))
    print("|---|" + "---|" * (len(batches) + extra))
    for part in rows[batches[0]]:
        cells = [f"{rows[b][part]:.1f}" for b in batches]
        if extra:
            first, last = batches[0], batches[-1]
            cells.append(f"{(rows[last][part] - rows[first][part]) / (last - first):.1f}")
        print(f"| {part} | " + " | ".join(cells) + " |")

    for b in (batches[0], batches[-1]):
        print(f"\n## Top ops by self CPU time, batch {b} (torch.profiler, decode steps only)\n")
        print(_top_ops(model, inputs[b], steps, args.top))

    print("\n## Alternatives (ms per step; per sequence in brackets)\n")
    print("| setting | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(batches))

    def line(name: str, results: dict[int, dict[str, Any]], note: str = "") -> None:
        cells = [f"{results[b]['step_ms']:.0f} ({results[b]['step_ms'] / b:.0f})" for b in batches]
        print(f"| {name} | " + " | ".join(cells) + f" |{' ' + note if note else ''}", flush=True)

    line("fp32 sdpa DynamicCache (engine today)", base)
    names = {
        "threads": "threads=1",
        "eager": "eager attention",
        "static": "static cache",
        "plain": "default GEMM (no oneDNN)",
    }
    for key in experiments:
        if key in names:
            with _setting(model, names[key]) as kwargs:
                line(names[key], {b: decode_step(model, inputs[b], steps, **kwargs) for b in batches})
        elif key in ("bf16", "fp16"):
            dtype = torch.bfloat16 if key == "bf16" else torch.float16
            other = Qwen3ASRForConditionalGeneration.from_pretrained(str(ckpt), dtype=dtype).eval()
            cast = {b: _inputs(processor, pcm, b, seconds, dtype) for b in batches}
            decode_step(other, cast[batches[0]], 1)
            line(f"{key} weights", {b: decode_step(other, cast[b], steps) for b in batches})
            del other
            gc.collect()
        elif key == "int8":
            quantized = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(model), {torch.nn.Linear}, torch.qint8
            )
            decode_step(quantized, inputs[batches[0]], 1)
            results = {b: decode_step(quantized, inputs[b], steps) for b in batches}
            b = batches[-1]
            note = _agreement(base[b]["sequences"], results[b]["sequences"], quantized, inputs[b])
            line("int8 dynamic (Linear)", results, note)
            del quantized
            gc.collect()
        else:
            raise SystemExit(f"unknown experiment {key!r}")
