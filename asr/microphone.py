"""The computer's default input device as a live source for `python -m asr live`: 16 kHz mono 16-bit pieces.

The page's microphone comes through the browser; a terminal has none of its own, so the command opens the
system's input device through PortAudio (the `sounddevice` package). It is optional: the app and every other
command run without it, and `python -m asr live` says what to install where it is missing (`pip install
sounddevice`; on Linux also the distribution's PortAudio, e.g. `libportaudio2`; the macOS and Windows wheels
carry their own). The stream is asked for 16 kHz mono 16-bit, what `asr.live.LiveJob.feed` takes; the
system's audio layer (ALSA's plug, PulseAudio/PipeWire, CoreAudio) converts from the device's own rate.

PortAudio calls `_on_audio` on a thread of its own; the pieces wait in a queue for the command's loop, and
nothing here writes audio anywhere: the live job keeps it in its private folder.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from asr.errors import UserFacingError
from asr.speech.audio import SAMPLE_RATE

PIECE_S = 0.1  # as the page's capture script sends: a pause is heard within 0.1 s of its start
_WAIT_S = 0.1


def sound_library() -> Any:
    """`sounddevice`, or a UserFacingError saying what to install: the package, or PortAudio under it."""
    try:
        import sounddevice
    except ImportError:
        raise UserFacingError("cli_live_needs_sounddevice") from None
    except OSError:  # the package is there, the PortAudio library it loads is not
        raise UserFacingError("cli_live_needs_portaudio") from None
    return sounddevice


def check_input_device(device: str | int | None) -> None:
    """Raise a UserFacingError now, before minutes of model loading, when `device` (None: the default) cannot
    record 16 kHz mono 16-bit."""
    library = sound_library()
    try:
        library.check_input_settings(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
    except (library.PortAudioError, ValueError) as exc:
        raise UserFacingError("cli_live_no_device", reason=str(exc)) from None


class Microphone:
    """The input device, recording while the `with` block runs; `pieces()` yields what it heard, in order."""

    def __init__(self, device: str | int | None = None, piece_s: float = PIECE_S) -> None:
        self._library = sound_library()
        self._device = device
        self._blocksize = round(piece_s * SAMPLE_RATE)
        self._queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._stream: Any = None
        self.overflowed = False  # the system dropped input because this process did not read it in time

    def __enter__(self) -> Microphone:
        try:
            self._stream = self._library.RawInputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=self._blocksize,
                device=self._device,
                callback=self._on_audio,
            )
            self._stream.start()
        except (self._library.PortAudioError, ValueError) as exc:
            if self._stream is not None:
                self._stream.close()
            raise UserFacingError("cli_live_no_device", reason=str(exc)) from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stream.stop()
        self._stream.close()

    def _on_audio(self, data: Any, frames: int, moment: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflowed = True
        self._queue.put(bytes(data))

    def pieces(self) -> Iterator[bytes]:
        """What was recorded since the last piece, or b"" after a short wait with nothing new (so the caller
        can look at its job and the clock between pieces)."""
        while True:
            try:
                yield self._queue.get(timeout=_WAIT_S)
            except queue.Empty:
                yield b""
