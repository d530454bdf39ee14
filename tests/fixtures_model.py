"""Tiny Qwen3-ASR checkpoints built offline once per test session (see bench/checkpoints.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.checkpoints import build_aligner_checkpoint, build_checkpoint

if TYPE_CHECKING:
    from asr.engines.transformers_engine import AsrEngine

__all__ = [
    "random_checkpoint",
    "english_checkpoint",
    "japanese_checkpoint",
    "doubtful_checkpoint",
    "aligner_checkpoint",
    "english_engine",
]

SAYS_ENGLISH = "language English<asr_text>hello world"
SAYS_JAPANESE = "language Japanese<asr_text>hello world"
SAYS_DOUBTFUL = "language English<asr_text>hello brave world"
DOUBTED_WORD = "brave"


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights: the real architecture and code path, meaningless words."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt_random"))


@pytest.fixture(scope="session")
def english_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Answers `language English<asr_text>hello world` through the real generate path, whatever the audio."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt_en"), say=SAYS_ENGLISH)


@pytest.fixture(scope="session")
def japanese_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Answers in a language the default policy refuses."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt_ja"), say=SAYS_JAPANESE)


@pytest.fixture(scope="session")
def doubtful_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Says `SAYS_DOUBTFUL`, with `DOUBTED_WORD` at about `bench.checkpoints.DOUBTED_PROBABILITY`."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt_doubt"), say=SAYS_DOUBTFUL, doubt=DOUBTED_WORD)


@pytest.fixture(scope="session")
def aligner_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A forced aligner of the real architecture with random weights: real plumbing, meaningless times."""
    return build_aligner_checkpoint(tmp_path_factory.mktemp("aligner"))


@pytest.fixture(scope="module")
def english_engine(english_checkpoint: Path) -> AsrEngine:
    """The engine on `english_checkpoint`, loaded once per test module."""
    from asr.engines.transformers_engine import AsrEngine

    return AsrEngine.load(str(english_checkpoint))
