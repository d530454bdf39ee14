"""The page's pieces that are not widgets: HTML builders and the script and style files they carry.

app.py describes the page (which widgets, in what order, acting on which file); what it draws as raw HTML
is built here, from escaped text and the files in `assets/`, so each piece is tested without Streamlit
(tests/test_page.py) and the JavaScript and CSS are files an editor and a linter can read as such.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"


def asset(name: str) -> str:
    """The text of one file in `assets/`, read when its module is imported (once per server process)."""
    return (ASSETS / name).read_text("utf-8")
