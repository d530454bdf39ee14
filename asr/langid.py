"""Language ID from Qwen3-ASR's own language tag, and the one place the language policy lives.

Qwen3-ASR answers ``language <Name><asr_text><transcript>`` (``language None<asr_text>`` when it hears no
speech), so language ID costs nothing extra: we read the tag of the first chunk, and a language that is not
accepted is refused after those few tokens. This module is pure logic (no model, no I/O, no presentation):
the names a tag may hold, the policy and the verdict are decided here and tested without weights (the answer
itself is read by `asr.engines.qwen3_output`); `asr.i18n` words them for the user.

Nothing here logs: transcripts are private and only flow through return values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from asr.errors import UserFacingError

NO_SPEECH = "None"  # the name in the tag of an answer with no speech

CHINESE = "Chinese"
ENGLISH = "English"

# The model's 30 language names (transformers' `LANGUAGE_CODE_TO_NAME` of Qwen3-ASR; a test keeps the two
# equal). Written out so that importing this module, and so drawing the page, does not import transformers
# and torch (~4.5 s): the page must be usable while those load in the background.
_MODEL_LANGUAGES: tuple[str, ...] = (
    "Arabic", "Cantonese", "Chinese", "Czech", "Danish", "Dutch", "English", "Filipino", "Finnish",
    "French", "German", "Greek", "Hindi", "Hungarian", "Indonesian", "Italian", "Japanese", "Korean",
    "Macedonian", "Malay", "Persian", "Polish", "Portuguese", "Romanian", "Russian", "Spanish", "Swedish",
    "Thai", "Turkish", "Vietnamese",
)  # fmt: skip

#: The model's 30 language names for the UI multiselect: Chinese and English first (the app's purpose), the
#: rest alphabetical so they are easy to find.
ALL_LANGUAGES: list[str] = [CHINESE, ENGLISH] + sorted(set(_MODEL_LANGUAGES) - {CHINESE, ENGLISH})

#: ISO 639 codes of the model's languages, as API clients name a language (639-1 where there is one).
LANGUAGE_CODES: dict[str, str] = {
    "ar": "Arabic", "yue": "Cantonese", "zh": "Chinese", "cs": "Czech", "da": "Danish", "nl": "Dutch",
    "en": "English", "fil": "Filipino", "tl": "Filipino", "fi": "Finnish", "fr": "French", "de": "German",
    "el": "Greek", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "mk": "Macedonian", "ms": "Malay", "fa": "Persian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "es": "Spanish", "sv": "Swedish", "th": "Thai", "tr": "Turkish",
    "vi": "Vietnamese",
}  # fmt: skip


def language_named(value: str) -> str | None:
    """The model's name for a language given as an ISO code ("zh", "zh-CN") or a name in any case
    ("chinese"); None when the model does not know it."""
    key = value.strip().lower()
    code = key.replace("_", "-").split("-")[0]  # "zh-CN", "pt_BR": the language, not the region
    if code in LANGUAGE_CODES:
        return LANGUAGE_CODES[code]
    return next((name for name in _MODEL_LANGUAGES if name.lower() == key), None)


#: Chinese covers every Chinese dialect (Cantonese included) — see `is_accepted`.
DEFAULT_ACCEPTED: frozenset[str] = frozenset({CHINESE, ENGLISH})

# Chinese dialects, keyed by lower-case name (and common aliases) -> Chinese display name. The model card
# lists 22 dialects (Anhui ... Zhejiang, Cantonese HK/Guangdong, Wu, Minnan); aliases cover other spellings
# the model or a future checkpoint may emit. Unknown names containing "Chinese"/"Mandarin"/"dialect" still
# count as Chinese (`is_chinese`); they are shown with a generic Chinese name.
_DIALECT_ZH: dict[str, str] = {
    "cantonese": "粤语",
    "yue": "粤语",
    "anhui": "安徽话",
    "dongbei": "东北话",
    "northeastern": "东北话",
    "fujian": "福建话",
    "gansu": "甘肃话",
    "guizhou": "贵州话",
    "hebei": "河北话",
    "henan": "河南话",
    "hubei": "湖北话",
    "hunan": "湖南话",
    "xiang": "湘语",
    "jiangxi": "江西话",
    "gan": "赣语",
    "ningxia": "宁夏话",
    "shandong": "山东话",
    "shaanxi": "陕西话",
    "shanxi": "山西话",
    "sichuan": "四川话",
    "sichuanese": "四川话",
    "tianjin": "天津话",
    "yunnan": "云南话",
    "zhejiang": "浙江话",
    "wu": "吴语",
    "shanghainese": "上海话",
    "shanghai": "上海话",
    "minnan": "闽南语",
    "min nan": "闽南语",
    "southern min": "闽南语",
    "hokkien": "闽南语",
    "hakka": "客家话",
    "chaozhou": "潮汕话",
    "chaoshan": "潮汕话",
    "teochew": "潮汕话",
}
_GENERIC_DIALECT_ZH = "中文方言"
_STANDARD_CHINESE = frozenset({"chinese", "mandarin", "mandarin chinese", "standard chinese"})
_CHINESE_HINTS = ("chinese", "mandarin", "dialect")

#: Every name a language tag may hold, lower-case (the model's languages, the dialects, "none"): what tells a
#: truncated tag ("language Chin") from a transcript that merely starts with the word "language"
#: (`asr.engines.qwen3_output`).
TAG_NAMES: tuple[str, ...] = tuple(
    sorted({name.lower() for name in _MODEL_LANGUAGES} | set(_DIALECT_ZH) | {NO_SPEECH.lower()})
)

_PARENTHETICAL = re.compile(r"\([^)]*\)")
_NAME_SUFFIX = re.compile(r"\s+(?:dialect|language|chinese)$")


# --- policy -------------------------------------------------------------------------------------------------


def _base_name(name: str) -> str:
    """Lower-case name without accent notes or a trailing 'dialect'/'language': "Cantonese (Hong Kong accent)"
    and "Sichuan dialect" reduce to "cantonese" and "sichuan"."""
    return _NAME_SUFFIX.sub("", _PARENTHETICAL.sub("", name).strip().lower()).strip()


def is_chinese(name: str | None) -> bool:
    """True for standard Chinese and every Chinese dialect, including names we have never seen that say so."""
    if name is None:
        return False
    lowered = name.lower()
    base = _base_name(name)
    return base in _STANDARD_CHINESE or base in _DIALECT_ZH or any(hint in lowered for hint in _CHINESE_HINTS)


def dialect_of(name: str | None) -> str | None:
    """The model's name when it names a Chinese dialect (shown as is), None for standard Chinese."""
    if name is None or not is_chinese(name) or _base_name(name) in _STANDARD_CHINESE:
        return None
    return name


