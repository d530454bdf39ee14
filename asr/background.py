"""Choosing and loading the speech backend; the page loads it in a background thread so it is usable at once.

`load_backend` is the one place that knows which `Backend` implementation the settings ask for (today the
transformers engine); the page and the CLI both call it, so a second backend plugs in here. The loader thread
also does the imports: torch and transformers take ~4.5 s to import, longer than the weights take to load,
and the page's own script never imports them (`tests/test_app.py` checks that).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from asr.backend import Backend
from asr.errors import UserFacingError
from asr.settings import Settings

log = logging.getLogger(__name__)


def load_backend(settings: Settings) -> Backend:
    """Load the speech model the settings name, on the best device; raises `UserFacingError`."""
    from asr.engine import AsrEngine  # torch and transformers: seconds of imports
    from asr.loading import plan_device

    return AsrEngine.load(settings.model, plan_device(settings.dtype, settings.cpu_int8))


class BackendLoader:
    """Runs `load` in a background thread so the page is usable while ~1 GB of weights load."""

    def __init__(self, load: Callable[[], Backend]):
        self._backend: Backend | None = None
        self._error: UserFacingError | None = None
        self._thread = threading.Thread(target=self._load, args=(load,), name="asr-model-load", daemon=True)
        self._thread.start()

    def _load(self, load: Callable[[], Backend]) -> None:
        try:
            self._backend = load()
        except UserFacingError as exc:
            self._error = exc
        except Exception as exc:  # a broken install or checkpoint: say so instead of "still loading" forever
            log.error("Model load failed unexpectedly: " + type(exc).__name__, exc_info=True)
            self._error = UserFacingError("model_incompatible")

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self, timeout: float | None = None) -> Backend:
        """The backend, waiting for the load if needed; raises the load's `UserFacingError`."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._backend is None:
            raise UserFacingError("model_loading")
        return self._backend
