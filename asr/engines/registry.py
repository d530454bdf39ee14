"""Which engine runs the model: `ASR_BACKEND` names one of `ENGINES`, for the page and the CLI alike.

Each entry loads its engine from the validated settings and imports what it needs only then, so reading
the settings (and `python -m asr --help`) never imports torch. A name not listed here is refused when the
settings are read, with the list of names (`asr.settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.engines.protocol import Backend
    from asr.settings import Settings

BACKEND_ENV = "ASR_BACKEND"
DEFAULT_ENGINE = "transformers"
SERVER_ENGINE = "vllm"


def _transformers(settings: Settings) -> Backend:
    """Qwen3-ASR in this process with transformers (`asr.engines.transformers_engine`): torch and
    transformers load here."""
    from asr.engines.loading import plan_device
    from asr.engines.transformers_engine import AsrEngine

    return AsrEngine.load(settings.model, plan_device(settings.dtype, settings.cpu_int8))


def _vllm(settings: Settings) -> Backend:
    """A vLLM server at `ASR_SERVER` (`asr.engines.vllm_engine`): no local model, no torch in this path."""
    from asr.engines.vllm_engine import VllmEngine

    return VllmEngine.connect(settings)


ENGINES: dict[str, Callable[[Settings], Backend]] = {DEFAULT_ENGINE: _transformers, SERVER_ENGINE: _vllm}


def load_engine(settings: Settings) -> Backend:
    """The engine the settings name, loaded; raises `UserFacingError` when its model cannot be used."""
    return ENGINES[settings.backend](settings)
