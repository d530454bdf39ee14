"""Language ID: the script-mix rule, the policy table and the verdict."""

from __future__ import annotations

import pytest
from transformers.models.qwen3_asr.processing_qwen3_asr import LANGUAGE_CODE_TO_NAME

from asr.errors import UserFacingError
from asr.i18n import TEXT, verdict_label
from asr.langid import (
    ALL_LANGUAGES,
    DEFAULT_ACCEPTED,
    ScriptMix,
    Verdict,
    decide_verdict,
    dialect_of,
    is_accepted,
    is_chinese,
    refusal_error,
    script_mix,
)

MIXED_1 = "这个report我明天上午10点前email给你，顺便check一下Q3的sales data"
MIXED_2 = "Please send the invoice to finance@company.com, 并抄送张经理"
MIXED_3 = "We’ll discuss the roadmap next Monday — 下周一起对齐OKR"
PURE_ZH = "我们下周一上午开会，讨论一下预算的问题。"
PURE_EN = "We will review the budget at the meeting next Monday."

# --- script_mix ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cjk", "latin", "mixed"),
    [
        (PURE_ZH, 18, 0, False),
        (PURE_EN, 0, 10, False),
        (MIXED_1, 16, 5, True),  # report, email, check, sales, data; 10 and Q3 ignored
        (MIXED_2, 6, 5, True),  # the email address is not words
        (MIXED_3, 6, 6, True),  # OKR is an acronym
        ("请把文件发到finance@company.com", 6, 0, False),
        ("Q3的销售额增长了百分之十", 11, 0, False),
        ("2024年3月15日下午3点", 6, 0, False),
        ("今年OKR和KPI都要在Q3前对齐", 9, 0, False),
        ("我们用Python写这个脚本吧", 9, 1, False),  # one loanword is not code-switching
        ("详见 https://example.com/report 和 v1.2 说明", 5, 0, False),
        ("Call me at 10 or 11 tomorrow", 0, 5, False),
        ("", 0, 0, False),
    ],
)
def test_script_mix_counts(text: str, cjk: int, latin: int, mixed: bool) -> None:
    mix = script_mix(text)
    assert (mix.cjk_chars, mix.latin_words, mix.mixed) == (cjk, latin, mixed)


def test_script_mix_share() -> None:
    assert script_mix(MIXED_1).share_cjk == pytest.approx(16 / 21)
    assert script_mix(MIXED_3).share_cjk == pytest.approx(0.5)
    assert script_mix("").share_cjk == 0.0


def test_script_mix_long_chinese_with_few_terms_stays_chinese() -> None:
    text = PURE_ZH * 10 + " report check "  # 180 characters, 2 words: under 10 %
    assert not script_mix(text).mixed
    assert ScriptMix(cjk_chars=18, latin_words=2, share_cjk=0.9).mixed


def test_script_mix_ignores_japanese_kana() -> None:
    assert script_mix("ありがとうございます").cjk_chars == 0


# --- policy -------------------------------------------------------------------------------------------------

CUSTOM = frozenset({"Japanese", "Korean"})
DIALECTS = ["Cantonese", "Sichuan", "Sichuanese", "Wu", "Minnan", "Hokkien", "Dongbei", "Henan", "Shaanxi"]
DIALECTS += ["Tianjin", "Shandong", "Hakka", "Shanghainese", "Chaozhou", "Cantonese (Hong Kong accent)"]
DIALECTS += ["Gansu dialect", "Wu Chinese", "Some Chinese dialect", "Mandarin"]


def test_all_languages_lists_the_models_30_names_chinese_english_first() -> None:
    assert len(ALL_LANGUAGES) == 30
    assert set(ALL_LANGUAGES) == set(LANGUAGE_CODE_TO_NAME.values())
    assert ALL_LANGUAGES[:3] == ["Chinese", "English", "Arabic"]
    assert ALL_LANGUAGES[2:] == sorted(ALL_LANGUAGES[2:])


@pytest.mark.parametrize("name", sorted(LANGUAGE_CODE_TO_NAME.values()))
def test_policy_model_languages(name: str) -> None:
    assert is_accepted(name, DEFAULT_ACCEPTED) is (name in {"Chinese", "English", "Cantonese"})
    assert is_accepted(name, CUSTOM) is (name in CUSTOM)


@pytest.mark.parametrize("name", DIALECTS)
def test_policy_dialects_follow_chinese(name: str) -> None:
    assert is_chinese(name)
    assert is_accepted(name, DEFAULT_ACCEPTED)
    assert is_accepted(name, {"Chinese"})
    assert not is_accepted(name, {"English"})
    assert not is_accepted(name, CUSTOM)


def test_policy_no_speech_and_cantonese_alone() -> None:
    assert not is_accepted(None, DEFAULT_ACCEPTED)
    assert not is_accepted(None, set(ALL_LANGUAGES))
    assert is_accepted("Cantonese", {"Cantonese"})
    assert not is_accepted("Chinese", {"Cantonese"})
    assert is_accepted("japanese", {"Japanese"})  # case is not meaning


@pytest.mark.parametrize(
    ("name", "dialect"),
    [("Chinese", None), ("Mandarin", None), ("Cantonese", "Cantonese"), ("Wu", "Wu"), ("English", None)],
)
def test_dialect_of(name: str, dialect: str | None) -> None:
    assert dialect_of(name) == dialect


def test_refusal_error() -> None:
    default = refusal_error(DEFAULT_ACCEPTED)
    assert isinstance(default, UserFacingError)
    assert (default.code, default.params) == ("language_refused", {})
    custom = refusal_error({"Korean", "Japanese", "Chinese"})
    assert (custom.code, custom.params) == (
        "language_refused_custom",
        {"languages": "Chinese, Japanese, Korean"},
    )


