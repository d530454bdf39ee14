"""bf16 on a CPU: the decoder's matmuls run on weights packed once for oneDNN, with the same logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from asr.engines.cpu_tuning import PrepackedBf16Linear, prepacked_bf16_pays
from asr.engines.loading import plan_device
from asr.engines.transformers_engine import AsrEngine

BF16_CPU = plan_device("bfloat16", cuda_available=False)


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def _kinds(module: torch.nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, torch.nn.Linear)}


@pytest.mark.skipif(not prepacked_bf16_pays(BF16_CPU), reason="no x86-64 CPU with bf16 instructions")
def test_bf16_on_a_cpu_decodes_on_packed_weights_with_bit_identical_logits(random_checkpoint: Path) -> None:
    engine = AsrEngine.load(str(random_checkpoint), BF16_CPU)
    model = engine.model
    assert _kinds(model.model.language_model) == {PrepackedBf16Linear}
    assert type(model.lm_head) is PrepackedBf16Linear
    assert _kinds(model.model.audio_tower) == {torch.nn.Linear}  # the encoder is left as it was
    assert not any(weight.is_mkldnn for weight in model.parameters())  # a packed copy beside the weights
    inputs = engine._inputs([noise(2.0), noise(1.2, seed=1)], None, None)
    with torch.inference_mode():
        packed_logits = model(**inputs).logits
        packed = model.generate(
            **inputs, max_new_tokens=6, do_sample=False, output_logits=True, return_dict_in_generate=True
        )
        for module in model.modules():
            if type(module) is PrepackedBf16Linear:
                module.__class__ = torch.nn.Linear
        plain_logits = model(**inputs).logits
        plain = model.generate(
            **inputs, max_new_tokens=6, do_sample=False, output_logits=True, return_dict_in_generate=True
        )
    assert torch.equal(packed_logits, plain_logits)  # prefill: many rows
    assert torch.equal(packed.sequences, plain.sequences)
    assert torch.equal(torch.stack(packed.logits), torch.stack(plain.logits))  # decode steps: one row each


def test_a_model_cast_out_of_bf16_uses_its_weights() -> None:
    layer = torch.nn.Linear(8, 4, bias=False).to(torch.bfloat16)
    layer.__class__ = PrepackedBf16Linear
    layer.packed_weight = torch.zeros(0)  # never read once the model is float32
    layer.to(torch.float32)
    x = torch.randn(2, 8)
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight))


def test_packing_is_for_bf16_on_a_cpu_only() -> None:
    assert not prepacked_bf16_pays(plan_device("float32", cuda_available=False))
    assert not prepacked_bf16_pays(plan_device(int8=True, cuda_available=False))
    assert not prepacked_bf16_pays(plan_device("bfloat16", cuda_available=True))
