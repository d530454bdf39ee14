"""What the next decode of a growing live utterance can take from the last one, exactly, and nothing more.

A live utterance is decoded again every second or so, each time over a little more audio. Much of that work
cannot change. The audio encoder's convolutions work on each 1 s chunk of log-mel frames alone, and its
attention within windows of `n_window_infer` frames (8 s), both counted from the start of the audio it is
given; the decoder is causal. So when audio is appended, every chunk that was complete convolves to the same
output, every window that was complete encodes to the same output, and the decoder's keys and values for
the prompt up to the end of those windows' audio tokens (the chat template before the audio, then those
tokens) are the same too. `PrefillMemory` keeps them from one single-row prefill to the next and computes
only the rest: the open chunk's convolutions, the open window's attention, the decoder from there on.

Nothing is assumed: the log-mel features of a frame can change although its audio did not (each frame is
clamped against the loudest of the whole clip, and the last frames' STFT reaches past the old end), so a
chunk is reused only where its features are equal frame for frame to those it was computed from, and the
template only where its token ids are equal. A different utterance, context or precision shares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.models.qwen3_asr.modeling_qwen3_asr import get_audio_cu_seqlens, get_max_seqlen


class GaveWay(Exception):
    """The prefill stopped after the encoder: its caller has something more urgent to run."""


@dataclass(frozen=True)
class _Kept:
    dtype: torch.dtype
    features: torch.Tensor  # [mel, frames]: the complete chunks' features the outputs below came from
    convolved: torch.Tensor  # [chunks, tokens per chunk, width]: those chunks' convolution output
    encoded: torch.Tensor  # [tokens, hidden]: the complete windows' projected encoder output
    prompt: torch.Tensor  # [n]: prompt ids up to the last of those windows' audio tokens
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # the decoder's keys and values for `prompt`


@dataclass
class Reuse:
    """What was computed and what was taken from the last prefill, summed over calls (for the bench)."""

    calls: int = 0
    chunks_convolved: int = 0
    chunks_reused: int = 0
    windows_encoded: int = 0
    windows_reused: int = 0
    tokens_prefilled: int = 0
    tokens_reused: int = 0


class PrefillMemory:
    """The prefill of one row at a time, keeping what the next prefill of the same growing audio can reuse.

    The caller holds the engine's lock: one prefill at a time."""

    def __init__(self) -> None:
        self._kept: _Kept | None = None
        self.reuse = Reuse()

    def forget(self) -> None:
        self._kept = None

    def prefill(
        self,
        model: Any,
        ids: torch.Tensor,
        inputs: Any,
        keep: int,
        give_way: Callable[[], bool] | None = None,
    ) -> Any:
        """`model`'s forward over `ids` (one row: the prompt, then anything after it), the audio in `inputs`'
        features, keeping the last `keep` logits and the whole cache, as a plain forward would. `give_way`
        is asked once the audio is encoded: True raises `GaveWay` (nothing is kept)."""
        tower = model.model.audio_tower
        chunk, window = tower.n_window * 2, tower.n_window_infer
        features, mask = inputs["input_features"][0], inputs["input_features_mask"][0]
        frames = int(mask.sum())
        kept = self._kept if self._kept is not None and self._kept.dtype == model.dtype else None
        same = _same_chunks(features, frames, chunk, kept)
        windows = same * chunk // window  # windows whose every chunk is the same: their output is too
        reused_chunks = slice(windows * window // chunk, same)
        assert kept is not None or same == 0
        convolved = _convolved(
            tower, features, chunk, kept.convolved[reused_chunks] if kept else None, windows
        )
        fresh = _encoded(model, convolved, mask[windows * window :], chunk)
        per_window = _tokens(tower, window)
        audio = torch.cat([kept.encoded[: windows * per_window], fresh]) if kept else fresh
        if give_way is not None and give_way():
            raise GaveWay
        audio_id = model.config.audio_token_id
        slots = (ids[0] == audio_id).nonzero()
        first_slot = int(slots[0]) if len(slots) else ids.shape[1]
        reused = first_slot + windows * per_window  # the template, then the windows' tokens
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
        embeds[0, suffix[0] == audio_id] = audio[max(0, reused - first_slot) :].to(embeds.dtype)
        out = model(
            input_ids=suffix,  # read by nothing but hooks: the embeddings above are what the model takes
            inputs_embeds=embeds,
            attention_mask=torch.ones_like(ids),
            position_ids=torch.arange(reused, ids.shape[1], device=ids.device)[None],
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=keep,
        )
        complete = frames // chunk
        full_convolved = (
            torch.cat([kept.convolved[: windows * window // chunk], convolved]) if kept else convolved
        )
        tokens = (frames // window) * per_window
        end = first_slot + tokens
        self._kept = _Kept(
            dtype=model.dtype,
            features=features[:, : complete * chunk],
            convolved=full_convolved[:complete],
            encoded=audio[:tokens],
            prompt=ids[0, :end],
            layers=tuple(
                (layer.keys[:, :, :end], layer.values[:, :, :end]) for layer in out.past_key_values.layers
            ),
        )
        self.reuse.calls += 1
        self.reuse.chunks_reused += same - windows * window // chunk
        self.reuse.chunks_convolved += convolved.shape[0] - (same - windows * window // chunk)
        self.reuse.windows_reused += windows
        self.reuse.windows_encoded += -(-(frames - windows * window) // window)
        self.reuse.tokens_reused += reused
        self.reuse.tokens_prefilled += ids.shape[1] - reused
        return out


def _same_chunks(features: torch.Tensor, frames: int, chunk: int, kept: _Kept | None) -> int:
    """How many leading chunks, complete now and when kept, have features equal frame for frame."""
    if kept is None:
        return 0
    same = 0
    while (same + 1) * chunk <= min(frames, kept.features.shape[1]):
        span = slice(same * chunk, (same + 1) * chunk)
        if not torch.equal(features[:, span], kept.features[:, span]):
            break
        same += 1
    return same


def _convolved(
    tower: Any, features: torch.Tensor, chunk: int, reused: torch.Tensor | None, windows: int
) -> torch.Tensor:
    """The convolution front end's output for each chunk from the first open window on, each chunk alone as
    in the encoder (`Qwen3ASREncoder.forward`); the leading ones taken from `reused`."""
    mel = features.shape[0]
    start = windows * tower.n_window_infer // chunk + (0 if reused is None else reused.shape[0])
    chunked = features.view(mel, -1, chunk).permute(1, 0, 2)[start:].unsqueeze(1)
    out = F.gelu(tower.conv2d1(chunked))
    out = F.gelu(tower.conv2d2(out))
    out = F.gelu(tower.conv2d3(out))
    count, channels, bins, steps = out.size()
    out = tower.conv_out(out.permute(0, 3, 1, 2).contiguous().view(count, steps, channels * bins))
    out = out + tower.positional_embedding.positional_embedding[:steps].to(out.dtype)
    return out if reused is None else torch.cat([reused, out])


def _encoded(model: Any, convolved: torch.Tensor, mask: torch.Tensor, chunk: int) -> torch.Tensor:
    """The encoder's attention layers over the convolved chunks of whole windows, then the projector: the
    rest of `Qwen3ASREncoder.forward` and `get_audio_features`, for one row."""
    tower = model.model.audio_tower
    lengths = mask.view(-1, chunk).sum(-1)
    valid = torch.arange(convolved.shape[1], device=convolved.device) < tower._post_cnn_length(
        lengths
    ).unsqueeze(1)
    hidden = convolved.reshape(-1, convolved.shape[-1])[valid.flatten()]
    cu_seqlens = get_audio_cu_seqlens(lengths, mask.sum().reshape(1), tower.n_window_infer, tower.n_window)
    max_seqlen = get_max_seqlen(cu_seqlens, tower.config)
    for layer in tower.layers:
        hidden = layer(hidden, cu_seqlens, max_seqlen=max_seqlen)[0]
    return model.model.multi_modal_projector(tower.ln_post(hidden))


def _tokens(tower: Any, frames: int) -> int:
    """The encoder's output tokens for `frames` frames (the convolutions' length arithmetic)."""
    chunk = tower.n_window * 2
    whole, rest = divmod(frames, chunk)
    return int(
        whole * tower._post_cnn_length(torch.tensor(chunk)) + tower._post_cnn_length(torch.tensor(rest))
    )
