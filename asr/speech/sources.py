"""Where transcription takes its audio from: spans of speech with their samples, batch by batch.

`asr.transcribe` consumes a `ChunkSource` and never opens a file itself, so the same generator serves a
decoded upload today and a microphone later (chunks that arrive while earlier ones are transcribed). A file
knows all its chunks up front, so it can batch chunks of similar length; a live source will hand over what
it has. Samples are read one batch at a time: an hour never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from asr.speech.audio import load_pcm
from asr.speech.chunking import Chunk


@dataclass(frozen=True)
class AudioChunk:
    """One span of speech and its 16 kHz mono float32 samples."""

    chunk: Chunk
    pcm: np.ndarray


class ChunkSource(Protocol):
    """A supply of speech to transcribe; the first chunk it gives is the one the language check reads."""

    @property
    def total_chunks(self) -> int | None:
        """How many chunks it will give, when known (a file); None while audio is still coming."""
        ...

    @property
    def total_s(self) -> float | None:
        """Seconds of speech it will give, when known: what progress and the ETA count."""
        ...

    def batches(self, size: int) -> Iterator[list[AudioChunk]]:
        """Chunks in groups of at most `size`; row 0 of the first group is the recording's first chunk."""
        ...


def batches(chunks: Sequence[Chunk], size: int) -> list[list[Chunk]]:
    """Chunks of similar length together; the batch holding the first chunk first (the language probe).

    A batch decodes until its longest row is done, so a 3 s reply batched with 28 s monologues would wait.
    """
    ordered = sorted(chunks, key=lambda c: (c.duration_s, c.index))
    groups = [ordered[at : at + size] for at in range(0, len(ordered), size)]
    first = next(i for i, group in enumerate(groups) if any(c.index == chunks[0].index for c in group))
    head = sorted(groups[first], key=lambda c: c.index != chunks[0].index)  # the probed chunk is row 0
    return [head, *groups[:first], *groups[first + 1 :]]


class FileChunks:
    """The planned chunks of a decoded WAV (`asr.speech.chunking.plan_chunks`), read from disk a batch at a
    time."""

    def __init__(self, wav_path: Path, chunks: Sequence[Chunk]) -> None:
        self.wav_path = wav_path
        self.chunks = list(chunks)

    @property
    def total_chunks(self) -> int:
        return len(self.chunks)

    @property
    def total_s(self) -> float:
        return sum(chunk.duration_s for chunk in self.chunks)

    def batches(self, size: int) -> Iterator[list[AudioChunk]]:
        if not self.chunks:
            return
        for group in batches(self.chunks, size):
            yield [AudioChunk(c, load_pcm(self.wav_path, c.start_s, c.end_s)) for c in group]
