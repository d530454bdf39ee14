"""Every user-facing sentence, in Chinese and English, in one table.

The UI picks the language from the browser locale (or the sidebar switch); the CLI from `LANG`. Keys are
stable codes used by `UserFacingError` and by the UI.
"""

from __future__ import annotations

Lang = str  # "zh" or "en"

TEXT: dict[str, dict[Lang, str]] = {
    # --- audio decoding -------------------------------------------------------------------------------
    "empty_file": {"zh": "文件是空的（0 字节）。", "en": "The file is empty (0 bytes)."},
    # --- language identification (asr.langid) ---------------------------------------------------------
    "language_refused": {
        "zh": "未识别到中文或英文，请检查音频质量。",
        "en": "No Chinese or English speech detected — check the audio.",
    },
    "language_refused_custom": {
        "zh": "未识别到所选语言（{languages}）的语音，请检查音频质量。",
        "en": "No speech in the selected languages ({languages}) detected — check the audio.",
    },
    "verdict_zh": {"zh": "中文 zh · {pct}%", "en": "Chinese zh · {pct}%"},
    "verdict_en": {"zh": "英语 en · {pct}%", "en": "English en · {pct}%"},
    "verdict_zh_en": {"zh": "中英混合 zh-en · {pct}%", "en": "Mixed Chinese-English zh-en · {pct}%"},
    "verdict_dialect": {"zh": "{dialect_zh} {dialect} (zh) · {pct}%", "en": "{dialect} (zh) · {pct}%"},
    "verdict_other": {"zh": "其他语言 {name}", "en": "Other language {name}"},
    "verdict_none": {"zh": "无语音 none", "en": "No speech none"},
}


def t(key: str, lang: Lang = "en", **params: object) -> str:
    """The sentence for `key` in `lang`, with `params` filled in."""
    entry = TEXT[key]
    return entry.get(lang, entry["en"]).format(**params)
