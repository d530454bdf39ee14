"""The transformers backend: a Qwen3-ASR model behind one lock, loaded once, generating batches of chunks.

This is the only module that runs the speech model with torch. It implements `asr.engines.protocol.Backend`
and knows nothing of Streamlit: the page loads one `AsrEngine` per process, the CLI and tests build their own.

Precision: FP16 on CUDA, as designed, where the reference runs bf16 (the weights' own precision). FP16's
range is far smaller, so every batch's logits are watched; a batch whose logits go non-finite (inf, NaN) is
redone in bf16 (float32 where the device lacks bf16), the model stays in that precision from then on, and the
event is logged without content.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from transformers import (
    Cache,
    DynamicCache,
    LogitsProcessor,
    LogitsProcessorList,
    Qwen3ASRForConditionalGeneration,
    StaticCache,
    StoppingCriteria,
    StoppingCriteriaList,
)

from asr.engines.cpu_tuning import tune_for_cpu
from asr.engines.loading import DevicePlan, Loaded, LocalModel, load_local, quantize_linear_int8
from asr.engines.prefill_memory import GaveWay, PrefillMemory
from asr.engines.protocol import Aborted, Cancel, Capabilities, ChunkOutput, LanguageProbe
from asr.engines.qwen3_output import (
    ASR_TEXT_MARKER,
    MAX_TAG_TOKENS,
    AnswerToken,
    byte_level_bytes,
    name_probability,
    parse_language_prefix,
    read_tokens,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class _TokenProbs(LogitsProcessor):
    """Records, for every row at every step, the probability of the token greedy search then picks (the
    largest after the processors before this one): the language tag's confidence and each word's.

    One float32 log-sum-exp over the vocabulary per step (0.6-0.8 ms at batch 8 on a 2-core CPU, against
    a whole batch-8 call of ~1.4 s per decoded step there: bench/README.md), instead of `output_scores`,
    which would keep batch x steps x 151k floats.
    """

    def __init__(self) -> None:
        self._steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        wide = scores.float()
        # kept on the device: reading each step back would add a host sync to every step on a GPU
        self._steps.append((wide.amax(dim=-1) - torch.logsumexp(wide, dim=-1)).exp())
        return scores

    def rows(self) -> list[list[float]]:
        """Each row's probabilities, step by step: one transfer once generation is over."""
        if not self._steps:
            return []
        rows: list[list[float]] = torch.stack(self._steps, dim=1).tolist()
        return rows


class _NameKnown(StoppingCriteria):
    """Ends a one-sequence generation once its language tag is complete (`parse_language_prefix`)."""

    def __init__(self, prompt_len: int, decode: Callable[[torch.Tensor], str]):
        self.prompt_len = prompt_len
        self.decode = decode

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any) -> torch.BoolTensor:
        tag = parse_language_prefix(self.decode(input_ids[0, self.prompt_len :]))
        return torch.full((1,), tag.state == "complete", dtype=torch.bool, device=input_ids.device)


class _RowBudgets(StoppingCriteria):
    """Ends each row once it has generated its own number of tokens in this call (rows that went on from a
    probe or a draft have already spent part of the budget)."""

    def __init__(self, prompt_len: int, limits: Sequence[int]):
        self.prompt_len = prompt_len
        self.limits = torch.tensor(list(limits))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any) -> torch.BoolTensor:
        done: torch.BoolTensor = (input_ids.shape[1] - self.prompt_len >= self.limits).to(input_ids.device)
        return done


class _GiveWay(StoppingCriteria):
    """Ends every row once the caller has something more urgent to run (`transcribe`'s `give_way`), asked
    after each decode step."""

    def __init__(self, ask: Callable[[], bool]):
        self.ask = ask
        self.said = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any) -> torch.BoolTensor:
        self.said = self.said or self.ask()
        return torch.full((input_ids.shape[0],), self.said, dtype=torch.bool, device=input_ids.device)

    @classmethod
    def asking(cls, give_way: Callable[[], bool] | None, cancel: Cancel | None) -> _GiveWay | None:
        """The criterion a call needs: its caller's `give_way`, its job's `cancel`, either, or none."""
        if cancel is None:
            return cls(give_way) if give_way is not None else None
        if give_way is None:
            return cls(cancel.is_set)
        return cls(lambda: cancel.is_set() or give_way())

    def now(self) -> bool:
        """Asked between the parts of one call (once the audio is encoded, once a draft is checked)."""
        self.said = self.said or self.ask()
        return self.said


