"""The speech engine, loaded in a background thread so the page is drawn and usable at once.

The thread also does the imports: torch and transformers take ~4.5 s to import, longer than the weights take
to load, and the page's own script never imports them (`tests/test_app.py` checks that).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from asr.errors import UserFacingError

if TYPE_CHECKING:
    from asr.engine import AsrEngine
    from asr.loading import DevicePlan


class EngineLoader:
    """Loads the engine in a background thread so the page is usable while ~1 GB of weights load."""

    def __init__(self, model: str, plan: DevicePlan | None = None):
        self.model = model
        self._engine: AsrEngine | None = None
        self._error: UserFacingError | None = None
        self._thread = threading.Thread(target=self._load, args=(plan,), name="asr-model-load", daemon=True)
        self._thread.start()

    def _load(self, plan: DevicePlan | None) -> None:
        try:
            from asr.engine import (
                AsrEngine,  # torch and transformers: ~4.5 s of imports, off the page's thread
            )

            self._engine = AsrEngine.load(self.model, plan)
        except UserFacingError as exc:
            self._error = exc

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self, timeout: float | None = None) -> AsrEngine:
        """The engine, waiting for the load if needed; raises the load's `UserFacingError`."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._engine is None:
            raise UserFacingError("model_loading")
        return self._engine
