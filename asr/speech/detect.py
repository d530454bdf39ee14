"""Where people speak: speech regions of a job's WAV, so every time a user sees starts and ends with speech.

Chunks used to be windows of the whole timeline: the first segment began at 0.00 s even when nobody spoke
for seven seconds, pauses sat inside segments, and a speaker was credited with the silence. Chunks are now
built from these regions (`asr.speech.chunking.plan_chunks`), so a segment starts where its first word does.

The detector is silero VAD, whose weights ship inside the `silero-vad` wheel (nothing is downloaded). It
scores every 32 ms frame with a small recurrent network; run frame after frame, that is ~19,000 calls for
10 minutes (~40 s on this CPU, more than the whole language check). So the recording is cut into `STREAM_S`
streams run side by side as one batch, each primed with `WARM_S` of the audio before it so that its
recurrent state has settled when its own frames begin (what it hears differs from the one long pass in
<0.5 % of frames): the same 10 minutes take ~2 s. The package itself is not imported: its `__init__` calls
`torch.set_num_threads(1)`, which would slow every later matrix product of the process; its TorchScript
file is loaded directly.

Frames become regions the way silero's `get_speech_timestamps` makes them: a region opens at probability
`THRESHOLD`, closes after `MIN_SILENCE_S` below `THRESHOLD - 0.15`, is dropped under `MIN_SPEECH_S`, and is
widened by `PAD_S` on each side (the first and last phonemes are quiet). Where silero is not installed, or
hears no speech in a recording that is not silent (singing, heavily processed voices), regions come from
loudness instead (`loudness_regions`), today's planner's measure: nothing a person said is dropped unheard.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asr.speech.audio import SAMPLE_RATE, load_pcm
from asr.speech.chunking import FRAME_S as LEVEL_FRAME_S
from asr.speech.chunking import smoothed

log = logging.getLogger(__name__)

Region = tuple[float, float]

FRAME_SAMPLES = 512
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE  # 32 ms
THRESHOLD = 0.5
MIN_SPEECH_S = 0.25
MIN_SILENCE_S = 0.1
PAD_S = 0.1
STREAM_S = 30.0
WARM_S = 1.0
BLOCK_S = 600.0  # audio read per batch: 20 streams of 30 s; a 3-hour file never sits in memory whole

#: Loudness fallback: 20 ms frames louder than this (smoothed over 200 ms) are sound.
LOUD_DBFS = -50.0


def _silero_file() -> Path | None:
    """The TorchScript weights inside the silero-vad wheel, found without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.jit"
    return path if path.is_file() else None


