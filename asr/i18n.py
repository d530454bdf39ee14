"""Every user-facing sentence, in Chinese and English, in one table.

The UI picks the language from the browser locale (or the sidebar switch); the CLI from `LANG`. Keys are
stable codes used by `UserFacingError` and by the UI.
"""

from __future__ import annotations

Lang = str  # "zh" or "en"

TEXT: dict[str, dict[Lang, str]] = {
    # --- audio decoding -------------------------------------------------------------------------------
    "empty_file": {"zh": "文件是空的（0 字节）。", "en": "The file is empty (0 bytes)."},
    "not_audio": {
        "zh": "这个文件不是可以读取的音频或视频。",
        "en": "This file is not an audio or video file that can be read.",
    },
    "no_audio_track": {
        "zh": "这个视频没有音轨，无法转写。",
        "en": "This video has no audio track to transcribe.",
    },
    "too_short": {
        "zh": "音频太短（不到 {min_seconds:g} 秒），无法转写。",
        "en": "The audio is too short to transcribe (under {min_seconds:g} seconds).",
    },
    "too_long": {
        "zh": "音频超过了 {max_minutes:g} 分钟的上限，请剪短或分段后再上传。",
        "en": "The audio is longer than the {max_minutes:g}-minute limit; please trim or split it first.",
    },
    "unsupported_container": {
        "zh": "不支持播放列表或这种封装格式，请直接上传音频或视频文件本身。",
        "en": "Playlists and this container format are not supported; upload the audio or video file itself.",
    },
    "decode_failed": {
        "zh": "无法解码这个文件，它可能已损坏。",
        "en": "The file could not be decoded; it may be damaged.",
    },
    "truncated_warning": {
        "zh": "文件似乎已损坏或不完整，只转写了能读取的部分。",
        "en": "The file seems damaged or cut off; only the readable part was transcribed.",
    },
    "no_speech": {
        "zh": "没有找到语音：这段录音是静音的。",
        "en": "No speech found: the recording is silent.",
    },
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