# --- verdict ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("languages", "probs", "transcript", "code", "name", "dialect", "confidence", "accepted"),
    [
        (["Chinese"], [0.98], PURE_ZH, "zh", "Chinese", None, 0.98, True),
        (["English", "English"], [0.99, 0.97], PURE_EN, "en", "English", None, 0.98, True),
        (["Chinese", "English"], [0.96, 0.94], PURE_ZH + PURE_EN, "zh-en", "Chinese", None, 0.95, True),
        (["Chinese"], [0.96], MIXED_1, "zh-en", "Chinese", None, 0.96, True),
        (["English"], [0.9], MIXED_3, "zh-en", "English", None, 0.9, True),
        (["Chinese"], [0.9], "Q3的OKR发到finance@company.com", "zh", "Chinese", None, 0.9, True),
        (["Cantonese"], [0.9], "你食咗饭未呀", "zh", "Cantonese", "Cantonese", 0.9, True),
        (
            ["Chinese", "Cantonese", "Cantonese"],
            [0.9, 0.8, 0.8],
            "",
            "zh",
            "Cantonese",
            "Cantonese",
            2.5 / 3,
            True,
        ),
        (["Japanese"], [0.95], "", "other:Japanese", "Japanese", None, 0.95, False),
        (
            ["Chinese", "Japanese", "Japanese"],
            [0.9, 0.8, 0.7],
            "",
            "other:Japanese",
            "Japanese",
            None,
            0.5,
            False,
        ),
        (["Chinese", "Chinese", "Japanese"], [0.9, 0.9, 0.6], PURE_ZH, "zh", "Chinese", None, 0.6, True),
        (["Chinese", "English", "Japanese"], [0.9, 0.9, 0.9], "", "zh-en", "Chinese", None, 0.6, True),
        (["Chinese", "Japanese"], [0.7, 0.9], "", "other:Japanese", "Japanese", None, 0.45, False),
        (["Chinese", "Japanese"], [0.8, 0.8], PURE_ZH, "zh", "Chinese", None, 0.4, True),  # ties go to zh/en
        ([None, "Chinese", None], [0.99, 0.9, 0.99], PURE_ZH, "zh", "Chinese", None, 0.9, True),
        ([None, None], [0.99, 0.97], "", "none", None, None, 0.98, False),
        ([], [], "", "none", None, None, 0.0, False),
    ],
)
def test_decide_verdict_default_policy(
    languages: list[str | None],
    probs: list[float],
    transcript: str,
    code: str,
    name: str | None,
    dialect: str | None,
    confidence: float,
    accepted: bool,
) -> None:
    verdict = decide_verdict(languages, probs, transcript, seconds=12.5)
    assert (verdict.code, verdict.language_name, verdict.dialect) == (code, name, dialect)
    assert verdict.confidence == pytest.approx(confidence)
    assert is_accepted(verdict.language_name, DEFAULT_ACCEPTED) is accepted
    assert verdict.seconds == 12.5


def test_the_policy_on_a_verdict_with_a_custom_selection() -> None:
    assert is_accepted(decide_verdict(["Japanese"], [0.9], "", 3.0).language_name, CUSTOM)
    assert not is_accepted(decide_verdict(["Chinese"], [0.9], PURE_ZH, 3.0).language_name, CUSTOM)
    assert is_accepted(decide_verdict(["Sichuan"], [0.9], "要得", 3.0).language_name, frozenset({"Chinese"}))


def test_decide_verdict_rejects_mismatched_lists() -> None:
    with pytest.raises(ValueError):
        decide_verdict(["Chinese"], [], "", 1.0)


# --- labels -------------------------------------------------------------------------------------------------


def _verdict(code: str, name: str | None, confidence: float, dialect: str | None = None) -> Verdict:
    return Verdict(code, name, dialect, confidence, seconds=1.0)


@pytest.mark.parametrize(
    ("verdict", "zh", "en"),
    [
        (_verdict("zh-en", "Chinese", 0.96), "中英混合 zh-en · 96%", "Mixed Chinese-English zh-en · 96%"),
        (_verdict("zh", "Chinese", 0.981), "中文 zh · 98%", "Chinese zh · 98%"),
        (_verdict("en", "English", 0.99), "英语 en · 99%", "English en · 99%"),
        (_verdict("zh", "Cantonese", 0.9, "Cantonese"), "粤语 Cantonese (zh) · 90%", "Cantonese (zh) · 90%"),
        (_verdict("zh", "Sichuan", 0.874, "Sichuan"), "四川话 Sichuan (zh) · 87%", "Sichuan (zh) · 87%"),
        (
            _verdict("zh", "Odd dialect", 0.5, "Odd dialect"),
            "中文方言 Odd dialect (zh) · 50%",
            "Odd dialect (zh) · 50%",
        ),
        (_verdict("other:Japanese", "Japanese", 0.95), "其他语言 Japanese", "Other language Japanese"),
        (_verdict("none", None, 0.99), "无语音 none", "No speech none"),
    ],
)
def test_labels(verdict: Verdict, zh: str, en: str) -> None:
    assert verdict_label(verdict, "zh") == zh
    assert verdict_label(verdict, "en") == en


def test_i18n_keys_exist_in_both_languages() -> None:
    keys = ["language_refused", "language_refused_custom", "verdict_zh", "verdict_en", "verdict_zh_en"]
    keys += ["verdict_dialect", "verdict_other", "verdict_none"]
    for key in keys:
        assert set(TEXT[key]) == {"zh", "en"}
    assert TEXT["language_refused"]["zh"].startswith("未识别到中文或英文，请检查音频质量")
