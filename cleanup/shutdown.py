"""Remove this process's folder on a normal exit and on SIGTERM.

Streamlit replaces the SIGTERM handler once its server starts and then exits normally, so `atexit` is what
runs in the app; the SIGTERM handler covers the time before that and plain scripts (bench, tests). Under
`streamlit run` ours is the one that runs: the SystemExit it raises inside the server's event loop cancels the
server's lifespan task, which reports that as a failed shutdown with a traceback. A stop asked for is not a
failure, so that report is dropped (the server's graceful shutdown instead can wait without end on a job in
flight, and the folder would then outlive the stop).
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from types import FrameType

from cleanup.removal import remove_tree
from cleanup.root import cleanup_disabled, process_dir

_installed = False
_stopping = threading.Event()
SERVER_LOGGER = "uvicorn.error"


def remove_process_folder() -> None:
    """Delete every job folder and spool file of this process (it is ending, so nothing is still in use)."""
    if not cleanup_disabled():
        remove_tree(process_dir())


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the main thread through every open job_workspace `finally`, then atexit runs.
    _stopping.set()
    raise SystemExit(128 + signum)


def _not_a_stop_report(record: logging.LogRecord) -> bool:
    """False for the server's traceback of its own cancelled shutdown once a SIGTERM has been received."""
    if not _stopping.is_set():
        return True
    traceback = record.exc_info is not None or record.exc_text is not None
    return not traceback and "Traceback (most recent call last)" not in record.getMessage()


def install_exit_handlers() -> None:
    """Idempotent; the signal part only from the main thread, where Python allows it."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(remove_process_folder)
    logging.getLogger(SERVER_LOGGER).addFilter(_not_a_stop_report)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
