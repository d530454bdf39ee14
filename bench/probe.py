"""Stage timings inside one process: features, encoder, prefill, decode steps, generate() overhead.

Hooks on the live model instead of edits to `asr/`, so the pipeline under test is exactly the shipped code.
`generate` is also forced to a fixed length here: random weights would otherwise stop at a random step (or
never), and the variants could not be compared token for token.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch


def peak_rss_mb() -> float:
    """Peak resident set of this process so far, in MiB. On Linux the kernel's high-water mark of this
    program's memory (`VmHWM`): `ru_maxrss` is carried across `exec` from the parent, so a bench child started
    by a parent that once held a model (building the checkpoint) would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def decoded_tokens(seconds: float, tokens_per_second: float, tag_tokens: int) -> int:
    """Tokens one `generate` call decodes for `seconds` of speech: the transcript plus its language tag."""
    return tag_tokens + max(1, round(seconds * tokens_per_second))


@dataclass
class StageTimes:
    """Accumulated over every `generate` call a probe saw."""

    features_s: float = 0.0  # processor: log-mel features + tokenizing the prompt
    encoder_s: float = 0.0  # audio tower
    prefill_s: float = 0.0  # generate() start -> end of the first forward, encoder included
    decode_phase_s: float = 0.0  # end of the first forward -> generate() returns
    step_forward_s: float = 0.0  # model forward time inside the decode phase
    steps: int = 0  # decode forwards (each adds one token to every sequence of its batch)
    sequence_tokens: int = 0  # steps x batch size: tokens decoded, counting every row of a batch
    generate_calls: int = 0

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["step_ms"] = 1000 * self.decode_phase_s / self.steps if self.steps else None
        out["token_ms"] = 1000 * self.decode_phase_s / self.sequence_tokens if self.sequence_tokens else None
        out["overhead_ms_per_step"] = (
            1000 * (self.decode_phase_s - self.step_forward_s) / self.steps if self.steps else None
        )
        return out


class Probe:
    """Attach to a model (and optionally its processor) and accumulate `StageTimes`.

    `generate` is wrapped so `min_new_tokens` always equals `max_new_tokens`: every call decodes exactly the
    budget its caller asked for, except the language probe, which passes its own `eos_token_id` (the end of
    the tag) and must stop there. A forward outside `generate` (the engine prefilling the rest of a batch
    that resumes from the probe) counts as prefill.
    """

    def __init__(self, model: torch.nn.Module, processor: Any | None = None):
        self.times = StageTimes()
        self._first_forward = False
        self._forward_started = 0.0
        self._encoder_started = 0.0
        self._prefill_done = 0.0
        self._in_generate = False
        self._wrap_generate(model)
        if processor is not None:
            self._wrap_processor(processor)
        model.register_forward_pre_hook(self._forward_pre, with_kwargs=True)
        model.register_forward_hook(self._forward_post)
        encoder = model.model.audio_tower
        encoder.register_forward_pre_hook(self._encoder_pre)
        encoder.register_forward_hook(self._encoder_post)

    def _wrap_generate(self, model: torch.nn.Module) -> None:
        original = model.generate

        def generate(*args, **kwargs):
            if "eos_token_id" not in kwargs:
                kwargs["min_new_tokens"] = kwargs["max_new_tokens"]
            started = time.perf_counter()
            self._first_forward = self._in_generate = True
            try:
                out = original(*args, **kwargs)
            finally:
                self._in_generate = False
            ended = time.perf_counter()
            self.times.prefill_s += self._prefill_done - started
            self.times.decode_phase_s += ended - self._prefill_done
            self.times.generate_calls += 1
            return out

        model.generate = generate

    def _wrap_processor(self, processor: Any) -> None:
        original = processor.apply_transcription_request

        def apply(*args, **kwargs):
            started = time.perf_counter()
            out = original(*args, **kwargs)
            self.times.features_s += time.perf_counter() - started
            return out

        processor.apply_transcription_request = apply

    def _forward_pre(self, module, args, kwargs) -> None:
        self._forward_started = time.perf_counter()
        if self._in_generate and not self._first_forward:
            ids = kwargs.get("input_ids")
            batch = ids.shape[0] if ids is not None else kwargs["inputs_embeds"].shape[0]
            self.times.steps += 1
            self.times.sequence_tokens += batch

    def _forward_post(self, module, args, output) -> None:
        now = time.perf_counter()
        if not self._in_generate:
            self.times.prefill_s += now - self._forward_started
        elif self._first_forward:
            self._first_forward = False
            self._prefill_done = now
        else:
            self.times.step_forward_s += now - self._forward_started

    def _encoder_pre(self, module, args) -> None:
        self._encoder_started = time.perf_counter()

    def _encoder_post(self, module, args, output) -> None:
        self.times.encoder_s += time.perf_counter() - self._encoder_started