class _CancelledRows(StoppingCriteria):
    """Ends the rows whose job was cancelled (requests decoded together: the others go on)."""

    def __init__(self, cancels: Sequence[Cancel | None]):
        self.cancels = cancels

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any) -> torch.BoolTensor:
        ended = [cancel is not None and cancel.is_set() for cancel in self.cancels]
        return torch.tensor(ended, dtype=torch.bool, device=input_ids.device)


@dataclass(eq=False)
class _Call:
    """A plain `transcribe` call waiting for the model, and then its answer."""

    audios: Sequence[np.ndarray]
    language: str | None
    context: str | None
    max_new_tokens: int
    resume: LanguageProbe | None
    cancel: Cancel | None
    taken: bool = False  # in a batch being decoded (by its own thread or another's)
    outputs: list[ChunkOutput] | None = None
    failure: Exception | None = None  # what ended the batch it was in

    @property
    def key(self) -> tuple[str | None, str | None]:
        """Calls with the same key can be rows of one batch: the same prompt but for the audio."""
        return (self.language, self.context)


@dataclass(frozen=True)
class _ProbeState:
    """Where `probe_language` stopped, so `transcribe(resume=...)` goes on from there (transformers only)."""

    sequence: torch.Tensor  # prompt + generated tag tokens, 1-D
    generated: int  # tag tokens generated
    cache: Cache  # keys/values of every token of `sequence` but the last
    probs: list[float]  # the chosen probability of each generated token
    dtype: torch.dtype  # the precision the cache was computed in


# Memory one more ~20 s chunk in a batch needs: its KV cache (28 layers x 2 x 8 heads x 128 x ~600 tokens,
# ~130 MB in fp32, half in bf16), encoder activations and logits, with headroom.
BYTES_PER_SEQUENCE = 512 * 1024 * 1024
GPU_MAX_BATCH = 32


def cpu_max_batch(dtype: torch.dtype) -> int:
    """A CPU decode step reads every weight once for the whole batch, so more rows share the reads; but an
    engine call is what a Cancel (and the next progress update) waits for, and it grows with the batch.

    Measured on the real-shape 0.6B, 20 s chunks (bench/README.md, "Batch size on a CPU"): bf16 at 16 rows
    cut a row's share of a decode step from 21.9 to 14.3 ms and the 10-minute run from 114.8 to 94.8 s
    (peak 3.16 GB: the encoder runs row by row, `asr.engines.cpu_tuning`), one call ~40 s. float32 gains as
    much per row (36.3 -> 22.3 ms) but its prefill is 2.6 s a row: a 16-row call would take ~68 s against
    ~42 s at 8, and float32 at 8 is already faster than vLLM on the same CPU. So 16 in bf16, 8 otherwise.
    """
    return 16 if dtype == torch.bfloat16 else 8