class SileroVad:
    """silero VAD loaded once per process; `probabilities` is serialised (the model keeps recurrent state)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> SileroVad | None:
        path = _silero_file()
        if path is None:
            return None
        import torch

        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript loading; the file is TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location="cpu")
        model.eval()
        return cls(model)

    def probabilities(self, wav_path: Path, duration_s: float) -> np.ndarray:
        """Speech probability of every 32 ms frame of the WAV."""
        frames = int(duration_s * SAMPLE_RATE) // FRAME_SAMPLES
        out = np.zeros(frames, dtype=np.float32)
        with self._lock:
            for first in range(0, frames, int(BLOCK_S / FRAME_S)):
                last = min(frames, first + int(BLOCK_S / FRAME_S))
                out[first:last] = self._block(wav_path, first, last)
        return out

    def reset(self) -> None:
        """Forget the stream heard so far (a live stream starts)."""
        self._model.reset_states()

    def frame_probability(self, frame: np.ndarray) -> float:
        """The next 32 ms frame of one live stream (`FRAME_SAMPLES` samples), after the ones before it."""
        import torch

        with self._lock, torch.inference_mode():
            return float(self._model(torch.from_numpy(frame[None, :]), SAMPLE_RATE)[0, 0])

    def _block(self, wav_path: Path, first: int, last: int) -> np.ndarray:
        import torch

        per_stream = int(STREAM_S / FRAME_S)
        warm = int(WARM_S / FRAME_S)
        warm_first = max(0, first - warm)
        pcm = load_pcm(wav_path, warm_first * FRAME_S, last * FRAME_S)
        starts = list(range(first, last, per_stream))
        steps = warm + per_stream
        batch = np.zeros((len(starts), steps * FRAME_SAMPLES), dtype=np.float32)
        for row, start in enumerate(starts):
            # each stream: `warm` frames before its own first frame (zeros before the recording starts)
            lead = min(warm, start - warm_first)
            a = (start - lead - warm_first) * FRAME_SAMPLES
            b = (min(start + per_stream, last) - warm_first) * FRAME_SAMPLES
            piece = pcm[a:b]
            offset = (warm - lead) * FRAME_SAMPLES
            batch[row, offset : offset + len(piece)] = piece
        probs = np.zeros((len(starts), steps), dtype=np.float32)
        with torch.inference_mode():
            self._model.reset_states()
            audio = torch.from_numpy(batch)
            for step in range(steps):
                window = audio[:, step * FRAME_SAMPLES : (step + 1) * FRAME_SAMPLES]
                probs[:, step] = self._model(window, SAMPLE_RATE)[:, 0].numpy()
        return probs[:, warm:].reshape(-1)[: last - first]


def regions_from_probabilities(probs: np.ndarray, duration_s: float) -> list[Region]:
    """silero's hysteresis: open at THRESHOLD, close after MIN_SILENCE_S under THRESHOLD - 0.15."""
    low = THRESHOLD - 0.15
    regions: list[list[int]] = []
    start: int | None = None
    quiet_since: int | None = None
    for index, p in enumerate(probs.tolist()):
        if start is None:
            if p >= THRESHOLD:
                start, quiet_since = index, None
            continue
        if p >= low:
            quiet_since = None
            continue
        if quiet_since is None:
            quiet_since = index
        if (index - quiet_since) * FRAME_S >= MIN_SILENCE_S:
            regions.append([start, quiet_since])
            start, quiet_since = None, None
    if start is not None:
        regions.append([start, quiet_since if quiet_since is not None else len(probs)])
    return _finish([(a * FRAME_S, b * FRAME_S) for a, b in regions], duration_s)


def _finish(regions: Sequence[Region], duration_s: float) -> list[Region]:
    """Drop blips, pad, and join regions the padding made touch."""
    out: list[list[float]] = []
    for start, end in regions:
        if end - start < MIN_SPEECH_S:
            continue
        start, end = max(0.0, start - PAD_S), min(duration_s, end + PAD_S)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(round(a, 2), round(b, 2)) for a, b in out]  # 10 ms, as every view shows times


def loudness_regions(levels: np.ndarray, duration_s: float) -> list[Region]:
    """Sound by loudness alone (`asr.speech.chunking.frame_loudness`), for when no speech detector can be
    used."""
    loud = np.concatenate([[False], smoothed(levels) > LOUD_DBFS, [False]])
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    spans = [(a * LEVEL_FRAME_S, b * LEVEL_FRAME_S) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    joined: list[list[float]] = []
    for start, end in spans:
        if joined and start - joined[-1][1] < MIN_SILENCE_S * 3:
            joined[-1][1] = end
        else:
            joined.append([start, end])
    return _finish([(a, b) for a, b in joined], duration_s)


_VAD: SileroVad | None = None
_VAD_LOADED = False
_VAD_LOCK = threading.Lock()


def silero() -> SileroVad | None:
    """The process's one silero model (None where the wheel is missing); loaded on first use, ~0.1 s."""
    global _VAD, _VAD_LOADED
    with _VAD_LOCK:
        if not _VAD_LOADED:
            _VAD = SileroVad.load()
            _VAD_LOADED = True
        return _VAD


def detect_speech(wav_path: Path, duration_s: float, levels: np.ndarray) -> list[Region]:
    """Speech regions of the WAV; `levels` (`asr.speech.chunking.frame_loudness`) are the fallback's
    measure."""
    started = time.perf_counter()
    vad = silero()
    regions = regions_from_probabilities(vad.probabilities(wav_path, duration_s), duration_s) if vad else []
    how = "silero"
    if not regions:
        regions, how = loudness_regions(levels, duration_s), "loudness"
    seconds = time.perf_counter() - started
    spoken = sum(b - a for a, b in regions)
    log.info(
        "Speech found (%s): %d regions, %.0f s of %.0f s, in %.2f s",
        how,
        len(regions),
        spoken,
        duration_s,
        seconds,
    )
    return regions
