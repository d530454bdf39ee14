"""What the pipeline needs from a speech model, and nothing more: the `Backend` protocol.

`asr.transcribe` runs the language check and the batches against this interface only, so a second engine
(a vLLM server for a team, an ONNX build) plugs in without a change to the pipeline, the page or the CLI.
The records here are plain data; a backend's own decoder state travels inside `LanguageProbe.state`, which
only the backend that made it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from asr.transcript import Piece


@dataclass(frozen=True)
class ChunkOutput:
    """What the model said for one chunk of audio."""

    language: str | None  # the model's language name ("Chinese"), the forced one, or None
    text: str
    raw: str  # decoded generation, special tokens removed
    language_prob: float | None  # product of the language-name tokens' probabilities; None if forced
    tokens: int  # generated tokens
    pieces: tuple[Piece, ...] = ()  # `text` with each token's probability; empty if the backend has none


@dataclass(frozen=True)
class LanguageProbe:
    """The first chunk's language, known after its first few tokens, and the backend's state to go on from.

    A refused recording costs the probe alone; an accepted one is handed back to `Backend.transcribe` as
    `resume`, and that chunk continues inside the first batch instead of starting again.
    """

    language: str | None
    language_prob: float | None
    seconds: float
    state: object = field(default=None, repr=False, compare=False)  # private to the backend that made it


class Backend(Protocol):
    """A loaded speech model the pipeline can run; implementations must be safe to call from many threads."""

    @property
    def device(self) -> str:
        """What it runs on, for the user and the logs: "cpu", "cuda", or a server's name."""
        ...

    def preferred_batch_size(self) -> int:
        """How many chunks one `transcribe` call should take on this device right now."""
        ...

    def probe_language(self, audio: np.ndarray, *, context: str | None = None) -> LanguageProbe:
        """Generate one chunk's answer only until its language is known."""
        ...

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int = 256,
        resume: LanguageProbe | None = None,
    ) -> list[ChunkOutput]:
        """Transcribe a batch of 16 kHz mono float32 chunks; `resume` is `probe_language(audios[0])`."""
        ...
