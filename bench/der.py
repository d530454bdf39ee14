"""Diarization error rate, the NIST / pyannote way, on 10 ms frames.

DER = (missed speech + false alarm + speaker confusion) / reference speech, all in seconds of speaker time
(an overlapped frame with two reference speakers counts twice). Hypothesis labels are mapped one-to-one onto
reference labels to maximise the time they share (Hungarian assignment), so the labels' names never matter.
A collar removes `collar` seconds either side of every reference boundary from scoring, as md-eval does:
nobody can say to the frame where a turn starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

FRAME_S = 0.01


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Score:
    der: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    reference_s: float


def read_rttm(text: str, uri: str | None = None) -> list[Turn]:
    """`SPEAKER <file> <channel> <start> <duration> <NA> <NA> <speaker> ...` lines (of file `uri` only,
    when given)."""
    turns = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER" and uri in (None, fields[1]):
            start, duration = float(fields[3]), float(fields[4])
            turns.append(Turn(start, start + duration, fields[7]))
    return turns


def _activity(turns: Iterable[Turn], frames: int) -> tuple[list[str], np.ndarray]:
    """Speaker labels and a frames x speakers 0/1 matrix of who speaks in each frame."""
    turns = list(turns)
    labels = sorted({turn.speaker for turn in turns})
    active = np.zeros((frames, len(labels)), dtype=bool)
    for turn in turns:
        first, last = round(turn.start / FRAME_S), round(turn.end / FRAME_S)
        active[max(first, 0) : min(last, frames), labels.index(turn.speaker)] = True
    return labels, active


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.0) -> Score:
    """Score `hypothesis` against `reference`; `collar` in seconds either side of each reference boundary."""
    end = max([t.end for t in [*reference, *hypothesis]], default=0.0)
    frames = round(end / FRAME_S) + 1
    _, ref = _activity(reference, frames)
    _, hyp = _activity(hypothesis, frames)
    scored = np.ones(frames, dtype=bool)
    if collar > 0:
        width = round(collar / FRAME_S)
        for turn in reference:
            for edge in (round(turn.start / FRAME_S), round(turn.end / FRAME_S)):
                scored[max(edge - width, 0) : edge + width] = False
    ref, hyp = ref[scored], hyp[scored]
    overlap = ref.T.astype(np.int64) @ hyp.astype(np.int64)  # reference x hypothesis frames in common
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    correct = np.zeros(len(ref), dtype=np.int64)
    for row, col in zip(rows, cols, strict=True):
        correct += ref[:, row] & hyp[:, col]
    n_ref, n_hyp = ref.sum(axis=1), hyp.sum(axis=1)
    missed = np.maximum(n_ref - n_hyp, 0).sum()
    false_alarm = np.maximum(n_hyp - n_ref, 0).sum()
    confusion = (np.minimum(n_ref, n_hyp) - correct).sum()
    total = n_ref.sum()
    rate = float(missed + false_alarm + confusion) / total if total else 0.0
    return Score(rate, missed * FRAME_S, false_alarm * FRAME_S, confusion * FRAME_S, total * FRAME_S)
