"""How the speech model runs on a CPU: measured choices that change its cost, not its results.

All are applied in place, after loading, by swapping a module's class for a subclass that computes the same
thing another way (weights, parameters and tied weights untouched):

* float32 decoder matmuls on oneDNN (`OneDnnLinear`): speed. At a decode step's few rows torch's default
  float32 GEMM is slow, oneDNN's is not; bf16 already runs on oneDNN.
* bf16 decoder matmuls on a copy of the weights in oneDNN's own layout (`PrepackedBf16Linear`): speed. The
  same oneDNN kernel, which otherwise re-lays every weight out at every call.
* the audio encoder one batch row at a time (`RowByRowEncoder`): memory. Its convolution front end holds
  480 x 64 x 50 activations per second of audio, twice (before and after GELU): ~1 GB in bf16 for a batch of
  eight 20 s chunks, growing with the batch, which is what capped the CPU batch. Row by row it holds one
  chunk's; each row's encoder is independent of the others', so the output is the same.
"""

from __future__ import annotations

import platform
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.qwen3_asr.modeling_qwen3_asr import Qwen3ASREncoder

from asr.engines.loading import DevicePlan, cpu_has_native_bf16


class OneDnnLinear(torch.nn.Linear):
    """A float32 Linear whose matmul is oneDNN's rather than torch's default CPU GEMM.

    On a 2-core AVX-512 CPU at 8 rows: 54 GFLOP/s for an MLP projection against oneDNN's 86, and the
    1024 x 151936 LM head 107 ms against 35; a whole batch-8 decode step of the real-shape 0.6B went
    450 -> 265 ms (`python -m bench profile --experiments plain`). At a prefill's hundreds of rows the two
    are equal.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(input, self.weight, self.bias, "none", [], "")


class PrepackedBf16Linear(torch.nn.Linear):
    """A bias-free bf16 Linear that multiplies by `packed_weight`, its weight laid out once for oneDNN.

    A bf16 `nn.Linear` on a CPU with bf16 instructions already runs oneDNN's matmul
    (brg_matmul:avx512_core_bf16), but torch hands it the weight as stored (out x in), and the kernel copies
    every weight into its blocked bf16 layout first, at every call: a batch-1 decode step read the decoder's
    1.19 GB at ~14 GB/s where the machine reads ~35. Laid out once at load
    (`torch.ops.mkldnn._reorder_linear_weight`), the same kernel reads them at ~27 GB/s: on a 2-core
    AVX512-BF16 CPU (Zen 4, no AMX) a batch-1 step of the real-shape 0.6B went from 108 to 68 ms (medians of
    8 interleaved runs), the 151936 x 1024 LM head from 19.2 to 9.8 ms, the MLPs from 37.1 to 19.3 and the
    attention projections from 28.0 to 15.3. Prefill rows gain too (4800 rows: 10-15 %). The logits are
    bit-identical: the same kernel, so the same accumulation order (checked at 1 to 4800 rows, batch 1 and 4
    `generate`, and in tests/test_cpu_tuning_bf16.py).

    The cost is memory: the packed copy, ~1.19 GB for the 0.6B, is held beside `weight` (kept for the tied
    embedding, `state_dict` and `.to()`). A bf16 checkpoint's weights stay memory-mapped from its file and
    the decode no longer reads them, so those pages become reclaimable page cache rather than held memory.
    The copy is taken at load: weights changed in place later are not seen; a model cast out of bf16 uses
    `weight` again. Repacking the 0.6B takes ~1-2 s of the load.
    """

    packed_weight: torch.Tensor

    def pack(self) -> None:
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), 1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dtype != torch.bfloat16 or self.weight.dtype != torch.bfloat16:
            return super().forward(input)
        return torch.ops.mkldnn._linear_pointwise(input, self.packed_weight, None, "none", [], "")


class RowByRowEncoder(Qwen3ASREncoder):
    """The audio encoder called once per batch row, each row cut to its own frames (no padding encoded).

    The encoder returns every row's valid frames packed one row after the other; so do these calls,
    concatenated.
    """

    def forward(
        self, input_features: torch.Tensor, input_features_mask: torch.Tensor, **kwargs: Any
    ) -> BaseModelOutputWithPooling:
        if input_features.shape[0] == 1:
            return super().forward(input_features, input_features_mask, **kwargs)
        chunk = self.n_window * 2
        states = []
        for row in range(input_features.shape[0]):
            frames = int(input_features_mask[row].sum())  # the mask is a prefix, as the encoder reads it
            end = max(chunk, -(-frames // chunk) * chunk)
            out = super().forward(
                input_features[row : row + 1, :, :end], input_features_mask[row : row + 1, :end], **kwargs
            )
            states.append(out.last_hidden_state)
        return BaseModelOutputWithPooling(last_hidden_state=torch.cat(states))


def onednn_linear_pays(plan: DevicePlan) -> bool:
    """float32 on an x86-64 CPU (oneDNN's own target; elsewhere the default GEMM is left alone)."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    cpu_float32 = plan.device == "cpu" and plan.dtype == torch.float32 and not plan.int8
    return cpu_float32 and x86 and torch.backends.mkldnn.is_available()


def prepacked_bf16_pays(plan: DevicePlan) -> bool:
    """bf16 on an x86-64 CPU with bf16 instructions (where torch's bf16 matmul is oneDNN's; measured on
    AVX512-BF16 without AMX, where the logits are bit-identical)."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    cpu_bf16 = plan.device == "cpu" and plan.dtype == torch.bfloat16 and not plan.int8
    return cpu_bf16 and x86 and torch.backends.mkldnn.is_available() and cpu_has_native_bf16()


def tune_for_cpu(model: Any, plan: DevicePlan) -> None:
    """Apply what pays on this plan's device, in place (nothing on a GPU, whose memory and kernels differ)."""
    if plan.device != "cpu":
        return
    model.model.audio_tower.__class__ = RowByRowEncoder
    # only the decoder: it runs once per generated token at a few rows, where oneDNN gains; the audio encoder
    # runs once per chunk at hundreds of rows, where it does not
    decoder = [
        m for m in [*model.model.language_model.modules(), model.lm_head] if type(m) is torch.nn.Linear
    ]
    if onednn_linear_pays(plan):
        for module in decoder:
            module.__class__ = OneDnnLinear
    elif prepacked_bf16_pays(plan):
        with torch.no_grad():  # the LM head's packed copy is its own (its weight is the embedding's)
            for module in decoder:
                if module.bias is None:
                    module.__class__ = PrepackedBf16Linear
                    module.pack()
