"""Remove a folder tree, timed, without ever raising: a failed cleanup must not break the user's job."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Removal:
    seconds: float
    error: str | None


def remove_tree(path: Path) -> Removal:
    """Delete `path` and everything in it, carrying on past single failures so as little as possible stays.

    The error text is the exception type and OS reason only (`PermissionError: Permission denied`), never the
    file name, because a name inside a job folder may be the user's.
    """
    errors: list[str] = []

    def note(_func: object, _path: str, exc_info: tuple) -> None:
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        errors.append(f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or 'removal failed'}")

    started = time.perf_counter()
    try:
        shutil.rmtree(path, onerror=note)
    except Exception as exc:  # rmtree refusing outright is still only a recorded error
        errors.append(f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or 'removal failed'}")
    seconds = time.perf_counter() - started
    if not errors and path.exists():
        errors.append("folder still present after removal")
    return Removal(seconds=seconds, error=errors[0] if errors else None)
