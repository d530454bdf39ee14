"""Escaping user text for the two places the page shows it besides HTML: Markdown and JavaScript."""

from __future__ import annotations

import json
import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """Text shown through Markdown as itself: a file name like `![](http://host/x.png).mp3` must not make
    the browser fetch anything, and `:icon:` codes must not pull fonts from the network."""
    return _MARKDOWN.sub(r"\\\1", text)


def script_json(value: object) -> str:
    """`value` as JSON that no transcript can break out of inside a <script> (no raw `<` or `>`)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")
