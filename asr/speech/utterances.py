"""Live speech cut into utterances as it arrives: the segments issue's detector, one frame at a time.

A file is scored by `asr.speech.detect` all at once, in parallel streams; a microphone gives 32 ms at a time,
so `StreamingVad` keeps silero's recurrent state between frames (its own model instance: the state belongs to
one stream) and `UtteranceCutter` applies the same hysteresis as `regions_from_probabilities` as the frames
come. An utterance ends at a pause of `pause_s` (longer than a file's `MIN_SILENCE_S`: a breath inside a
sentence must not commit half of it) or at `max_s`, where the next one begins at once: the bounded window
that keeps every re-decode of the utterance in progress the same size, however long someone talks. Where
silero is not installed, frames are scored by loudness, like the file path's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.speech.detect import FRAME_S, LOUD_DBFS, MIN_SPEECH_S, PAD_S, THRESHOLD, SileroVad

PAUSE_S = 0.4
MAX_UTTERANCE_S = 10.0


class StreamingVad:
    """Speech probability of each 32 ms frame of one live stream, in order."""

    def __init__(self) -> None:
        self._silero = SileroVad.load()
        if self._silero is not None:
            self._silero.reset()

    def probability(self, frame: np.ndarray) -> float:
        if self._silero is not None:
            return self._silero.frame_probability(frame)
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) + 1e-12
        return 1.0 if 20 * np.log10(rms) > LOUD_DBFS else 0.0


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech in stream seconds, padded like a file's regions."""

    start_s: float
    end_s: float


class UtteranceCutter:
    """silero's hysteresis over a live stream: `push` each frame's probability, read the utterances."""

    def __init__(self, pause_s: float = PAUSE_S, max_s: float = MAX_UTTERANCE_S) -> None:
        self.pause_s = pause_s
        self.max_s = max_s
        self.frames = 0
        self._start: int | None = None
        self._quiet_since: int | None = None
        self._closed: list[Utterance] = []

    @property
    def heard_s(self) -> float:
        return self.frames * FRAME_S

    def push(self, probability: float) -> None:
        index = self.frames
        self.frames += 1
        if self._start is None:
            if probability >= THRESHOLD:
                self._start, self._quiet_since = index, None
            return
        if (index - self._start) * FRAME_S >= self.max_s:  # the window is full: cut here, go on at once
            self._close(index)
            self._start = index
            return
        if probability >= THRESHOLD - 0.15:
            self._quiet_since = None
            return
        if self._quiet_since is None:
            self._quiet_since = index
        if (index - self._quiet_since) * FRAME_S >= self.pause_s:
            self._close(self._quiet_since)
            self._start = None

    def _close(self, end: int) -> None:
        assert self._start is not None
        if (end - self._start) * FRAME_S >= MIN_SPEECH_S:
            self._closed.append(self._padded(self._start, end))
        self._quiet_since = None

    def _padded(self, start: int, end: int) -> Utterance:
        return Utterance(max(0.0, start * FRAME_S - PAD_S), min(self.heard_s, end * FRAME_S + PAD_S))

    def take_closed(self) -> list[Utterance]:
        """The utterances that ended since the last call, oldest first."""
        closed, self._closed = self._closed, []
        return closed

    def current(self) -> Utterance | None:
        """The utterance in progress (up to its last speech frame when it has gone quiet), if any."""
        if self._start is None or (self.frames - self._start) * FRAME_S < MIN_SPEECH_S:
            return None
        end = self._quiet_since if self._quiet_since is not None else self.frames
        return self._padded(self._start, end)

    @property
    def pausing(self) -> bool:
        """The last frames of the utterance in progress were not speech: a breath, or the start of the pause
        that ends it."""
        return self._start is not None and self._quiet_since is not None

    @property
    def quiet(self) -> bool:
        """The speaker has paused long enough that the current utterance's padded end is known: if the pause
        goes on, the utterance closes exactly as `current()` gives it now."""
        return (
            self._start is not None
            and self._quiet_since is not None
            and (self.frames - self._quiet_since) * FRAME_S >= PAD_S
        )

    def finish(self) -> None:
        """The stream has ended: the utterance in progress closes where its speech does."""
        if self._start is not None:
            self._close(self._quiet_since if self._quiet_since is not None else self.frames)
            self._start = None
