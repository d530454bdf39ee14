"""The speaker model's features equal Kaldi's (k2-fsa's kaldi-native-fbank, the reference implementation the
shipped CAM++ model was trained with), computed in torch so every CPU gets them."""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np
import pytest

from asr.speakers.fbank import MEL_BINS, log_mel, window_features


def _kaldi(pcm: np.ndarray) -> np.ndarray:
    options = knf.FbankOptions()
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = MEL_BINS
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(16000, pcm.tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


@pytest.fixture
def voice_like() -> np.ndarray:
    """A 220 Hz tone with harmonics under noise, 2.3 s: energy in every mel band."""
    rng = np.random.default_rng(7)
    time = np.arange(int(2.3 * 16000)) / 16000
    tone = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * time) for k in range(1, 12))
    return (tone + 0.02 * rng.standard_normal(len(time))).astype(np.float32)


def test_log_mel_equals_kaldi(voice_like: np.ndarray) -> None:
    ours, kaldi = log_mel(voice_like).numpy(), _kaldi(voice_like)
    assert ours.shape == kaldi.shape == (228, MEL_BINS)
    assert np.abs(ours - kaldi).max() < 1e-3


def test_each_window_takes_its_frames_mean_normalised(voice_like: np.ndarray) -> None:
    windows = [(0.0, 1.5), (0.6, 2.1), (1.9, 2.3)]
    flat, frames, offsets, dim = window_features(voice_like, windows)
    assert dim == MEL_BINS
    assert frames.tolist() == [148, 148, 38]  # Kaldi's count of whole 25 ms frames every 10 ms
    assert offsets.tolist() == [0, 148 * MEL_BINS, 296 * MEL_BINS]
    second = flat[offsets[1] : offsets[1] + frames[1] * MEL_BINS].reshape(-1, MEL_BINS).numpy()
    kaldi = _kaldi(voice_like[int(0.6 * 16000) : int(2.1 * 16000)])
    assert np.abs(second - (kaldi - kaldi.mean(axis=0))).max() < 1e-3
    assert np.abs(second.mean(axis=0)).max() < 1e-4
