"""Which job folders this process owns, which session made them, and which a running job still uses.

A browser tab closing must never pull a folder from under a job that is still writing to it; a folder whose
removal failed is kept here so a later release (or the exit handler) can retry it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cleanup.removal import remove_tree
from cleanup.root import cleanup_disabled


@dataclass
class _Entry:
    session_id: str | None
    in_use: bool


@dataclass(frozen=True)
class Release:
    """Outcome of releasing a session's folders: counts only, for a log event or the UI."""

    removed: int
    in_use: int
    failed: int


_lock = threading.Lock()
_entries: dict[Path, _Entry] = {}


def claim(path: Path, session_id: str | None) -> None:
    with _lock:
        _entries[path] = _Entry(session_id=session_id, in_use=True)


def finish(path: Path, removed: bool) -> None:
    """The job is done with `path`; forget it if it is gone, else keep it for a retry."""
    with _lock:
        if removed:
            _entries.pop(path, None)
        elif path in _entries:
            _entries[path].in_use = False


def release_session(session_id: str) -> Release:
    """Remove what `session_id` left behind, except folders a running job holds (those remove themselves)."""
    with _lock:
        mine = {path: entry for path, entry in _entries.items() if entry.session_id == session_id}
    in_use = sum(entry.in_use for entry in mine.values())
    removed = failed = 0
    if cleanup_disabled():
        return Release(removed=0, in_use=in_use, failed=0)
    for path, entry in mine.items():
        if entry.in_use:
            continue
        if remove_tree(path).error is None:
            removed += 1
            with _lock:
                _entries.pop(path, None)
        else:
            failed += 1
    return Release(removed=removed, in_use=in_use, failed=failed)
