"""Conversations with known turn times, for the diarization tests and bench: utterances laid end to end.

`write_conversation` makes one from two distinct espeak-ng voices: each utterance is synthesized alone,
trimmed to its speech, and laid out on a 16 kHz timeline with pauses between turns, so the reference turns
are exact to the sample. The voices differ as two people do (one low and male, one high and female),
which is what the shipped CAM++ model has to tell apart. `assemble` does the same with any recorded voices.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imageio_ffmpeg import get_ffmpeg_exe

RATE = 16000
PAUSE_S = 0.6
VOICES = {1: ["-v", "en-us", "-p", "35", "-s", "160"], 2: ["-v", "en-us+f3", "-p", "75", "-s", "175"]}
LINES = [
    (
        1,
        "Good morning, and thank you for joining the call. Let us start with the budget for next year.",
    ),
    (2, "Thanks. I have the numbers here, and they look a lot better than they did last quarter."),
    (1, "That is good news. What changed in the second half of the year?"),
    (2, "Mostly travel. We moved almost every meeting online, and the savings added up quickly."),
    (1, "Then let us keep it that way, and write it into the plan."),
]


@dataclass(frozen=True)
class Conversation:
    path: Path
    turns: list[tuple[float, float, int]]  # (start, end, voice) of each utterance
    duration_s: float

    @property
    def changes(self) -> list[float]:
        """The middle of each pause where the voice changes."""
        return [(a[1] + b[0]) / 2 for a, b in zip(self.turns, self.turns[1:], strict=False) if a[2] != b[2]]


def _speech(voice: int, text: str, folder: Path, index: int) -> np.ndarray:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FileNotFoundError("espeak-ng is needed to synthesize the conversation")
    raw = folder / f"line{index}.wav"
    subprocess.run([espeak, *VOICES[voice], "-w", str(raw), text], check=True, capture_output=True)
    resampled = folder / f"line{index}_16k.wav"
    resample = ["-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(RATE)]
    subprocess.run([get_ffmpeg_exe(), *resample, str(resampled)], check=True, capture_output=True)
    with wave.open(str(resampled)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[loud[0] : loud[-1] + 1]


def assemble(
    path: Path, utterances: Sequence[tuple[int, np.ndarray]], pauses: Sequence[float]
) -> Conversation:
    """Write 16-bit `utterances` (voice, PCM) to `path` with `pauses[i]` seconds of silence before each."""
    pieces: list[np.ndarray] = []
    turns = []
    at = 0
    for (voice, pcm), pause in zip(utterances, pauses, strict=True):
        pieces += [np.zeros(round(pause * RATE), dtype=np.int16), pcm.astype(np.int16)]
        at += round(pause * RATE)
        turns.append((round(at / RATE, 3), round((at + len(pcm)) / RATE, 3), voice))
        at += len(pcm)
    pieces.append(np.zeros(round(0.5 * RATE), dtype=np.int16))
    audio = np.concatenate(pieces)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(audio.tobytes())
    return Conversation(path, turns, len(audio) / RATE)


def write_conversation(folder: Path, lines: Sequence[tuple[int, str]] = LINES) -> Conversation:
    """`lines` (voice, text) spoken by espeak-ng's voices 1 and 2 in turn, PAUSE_S apart."""
    folder.mkdir(parents=True, exist_ok=True)
    utterances = [(voice, _speech(voice, text, folder, index)) for index, (voice, text) in enumerate(lines)]
    pauses = [0.5] + [PAUSE_S] * (len(lines) - 1)
    return assemble(folder / "conversation.wav", utterances, pauses)
