"""The copy button: a small document for Streamlit's iframe, which may write to the clipboard."""

from __future__ import annotations

from page import asset
from page.text import script_json

_SCRIPT = asset("copy.js")
_STYLE = asset("copy.css")


def copy_button_html(text: str, label: str, done: str) -> str:
    """A button labelled `label` that copies `text` and says `done` for a moment; the strings travel as a
    JSON block, so the script is the same file for every card."""
    data = script_json({"text": text, "label": label, "done": done})
    return (
        f"<style>{_STYLE}</style>"
        '<button id="copy"></button>'
        f'<script type="application/json" id="copy-data">{data}</script>'
        f"<script>{_SCRIPT}</script>"
    )
