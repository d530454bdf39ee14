"""Split a long 16 kHz WAV into model-sized chunks at pauses.

Qwen3-ASR takes at most 1200 s a call and, like its family, tends to loop or truncate on long single calls;
chunks of ~20 s also batch well (each decoder weight read is shared across a batch). Cuts go where the audio
is quietest inside a window before the maximum length, so a chunk ends in a pause whenever there is one and is
hard-split inside unbroken speech only when there is none. The WAV is read in blocks and only one short
loudness value per 20 ms frame is kept, so a 3-hour file costs ~4 MB here, not copies of its PCM.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME_S = 0.02
_BLOCK_FRAMES = 3000  # 60 s of audio per read
_SMOOTH_FRAMES = 10  # 200 ms: a pause shorter than this is a gap between syllables, not a place to cut
SILENCE_DBFS = -50.0  # a chunk whose loudest frame is below this holds no speech worth a model call


@dataclass(frozen=True)
class Chunk:
    """A span of the recording, in seconds."""

    index: int
    start_s: float
    end_s: float
    silent: bool

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def frame_loudness(wav_path: Path) -> np.ndarray:
    """dBFS of every 20 ms frame of a mono s16 WAV, read block by block."""
    with wave.open(str(wav_path), "rb") as wav:
        rate = wav.getframerate()
        frame = int(rate * FRAME_S)
        levels: list[np.ndarray] = []
        while True:
            data = wav.readframes(frame * _BLOCK_FRAMES)
            if not data:
                break
            pcm = np.frombuffer(data, dtype=np.int16)
            usable = len(pcm) // frame * frame
            if usable == 0:
                break
            frames = pcm[:usable].reshape(-1, frame).astype(np.float32) / 32768.0
            rms = np.sqrt(np.mean(frames * frames, axis=1))
            levels.append(20.0 * np.log10(np.maximum(rms, 1e-6)))
    return np.concatenate(levels) if levels else np.zeros(0, dtype=np.float32)


def _quietest_cut(smooth: np.ndarray, after: float, target_s: float, max_s: float) -> float:
    lo = int((after + 0.6 * target_s) / FRAME_S)
    hi = min(int((after + max_s) / FRAME_S), len(smooth))
    if hi <= lo:
        return after + max_s
    window = smooth[lo:hi]
    quietest = float(window.min())
    # among frames within 3 dB of the quietest, take the one closest to the target length
    candidates = np.flatnonzero(window <= quietest + 3.0) + lo
    target = (after + target_s) / FRAME_S
    best = int(candidates[np.argmin(np.abs(candidates - target))])
    return round(best * FRAME_S, 3)


def plan_chunks(
    wav_path: Path,
    duration_s: float,
    target_s: float = 20.0,
    max_s: float = 28.0,
    changes: Sequence[float] = (),
) -> list[Chunk]:
    """Cut points at the quietest moment between 60 % of `target_s` and `max_s` after the previous cut.

    `changes` are cuts that must be made whatever the sound there: where the speaker changes
    (`asr.diarize.Diarization.changes`), so no chunk holds two speakers; a speaker's stretch longer than
    `max_s` is cut at its pauses as usual.
    """
    levels = frame_loudness(wav_path)
    if len(levels) >= _SMOOTH_FRAMES:
        smooth = np.convolve(levels, np.ones(_SMOOTH_FRAMES) / _SMOOTH_FRAMES, mode="same")
    else:
        smooth = levels
    cuts = [0.0]
    for stop in [*sorted(c for c in changes if 0.0 < c < duration_s), duration_s]:
        while stop - cuts[-1] > max_s:
            cuts.append(_quietest_cut(smooth, cuts[-1], target_s, max_s))
        if stop > cuts[-1]:
            cuts.append(stop)
    chunks = []
    for index, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
        span = levels[int(start / FRAME_S) : max(int(end / FRAME_S), int(start / FRAME_S) + 1)]
        silent = bool(span.size == 0 or span.max() < SILENCE_DBFS)
        chunks.append(Chunk(index=index, start_s=start, end_s=end, silent=silent))
    return chunks