def choose_batch_size(plan: DevicePlan, free_bytes: int | None) -> int:
    """As many chunks as free memory holds, capped per device.

    On a CPU a batch shares each decoder weight read across chunks; on a GPU it fills the device.
    `ASR_BATCH_SIZE` (asr.settings) overrides this in the pipeline.
    """
    cap = GPU_MAX_BATCH if plan.device == "cuda" else cpu_max_batch(plan.dtype)
    if free_bytes is None:
        return cap
    return max(1, min(cap, free_bytes // BYTES_PER_SEQUENCE))


def free_memory(device: str) -> int | None:
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on Windows / macOS: fall back to the cap
        return None


def fallback_dtype(device: str) -> torch.dtype:
    """The precision an fp16 overflow is redone in: bf16 (float32's range) where the device has it."""
    has_bf16 = device != "cuda" or torch.cuda.is_bf16_supported()
    return torch.bfloat16 if has_bf16 else torch.float32


class _OverflowWatch:
    """Forward hook on the LM head: notes FP16 logits that are not finite, which an FP16 overflow produces.

    Only FP16 is read: bf16 and float32 share float32's range, and the check is a full pass over the
    logits every step (at batch 32 on a CPU, ~30 ms of a ~330 ms step went to it).
    """

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if output.dtype == torch.float16 and not self.seen and not bool(torch.isfinite(output).all()):
            self.seen = True


class AsrEngine(LocalModel):
    """A loaded Qwen3-ASR model and processor; `transcribe` is safe to call from many threads."""

    def __init__(self, loaded: Loaded):
        super().__init__(loaded)
        tokenizer = self.processor.tokenizer
        self._marker_id = tokenizer.convert_tokens_to_ids(ASR_TEXT_MARKER)
        eos = self.model.generation_config.eos_token_id
        self._finished_ids = {tokenizer.pad_token_id, *(eos if isinstance(eos, list) else [eos])}
        # what `decode(skip_special_tokens=True)` skips: the named special tokens and every added one marked
        # special (`<timestamp>` is one); the marker is read as the end of the tag
        added = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
        self._special_ids = {*tokenizer.all_special_ids, *added, self._marker_id}
        self._memory = PrefillMemory()
        self._waiting: list[_Call] = []  # plain calls queued for the model (`_together`)
        self._waiting_lock = threading.Lock()
        self._overflow = _OverflowWatch()
        self.model.lm_head.register_forward_hook(self._overflow)

    @classmethod
    def load(cls, model: str, plan: DevicePlan | None = None) -> AsrEngine:
        """Load from a local folder or the hub cache; never downloads. Raises `UserFacingError`."""
        loaded = load_local(Qwen3ASRForConditionalGeneration, model, "model", plan)
        if loaded.plan.int8:
            quantize_linear_int8(loaded.model)
        tune_for_cpu(loaded.model, loaded.plan)
        return cls(loaded)

    #: Everything the pipeline can use: the tokens' probabilities come from `generate`, and the probe stops
    #: at the tag and hands its decoder state to the first batch.
    capabilities = Capabilities(
        token_probabilities=True,
        context_prompt=True,
        forced_language=True,
        language_probe=True,
        answer_prefix=True,
        drafts=True,
    )

    @property
    def device(self) -> str:
        return self.plan.device

    def forget_kept(self) -> None:
        """Drop what the prefill memory keeps of the last live utterance (its features, encoder output and
        cache): a recording that ended leaves nothing of itself in the engine."""
        with self._lock:
            self._memory.forget()

    def preferred_batch_size(self) -> int:
        return choose_batch_size(self.plan, free_memory(self.plan.device))

    def _watched(self, run: Callable[[], Any]) -> Any:
        """`run()` under the lock, redone once in a wider precision if its fp16 logits overflow."""
        with self._lock, torch.inference_mode():
            self._overflow.seen = False
            result = run()
            if not self._overflow.seen:
                return result
            log.warning("Logits not finite: precision raised and the batch redone")
            wider = fallback_dtype(self.plan.device)
            self.model.to(wider)
            self.plan = replace(self.plan, dtype=wider)
            return run()  # the watch reads fp16 only: the wider precision is not watched

    def _inputs(
        self,
        audios: Sequence[np.ndarray],
        language: str | None,
        context: str | None,
        prefix: str | None = None,
    ) -> Any:
        if prefix:
            inputs = self._prefixed_inputs(audios, language, context, prefix)
        else:
            inputs = self.processor.apply_transcription_request(
                audio=list(audios),
                language=language,
                prompt=[context] * len(audios) if context else None,
            )
        inputs = inputs.to(self.model.device)
        inputs["input_features"] = inputs["input_features"].to(self.plan.dtype)
        return inputs

    def _prefixed_inputs(
        self, audios: Sequence[np.ndarray], language: str | None, context: str | None, prefix: str
    ) -> Any:
        """The processor's own transcription request, its assistant turn going on past the forced tag with
        `prefix` (`apply_transcription_request` writes that turn as the tag alone)."""
        if language is None:
            raise ValueError("an answer prefix follows a forced language tag")
        conversations = []
        for audio in audios:
            messages: list[dict[str, Any]] = []
            if context:
                messages.append({"role": "system", "content": [{"type": "text", "text": context}]})
            messages.append({"role": "user", "content": [{"type": "audio", "audio": audio}]})
            prefill = f"language {language}{ASR_TEXT_MARKER}{prefix}"
            messages.append({"role": "assistant", "content": [{"type": "text", "text": prefill}]})
            conversations.append(messages)
        return self.processor.apply_chat_template(
            conversations, tokenize=True, return_dict=True, continue_final_message=True
        )

    def probe_language(self, audio: np.ndarray, *, context: str | None = None) -> LanguageProbe:
        """Generate one chunk's answer only until its language is known: at `<asr_text>`, or at the name
        itself when no other name could follow from it (`parse_language_prefix`)."""
        started = time.perf_counter()

        def run() -> tuple[Any, Any, _TokenProbs]:
            inputs = self._inputs([audio], None, context)
            reader = _TokenProbs()
            name_known = _NameKnown(inputs["input_ids"].shape[1], self.processor.tokenizer.decode)
            out = self.model.generate(
                **inputs,
                max_new_tokens=MAX_TAG_TOKENS,
                do_sample=False,
                eos_token_id=[self._marker_id, *sorted(self._finished_ids)],
                logits_processor=LogitsProcessorList([reader]),
                stopping_criteria=StoppingCriteriaList([name_known]),
                return_dict_in_generate=True,
            )
            return inputs, out, reader

        inputs, out, reader = self._watched(run)
        sequence = out.sequences[0]
        generated = sequence.numel() - inputs["input_ids"].shape[1]
        tag = parse_language_prefix(self.processor.tokenizer.decode(sequence[-generated:]))
        [probs] = reader.rows()
        state = _ProbeState(sequence, generated, out.past_key_values, probs, self.plan.dtype)
        return LanguageProbe(
            language=tag.language,
            language_prob=name_probability(self._answer(sequence[-generated:], probs)),
            seconds=time.perf_counter() - started,
            state=state,
        )

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int = 256,
        resume: LanguageProbe | None = None,
        cancel: Cancel | None = None,
        prefix: str | None = None,
        drafts: Sequence[Sequence[int]] | None = None,
        give_way: Callable[[], bool] | None = None,
    ) -> list[ChunkOutput]:
        """Transcribe a batch of 16 kHz mono float32 chunks in one `generate` call.

        `language` forces the language (the processor prefills the tag, the model writes only the text).
        `resume` is `probe_language` of `audios[0]` whose tag named a language (a tag that names none is
        refused, never resumed): that chunk goes on from where the probe stopped. A probe made in another
        precision (an overflow raised it since) is not resumed: that chunk starts again with the batch.
        `drafts` are checked in the prefill pass (`_drafted`); `give_way` is asked after every step.
        `cancel` is asked after every step too: once it is set the call ends there and raises `Aborted`, so a
        cancelled job (a closed API connection, a page's Stop) frees the model within a step, not a batch.
        """
        if drafts is not None and (resume is not None or prefix):
            raise ValueError("drafts go with neither a probe to resume nor an answer prefix")
        if drafts is not None and len(audios) > 1 and not any(drafts):
            drafts = None  # nothing to check and no row to remember: a plain decode
        if drafts is None and not prefix and give_way is None:
            return self._together(_Call(audios, language, context, max_new_tokens, resume, cancel))
        state = resume.state if resume is not None else None
        attempts = iter([state, None])  # a redo after an overflow starts every chunk afresh

        def run() -> list[ChunkOutput]:
            probed = next(attempts, None)
            if not isinstance(probed, _ProbeState) or probed.dtype != self.plan.dtype:
                probed = None
            yielding = _GiveWay.asking(give_way, cancel)
            if drafts is not None:
                return self._drafted(audios, language, context, max_new_tokens, drafts, yielding)
            return self._generate(audios, language, context, max_new_tokens, probed, prefix, yielding)

        outputs: list[ChunkOutput] = self._watched(run)
        if cancel is not None and cancel.is_set():
            raise Aborted
        return outputs

    def _together(self, call: _Call) -> list[ChunkOutput]:
        """A plain call, decoded with the plain calls of other jobs that wait for the model by then.

        A CPU decode step reads every weight once whatever the batch, so eight requests that arrive
        together cost about what one does, where taking turns would cost eight times. Whoever gets the
        model takes every waiting call with the same language and context, up to `preferred_batch_size`
        rows, into one `generate` (each row its own token budget and its own job's cancel); the others
        find their answers ready when their turn comes. Alone, a call goes on from its language probe as
        before; merged, each chunk is decoded from its start (the probe's few tag tokens again), which is
        the same greedy decode (`test_resuming_from_the_probe_gives_the_tokens_of_a_plain_batch`).
        """
        with self._waiting_lock:
            self._waiting.append(call)
        batch: list[_Call] = []
        attempts = iter([call.resume.state if call.resume is not None else None, None])

        def run() -> None:
            if not batch:
                if call.taken:  # an earlier holder decoded it with its own
                    return
                batch.extend(self._take(call))
            try:
                self._decode_calls(batch, next(attempts, None))
            except Exception as exc:  # every job in the batch hears of it, not only the one that ran it
                for each in batch:
                    each.failure = exc
                raise

        try:
            self._watched(run)
        finally:
            with self._waiting_lock:  # interrupted while waiting its turn: nobody decodes it for nothing
                if call in self._waiting:
                    self._waiting.remove(call)
        if call.failure is not None:
            raise call.failure
        if call.cancel is not None and call.cancel.is_set():
            raise Aborted
        assert call.outputs is not None
        return call.outputs

    def _take(self, call: _Call) -> list[_Call]:
        """`call` and the waiting calls that can share its batch, oldest first, taken off the queue."""
        room = max(self.preferred_batch_size(), len(call.audios))
        with self._waiting_lock:
            taken = [call]
            for other in self._waiting:
                if (
                    other is not call
                    and other.key == call.key
                    and len(other.audios) <= room - sum(len(c.audios) for c in taken)
                ):
                    taken.append(other)
            for each in taken:
                self._waiting.remove(each)
                each.taken = True
        return taken

    def _decode_calls(self, batch: list[_Call], state: object) -> None:
        """Decode `batch` in one `generate` (the caller holds the lock) and hand each call its rows."""
        first = batch[0]
        if len(batch) == 1:
            probed = state if isinstance(state, _ProbeState) and state.dtype == self.plan.dtype else None
            yielding = _GiveWay.asking(None, first.cancel)
            args = (first.language, first.context, first.max_new_tokens)
            first.outputs = self._generate(first.audios, *args, probed, None, yielding)
            return
        audios = [audio for call in batch for audio in call.audios]
        limits = [call.max_new_tokens for call in batch for _ in call.audios]
        stop = _CancelledRows([call.cancel for call in batch for _ in call.audios])
        inputs = self._inputs(audios, first.language, first.context)
        outputs = self._go_on(inputs, limits, [], [], first.language, None, stop)
        log.info("Decoded %d requests' chunks together: %d rows", len(batch), len(audios))
        at = 0
        for call in batch:
            call.outputs, at = outputs[at : at + len(call.audios)], at + len(call.audios)

    def _generate(
        self,
        audios: Sequence[np.ndarray],
        language: str | None,
        context: str | None,
        max_new_tokens: int,
        probed: _ProbeState | None,
        prefix: str | None = None,
        yielding: _GiveWay | None = None,
    ) -> list[ChunkOutput]:
        """One `generate` call for the batch (the caller holds the lock)."""
        if probed is not None and language is None:  # row 0 goes on from where the probe stopped
            inputs = self._resumed_inputs(probed, audios[1:], context, max_new_tokens)
            # the probed chunk has already generated part of its budget
            limits = [max_new_tokens - probed.generated] + [max_new_tokens] * (len(audios) - 1)
            started = [probed.sequence[-probed.generated :]] + [probed.sequence[:0]] * (len(audios) - 1)
            started_probs = [probed.probs] + [[]] * (len(audios) - 1)
        else:
            inputs = self._inputs(audios, language, context, prefix)
            limits, started, started_probs = [max_new_tokens] * len(audios), [], []
        return self._go_on(inputs, limits, started, started_probs, language, yielding)

    def _go_on(
        self,
        inputs: Any,
        limits: list[int],
        started: list[torch.Tensor],
        started_probs: list[list[float]],
        language: str | None,
        yielding: _GiveWay | None,
        cancelled: _CancelledRows | None = None,
    ) -> list[ChunkOutput]:
        """`generate` from `inputs` (a cache may hold all but their last token), row r for `limits[r]` more
        tokens; each answer is `started[r]` (tokens this call already has, with `started_probs[r]`) and
        what `generate` adds. `cancelled` ends the rows of a cancelled job and lets the others go on."""
        reader = _TokenProbs()
        prompt_len = inputs["input_ids"].shape[1]
        rows = inputs["input_ids"].shape[0]
        stopping: list[StoppingCriteria] = [each for each in (yielding, cancelled) if each is not None]
        if any(limit != max(limits) for limit in limits):
            stopping.append(_RowBudgets(prompt_len, limits))
        kwargs: dict[str, Any] = {"logits_processor": LogitsProcessorList([reader])}
        if stopping:
            kwargs["stopping_criteria"] = StoppingCriteriaList(stopping)
        if rows > 1 and "past_key_values" not in inputs:
            # The dynamic cache re-concatenates every layer's keys and values at each step, which grows with
            # the batch: at batch 8 (20 s chunks, fp32, 2 threads) a decode step took 440 ms dynamic vs
            # 357 ms static (`python -m bench profile`). At batch 1 static was slower (188 vs 169 ms).
            kwargs["cache_implementation"] = "static"
        sequences = self.model.generate(**inputs, max_new_tokens=max(limits), do_sample=False, **kwargs)
        # a row that reached its own budget is padded while the others go on
        generated = [sequences[row, prompt_len : prompt_len + limits[row]] for row in range(rows)]
        probs = [row_probs[: limits[row]] for row, row_probs in enumerate(reader.rows() or [[]] * rows)]
        if started:
            generated = [
                torch.cat([before.to(ids), ids]) for before, ids in zip(started, generated, strict=True)
            ]
            probs = [before + after for before, after in zip(started_probs, probs, strict=True)]
        complete = yielding is None or not yielding.said
        return [self._output(ids, probs[row], language, complete) for row, ids in enumerate(generated)]

    def _output(
        self, ids: torch.Tensor, probs: list[float], language: str | None, complete: bool = True
    ) -> ChunkOutput:
        """The shared reader's answer, with the tokens (up to the first that ends it) kept as a draft."""
        listed = ids.tolist()
        end = next((at + 1 for at, token in enumerate(listed) if token in self._finished_ids), len(listed))
        output = read_tokens(self._answer(ids, probs), language)
        return replace(output, token_ids=tuple(listed[:end]), complete=complete)

    def _drafted(
        self,
        audios: Sequence[np.ndarray],
        language: str | None,
        context: str | None,
        max_new_tokens: int,
        drafts: Sequence[Sequence[int]],
        yielding: _GiveWay | None,
    ) -> list[ChunkOutput]:
        """Each chunk's answer begins with its draft as far as greedy decoding agrees with it, checked in the
        prefill pass; generation goes on from the first token that differs.

        The prefill feeds prompt + draft and keeps the logits over the draft: the token greedy search would
        pick at each of its positions. Row r keeps the longest prefix of its draft that matches them, plus
        the pick after it (the correction, or the next token), with their probabilities; its cache is cut
        to that prefix, and `generate` goes on from there for the rest of the budget. A plain decode picks
        the same tokens from the same logits, so the answer is the same; a draft the model disagrees with
        from its first token costs one prefill a few tokens longer. One row (a live utterance) is prefilled
        through `PrefillMemory`, which reuses what the last decode of its growing audio computed and the new
        audio cannot have changed.
        """
        inputs = self._inputs(audios, language, context)
        pad_id = self.processor.tokenizer.pad_token_id
        prompts = [
            row[mask.bool()] for row, mask in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)
        ]
        drafts = [_up_to(list(draft)[:max_new_tokens], self.model.config.audio_token_id) for draft in drafts]
        fed = [
            torch.cat([prompt, torch.tensor(draft, dtype=prompt.dtype, device=prompt.device)])
            for prompt, draft in zip(prompts, drafts, strict=True)
        ]
        length = max(row.numel() for row in fed)
        ids = torch.stack([_left_pad(row, length, pad_id) for row in fed])
        mask = torch.stack([_left_pad(torch.ones_like(row), length) for row in fed])
        keep = max(len(draft) for draft in drafts) + 1
        if len(fed) == 1:  # a live utterance's decode: the next one over more of its audio reuses this one's
            try:
                out = self._memory.prefill(self.model, ids, inputs, keep, yielding.now if yielding else None)
            except GaveWay:  # nothing decoded yet: the draft stays what it was
                return [
                    self._output(torch.tensor(drafts[0][:0], dtype=torch.long), [], language, complete=False)
                ]
        else:
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                input_features=inputs["input_features"],
                input_features_mask=inputs["input_features_mask"],
                past_key_values=DynamicCache(config=self.model.config),
                use_cache=True,
                logits_to_keep=keep,
            )
        wide = out.logits.float()
        picks = wide.argmax(-1).tolist()
        picked_probs = (wide.amax(-1) - torch.logsumexp(wide, -1)).exp().tolist()
        answers: list[list[int]] = []
        answer_probs: list[list[float]] = []
        for row, draft in enumerate(drafts):
            first = keep - 1 - len(draft)  # the logits that pick the draft's first token
            answer, probs = [], []
            for at in range(len(draft) + 1):
                answer.append(picks[row][first + at])
                probs.append(picked_probs[row][first + at])
                if at == len(draft) or answer[-1] != draft[at] or answer[-1] in self._finished_ids:
                    break
            answers.append(answer[:max_new_tokens])
            answer_probs.append(probs[:max_new_tokens])
        open_rows = [
            row
            for row, answer in enumerate(answers)
            if len(answer) < max_new_tokens and answer[-1] not in self._finished_ids
        ]
        outputs = [
            self._output(torch.tensor(answer), probs, language)
            for answer, probs in zip(answers, answer_probs, strict=True)
        ]
        if not open_rows:
            return outputs
        if yielding is not None and yielding.now():
            return [replace(output, complete=row not in open_rows) for row, output in enumerate(outputs)]
        # the cache keeps each open row's prompt and the draft tokens it accepted (all but its last pick)
        kept = [prompts[row].numel() + len(answers[row]) - 1 for row in open_rows]
        starts = [length - fed[row].numel() for row in open_rows]  # where each row begins in the padded pass
        spans = [
            (out.past_key_values, row, start, start + held)
            for row, start, held in zip(open_rows, starts, kept, strict=True)
        ]
        rest = max(max_new_tokens - len(answers[row]) for row in open_rows)
        cache = _gathered_cache(self.model.config, spans, max(kept), rest if len(open_rows) > 1 else None)
        sequences = [
            torch.cat([prompts[row], torch.tensor(answers[row], dtype=ids.dtype, device=ids.device)])
            for row in open_rows
        ]
        width = max(row.numel() for row in sequences)
        gone_on = self._go_on(
            {
                "input_ids": torch.stack([_left_pad(row, width, pad_id) for row in sequences]),
                "attention_mask": torch.stack([_left_pad(torch.ones_like(row), width) for row in sequences]),
                "past_key_values": cache,
            },
            [max_new_tokens - len(answers[row]) for row in open_rows],
            [torch.tensor(answers[row]) for row in open_rows],
            [answer_probs[row] for row in open_rows],
            language,
            yielding,
        )
        for row, output in zip(open_rows, gone_on, strict=True):
            outputs[row] = output
        return outputs

    def _resumed_inputs(
        self, probe: _ProbeState, rest: Sequence[np.ndarray], context: str | None, max_new_tokens: int
    ) -> dict[str, Any]:
        """`generate` inputs that go on with the probed chunk as row 0 and start the other chunks beside it.

        The other chunks are prefilled here, all but their last prompt token; then both caches are
        left-padded to one length and stacked, so `generate`'s first step feeds every row one token (the
        probe's last tag token, the others' last prompt token) and the batch shares every decoder step from
        there. Positions come from the attention mask, as in a plain batched `generate`.
        """
        pad_id = self.processor.tokenizer.pad_token_id
        ids, masks = [probe.sequence], [torch.ones_like(probe.sequence)]
        spans = [(probe.cache, 0, 0, probe.sequence.numel() - 1)]  # (cache, row, first, end) for each row
        if rest:
            inputs = self._inputs(rest, None, context)
            rest_ids, rest_mask = inputs["input_ids"], inputs["attention_mask"]
            positions = (rest_mask.cumsum(-1) - 1).clamp(min=0)
            out = self.model(
                input_ids=rest_ids[:, :-1],
                attention_mask=rest_mask[:, :-1],
                position_ids=positions[:, :-1],
                input_features=inputs["input_features"],
                input_features_mask=inputs["input_features_mask"],
                past_key_values=DynamicCache(config=self.model.config),
                use_cache=True,
                logits_to_keep=1,
            )
            ids += list(rest_ids)
            masks += list(rest_mask)
            spans += [(out.past_key_values, row, 0, rest_ids.shape[1] - 1) for row in range(len(rest))]
        if not rest:
            return {
                "input_ids": probe.sequence[None],
                "attention_mask": masks[0][None],
                "past_key_values": probe.cache,
            }
        length = max(row.numel() for row in ids)
        return {
            "input_ids": torch.stack([_left_pad(row, length, pad_id) for row in ids]),
            "attention_mask": torch.stack([_left_pad(row, length) for row in masks]),
            "past_key_values": _gathered_cache(self.model.config, spans, length - 1, max_new_tokens),
        }

    def _answer(self, ids: torch.Tensor, probs: list[float]) -> list[AnswerToken]:
        """The generated tokens as the shared reader takes them; end-of-text and padding left out.

        A special token spells nothing, and nor does an id past the tokenizer's vocabulary (the embedding is
        padded); `<asr_text>` is the marker.
        """
        tokenizer = self.processor.tokenizer
        answer = []
        for at, token in enumerate(ids.tolist()):
            if token in self._finished_ids:
                continue
            prob = probs[at] if at < len(probs) else None
            spelled = None if token in self._special_ids else tokenizer.convert_ids_to_tokens(token)
            marker = token == self._marker_id
            answer.append(AnswerToken(byte_level_bytes(spelled) if spelled else b"", prob, marker))
        return answer


