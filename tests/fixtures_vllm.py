"""A real vLLM server serving a tiny Qwen3-ASR checkpoint, started once for the tests that need one.

`.ci/run` installs vLLM in its own venv and names its interpreter in `ASR_TEST_VLLM_PYTHON`; in CI a missing
one fails the tests instead of skipping them. The checkpoint says `SAYS_DOUBTFUL` through vLLM's own
`generate`, its doubted word at about `DOUBTED_PROBABILITY`, so the transcript, the language check and the
confidence marks can all be read back from the server's answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.checkpoints import TinyShape, build_checkpoint
from testkit.vllm_server import VLLM_PYTHON_ENV, VllmServer, for_vllm, start_vllm, vllm_python
from tests.fixtures_model import DOUBTED_WORD, SAYS_DOUBTFUL

__all__ = ["vllm_checkpoint", "vllm_server", "SERVER_KEY"]

SERVER_KEY = "sk-test-team-key-7f3a"
#: vLLM's CPU attention takes a head size of 64 (the real model's is 128), not the tiny default of 16.
VLLM_SHAPE = TinyShape(text_heads=2, text_kv_heads=1, text_head_dim=64)


@pytest.fixture(scope="session")
def vllm_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt_vllm")
    return for_vllm(build_checkpoint(folder, shape=VLLM_SHAPE, say=SAYS_DOUBTFUL, doubt=DOUBTED_WORD))


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory, vllm_checkpoint: Path) -> Iterator[VllmServer]:
    python = vllm_python()
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{VLLM_PYTHON_ENV} must name vLLM's interpreter in CI (.ci/vllm-venv.sh makes it)")
        pytest.skip(f"no vLLM here: set {VLLM_PYTHON_ENV} (see .ci/vllm-venv.sh)")
    server = start_vllm(python, vllm_checkpoint, tmp_path_factory.mktemp("vllm"), key=SERVER_KEY)
    yield server
    server.stop()
