"""Remove this process's folder on a normal exit, on SIGTERM, and when the app's server shuts down.

Under `python -m privacy` our SIGTERM handler is installed before the server starts; the server (uvicorn,
inside Streamlit) takes SIGTERM over while it runs, stops gracefully, puts ours back and raises the signal
again, so ours exits and `atexit` runs. Under the seed's `streamlit run app.py` the server's handler is
already there when `app.py` is imported, and is kept: replacing it raised SystemExit inside the server's
event loop, which cancelled its lifespan task mid-wait and printed a traceback at every stop. There the
re-raised signal meets the default action and the process ends without `atexit`, so the server's lifespan
(`server_lifespan`, given to `st.App`) removes the folder as the server shuts down. Plain scripts (CLI, bench,
tests) have our handler and `atexit`.
"""

from __future__ import annotations

import atexit
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

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
    if threading.current_thread() is not threading.main_thread():
        return
    if callable(signal.getsignal(signal.SIGTERM)):
        return  # a running server's graceful handler: it stops the server, whose lifespan removes the folder
    signal.signal(signal.SIGTERM, _on_sigterm)


@asynccontextmanager
async def server_lifespan(_app: Any) -> AsyncIterator[None]:
    """The app server's lifespan: when it shuts down (SIGTERM, Ctrl-C), this process's folder goes."""
    yield
    remove_process_folder()
