"""The per-job workspace: one private folder per recognition job, gone the moment the job ends."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cleanup import audit, registry
from cleanup.removal import remove_tree
from cleanup.root import JOB_PREFIX, cleanup_disabled, process_dir

_log = logging.getLogger("cleanup.workspace")


@dataclass
class JobWorkspace:
    """A job's folder and what happened to it; the UI shows `cleanup_error` as a warning when set."""

    path: Path
    created_at: datetime
    kept: bool = False
    removed_at: datetime | None = None
    removal_seconds: float | None = None
    cleanup_error: str | None = None

    @property
    def upload_path(self) -> Path:
        """Fixed name: the user's file name never reaches the disk or a log."""
        return self.path / "uploaded_audio"

    @property
    def wav_path(self) -> Path:
        return self.path / "audio_wav.wav"


@contextmanager
def job_workspace(root: Path | None = None, session_id: str | None = None) -> Iterator[JobWorkspace]:
    """Yield a fresh 0700 folder and remove it in `finally`, whatever ends the job.

    `finally` also runs for BaseException (Streamlit's StopException / RerunException when the user presses
    Stop or reruns, KeyboardInterrupt), which is exactly when a half-written upload would otherwise stay.
    `session_id` ties the folder to a browser session so `release_session` can retry a failed removal.
    """
    parent = root if root is not None else process_dir()
    path = Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=parent))
    workspace = JobWorkspace(path=path, created_at=datetime.now(timezone.utc))
    registry.claim(path, session_id)
    _log.info("Job folder created")
    try:
        yield workspace
    finally:
        _close(workspace)


def _close(workspace: JobWorkspace) -> None:
    if cleanup_disabled():
        workspace.kept = True
        registry.finish(workspace.path, removed=False)
        _log.warning("Job folder kept: CLEANUP_DISABLED=1")
    else:
        removal = remove_tree(workspace.path)
        workspace.removed_at = datetime.now(timezone.utc)
        workspace.removal_seconds = removal.seconds
        workspace.cleanup_error = removal.error
        registry.finish(workspace.path, removed=removal.error is None)
        if removal.error is None:
            _log.info("Job folder removed in %.3f s", removal.seconds)
        else:
            _log.warning("Job folder removal failed after %.3f s", removal.seconds)
    audit.record(
        audit.JobLifecycle(
            path=workspace.path,
            created_at=workspace.created_at,
            removed_at=workspace.removed_at,
            removal_seconds=workspace.removal_seconds,
            kept=workspace.kept,
            cleanup_error=workspace.cleanup_error,
        )
    )
