"""Remove this process's folder on a normal exit and on SIGTERM.

Streamlit replaces the SIGTERM handler once its server starts and then exits normally, so `atexit` is what
runs in the app; the SIGTERM handler covers the time before that and plain scripts (bench, tests).
"""

from __future__ import annotations

import atexit
import signal
import threading
from types import FrameType

from cleanup.removal import remove_tree
from cleanup.root import cleanup_disabled, process_dir

_installed = False


def remove_process_folder() -> None:
    """Delete every job folder and spool file of this process (it is ending, so nothing is still in use)."""
    if not cleanup_disabled():
        remove_tree(process_dir())


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the main thread through every open job_workspace `finally`, then atexit runs.
    raise SystemExit(128 + signum)


def install_exit_handlers() -> None:
    """Idempotent; the signal part only from the main thread, where Python allows it."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(remove_process_folder)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
