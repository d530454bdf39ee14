"""The Qwen3-ASR model behind one lock: load once, generate batches of chunks.

This is the only module that touches torch and transformers' model classes. It knows nothing of Streamlit:
the UI caches one `AsrEngine` per process and the CLI and tests build their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    Qwen3ASRForConditionalGeneration,
    StoppingCriteria,
    StoppingCriteriaList,
)

from asr.errors import UserFacingError
from asr.langid import ASR_TEXT_MARKER, parse_language_prefix, parse_model_output, tag_probability
from asr.loading import DevicePlan, Loaded, LocalModel, load_local, quantize_linear_int8

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ChunkOutput:
    """What the model said for one chunk of audio."""

    language: str | None  # the model's language name ("Chinese"), the forced one, or None
    text: str
    raw: str  # decoded generation, special tokens removed
    language_prob: float | None  # product of the language-name tokens' probabilities; None if forced
    tokens: int  # generated tokens
    stopped_at_tag: bool  # the batch ended right after its tags: none of their languages was accepted
    tag_seconds: float | None = None  # from the call until every tag of the batch was read


AcceptLanguage = Callable[[str | None], bool]


# "language" + a name of at most a few tokens + "<asr_text>"; past this a sequence wrote no tag at all, and
# the full-vocabulary softmax per step is not paid for the rest of it.
MAX_TAG_TOKENS = 12


class _LanguageTagWatcher:
    """Reads the `language <Name><asr_text>` tags of a batch while they are generated.

    As a logits processor it records, for each sequence still inside its tag, the probability of the
    (greedy) token chosen. As a stopping criterion it decides once every sequence has written its tag: when
    none of the batch's languages is accepted it ends them all, so a refused recording costs one (batched)
    encoder pass and a few tokens, while an accepted one simply goes on and pays nothing extra.
    """

    def __init__(
        self,
        prompt_len: int,
        batch: int,
        marker_id: int,
        finished_ids: set[int],
        decode: Callable,
        accept: AcceptLanguage | None,
        started: float,
    ):
        self.prompt_len = prompt_len
        self.marker_id = marker_id
        self.finished_ids = finished_ids
        self.decode = decode
        self.accept = accept
        self.started = started
        self.in_tag = [True] * batch
        self.tag_probs: list[list[float]] = [[] for _ in range(batch)]
        self.languages: list[str | None] = [None] * batch
        self.decided_seconds: float | None = None
        self.refused = False

    def observe(self, scores: torch.Tensor) -> torch.Tensor:
        rows = [i for i, inside in enumerate(self.in_tag) if inside]
        if rows:
            probs = torch.softmax(scores[rows].float(), dim=-1).max(dim=-1).values.tolist()
            for row, prob in zip(rows, probs, strict=True):
                self.tag_probs[row].append(prob)
        return scores

    def stop(self, input_ids: torch.LongTensor) -> torch.BoolTensor:
        for row, token in enumerate(input_ids[:, -1].tolist()):
            if not self.in_tag[row]:
                continue
            if token == self.marker_id:
                self.in_tag[row] = False
                tag = parse_language_prefix(self.decode(input_ids[row, self.prompt_len :]))
                self.languages[row] = tag.language
            elif token in self.finished_ids or len(self.tag_probs[row]) >= MAX_TAG_TOKENS:
                self.in_tag[row] = False  # ended, or wrote no tag: nothing more to read
        if self.decided_seconds is None and not any(self.in_tag):
            self.decided_seconds = time.perf_counter() - self.started
            self.refused = self.accept is not None and not any(map(self.accept, self.languages))
        return torch.full((input_ids.shape[0],), self.refused, dtype=torch.bool, device=input_ids.device)

    def language_prob(self, row: int) -> float | None:
        """Probability of the language name: the tokens after `language` and before `<asr_text>`."""
        name_probs = self.tag_probs[row][1:-1]  # drop "language" and the marker itself
        return tag_probability(name_probs) if name_probs else None


class _StopAdapter(StoppingCriteria):
    def __init__(self, watcher: _LanguageTagWatcher):
        self.watcher = watcher

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        return self.watcher.stop(input_ids)


class _ProbAdapter(LogitsProcessor):
    def __init__(self, watcher: _LanguageTagWatcher):
        self.watcher = watcher

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        return self.watcher.observe(scores)


class AsrEngine(LocalModel):
    """A loaded Qwen3-ASR model and processor; `transcribe` is safe to call from many threads."""

    def __init__(self, loaded: Loaded):
        super().__init__(loaded)
        self._marker_id = self.processor.tokenizer.convert_tokens_to_ids(ASR_TEXT_MARKER)

    @classmethod
    def load(cls, model: str, plan: DevicePlan | None = None) -> AsrEngine:
        """Load from a local folder or the hub cache; never downloads. Raises `UserFacingError`."""
        loaded = load_local(Qwen3ASRForConditionalGeneration, model, "model", plan)
        if loaded.plan.int8:
            quantize_linear_int8(loaded.model)
        return cls(loaded)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        accept: AcceptLanguage | None = None,
        max_new_tokens: int = 256,
    ) -> list[ChunkOutput]:
        """Transcribe a batch of 16 kHz mono float32 chunks in one `generate` call.

        `language` forces the language (the processor prefills the tag, the model writes only the text);
        `accept`, with automatic language, ends the whole batch right after the tags when it accepts none.
        """
        started = time.perf_counter()
        inputs = self.processor.apply_transcription_request(
            audio=list(audios),
            language=language,
            prompt=[context] * len(audios) if context else None,
        )
        inputs = inputs.to(self.model.device)
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.plan.dtype)
        prompt_len = inputs["input_ids"].shape[1]
        watcher = None
        kwargs: dict = {}
        if language is None:
            finished = {self.processor.tokenizer.pad_token_id, *self._eos_ids()}
            decode = self.processor.tokenizer.decode
            watcher = _LanguageTagWatcher(
                prompt_len, len(audios), self._marker_id, finished, decode, accept, started
            )
            kwargs["logits_processor"] = LogitsProcessorList([_ProbAdapter(watcher)])
            kwargs["stopping_criteria"] = StoppingCriteriaList([_StopAdapter(watcher)])
        if len(audios) > 1:
            # The dynamic cache re-concatenates every layer's keys and values at each step, which grows with
            # the batch: at batch 8 (20 s chunks, fp32, 2 threads) a decode step took 440 ms dynamic vs 357 ms
            # static (`python -m bench profile`). At batch 1 static was slower (188 vs 169 ms), so only here.
            kwargs["cache_implementation"] = "static"
        with self._lock, torch.inference_mode():
            sequences = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, **kwargs
            )
        generated = sequences[:, prompt_len:]
        return [self._chunk_output(generated[row], language, watcher, row) for row in range(len(audios))]

    def _chunk_output(
        self, ids: torch.Tensor, forced: str | None, watcher: _LanguageTagWatcher | None, row: int
    ) -> ChunkOutput:
        tokenizer = self.processor.tokenizer
        pad = {tokenizer.pad_token_id, *self._eos_ids()}
        count = sum(1 for token in ids.tolist() if token not in pad)
        raw = tokenizer.decode(ids, skip_special_tokens=True)
        if forced is not None:
            return ChunkOutput(forced, raw.strip(), raw, None, count, False)
        parsed = parse_model_output(raw)
        return ChunkOutput(
            language=parsed.language if parsed.well_formed else None,
            text=parsed.text,
            raw=raw,
            language_prob=watcher.language_prob(row) if watcher else None,
            tokens=count,
            stopped_at_tag=bool(watcher and watcher.refused),
            tag_seconds=watcher.decided_seconds if watcher else None,
        )

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        return set(eos if isinstance(eos, list) else [eos])


class EngineLoader:
    """Loads the engine in a background thread so the page is usable while ~1 GB of weights load."""

    def __init__(self, model: str, plan: DevicePlan | None = None):
        self.model = model
        self._engine: AsrEngine | None = None
        self._error: UserFacingError | None = None
        self._thread = threading.Thread(target=self._load, args=(plan,), name="asr-model-load", daemon=True)
        self._thread.start()

    def _load(self, plan: DevicePlan | None) -> None:
        try:
            self._engine = AsrEngine.load(self.model, plan)
        except UserFacingError as exc:
            self._error = exc

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self, timeout: float | None = None) -> AsrEngine:
        """The engine, waiting for the load if needed; raises the load's `UserFacingError`."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._engine is None:
            raise UserFacingError("model_loading")
        return self._engine
