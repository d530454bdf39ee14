"""Load a Qwen3-ASR-family checkpoint from this machine, in the right precision for the device.

The speech model and the forced aligner load the same way: local files only (the app never downloads),
FP16 with `device_map="auto"` on CUDA, bf16 or float32 on CPU by what the CPU does fast, and a refusal when
the weights don't all fit the architecture (transformers only warns, then runs random weights).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoProcessor

from asr.engines.turns import Turns
from asr.errors import UserFacingError
from asr.model_source import Kind, resolve_model_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevicePlan:
    """Where and in which precision the model runs."""

    device: str
    dtype: torch.dtype
    device_map: str | None
    int8: bool = False  # opt-in int8 weights for the Linear layers on CPU (ASR_CPU_INT8=1)


DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), where bf16 beats float32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def plan_device(
    dtype: str | None = None,
    int8: bool = False,
    *,
    cuda_available: bool | None = None,
    native_bf16: bool | None = None,
) -> DevicePlan:
    """FP16 with `device_map="auto"` on CUDA; on CPU bf16 where the CPU has bf16 instructions, else float32.

    Measured with `python -m bench`: on AVX2-only CPUs (most laptops) fp16/bf16 matmuls go through slow
    conversions (a transcription ~2.5x slower than fp32, a matmul ~15x), and fp16 is slow even with AVX-512
    (audio encoder 24.8 s vs 1.9 s fp32 on a 30 s clip); with AVX512-BF16, bf16 (the precision the weights are
    released in) halved encoder+prefill and cut a decode step from 169 to 113 ms. `dtype` (`ASR_DTYPE`)
    overrides; the opt-in int8 decoder (`ASR_CPU_INT8=1`) quantizes from float32 and is CPU-only.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    configured = DTYPES[dtype] if dtype else None
    if cuda_available:
        return DevicePlan(device="cuda", dtype=configured or torch.float16, device_map="auto")
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    if int8:
        dtype = torch.float32
    else:
        dtype = configured or (torch.bfloat16 if native_bf16 else torch.float32)
    return DevicePlan(device="cpu", dtype=dtype, device_map=None, int8=int8)


def quantize_linear_int8(model: torch.nn.Module) -> None:
    """Int8 weights with dynamically quantized activations for the text decoder's Linear layers, in place.

    Decode on a CPU is bound by reading the decoder's weights once per step; a quarter of the bytes made a
    step 3.2x faster at batch 1 and 2.9x at batch 8 (`python -m bench profile --int8`). The audio encoder runs
    once per chunk and stays in float32. Opt-in: its fidelity on real speech is the user's to judge.
    """
    quantization = torch.ao.quantization
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks its eager quantization API deprecated
        layers = model.model.language_model.layers
        quantization.quantize_dynamic(layers, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        head = {"lm_head": quantization.default_dynamic_qconfig}
        quantization.quantize_dynamic(model, head, dtype=torch.qint8, inplace=True)


# transformers' `from_pretrained(dtype=...)` switches torch's process-wide default dtype while it builds
# the model. Two loads at once (the page's background engine load and an aligner load for a user who ticked
# word timestamps meanwhile) interleave those switches and leave some weights in the wrong dtype, which
# fails at the first forward pass (seen on the page). So loads take turns.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Loaded:
    model: Any
    processor: Any
    plan: DevicePlan
    seconds: float


def load_local(model_class: Any, model: str, kind: Kind, plan: DevicePlan | None = None) -> Loaded:
    """`model_class.from_pretrained` on local files; raises `UserFacingError("<kind>_…")`."""
    plan = plan or plan_device()
    folder = resolve_model_dir(model, kind)
    started = time.perf_counter()
    log.info("Loading started: " + kind)
    try:
        with _LOAD_LOCK:
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            loaded, info = model_class.from_pretrained(
                folder,
                dtype=plan.dtype,
                device_map=plan.device_map,
                local_files_only=True,
                output_loading_info=True,
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserFacingError(f"{kind}_incompatible") from exc
    missing = [key for key in info.get("missing_keys", []) if key != "lm_head.weight"]
    if missing or info.get("mismatched_keys"):
        mismatched = len(info.get("mismatched_keys", []))
        log.error("Checkpoint refused: %d weights missing, %d mismatched", len(missing), mismatched)
        raise UserFacingError(f"{kind}_wrong_layout")
    loaded.eval()
    seconds = time.perf_counter() - started
    log.info("Loaded " + kind + " in %.1f s on the " + ("GPU" if plan.device == "cuda" else "CPU"), seconds)
    return Loaded(loaded, processor, plan, seconds)


class LocalModel:
    """A loaded model and its processor behind one lock, so concurrent jobs take turns with it (`Turns`)."""

    def __init__(self, loaded: Loaded):
        self.model = loaded.model
        self.processor = loaded.processor
        self.plan = loaded.plan
        self.load_seconds = loaded.seconds
        self._lock = Turns()
