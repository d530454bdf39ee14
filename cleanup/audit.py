"""In-memory audit trail of job folders, paths and times only, for the privacy self-check panel.

Nothing here is written to disk or logged: it exists so a user can see that their last job's folder was
created, deleted, and how long the deletion took.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cleanup.root import JOB_PREFIX, PROC_PREFIX, private_root


@dataclass(frozen=True)
class JobLifecycle:
    path: Path
    created_at: datetime
    removed_at: datetime | None
    removal_seconds: float | None
    kept: bool
    cleanup_error: str | None


_lock = threading.Lock()
_trail: deque[JobLifecycle] = deque(maxlen=50)


def record(entry: JobLifecycle) -> None:
    with _lock:
        _trail.append(entry)


def last_job_lifecycle() -> JobLifecycle | None:
    with _lock:
        return _trail[-1] if _trail else None


def count_job_folders(root: Path | None = None) -> int:
    """Job folders on disk right now under the private root, across every process of this user."""
    base = root or private_root()
    return sum(1 for path in base.glob(f"{PROC_PREFIX}*/{JOB_PREFIX}*") if path.is_dir())
