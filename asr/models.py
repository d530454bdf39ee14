"""The two optional models beside the engine, as the pipeline sees them: small protocols, no torch.

The job, the page and the CLI type these, never the concrete classes, so none of them imports torch or
senko to name a type, and a test or a future implementation (an aligner on a server) plugs in the same way.
`asr.background` loads all three models one way for page and CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from asr.outputs.transcript import Transcript

if TYPE_CHECKING:
    from asr.speakers.diarize import Diarization


class WordTimer(Protocol):
    """Times each word of a transcript against the job's WAV (`asr.align.Aligner`)."""

    def time_words(self, wav_path: Path, transcript: Transcript) -> Transcript:
        """The transcript with `Segment.words` filled where the segment's language can be timed."""
        ...


class SpeakerFinder(Protocol):
    """Finds who spoke when in the job's WAV (`asr.speakers.diarize.SpeakerModel`)."""

    def diarize(self, wav_path: Path, duration_s: float, speakers: int | None = None) -> Diarization:
        """Speaker turns; `speakers` is the exact count the user knows, None to estimate."""
        ...

    def voice_print(self, wav_path: Path, duration_s: float) -> tuple[np.ndarray | None, float]:
        """A clip's voice print, comparable with `Diarization.voices`, and its seconds of speech."""
        ...