def is_accepted(language_name: str | None, accepted: Iterable[str]) -> bool:
    """The single language policy: exact model name selected, or any Chinese dialect when Chinese is selected.

    No speech (None) is never accepted. Cantonese can also be selected on its own without standard Chinese.
    """
    if language_name is None:
        return False
    selected = {name.casefold() for name in accepted}
    if language_name.casefold() in selected:
        return True
    return CHINESE.casefold() in selected and is_chinese(language_name)


def refusal_error(accepted: Iterable[str], heard: str | None = None) -> UserFacingError:
    """The error to raise when the verdict is not accepted; names the selection when it is not the default.
    `heard` (the language the model named, if any) rides along for the API's answer."""
    selected = frozenset(accepted)
    said = {"heard": heard} if heard else {}
    if selected == DEFAULT_ACCEPTED:
        return UserFacingError("language_refused", **said)
    ordered = [name for name in ALL_LANGUAGES if name in selected] + sorted(selected - set(ALL_LANGUAGES))
    return UserFacingError("language_refused_custom", languages=", ".join(ordered), **said)


# --- script mix ---------------------------------------------------------------------------------------------

# Mixed iff each script has at least this many units and the smaller one is at least this share of the total.
# Two units keep a single loanword or name ("用Python写") from flipping a sentence; 10 % keeps a long Chinese
# talk with a sprinkling of English terms Chinese.
MIN_MINORITY_UNITS = 2
MIN_MINORITY_SHARE = 0.10

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DOTTED = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)+")  # domains, file names, "v1.2", "e.g"
_TOKEN = re.compile(r"[A-Za-z0-9À-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)*")
_ACRONYM = re.compile(r"[A-Z]{2,5}")


@dataclass(frozen=True)
class ScriptMix:
    """How much of a transcript is Chinese characters vs. English words.

    Rule: a Han character and a Latin word each count as one spoken unit (both are roughly one to two
    syllables). A token counts as a Latin word only if it is letters only, at least 2 long and not an all-caps
    acronym of up to 5 letters; numbers, alphanumerics (Q3, 5G, MP3), acronyms (OKR, CEO), emails, URLs and
    dotted names are ignored, since Chinese speakers say them inside Chinese sentences without switching.
    """

    cjk_chars: int
    latin_words: int
    share_cjk: float

    @property
    def mixed(self) -> bool:
        """True when both scripts carry real speech (see `MIN_MINORITY_UNITS` / `MIN_MINORITY_SHARE`)."""
        minority = min(self.cjk_chars, self.latin_words)
        total = self.cjk_chars + self.latin_words
        return minority >= MIN_MINORITY_UNITS and minority / total >= MIN_MINORITY_SHARE


