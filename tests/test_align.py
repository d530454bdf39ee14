"""Word timestamps: a tiny forced aligner of the real architecture, loaded the way users load it, aligning
real speech; and the exports that use its words. Random weights time nothing meaningfully, so these tests
check plumbing (which words, on which clock, in which order), never accuracy."""

from __future__ import annotations

import json
import logging
import re
import shutil
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import srt
from transformers import Qwen3ASRForTokenClassification
from transformers.utils.import_utils import is_nagisa_available

from asr import align
from asr.align import Aligner, align_transcript, aligner_language
from asr.errors import UserFacingError
from asr.i18n import t
from asr.langid import decide_verdict
from asr.model_source import ALIGNER_ENV, DEFAULT_ALIGNER_ID, download_command
from asr.outputs.export import export, subtitle_cues
from asr.outputs.transcript import Segment, Timings, Transcript, Word
from asr.settings import load_settings
from asr.speech.audio import decode_to_wav
from bench.checkpoints import TINY_TIMESTAMP_BINS
from tests.fixtures_audio import SPEECH_TEXT

HUB_FOLDER = "models--Qwen--Qwen3-ForcedAligner-0.6B-hf"


@pytest.fixture(scope="module")
def aligner(aligner_checkpoint: Path) -> Aligner:
    return Aligner.load(str(aligner_checkpoint))


@dataclass(frozen=True)
class SpeechPair:
    wav: Path  # English then Chinese speech, 16 kHz mono, as `decode_to_wav` writes uploads
    english_end: float  # where the English ends, in seconds


