"""The API's side of a job: which model answers, how many requests may wait, and one request run as a job.

Every request is a job like an upload (`asr.job.run_job`): its own 0700 folder (the upload is received into
it), the language policy, chunks at pauses, the same failures. Requests share the process's one engine
(`asr.background.SHARED_MODELS`, the page's too); each runs in a thread of its own, and the engine's lock
serves calls first come, first served (`asr.engines.turns.Turns`): a job holds the model for one batch at
a time, so a short file's single call runs between two batches of a long one instead of after all of them,
and the in-process engine decodes the calls waiting by then as one batch (`AsrEngine._together`).
At most `MAX_ADMITTED` requests are admitted at once (running or waiting for the model); one more is told
429 with a Retry-After. A request whose client goes away sets the job's `Cancel`: the engine stops after
its current step, and the job's thread removes the folder.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from api.errors import ApiError
from api.form import ReceivedForm, TranscriptionRequest
from asr.background import SHARED_MODELS, SharedModels
from asr.engines.protocol import Backend, Cancel
from asr.errors import UserFacingError
from asr.i18n import t
from asr.job import JobEvent, JobOutcome, run_job
from asr.model_source import DEFAULT_ALIGNER_ID, download_command
from asr.models import SpeakerFinder, WordTimer
from asr.outputs.transcript import Segment
from asr.settings import Settings
from asr.speakers.known import Clip, KnownVoice, enroll
from asr.transcribe import TranscribeOptions
from cleanup.workspace import JobWorkspace

log = logging.getLogger(__name__)

MAX_ADMITTED = 16  # requests running or waiting for the model; the next one is told to come back
RETRY_AFTER_S = 5  # what a client is told to wait while the model loads or the queue is full
STOP_WAIT_S = 10.0  # at exit, how long the jobs in flight get to end (a step, or a batch's prefill)


def served_model_id(settings: Settings) -> str:
    """The id clients name: `ASR_MODEL`'s Hugging Face id, or its folder's own name (never the path)."""
    folder = Path(settings.model).expanduser()
    return folder.name if folder.is_dir() or folder.is_absolute() else settings.model


class TranscriptionService:
    """One per server process: the settings, the shared models, and the admission count."""

    def __init__(self, settings: Settings, models: SharedModels = SHARED_MODELS, admit: int = MAX_ADMITTED):
        self.settings = settings
        self.served = served_model_id(settings)
        self._models = models
        self._admit = admit
        self._admitted = 0
        self._lock = threading.Lock()
        self._running: set[Cancel] = set()
        self._ended = threading.Condition(self._lock)
        atexit.register(self.cancel_all)  # before the process folder goes (atexit runs last-in first-out)

    def cancel_all(self, wait_s: float = STOP_WAIT_S) -> None:
        """Cancel every job in flight and wait (up to `wait_s`) for their threads to end. The process is
        stopping (SIGTERM): a job thread still inside torch while the interpreter shuts down aborts it."""
        with self._ended:
            for cancel in self._running:
                cancel.set()
            self._ended.wait_for(lambda: not self._running, timeout=wait_s)

    def backend(self) -> Backend:
        """The engine, loading it on first ask: 503 with Retry-After until loaded, 503 if it cannot be."""
        load = self._models.backend(self.settings)
        if not load.ready:
            raise ApiError(503, "model_loading", code="model_loading", retry_after_s=RETRY_AFTER_S)
        try:
            return load.get()
        except UserFacingError as exc:
            raise ApiError(503, exc.code, exc.params, code="engine_unavailable") from None

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """A place among the requests being served, or 429."""
        with self._lock:
            if self._admitted >= self._admit:
                full = {"limit": self._admit}
                raise ApiError(429, "api_queue_full", full, code="queue_full", retry_after_s=RETRY_AFTER_S)
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    def run(
        self,
        ask: TranscriptionRequest,
        form: ReceivedForm,
        workspace: JobWorkspace,
        held: ExitStack,
        cancel: Cancel,
        on_settled: Callable[[tuple[Segment, ...]], None] | None = None,
    ) -> JobOutcome:
        """The job, in the calling thread; closes `held` (the folder, the admission) when it ends. Raises
        `ApiError` when the aligner or the speaker model asked for cannot be had."""
        with self._lock:
            self._running.add(cancel)
        try:
            with held:
                return self._job(ask, form, workspace, cancel, on_settled)
        finally:
            with self._ended:
                self._running.discard(cancel)
                self._ended.notify_all()

    def _job(
        self,
        ask: TranscriptionRequest,
        form: ReceivedForm,
        workspace: JobWorkspace,
        cancel: Cancel,
        on_settled: Callable[[tuple[Segment, ...]], None] | None,
    ) -> JobOutcome:
        """The request as `run_job` takes it: the models it needs, the options it asked for."""
        backend = self.backend()
        aligner = self._aligner() if ask.words else None
        speakers = self._speaker_model() if ask.speakers else None
        known = self._known_voices(ask, workspace, speakers) if speakers is not None else ()
        options = TranscribeOptions(
            context=ask.prompt,
            word_timestamps=ask.words,
            identify_speakers=ask.speakers,
            known_voices=known,
        )
        if ask.language:
            options = options.anyway(ask.language)

        def on_event(event: JobEvent) -> None:
            if on_settled is not None and event.progress is not None and event.progress.settled:
                on_settled(event.progress.settled)

        log.info("API job started (%s)", ask.response_format)
        return run_job(
            workspace.upload_path,
            backend,
            self.settings,
            options,
            names=[form.file_name] if form.file_name else [],
            on_event=on_event,
            aligner=aligner,
            speaker_model=speakers,
            cancel=cancel,
            workspace=workspace,
        )

    def _known_voices(
        self, ask: TranscriptionRequest, workspace: JobWorkspace, model: SpeakerFinder
    ) -> tuple[KnownVoice, ...]:
        """The request's known voices, their clips written into its folder and printed there; a clip that is
        not one person's speech is a 400 naming the voice."""
        clips = []
        for index, (name, data) in enumerate(ask.known):
            path = workspace.path / f"known-voice-{index}.clip"
            path.write_bytes(data)
            path.chmod(0o600)
            clips.append(Clip(name, path))
        try:
            return tuple(enroll(clips, model, workspace.path, self.settings.ffmpeg))
        except UserFacingError as exc:
            refused = "known_speaker_references"
            raise ApiError(400, exc.code, exc.params, param=refused, code=exc.code) from None
        finally:
            for clip in clips:
                clip.path.unlink(missing_ok=True)

    def _aligner(self) -> WordTimer:
        try:
            return self._models.aligner(self.settings).get()
        except UserFacingError as exc:
            reason = t(exc.code, "en", **exc.params)
            if exc.code == "aligner_missing":
                reason += " " + download_command(DEFAULT_ALIGNER_ID)
            field = "timestamp_granularities"
            raise ApiError(400, "api_words_need_aligner", {"reason": reason}, field) from None

    def _speaker_model(self) -> SpeakerFinder:
        try:
            return self._models.speakers().get()
        except UserFacingError as exc:
            raise ApiError(
                400, "api_speakers_need_model", {"reason": t(exc.code, "en", **exc.params)}
            ) from None
