"""One recognition job, end to end: workspace -> decode -> language ID -> transcribe -> result -> cleanup.

The UI and the CLI both run jobs through `run_job`, so both get the same private folder and the same
guarantee that it is gone when the job ends, however it ends. Stages are reported through `on_event` so a
caller can draw progress (and, in Streamlit, a rerun raised from inside the callback is itself the cancel:
the `finally` of the workspace still removes everything).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from asr.audio import decode_to_wav
from asr.errors import UserFacingError
from asr.transcribe import Progress, TranscribeOptions, transcribe
from asr.transcript import Transcript
from cleanup.workspace import JobWorkspace, job_workspace

if TYPE_CHECKING:  # both bring torch, which the page must not wait for
    from asr.align import Aligner
    from asr.engine import AsrEngine

log = logging.getLogger(__name__)

Stage = Literal["decoding", "recognising", "aligning", "cleaning"]


@dataclass(frozen=True)
class JobEvent:
    stage: Stage
    progress: Progress | None = None


@dataclass
class JobResult:
    """A finished job: a transcript or an error code, plus warnings and what happened to the folder."""

    transcript: Transcript | None
    error: UserFacingError | None
    workspace: JobWorkspace
    warnings: list[str] = field(default_factory=list)  # i18n keys
    decode_seconds: float | None = None

    @property
    def kept_wav(self) -> Path | None:
        """With CLEANUP_DISABLED=1, the WAV that was kept for debugging."""
        return self.workspace.wav_path if self.workspace.kept else None


def _store(source: bytes | Path, target: Path) -> None:
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        target.write_bytes(source)
    target.chmod(0o600)


def run_job(
    source: bytes | Path,
    engine: AsrEngine,
    options: TranscribeOptions | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    session_id: str | None = None,
    aligner: Aligner | None = None,
) -> JobResult:
    """Run one job; bad input and refusals come back as `JobResult.error`, never as an exception.

    With `options.word_timestamps` and an `aligner`, words are timed before the WAV is removed.
    """
    options = options or TranscribeOptions()
    notify = on_event or (lambda event: None)
    transcript = None
    error = None
    warnings: list[str] = []
    decode_seconds = None
    with job_workspace(session_id=session_id) as workspace:
        try:
            notify(JobEvent("decoding"))
            _store(source, workspace.upload_path)
            started = time.perf_counter()
            audio = decode_to_wav(workspace.upload_path, workspace.wav_path)
            decode_seconds = time.perf_counter() - started
            if audio.truncated:
                warnings.append("truncated_warning")
            notify(JobEvent("recognising"))
            transcript = transcribe(
                engine, audio, options, on_progress=lambda step: notify(JobEvent("recognising", step))
            )
            if options.word_timestamps and aligner is not None:
                from asr.align import align_transcript  # torch is loaded by now: the aligner runs on it

                notify(JobEvent("aligning"))
                transcript = align_transcript(aligner, workspace.wav_path, transcript)
            transcript.timings["decode_s"] = decode_seconds
            if transcript.repetition_trimmed:
                warnings.append("repetition_trimmed")
        except UserFacingError as exc:
            log.info("Job ended: %s", exc.code)
            error = exc
        finally:
            notify(JobEvent("cleaning"))
    if workspace.cleanup_error:
        warnings.append("cleanup_failed")
    return JobResult(transcript, error, workspace, warnings, decode_seconds)