@pytest.fixture(scope="module")
def speech_pair(tmp_path_factory: pytest.TempPathFactory, speech_wavs: dict[str, Path]) -> SpeechPair:
    folder = tmp_path_factory.mktemp("align_audio")
    frames = b""
    for lang in ("en", "zh"):
        decode_to_wav(speech_wavs[lang], folder / f"{lang}.wav")
        with wave.open(str(folder / f"{lang}.wav"), "rb") as part:
            params = part.getparams()
            frames += part.readframes(part.getnframes())
    both = folder / "both.wav"
    with wave.open(str(both), "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return SpeechPair(both, wav_seconds(folder / "en.wav"))


@pytest.fixture
def forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of clips in each `Aligner.align` call (one forward pass each), as they happen."""
    sizes: list[int] = []
    real_align = Aligner.align

    def counted(self: Aligner, clips):
        sizes.append(len(clips))
        return real_align(self, clips)

    monkeypatch.setattr(Aligner, "align", counted)
    return sizes


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def make_transcript(*segments: Segment) -> Transcript:
    languages = [s.language for s in segments]
    text = " ".join(s.text for s in segments)
    verdict = decide_verdict(languages, [0.9] * len(segments), text, 0.4)
    return Transcript(segments, verdict, segments[-1].end, Timings(transcribe_s=1.0))


def english_then_chinese(pair: SpeechPair) -> Transcript:
    return make_transcript(
        Segment(0.0, pair.english_end, SPEECH_TEXT["en"][1], "English"),
        Segment(pair.english_end, wav_seconds(pair.wav), SPEECH_TEXT["zh"][1], "Chinese"),
    )


# --- loading: same offline rules as the speech model --------------------------------------------------------


def test_the_aligner_is_found_in_the_hub_cache_and_loads(
    aligner_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout `hf download` leaves, found through the default id when `ASR_ALIGNER_MODEL` is unset."""
    repo = tmp_path / "hub" / HUB_FOLDER
    shutil.copytree(aligner_checkpoint, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv(ALIGNER_ENV, raising=False)
    settings = load_settings()
    assert settings.aligner_model == DEFAULT_ALIGNER_ID
    loaded = Aligner.load(settings.aligner_model)
    assert isinstance(loaded.model, Qwen3ASRForTokenClassification)
    assert loaded.model.dtype == loaded.plan.dtype
    assert loaded.model.score.out_features == TINY_TIMESTAMP_BINS
    assert not loaded.model.training


def test_the_aligner_env_names_a_folder(aligner_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALIGNER_ENV, f"  {aligner_checkpoint}  ")
    settings = load_settings()
    assert settings.aligner_model == str(aligner_checkpoint)
    assert isinstance(Aligner.load(settings.aligner_model).model, Qwen3ASRForTokenClassification)


def test_a_missing_aligner_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(UserFacingError) as missing:
        Aligner.load(DEFAULT_ALIGNER_ID)
    assert missing.value.code == "aligner_missing"
    assert "ForcedAligner" in t("aligner_missing", "en") and "对齐" in t("aligner_missing", "zh")
    assert download_command(DEFAULT_ALIGNER_ID) == "hf download Qwen/Qwen3-ForcedAligner-0.6B-hf"
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(UserFacingError) as invalid:
        Aligner.load(str(tmp_path / "empty-folder"))
    assert invalid.value.code == "aligner_folder_invalid"


def test_the_speech_model_is_refused_as_an_aligner(random_checkpoint: Path) -> None:
    """It loads as token classification only with a random timestamp head, which must never run."""
    with pytest.raises(UserFacingError) as refused:
        Aligner.load(str(random_checkpoint))
    assert refused.value.code == "aligner_wrong_layout"


# --- aligning -----------------------------------------------------------------------------------------------


def test_every_word_is_followed_by_its_two_timestamp_slots(aligner: Aligner) -> None:
    """The released aligner's prompt: audio, then `word<timestamp><timestamp>` for each word, nothing else."""
    audio = np.zeros(16000, dtype=np.float32)
    inputs, [words] = aligner.processor.prepare_forced_aligner_inputs([audio], ["Hello, world!"], "English")
    prompt = aligner.processor.tokenizer.decode(inputs["input_ids"][0])
    assert words == ["Hello", "world"]
    assert re.fullmatch(
        r"<\|audio_start\|>(<\|audio_pad\|>)+<\|audio_end\|>Hello<timestamp><timestamp>world<timestamp><timestamp>",
        prompt,
    )
    slots = inputs["input_ids"][0] == aligner.model.config.timestamp_token_id
    assert int(slots.sum()) == 2 * len(words)


def test_words_of_each_segment_on_the_recordings_clock(
    aligner: Aligner, speech_pair: SpeechPair, forwards: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    source = english_then_chinese(speech_pair)
    longest_prediction = (TINY_TIMESTAMP_BINS - 1) * 0.08
    assert all(s.end - s.start > longest_prediction for s in source.segments), (
        "bounds would test clamping only"
    )
    with caplog.at_level(logging.DEBUG):
        aligned = align_transcript(aligner, speech_pair.wav, source)
    assert forwards == [2], "both segments go through one forward pass"
    for before, after in zip(source.segments, aligned.segments, strict=True):
        assert [w.text for w in after.words] == aligner.processor.split_words_for_alignment(before.text)
        assert all(before.start <= w.start <= w.end <= before.end for w in after.words)
        assert all(a.end <= b.start for a, b in zip(after.words, after.words[1:], strict=False)), (
            "times go back"
        )
        assert (after.start, after.end, after.text, after.language) == (
            before.start,
            before.end,
            before.text,
            before.language,
        )
    assert aligned.timings.align_s is not None and aligned.timings.align_s >= 0
    assert aligned.timings.transcribe_s == 1.0
    assert not source.segments[0].words, "the input transcript is left as it was"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Alignment finished" in logged
    assert not any(w.text in logged for s in aligned.segments for w in s.words), "a word reached the log"


def test_unsupported_languages_and_empty_segments_get_no_words(
    aligner: Aligner, speech_pair: SpeechPair
) -> None:
    end = wav_seconds(speech_pair.wav)
    source = make_transcript(
        Segment(0.0, 1.0, "مرحبا بالعالم", "Arabic"),
        Segment(1.0, 2.0, "。", "Chinese"),
        Segment(2.0, 2.05, "hi", "English"),
        Segment(2.05, end, "hello world", "English"),
    )
    aligned = align_transcript(aligner, speech_pair.wav, source)
    assert [len(s.words) for s in aligned.segments] == [0, 0, 0, 2]


def test_times_past_the_end_of_a_clip_are_clamped_to_it(aligner: Aligner, speech_pair: SpeechPair) -> None:
    """The tiny head can predict up to 2.48 s; a 0.4 s clip holds every word inside its own audio."""
    source = make_transcript(Segment(3.0, 3.4, "please send the invoice", "English"))
    [segment] = align_transcript(aligner, speech_pair.wav, source).segments
    assert len(segment.words) == 4 and all(3.0 <= w.start <= w.end <= 3.4 for w in segment.words)


def test_languages_map_onto_the_aligners_eleven() -> None:
    assert aligner_language("Chinese") == "Chinese"
    assert aligner_language("Sichuan dialect") == "Chinese"
    assert aligner_language("Cantonese") == "Cantonese"
    assert aligner_language("English") == "English"
    assert aligner_language("English", mixed=True) == "Chinese"
    assert aligner_language("French", mixed=True) == "French"
    assert aligner_language("Arabic") is None and aligner_language(None) is None
    assert aligner_language("Japanese") == ("Japanese" if is_nagisa_available() else None)


def test_a_segment_without_its_own_tag_takes_the_verdicts_language(
    aligner: Aligner, speech_pair: SpeechPair
) -> None:
    english = make_transcript(Segment(0.0, 2.0, "hello world", "English"))
    source = replace(english, segments=(*english.segments, Segment(2.0, 4.0, "send the invoice", None)))
    aligned = align_transcript(aligner, speech_pair.wav, source)
    assert [w.text for w in aligned.segments[1].words] == ["send", "the", "invoice"]


def test_the_batch_size_bounds_each_forward_pass(
    aligner: Aligner, speech_pair: SpeechPair, forwards: list[int]
) -> None:
    source = make_transcript(*[Segment(i * 1.0, i + 1.0, "hello world", "English") for i in range(5)])
    align_transcript(aligner, speech_pair.wav, source, batch_size=2)
    assert forwards == [2, 2, 1]
    assert align.ALIGN_BATCH >= 2


# --- exports ------------------------------------------------------------------------------------------------

WORDS_EN = (
    Word(1.0, 1.4, "one"),
    Word(1.5, 1.9, "two"),
    Word(2.0, 2.5, "three"),
    Word(9.0, 9.4, "Four"),
    Word(9.5, 9.9, "five"),
    Word(10.0, 10.6, "six"),
)
WORDS_ZH = (Word(12.5, 12.7, "你"), Word(12.7, 13.0, "好"), Word(15.0, 15.2, "世"), Word(15.2, 15.6, "界"))


def timed_transcript() -> Transcript:
    return make_transcript(
        Segment(0.0, 12.0, "one two three. Four, five six!", "English", words=WORDS_EN),
        Segment(12.0, 20.0, "你好，世界。", "Chinese", words=WORDS_ZH),
    )


def test_json_carries_the_words_of_aligned_segments_only() -> None:
    timed = timed_transcript()
    source = replace(timed, segments=(*timed.segments, Segment(20.0, 22.0, "not aligned", "English")))
    segments = json.loads(export(source, "json"))["segments"]
    assert segments[0]["words"][0] == {"start": 1.0, "end": 1.4, "text": "one"}
    assert [w["text"] for w in segments[1]["words"]] == ["你", "好", "世", "界"]
    assert "words" not in segments[2]


def test_subtitle_cues_snap_to_word_boundaries() -> None:
    """Seven seconds separate "three" from "four": one cue each side, timed by the words, not the segment."""
    cues = [
        (c.start.total_seconds(), c.end.total_seconds(), c.content)
        for c in srt.parse(export(timed_transcript(), "srt"))
    ]
    assert cues == [
        (1.0, 2.5, "one two three."),
        (9.0, 10.6, "Four, five six!"),
        (12.5, 15.6, "你好，世界。"),
    ]


def test_words_that_do_not_spell_the_text_fall_back_to_proportional_timing() -> None:
    edited = make_transcript(Segment(0.0, 12.0, "one two tree. Four, five six!", "English", words=WORDS_EN))
    plain = make_transcript(Segment(0.0, 12.0, "one two tree. Four, five six!", "English"))
    assert subtitle_cues(edited) == subtitle_cues(plain)
