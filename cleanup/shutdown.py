"""Remove this process's folder on a normal exit and on SIGTERM.

Our SIGTERM handler raises SystemExit (exit status 143). In plain scripts (CLI, bench, tests) that unwinds the
main thread through every open job_workspace `finally`. In the app ours is the handler in force under either
start command: the SystemExit ends the server's event loop at once and `atexit` removes the whole process
folder, job folders of threads still running included (the server's own graceful shutdown can wait without
end on a job in flight, and the folder would then outlive the stop). It also cancels the server's lifespan
task, which reports that as a failed shutdown with a traceback; a stop asked for is not a failure, so that
report is dropped. Should the exit still not come (a non-daemon thread waiting on the stopped loop), a
deadline removes the folder and ends the process `EXIT_DEADLINE_S` after the signal.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from types import FrameType

from cleanup.removal import remove_tree
from cleanup.root import cleanup_disabled, process_dir

EXIT_DEADLINE_S = 5.0  # a stop that has not ended the process by then ends it
_installed = False
_stopping = threading.Event()
SERVER_LOGGER = "uvicorn.error"


def remove_process_folder() -> None:
    """Delete every job folder and spool file of this process (it is ending, so nothing is still in use)."""
    if not cleanup_disabled():
        remove_tree(process_dir())


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the main thread through every open job_workspace `finally`, then atexit runs.
    if not _stopping.is_set():
        threading.Thread(
            target=_exit_by_deadline, args=(128 + signum,), name="exit-deadline", daemon=True
        ).start()
    _stopping.set()
    raise SystemExit(128 + signum)


def _exit_by_deadline(status: int) -> None:
    """The stop's backstop: interpreter exit waits for every non-daemon thread, and a server's script run
    caught mid-way by the stop can wait on a loop that is gone (seen under `streamlit run` with a live
    recording's page redrawing itself every second: the process outlived SIGTERM by over 20 s). Past
    `EXIT_DEADLINE_S` the folder is removed and the process ends with the stop's status."""
    time.sleep(EXIT_DEADLINE_S)
    remove_process_folder()
    os._exit(status)


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
