"""What the pipeline needs from a speech model, and nothing more: the `Backend` protocol.

`asr.transcribe` runs the language check and the batches against this interface only, so a second engine
(`asr.engines.vllm_engine`, a team's server) plugs in without a change to the pipeline, the page or the CLI.
What an engine can do beyond transcribing a batch it states in `Capabilities`, and the pipeline does without
whatever it lacks: no early probe, and the language check decodes the first chunk up to its tag; no token
probabilities, and no word is marked for checking; no context prompt or forced language, and the user is
told the choice could not be used. The answer itself is read by `asr.engines.qwen3_output` for every engine.
The records here are plain data; a backend's own decoder state travels inside `LanguageProbe.state`, which
only the backend that made it reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from asr.outputs.transcript import Piece


@dataclass(frozen=True)
class ChunkOutput:
    """What the model said for one chunk of audio."""

    language: str | None  # the model's language name ("Chinese"), the forced one, or None
    text: str
    raw: str  # decoded generation, special tokens removed
    language_prob: float | None  # product of the language-name tokens' probabilities; None if forced
    tokens: int  # generated tokens
    pieces: tuple[Piece, ...] = ()  # `text` with each token's probability; empty if the backend has none
    token_ids: tuple[int, ...] = ()  # the answer as the engine's own tokens (a draft for its next decode)
    complete: bool = True  # False: `give_way` cut it short, so it is a draft, never a final text


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


@dataclass(frozen=True)
class Capabilities:
    """What an engine offers beyond `Backend.transcribe` on a batch; each is optional."""

    token_probabilities: bool = False  # `ChunkOutput.pieces` and `language_prob` are filled in
    context_prompt: bool = False  # `context` (hotwords) reaches the model
    forced_language: bool = False  # `language` prefills the tag
    language_probe: bool = False  # a `LanguageProber`: stops at the tag and resumes from there
    calls_in_flight: int = 1  # `transcribe` calls the pipeline may run at once (a server batches them itself)
    answer_prefix: bool = False  # `prefix`: the answer goes on from text it already has (live re-decodes)
    drafts: bool = False  # `drafts` verified in one pass, and `give_way` heard after every decode step


class Aborted(Exception):
    """An engine call ended early because its job was cancelled: nobody reads its outputs."""


class Cancel:
    """A job's stop, seen by the engine calls it has in flight: set once, when the job ends early.

    An engine waiting on a server registers how to end its request (`hook`), so a cancelled job does not
    leave the server working for nobody; an in-process engine stops after its current decode step. Either
    raises `Aborted`.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}

    def set(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks.values())
        for end in hooks:
            end()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless cancelled first; True when cancelled."""
        return self._event.wait(seconds)

    @staticmethod
    @contextmanager
    def hook(cancel: Cancel | None, end: Callable[[], None]) -> Iterator[None]:
        """Run `end` if `cancel` is set while inside (at once if it already is)."""
        if cancel is None:
            yield
            return
        with cancel._lock:
            key = id(end)
            cancel._hooks[key] = end
            already = cancel._event.is_set()
        if already:
            end()
        try:
            yield
        finally:
            with cancel._lock:
                cancel._hooks.pop(key, None)


class Backend(Protocol):
    """A loaded speech model the pipeline can run; implementations must be safe to call from many threads."""

    @property
    def capabilities(self) -> Capabilities:
        """What this engine offers; the pipeline works without any of it."""
        ...

    @property
    def device(self) -> str:
        """What it runs on, for the user and the logs: "cpu", "cuda", or a server's name."""
        ...

    def preferred_batch_size(self) -> int:
        """How many chunks one `transcribe` call should take on this device right now."""
        ...

    def transcribe(
        self,
        audios: Sequence[np.ndarray],
        *,
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int = 256,
        resume: LanguageProbe | None = None,
        cancel: Cancel | None = None,
        prefix: str | None = None,
        drafts: Sequence[Sequence[int]] | None = None,
        give_way: Callable[[], bool] | None = None,
    ) -> list[ChunkOutput]:
        """Transcribe a batch of 16 kHz mono float32 chunks; `resume` is `probe_language(audios[0])` from an
        engine with `language_probe`, else None. Once `cancel` is set the call may end early by raising
        `Aborted`: nobody reads its outputs. `prefix` (an engine with `answer_prefix`, with `language`
        given): text every answer already starts with, after its tag; the outputs hold only what the model
        added.
        `drafts` (an engine with `drafts`): per chunk, the `token_ids` of an earlier decode of the same
        audio less its end; the answers are exactly a plain decode's, only cheaper where a draft agrees.
        `give_way` (likewise): asked after every decode step; once it says True the call ends, and each
        output is what was decoded so far (`complete` False)."""
        ...


class LanguageProber(Backend, Protocol):
    """An engine with `Capabilities.language_probe`: it stops a chunk at its tag and can go on from there."""

    def probe_language(self, audio: np.ndarray, *, context: str | None = None) -> LanguageProbe:
        """Generate one chunk's answer only until its language is known."""
        ...