def _left_pad(tokens: torch.Tensor, length: int, fill: int = 0) -> torch.Tensor:
    """A row of token ids (or its mask) padded on the left to `length`, as batched generation lays rows."""
    return torch.nn.functional.pad(tokens, (length - tokens.numel(), 0), value=fill)


def _gathered_cache(
    config: Any, spans: Sequence[tuple[Cache, int, int, int]], length: int, room: int | None
) -> Cache:
    """One cache for a new batch: for each of its rows, positions [first, end) of row `row` of a cache that
    was filled for another batch, left-padded to `length` (the rows' masks mark the padding). A static
    cache with `room` more positions; `room` None (one row): a dynamic one, faster at batch 1."""
    cache: Cache = DynamicCache(config=config) if room is None else StaticCache(config, length + room)
    layers = len(spans[0][0].layers)
    for index in range(layers):
        parts = [(source.layers[index], row, first, end) for source, row, first, end in spans]
        keys, values = (
            torch.cat(
                [
                    torch.nn.functional.pad(
                        getattr(layer, name)[row : row + 1, :, first:end], (0, 0, length - (end - first), 0)
                    )
                    for layer, row, first, end in parts
                ]
            )
            for name in ("keys", "values")
        )
        cache.update(keys, values, index)
    return cache


def _up_to(draft: list[int], placeholder: int) -> list[int]:
    """A draft cut before the audio placeholder's id: fed with the audio, the model would read it as a slot
    for the audio's features (random weights do generate it)."""
    return draft[: draft.index(placeholder)] if placeholder in draft else draft
