"""Group a recording's speech regions into model-sized chunks that start and end with speech.

Qwen3-ASR takes at most 1200 s a call and, like its family, tends to loop or truncate on long single calls;
chunks of ~20 s also batch well (each decoder weight read is shared across a batch). A chunk is one or more
speech regions (`asr.speech.detect`) and the pauses between them, so its segment's times are where speech
starts and ends. A chunk ends at the widest pause between 60 % of `target_s` and `max_s`, always at a pause of
`pause_s` or more (a long pause is never inside a segment), and always at a speaker change; a region longer
than `max_s` (unbroken speech) is cut at its quietest moment. Loudness is one short value per 20 ms frame,
read block by block, so a 3-hour file costs ~4 MB here, not copies of its PCM.
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
#: A pause this long always ends a chunk: no segment, subtitle or speaker turn spans it.
LONG_PAUSE_S = 1.0
#: A piece of speech shorter than this, left over where a region is cut at a speaker change, is not a chunk.
MIN_PIECE_S = 0.25


@dataclass(frozen=True)
class Chunk:
    """A span of the recording, in seconds, that starts and ends with speech."""

    index: int
    start_s: float
    end_s: float

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


def smoothed(levels: np.ndarray) -> np.ndarray:
    if len(levels) < _SMOOTH_FRAMES:
        return levels
    return np.convolve(levels, np.ones(_SMOOTH_FRAMES) / _SMOOTH_FRAMES, mode="same")


def _pieces(
    regions: Sequence[tuple[float, float]],
    smooth: np.ndarray,
    changes: Sequence[tuple[float, float]],
    target_s: float,
    max_s: float,
) -> list[tuple[float, float, bool]]:
    """Regions split at every speaker change and inside unbroken speech longer than `max_s`; each piece says
    whether a change (a cut that must be made) comes right before it. A region that runs through a change
    ends where the first voice stopped and goes on where the next one starts, so the silence between two
    speakers is in neither's segment; a sliver under MIN_PIECE_S left by a cut is dropped."""
    cuts = sorted(changes)
    pieces: list[tuple[float, float, bool]] = []
    k, forced = 0, False
    for start, end in regions:
        while k < len(cuts) and cuts[k][1] <= start:
            forced, k = True, k + 1
        at = start
        while True:
            inside = cuts[k] if k < len(cuts) and cuts[k][0] < end else None
            stop = max(at, inside[0]) if inside is not None else end
            while stop - at > max_s:
                cut = min(max(_quietest_cut(smooth, at, target_s, max_s), at + 1.0), stop - 1.0)
                pieces.append((at, cut, forced))
                at, forced = cut, False
            if stop - at >= MIN_PIECE_S:
                pieces.append((at, stop, forced))
                forced = False
            if inside is None:
                break
            k += 1
            at, forced = min(end, max(at, inside[1])), True
            if end - at < MIN_PIECE_S:
                break
    return pieces


def plan_chunks(
    regions: Sequence[tuple[float, float]],
    levels: np.ndarray,
    target_s: float = 20.0,
    max_s: float = 28.0,
    changes: Sequence[tuple[float, float]] = (),
    pause_s: float = LONG_PAUSE_S,
) -> list[Chunk]:
    """Chunks over the speech `regions` (sorted, seconds); `levels` are `frame_loudness` of the same WAV.

    `changes` are cuts that must be made whatever the sound there: where one speaker stops and the next
    starts (`asr.speakers.diarize.Diarization.changes`), so no chunk holds two speakers.
    """
    pieces = _pieces(regions, smoothed(levels), changes, target_s, max_s)
    chunks: list[Chunk] = []
    first = 0
    while first < len(pieces):
        start = pieces[first][0]
        last, end = first, None
        candidates: list[
            tuple[float, int]
        ] = []  # (the pause after it, piece index) of each good place to end
        while end is None:
            nxt = last + 1
            forced = nxt == len(pieces) or pieces[nxt][2] or pieces[nxt][0] - pieces[last][1] >= pause_s
            if forced:
                end = last
            else:
                if pieces[last][1] - start >= 0.6 * target_s:
                    candidates.append((pieces[nxt][0] - pieces[last][1], last))
                if pieces[nxt][1] - start > max_s:
                    end = _widest_pause(candidates, pieces, start, target_s) if candidates else last
                last = nxt
        chunks.append(Chunk(index=len(chunks), start_s=start, end_s=pieces[end][1]))
        first = end + 1
    return chunks


def _widest_pause(
    candidates: list[tuple[float, int]],
    pieces: list[tuple[float, float, bool]],
    start: float,
    target_s: float,
) -> int:
    """The end at the widest pause; among pauses nearly as wide (80 %), the one nearest the target length."""
    widest = max(gap for gap, _ in candidates)
    near = [index for gap, index in candidates if gap >= 0.8 * widest]
    return min(near, key=lambda index: abs(pieces[index][1] - start - target_s))
