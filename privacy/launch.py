"""`python -m privacy [streamlit options]`: the only supported way to start the app.

Everything that must be true before the first request is set up here, in this order: Streamlit's outbound
probes pinned, the private temp root created and TMPDIR pointed into it (so multipart upload spools fall
under our sweep), dead processes' leftovers swept, exit handlers, content-free logging, and the network
guard locked down. The app never downloads anything (the engine loads local weights only), so the guard
blocks from the start and the Hugging Face stack is told it is offline before it is even imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cleanup.root import ROOT_ENV, private_root, process_dir
from cleanup.shutdown import install_exit_handlers
from cleanup.sweep import sweep_orphans
from privacy import guard, logs, server_patches

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_ENV = "PRIVACY_APP_SCRIPT"


def app_script() -> Path:
    """app.py at the repo root; PRIVACY_APP_SCRIPT lets a test serve a stand-in page through the same path."""
    override = os.environ.get(APP_ENV)
    return Path(override).resolve() if override else REPO_ROOT / "app.py"


def prepare_process() -> None:
    """All the process-wide privacy setup, without starting the server (tests call it on its own)."""
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


def main(argv: list[str]) -> int:
    """Run `streamlit run app.py <argv>` from the repo root, where `.streamlit/config.toml` is read."""
    script = app_script()
    prepare_process()
    server_patches.refuse_foreign_hosts()
    os.chdir(REPO_ROOT)
    from streamlit.web import cli

    return cli.main.main(args=["run", str(script), *argv], prog_name="streamlit", standalone_mode=False) or 0
