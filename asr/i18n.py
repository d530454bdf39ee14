"""Every user-facing sentence, in Chinese and English, in one table.

The UI picks the language from the browser locale (or the sidebar switch); the CLI from `LANG`. Keys are
stable codes used by `UserFacingError` and by the UI.
"""

from __future__ import annotations

Lang = str  # "zh" or "en"

TEXT: dict[str, dict[Lang, str]] = {
    # --- audio decoding -------------------------------------------------------------------------------
    "empty_file": {"zh": "文件是空的（0 字节）。", "en": "The file is empty (0 bytes)."},
}


def t(key: str, lang: Lang = "en", **params: object) -> str:
    """The sentence for `key` in `lang`, with `params` filled in."""
    entry = TEXT[key]
    return entry.get(lang, entry["en"]).format(**params)
