"""What the next decode of a growing live utterance can take from the last one, exactly, and nothing more.

A live utterance is decoded again every second or so, each time over a little more audio. Most of that work
cannot change: the audio encoder attends within windows of `n_window_infer` frames (8 s) counted from the
start of the audio it is given, and the decoder is causal. So when audio is appended, every window that was
already complete encodes to the same output, and the decoder's keys and values for the prompt up to the end
of those windows' audio tokens (the chat template before the audio, then those tokens) are the same too.
`PrefillMemory` keeps them from one single-row prefill to the next and computes only the rest: the open
window and what follows it (the template's end, the draft).

Nothing is assumed: the log-mel features of a frame can change although its audio did not (each frame is
clamped against the loudest of the whole clip, and the last frames' STFT reaches past the old end), so a
window is reused only where its features are equal frame for frame to those it was encoded from, and the
template only where its token ids are equal. A different utterance, context or precision shares nothing and
is computed whole, as is audio shorter than one window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache


@dataclass(frozen=True)
class _Kept:
    dtype: torch.dtype
    features: torch.Tensor  # [mel, frames]: the complete windows' features the output below came from
    encoded: torch.Tensor  # [tokens, hidden]: those windows' projected encoder output
    prompt: torch.Tensor  # [n]: prompt ids up to the last of those windows' audio tokens
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # the decoder's keys and values for `prompt`


@dataclass
class Reuse:
    """What was computed and what was taken from the last prefill, summed over calls (for the bench)."""

    calls: int = 0
    frames_encoded: int = 0
    frames_reused: int = 0
    tokens_prefilled: int = 0
    tokens_reused: int = 0


class PrefillMemory:
    """The prefill of one row at a time, keeping what the next prefill of the same growing audio can reuse.

    The caller holds the engine's lock: one prefill at a time."""

    def __init__(self) -> None:
        self._kept: _Kept | None = None
        self.reuse = Reuse()

    def prefill(self, model: Any, ids: torch.Tensor, inputs: Any, keep: int) -> Any:
        """`model`'s forward over `ids` (one row: the prompt, then anything after it), the audio in
        `inputs`' features, keeping the last `keep` logits and the whole cache, as a plain forward would."""
        audio_id = model.config.audio_token_id
        features, mask = inputs["input_features"], inputs["input_features_mask"]
        frames = int(mask.sum())
        window = model.model.audio_tower.n_window_infer
        slots = (ids[0] == audio_id).nonzero()
        first_slot = int(slots[0]) if len(slots) else ids.shape[1]
        windows = self._same_windows(features[0], frames, window, model.dtype)
        kept = self._kept
        if windows:
            assert kept is not None
            fresh = model.model.get_audio_features(
                features[:, :, windows * window :], mask[:, windows * window :]
            )
            audio = torch.cat([kept.encoded[: windows * _tokens(model, window)], fresh.pooler_output])
        else:
            audio = model.model.get_audio_features(features, mask).pooler_output
        reused = first_slot + windows * _tokens(model, window)  # the template, then the windows' tokens
        if (
            kept is None
            or kept.prompt.numel() < reused
            or not torch.equal(kept.prompt[:reused], ids[0, :reused])
        ):
            reused = 0
        cache = DynamicCache(config=model.config)
        if reused:
            assert kept is not None
            for index, (keys, values) in enumerate(kept.layers):
                cache.update(keys[:, :, :reused], values[:, :, :reused], index)
        suffix = ids[:, reused:]
        embeds = model.get_input_embeddings()(suffix)
        slots_after = suffix[0] == audio_id
        embeds[0, slots_after] = audio[max(0, reused - first_slot) :].to(embeds.dtype)
        out = model(
            input_ids=suffix,  # read by nothing but hooks: the embeddings above are what the model takes
            inputs_embeds=embeds,
            attention_mask=torch.ones_like(ids),
            position_ids=torch.arange(reused, ids.shape[1])[None],
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=keep,
        )
        self._keep(model, ids, features[0], frames, window, audio, first_slot, out.past_key_values)
        self.reuse.calls += 1
        self.reuse.frames_reused += windows * window
        self.reuse.frames_encoded += frames - windows * window
        self.reuse.tokens_reused += reused
        self.reuse.tokens_prefilled += ids.shape[1] - reused
        return out

    def _same_windows(self, features: torch.Tensor, frames: int, window: int, dtype: torch.dtype) -> int:
        """How many leading windows, complete now and when kept, have features equal frame for frame."""
        kept = self._kept
        if kept is None or kept.dtype != dtype:
            return 0
        same = 0
        while (same + 1) * window <= min(frames, kept.features.shape[1]):
            span = slice(same * window, (same + 1) * window)
            if not torch.equal(features[:, span], kept.features[:, span]):
                break
            same += 1
        return same

    def _keep(
        self,
        model: Any,
        ids: torch.Tensor,
        features: torch.Tensor,
        frames: int,
        window: int,
        audio: torch.Tensor,
        first_slot: int,
        cache: Any,
    ) -> None:
        """Keep the complete windows of this prefill, and the decoder's cache up to their last token (the
        template alone when none is complete)."""
        windows = frames // window
        tokens = audio.shape[0] - _tokens(model, frames - windows * window) if windows else 0
        end = first_slot + tokens
        self._kept = _Kept(
            dtype=model.dtype,
            features=features[:, : windows * window],
            encoded=audio[:tokens],
            prompt=ids[0, :end],
            layers=tuple((layer.keys[:, :, :end], layer.values[:, :, :end]) for layer in cache.layers),
        )


def _tokens(model: Any, frames: int) -> int:
    """The encoder's output tokens for `frames` frames (the convolutions' length arithmetic)."""
    lengths = model.model.audio_tower._post_cnn_length
    chunk = model.model.audio_tower.n_window * 2
    whole, rest = divmod(frames, chunk)
    return int(whole * lengths(torch.tensor(chunk)) + lengths(torch.tensor(rest)))
