"""A stand-in for a trained model's answers, for `python -m bench live`: random weights, real forward passes.

Random weights never agree with a draft, so a live bench on them would show none of what drafts save, and
they never stop by themselves. A trained model re-decoding more of the same utterance repeats the words it
said before and revises the last few, the ones the new audio completes. `StandIn` makes the checkpoint's own
logits say exactly that, pass by pass:

* an utterance of L seconds is answered with `language English<asr_text>` (so the live job's language check
  runs and accepts it), `tokens_per_second` x L words, then the end of the answer;
* word k of an utterance is the same token in every decode (`word(k)`), except the last `revision` x
  `REVISED_TAIL` words of a decode (2 or 3 at random for 0.5, so 2.5 on average), which are other words: the
  tail a later decode with more audio revises, as a trained model revises the words the end of its audio
  cut. At 0 every draft is right; at 1 the last 5 words of every draft are wrong.

Every forward pass (prefill, a draft's verification, each decode step) is the model's own; the stand-in then
raises the logit of the token it wants above all the others at each position it keeps, so greedy search
picks it. It knows which answer token a position holds from the position itself: the answer starts a fixed
number of tokens after `<|audio_end|>` (the chat template), and positions come from the attention mask as
the model's own do. Bench-only: it wraps this engine instance, nothing in `asr/`.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

REVISED_TAIL = 5  # the last words of a hypothesis that more audio may change
TAG = "language English<asr_text>"
_WORD = re.compile(r"^ ?[A-Za-z]{2,}$")


class StandIn:
    """Installed on an `AsrEngine` instance: its answers follow the rules above; it also counts the draft
    tokens each call was given and how many of them the answer kept (`accepted`)."""

    def __init__(
        self, engine: Any, tokens_per_second: float, revision: float, seed: int = 0, sample_rate: int = 16000
    ) -> None:
        if not 0.0 <= revision <= 1.0:
            raise ValueError("revision is a share, from 0 to 1")
        self.engine = engine
        self.tokens_per_second = tokens_per_second
        self.revision = revision
        self.sample_rate = sample_rate
        self._rng = np.random.default_rng(seed)
        tokenizer = engine.processor.tokenizer
        self.tag = tokenizer.encode(TAG, add_special_tokens=False)
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.audio_end = tokenizer.convert_tokens_to_ids("<|audio_end|>")
        special = set(tokenizer.all_special_ids)
        self.words = [
            i for i in range(len(tokenizer)) if i not in special and _WORD.match(tokenizer.decode([i]))
        ]
        if len(self.words) < 2:
            raise RuntimeError("the checkpoint's tokenizer has too few word tokens for the stand-in")
        probe = engine.processor.apply_transcription_request(audio=[np.zeros(sample_rate, dtype=np.float32)])
        prompt = probe["input_ids"][0].tolist()
        last_audio_end = len(prompt) - 1 - prompt[::-1].index(self.audio_end)
        self.after_audio = len(prompt) - last_audio_end  # from <|audio_end|> to the answer's first token
        self.accepted: list[tuple[int, int]] = []  # (draft tokens given, kept) per row of each call
        # per engine call, on the live job's clock: (started, took, rows, longest row's audio in s, tokens
        # the answer has beyond the draft it kept (most of any row), complete)
        self.calls: list[tuple[float, float, int, float, int, bool]] = []
        self._call = threading.local()
        self._install()

    def word(self, k: int) -> int:
        """The token of the utterance's word k (counted after the tag) in every decode that keeps it."""
        return self.words[(k * 7919) % len(self.words)]

    def _answer(self, seconds: float) -> list[int]:
        """This decode's answer for an utterance of `seconds`: the tag, the words (the tail revised by
        chance), the end."""
        words = [self.word(k) for k in range(int(round(self.tokens_per_second * seconds)))]
        share = self.revision * REVISED_TAIL  # revised words, rounded up or down at random to keep the mean
        revised = int(share) + int(self._rng.random() < share - int(share))
        for k in range(max(0, len(words) - revised), len(words)):
            other = int(self._rng.integers(1, len(self.words)))
            words[k] = self.words[(self.words.index(words[k]) + other) % len(self.words)]
        return [*self.tag, *words, self.end]

    def _install(self) -> None:
        engine, model = self.engine, self.engine.model
        transcribe, forward = engine.transcribe, model.forward

        def planned_transcribe(audios: Sequence[np.ndarray], **kwargs: Any) -> Any:
            # a forced language's prompt holds the tag: its positions then come before the first kept logit
            self._call.answers = [self._answer(len(a) / self.sample_rate) for a in audios]
            self._call.starts = [None] * len(audios)
            started = time.monotonic()
            outputs = transcribe(audios, **kwargs)
            took = time.monotonic() - started
            drafts = kwargs.get("drafts") or [()] * len(outputs)
            beyond = 0
            for draft, output in zip(drafts, outputs, strict=False):
                kept = next(
                    (i for i, (a, b) in enumerate(zip(draft, output.token_ids, strict=False)) if a != b),
                    min(len(draft), len(output.token_ids)),
                )
                beyond = max(beyond, len(output.token_ids) - kept)
                if draft:
                    self.accepted.append((len(draft), kept))
            seconds = max(len(a) for a in audios) / self.sample_rate
            complete = all(output.complete for output in outputs)
            self.calls.append((started, took, len(audios), seconds, beyond, complete))
            return outputs

        @functools.wraps(forward)  # generate reads the forward's signature to check its arguments
        def steered_forward(*args: Any, **kwargs: Any) -> Any:
            out = forward(*args, **kwargs)
            answers = getattr(self._call, "answers", None)
            if answers is not None:
                self._steer(out.logits, kwargs, answers)
            return out

        engine.transcribe = planned_transcribe
        model.forward = steered_forward

    def _steer(self, logits: torch.Tensor, kwargs: dict[str, Any], answers: list[list[int]]) -> None:
        """Raise, at each kept position of each row, the logit of the answer token that position predicts."""
        ids = kwargs["input_ids"]
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            positions = (mask.long().cumsum(-1) - 1)[:, -ids.shape[1] :]
        else:
            positions = kwargs["position_ids"].reshape(ids.shape[0], -1)[:, -ids.shape[1] :]
        starts = self._call.starts
        for row in range(ids.shape[0]):
            where = (ids[row] == self.audio_end).nonzero()
            if len(where):
                starts[row] = int(positions[row, int(where[-1])]) + self.after_audio
        kept = positions[:, -logits.shape[1] :]
        top = logits.amax(-1)
        for row in range(ids.shape[0]):
            if starts[row] is None:
                continue
            answer = answers[row]
            for j in range(logits.shape[1]):
                k = int(kept[row, j]) + 1 - starts[row]
                if k >= 0:
                    logits[row, j, answer[min(k, len(answer) - 1)]] = top[row, j] + 30.0

    def accepted_summary(self) -> dict[str, float | int | None]:
        """Draft tokens per call that were given and kept, and the share kept."""
        given = sum(g for g, _ in self.accepted)
        kept = sum(k for _, k in self.accepted)
        rows = len(self.accepted)
        return {
            "drafted_rows": rows,
            "draft_tokens_per_row": given / rows if rows else None,
            "accepted_tokens_per_row": kept / rows if rows else None,
            "accepted_share": kept / given if given else None,
        }
