"""Everything that must be true of the process before it serves anyone, however it was started.

Users start the app with `python -m privacy` (the README) or with the seed article's
`streamlit run app.py --server.port=8501`. Both end up importing `app.py` as the server's ASGI module (its
last lines) before the first request is answered, and that import calls `secure_process()`; the launcher
calls it earlier still, so Streamlit's own start-up is covered too. It is idempotent: the second call is a
no-op. In this order: Streamlit's outbound IP probes pinned, the private temp root created and TMPDIR pointed
into this process's folder (so multipart upload spools fall under our sweep), dead processes' leftovers
swept, exit handlers, content-free logging, and the network guard locked down with the Hugging Face stack
told it is offline. The app never downloads anything (weights are local files only), so the guard blocks
from the start.
"""

from __future__ import annotations

import os
import tempfile
import threading

from cleanup.root import ROOT_ENV, private_root, process_dir
from cleanup.shutdown import install_exit_handlers
from cleanup.sweep import sweep_orphans
from privacy import guard, logs, server_patches

_lock = threading.Lock()
_secured = False


def secure_process() -> None:
    """All the process-wide privacy setup, once per process (tests call it on its own)."""
    global _secured
    with _lock:
        if _secured:
            return
        _secured = True
        server_patches.pin_local_addresses()
        root = private_root()
        os.environ[ROOT_ENV] = str(root)
        own = process_dir(root)
        os.environ["TMPDIR"] = str(own)
        tempfile.tempdir = str(own)
        logs.install_logging()
        sweep_orphans(root)
        install_exit_handlers()
        guard.lock_down()


def is_secured() -> bool:
    return _secured