def _is_han(char: str) -> bool:
    """Han ideographs only: kana and hangul are not Chinese, so they must not make Japanese look mixed."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
    )


def _is_latin_word(token: str) -> bool:
    return len(token) >= 2 and not any(c.isdigit() for c in token) and not _ACRONYM.fullmatch(token)


def script_mix(text: str) -> ScriptMix:
    """Count Chinese characters and English words in `text` under the `ScriptMix` rule."""
    cjk = sum(1 for char in text if _is_han(char))
    stripped = _DOTTED.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", text)))
    latin = sum(1 for token in _TOKEN.findall(stripped) if _is_latin_word(token))
    total = cjk + latin
    return ScriptMix(cjk_chars=cjk, latin_words=latin, share_cjk=cjk / total if total else 0.0)


# --- verdict ------------------------------------------------------------------------------------------------


def dialect_zh_name(dialect: str) -> str:
    """The Chinese name of a dialect the model named ("Sichuanese" -> "四川话"), generic when unknown."""
    return _DIALECT_ZH.get(_base_name(dialect), _GENERIC_DIALECT_ZH)


@dataclass(frozen=True)
class Verdict:
    """The language of a whole recording, for the badge above the transcript and the JSON.

    `code`: "zh", "en", "zh-en", "other:<name>" or "none". `confidence` is the agreement-weighted mean over
    speech chunks: each chunk contributes its tag probability if its language supports the verdict, else 0.
    Whether a recording is transcribed is decided once, by the first chunk (`is_accepted` in
    `asr.transcribe`), not by this summary of all chunks.
    """

    code: str
    language_name: str | None
    dialect: str | None
    confidence: float
    seconds: float


@dataclass
class _Tally:
    """Chunk count and summed probability for one language or group; ordering key for 'dominant'."""

    count: int = 0
    prob: float = 0.0

    def add(self, prob: float) -> None:
        self.count += 1
        self.prob += prob

    @property
    def key(self) -> tuple[int, float]:
        return (self.count, self.prob)


def _dominant(tallies: dict[str, _Tally]) -> str:
    """Most chunks wins, then the larger summed probability, then first seen (dicts keep insertion order)."""
    return max(tallies, key=lambda name: tallies[name].key)


def decide_verdict(
    chunk_languages: list[str | None], chunk_probs: list[float], transcript: str, seconds: float
) -> Verdict:
    """Combine per-chunk language tags and the transcript's script mix into one verdict.

    Silent chunks (None) are ignored unless every chunk is silent. The Chinese+English chunks together compete
    with each other language; the larger side is the verdict. On the zh/en side the code is "zh-en" when both
    Chinese and English chunks occur or the transcript is script-mixed, else "zh" / "en".
    """
    chunks = [(name, min(1.0, max(0.0, p))) for name, p in zip(chunk_languages, chunk_probs, strict=True)]
    speech = [(name, p) for name, p in chunks if name is not None]
    if not speech:
        confidence = sum(p for _, p in chunks) / len(chunks) if chunks else 0.0
        return Verdict("none", None, None, confidence, seconds)

    zh_en_names: dict[str, _Tally] = {}
    other_names: dict[str, _Tally] = {}
    zh_en_total, has_zh, has_en = _Tally(), False, False
    for name, prob in speech:
        if is_chinese(name) or name == ENGLISH:
            zh_en_names.setdefault(name, _Tally()).add(prob)
            zh_en_total.add(prob)
            has_zh, has_en = has_zh or is_chinese(name), has_en or name == ENGLISH
        else:
            other_names.setdefault(name, _Tally()).add(prob)

    top_other = _dominant(other_names) if other_names else None
    if top_other is not None and other_names[top_other].key > zh_en_total.key:
        support = other_names[top_other]
        return Verdict(
            f"other:{top_other}",
            top_other,
            None,
            support.prob / len(speech),
            seconds,
        )

    name = _dominant(zh_en_names)
    if (has_zh and has_en) or script_mix(transcript).mixed:
        code, dialect = "zh-en", None
    else:
        code, dialect = ("zh", dialect_of(name)) if has_zh else ("en", None)
    return Verdict(
        code,
        name,
        dialect,
        zh_en_total.prob / len(speech),
        seconds,
    )
