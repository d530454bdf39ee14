"""Exports: SRT and VTT read back by real parsers (`srt`, `webvtt-py`) and held to the layout rules; JSON and
TXT carry what the transcript holds."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
import srt
import webvtt

from asr.langid import decide_verdict
from asr.outputs.export import FORMATS, LINE_COLUMNS, MAX_CUE_MS, MIN_CUE_MS, export, subtitle_cues
from asr.outputs.transcript import Segment, Timings, Transcript

ZH = (
    "这个报告我明天上午十点前发给你，请你仔细看一下里面的数据。如果有问题的话，我们下周一再开会讨论；"
    "另外，财务部门也需要一份副本、市场部门也要一份！大家都同意吗？"
)
EN = (
    "We will discuss the roadmap next Monday, and then we will send the invoice to finance. Please make "
    "sure that everybody has read the document before the meeting starts; otherwise we will waste a lot "
    "of time! Does that work for everyone?"
)
MIXED = "这个report我明天上午10点前email给你，我们下周一起对齐OKR，然后再跟进一下Q3的budget和roadmap。"
CLAUSE_STARTERS = set("，。！？；、,.!?;")


def transcript(*segments: Segment, forced: str | None = None) -> Transcript:
    languages = [s.language for s in segments]
    text = " ".join(s.text for s in segments)
    verdict = decide_verdict(languages, [0.9] * len(segments), text, 0.4)
    check = "forced" if forced else "passed"
    return Transcript(segments, verdict, segments[-1].end, Timings(transcribe_s=1.25), check, forced)


def chained(texts: list[str], language: str, seconds: float) -> list[Segment]:
    return [Segment(i * seconds, (i + 1) * seconds, text, language) for i, text in enumerate(texts)]


CASES = {
    "long_chinese": transcript(*chained([ZH, ZH + ZH, ZH], "Chinese", 20.0)),
    "long_english": transcript(*chained([EN, EN, EN + " " + EN], "English", 24.0)),
    "mixed": transcript(
        Segment(0.0, 12.0, MIXED, "Chinese"),
        Segment(12.0, 30.0, EN, "English"),
        Segment(31.5, 46.0, ZH, "Chinese"),
    ),
}


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)


def check_cues(timed: list[tuple[float, float, str]], source: Transcript) -> None:
    """The layout rules every subtitle export must keep, on cues as a parser read them back."""
    assert len(timed) == len(subtitle_cues(source))
    previous_end = 0.0
    for start, end, text in timed:
        assert start >= previous_end - 1e-9, "cues overlap or go back in time"
        assert end > start
        assert end - start <= MAX_CUE_MS / 1000 + 1e-9
        lines = text.split("\n")
        assert 1 <= len(lines) <= 2
        for line in lines:
            assert line.strip() and len(line) <= LINE_COLUMNS and columns(line) <= LINE_COLUMNS
            assert line[0] not in CLAUSE_STARTERS, "a line starts with punctuation"
        previous_end = end
    assert squash("".join(text for _, _, text in timed)) == squash(source.text)


@pytest.mark.parametrize("case", CASES)
def test_srt_parses_and_keeps_the_layout_rules(case: str) -> None:
    source = CASES[case]
    cues = list(srt.parse(export(source, "srt")))
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    check_cues([(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues], source)
    assert re.match(r"1\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\n", export(source, "srt"))


def vtt_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@pytest.mark.parametrize("case", CASES)
def test_vtt_parses_and_keeps_the_layout_rules(case: str) -> None:
    source = CASES[case]
    text = export(source, "vtt")
    assert text.startswith("WEBVTT\n\n")
    assert re.search(r"\n\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}\n", text)
    captions = webvtt.from_string(text)
    check_cues([(vtt_seconds(c.start), vtt_seconds(c.end), c.text) for c in captions], source)


@pytest.mark.parametrize("case", CASES)
def test_cues_last_at_least_half_a_second_when_the_speech_rate_allows(case: str) -> None:
    assert all(c.end_ms - c.start_ms >= MIN_CUE_MS for c in subtitle_cues(CASES[case]))


def test_cues_break_after_punctuation_when_it_leaves_no_stub() -> None:
    """Only the clause too long for one 7-second cue may be cut at a space."""
    for text, language in ((EN, "English"), (ZH, "Chinese")):
        cues = subtitle_cues(transcript(Segment(0.0, 30.0, text, language)))
        assert len(cues) >= 5
        assert sum(squash(c.text)[-1] not in CLAUSE_STARTERS for c in cues) <= 1


def test_chinese_lines_count_two_columns_a_character() -> None:
    cues = subtitle_cues(transcript(Segment(0.0, 20.0, "一" * 200, "Chinese")))
    assert max(len(line) for c in cues for line in c.text.split("\n")) == LINE_COLUMNS // 2


def test_timing_follows_text_length_within_a_segment() -> None:
    cues = subtitle_cues(transcript(Segment(10.0, 16.0, "短句。" + "这是一个长得多的句子，" * 3, "Chinese")))
    assert cues[0].start_ms == 10_000 and cues[-1].end_ms == 16_000
    widths = [len(squash(c.text)) for c in cues]
    durations = [c.end_ms - c.start_ms for c in cues]
    assert sorted(range(len(cues)), key=widths.__getitem__) == sorted(
        range(len(cues)), key=durations.__getitem__
    )


def test_a_few_words_over_a_long_segment_never_exceed_seven_seconds() -> None:
    cues = subtitle_cues(transcript(Segment(0.0, 20.0, "hello", "English")))
    assert [(c.start_ms, c.end_ms, c.text) for c in cues] == [(0, MAX_CUE_MS, "hello")]


def test_overlapping_or_instant_segments_still_give_ordered_cues() -> None:
    source = transcript(
        Segment(0.0, 5.0, "first part.", "English"),
        Segment(4.0, 4.0, "second.", "English"),
        Segment(4.2, 6.0, "", "English"),
        Segment(4.5, 9.0, "third part here.", "English"),
    )
    cues = subtitle_cues(source)
    assert [c.text for c in cues] == ["first part.", "second.", "third part here."]
    for before, after in zip(cues, cues[1:], strict=False):
        assert before.start_ms < before.end_ms <= after.start_ms < after.end_ms


def test_a_word_longer_than_a_line_is_cut_between_characters() -> None:
    url = "https://example.com/" + "a" * 80
    cues = subtitle_cues(transcript(Segment(0.0, 6.0, f"see {url} now", "English")))
    lines = [line for c in cues for line in c.text.split("\n")]
    assert max(len(line) for line in lines) <= LINE_COLUMNS
    assert squash("".join(lines)) == squash(f"see {url} now")


def test_vtt_escapes_markup_characters() -> None:
    text = export(transcript(Segment(0.0, 3.0, "a <b> & c --> d", "English")), "vtt")
    assert "a &lt;b&gt; &amp; c --&gt; d" in text


def test_json_carries_verdict_segments_text_and_timings() -> None:
    source = CASES["mixed"]
    document = json.loads(export(source, "json"))
    assert document["language"] == {
        "code": source.verdict.code,
        "name": source.verdict.language_name,
        "dialect": source.verdict.dialect,
        "confidence": round(source.verdict.confidence, 4),
        "check": "passed",
    }
    assert document["forced_language"] is None
    assert document["duration_s"] == 46.0
    assert document["text"] == source.text
    assert document["timings"] == {"transcribe_s": 1.25, "verdict_s": 0.0}
    assert [s["text"] for s in document["segments"]] == [s.text for s in source.segments]
    assert document["segments"][1] == {
        "start": 12.0,
        "end": 30.0,
        "text": EN,
        "language": "English",
        "repetition_trimmed": False,
        "hit_token_limit": False,
    }
    assert "这个report" in export(source, "json"), "JSON must keep Chinese readable (ensure_ascii=False)"


def test_json_records_a_forced_language_and_what_the_model_said_before_a_trim() -> None:
    looped = "好的" * 30
    source = transcript(Segment(0.0, 3.0, "好的", "Japanese", untrimmed_text=looped), forced="Japanese")
    document = json.loads(export(source, "json"))
    assert document["forced_language"] == "Japanese" and document["language"]["check"] == "forced"
    assert document["segments"][0]["repetition_trimmed"] is True
    assert document["segments"][0]["untrimmed_text"] == looped


def test_txt_is_the_joined_text() -> None:
    source = CASES["mixed"]
    assert export(source, "txt") == source.text + "\n"


def test_every_format_has_a_mime_type_and_extension() -> None:
    assert set(FORMATS) == {"txt", "srt", "vtt", "json", "rttm", "docx"}
    assert {name: info.extension for name, info in FORMATS.items()} == {n: n for n in FORMATS}
    assert FORMATS["vtt"].mime.startswith("text/vtt") and FORMATS["json"].mime == "application/json"
    assert FORMATS["docx"].mime.endswith("wordprocessingml.document")
    with pytest.raises(ValueError):
        export(CASES["mixed"], "pdf")  # type: ignore[arg-type]


def test_an_empty_transcript_gives_empty_subtitles() -> None:
    source = transcript(Segment(0.0, 3.0, "", None))
    assert export(source, "srt") == "" and export(source, "txt") == ""
    assert list(webvtt.from_string(export(source, "vtt"))) == []
