"""`python -m privacy [streamlit options]`: the README's way to start the app.

It secures the process (`privacy.process.secure_process`) before Streamlit even starts, then runs
`streamlit run app.py <options>` from the repo root, where `.streamlit/config.toml` is read. The seed's
`streamlit run app.py` gets the same protections when `app.py` is imported as the server's module; the
launcher only adds that they are in place for Streamlit's own start-up as well.
"""

from __future__ import annotations

import os
from pathlib import Path

from privacy.process import secure_process

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    secure_process()
    os.chdir(REPO_ROOT)
    from streamlit.web import cli

    app = str(REPO_ROOT / "app.py")
    return cli.main.main(args=["run", app, *argv], prog_name="streamlit", standalone_mode=False) or 0
