"""Shared fixtures: each fixture module owns one kind of generated test data."""

import pytest

from tests.fixtures_audio import *  # noqa: F403
from tests.fixtures_browser import *  # noqa: F403
from tests.fixtures_model import *  # noqa: F403
from tests.fixtures_speakers import *  # noqa: F403
from tests.fixtures_vllm import *  # noqa: F403


@pytest.fixture(autouse=True)
def _private_tmp_root(tmp_path, monkeypatch):
    """Each test gets its own temp root, so leftovers are attributable and never touch the user's."""
    monkeypatch.setenv("QWEN_ASR_TMP_ROOT", str(tmp_path / "qwen_root"))
    monkeypatch.delenv("CLEANUP_DISABLED", raising=False)
