"""What the review page is built from: confidence of each word, corrections, search, the Word download and
the player's copy of the recording. The page test (test_e2e_browser) drives the same through Chromium."""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import docx
import imageio_ffmpeg
import numpy as np
import pytest

from asr.job import Transcribed, run_job
from asr.langid import decide_verdict
from asr.outputs.confidence import fit_pieces, segment_probability, span_probabilities
from asr.outputs.export import export, export_file
from asr.outputs.playback import PLAYBACK_MIME, encode_for_playback
from asr.outputs.review import apply_edits, find_segments, review_segments
from asr.outputs.transcript import Piece, Segment, Speaker, Timings, Transcript, Word
from asr.settings import Settings
from asr.transcribe import TranscribeOptions
from tests.fixtures_audio import system_ffmpeg
from tests.fixtures_model import DOUBTED_WORD


def make(*segments: Segment, speakers: tuple[Speaker, ...] = ()) -> Transcript:
    verdict = decide_verdict([s.language for s in segments], [0.9] * len(segments), "", 0.4)
    return Transcript(segments, verdict, segments[-1].end, Timings(transcribe_s=1.0), speakers=speakers)


def pieces(*pairs: tuple[str, float]) -> tuple[Piece, ...]:
    return tuple(Piece(text, p) for text, p in pairs)


# --- confidence ------------------------------------------------------------------------------------------


def test_pieces_are_fitted_to_the_text_they_spell() -> None:
    model = pieces((" Hello", 0.9), (" wor", 0.2), ("ld", 0.8), ("!", 1.0))
    assert fit_pieces(model, "Hello world!") == pieces(("Hello", 0.9), (" wor", 0.2), ("ld", 0.8), ("!", 1.0))
    # a cut repeat (or an edit) keeps the pieces that still spell the text's start, cut where they part
    assert fit_pieces(model, "Hello wo") == pieces(("Hello", 0.9), (" wo", 0.2))
    assert fit_pieces(model, "Goodbye") == ()


def test_a_word_is_as_doubtful_as_its_least_sure_piece_and_text_past_the_pieces_has_none() -> None:
    model = pieces(("Zan", 0.95), ("zibar", 0.3), (" is", 0.99))
    assert span_probabilities(model, [(0, 8), (9, 11), (12, 16)]) == [0.3, 0.99, None]
    segment = Segment(0, 1, "Zanzibar is", "English", pieces=model)
    assert segment_probability(segment) == pytest.approx((0.95 * 0.3 * 0.99) ** (1 / 3))
    assert segment_probability(Segment(0, 1, "edited", "English")) is None


def test_review_words_carry_times_and_probabilities() -> None:
    text = "这个report很好。"
    model = pieces(("这个", 0.9), ("rep", 0.4), ("ort", 0.95), ("很", 0.99), ("好。", 0.6))
    words = (Word(0.0, 0.2, "这"), Word(0.2, 0.4, "个"), Word(0.5, 1.0, "report"), Word(1.0, 1.2, "很"))
    words += (Word(1.2, 1.5, "好"),)
    [segment] = review_segments(make(Segment(0, 2, text, "Chinese", words=words, pieces=model)))
    assert [w.text for w in segment.words] == ["这", "个", "report", "很", "好。"]
    assert [w.probability for w in segment.words] == [0.9, 0.9, 0.4, 0.99, 0.6]
    assert [(w.start, w.end) for w in segment.words][2] == (0.5, 1.0)


# --- corrections and search ------------------------------------------------------------------------------


def test_an_edit_replaces_the_text_keeps_the_times_and_drops_the_models_marks() -> None:
    model = pieces(("hello", 0.2), (" world", 0.9))
    source = make(
        Segment(
            0.0, 2.0, "hello world", "English", words=(Word(0.1, 0.5, "hello"),), pieces=model, speaker=1
        ),
        Segment(2.0, 4.0, "second part", "English", pieces=pieces(("second part", 0.8)), speaker=2),
        speakers=(Speaker(1, 2.0), Speaker(2, 2.0)),
    )
    edited = apply_edits(source, {0: " Hallo, world ", 1: "second part"}, {1: 1, 0: 2})
    first, second = edited.segments
    assert (first.start, first.end, first.text) == (0.0, 2.0, "Hallo, world")
    assert first.words == () and first.pieces == () and first.speaker == 2
    assert second.text == "second part" and second.pieces == source.segments[1].pieces, "unchanged text"
    assert second.speaker == 1
    assert apply_edits(source, {}) == source


def test_find_shows_every_segment_holding_the_text_ignoring_case() -> None:
    source = make(
        Segment(0.0, 5.0, "The Budget is late; the budget again.", "English"),
        Segment(5.0, 9.0, "nothing here", "English"),
        Segment(9.0, 12.0, "这个budget我明天给你", "Chinese"),
    )
    found = find_segments(source, " BUDGET ")
    assert [(m.index, m.start) for m in found] == [(0, 0.0), (2, 9.0)]
    assert found[0].spans == ((4, 10), (24, 30))
    assert [m.text[a:b] for m in found for a, b in m.spans] == ["Budget", "budget", "budget"]
    assert [m.index for m in find_segments(source, "明天")] == [2]
    assert find_segments(source, "  ") == []


# --- downloads -------------------------------------------------------------------------------------------


def test_json_carries_each_segments_and_each_tokens_probability() -> None:
    model = pieces(("hello", 0.25), (" world", 1.0))
    source = make(Segment(0, 2, "hello world", "English", pieces=model), Segment(2, 3, "typed", "English"))
    first, second = json.loads(export(source, "json"))["segments"]
    assert first["probability"] == pytest.approx(0.5)
    assert first["tokens"] == [{"text": "hello", "probability": 0.25}, {"text": " world", "probability": 1.0}]
    assert "probability" not in second and "tokens" not in second, (
        "no figure for text the model did not write"
    )


def test_docx_has_the_title_the_turns_with_times_and_the_corrected_text() -> None:
    source = make(
        Segment(0.0, 4.0, "我们开始吧。", "Chinese", speaker=1),
        Segment(4.0, 65.0, "Thanks, let's go.", "English", speaker=2),
        Segment(65.0, 70.0, "第二个问题", "Chinese", speaker=2),
        speakers=(Speaker(1, 4.0), Speaker(2, 66.0)),
    )
    corrected = apply_edits(source, {2: "第二个问题：预算"})
    document = docx.Document(io.BytesIO(export_file(corrected, "docx", {1: "主持人"}, title="采访")))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "采访" and document.paragraphs[0].style.name.startswith("Heading")
    assert paragraphs[2:] == [
        "主持人 · 00:00",
        "我们开始吧。",
        "Speaker 2 · 00:04",
        "Thanks, let's go.第二个问题：预算",
    ]
    properties = document.core_properties
    assert (properties.author, properties.last_modified_by, properties.title) == ("", "", "采访")


def test_docx_without_speakers_has_one_timed_paragraph_per_segment() -> None:
    source = make(Segment(0.0, 3.0, "hello", "English"), Segment(3725.0, 3730.0, "world", "English"))
    document = docx.Document(io.BytesIO(export_file(source, "docx")))
    assert [p.text for p in document.paragraphs][2:] == ["00:00", "hello", "1:02:05", "world"]


# --- the player's copy -----------------------------------------------------------------------------------


# MP3 comes in 1152-sample frames after the encoder's delay: up to ~0.15 s more at 16 kHz, never less
MP3_PADDING_S = 0.15


def _tone_wav(path: Path, seconds: float) -> Path:
    samples = (np.sin(np.arange(int(16000 * seconds)) * 2 * np.pi * 440 / 16000) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.tobytes())
    return path


def _mp3_seconds(data: bytes) -> float:
    """Decode the bytes back (from a pipe) and count the samples."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "mp3", "-i", "pipe:0"]
    command += ["-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"]
    done = subprocess.run(command, input=data, capture_output=True, check=True)
    return len(done.stdout) / 2 / 16000


@pytest.mark.parametrize("which", ["pinned", "system"])
def test_the_player_gets_a_compact_mp3_of_the_recording(tmp_path: Path, which: str) -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe() if which == "pinned" else system_ffmpeg()
    wav = _tone_wav(tmp_path / "job.wav", 30.0)
    before = sorted(tmp_path.iterdir())
    playback = encode_for_playback(wav, ffmpeg)
    assert playback is not None and playback.mime == PLAYBACK_MIME == "audio/mpeg"
    assert len(playback.data) < wav.stat().st_size / 7, "32 kbit/s against the WAV's 256"
    assert _mp3_seconds(playback.data) == pytest.approx(30.0, abs=MP3_PADDING_S)
    assert sorted(tmp_path.iterdir()) == before, "made on a pipe: nothing written"
    assert "bytes" in repr(playback) and str(len(playback.data)) in repr(playback)


def test_no_player_when_ffmpeg_cannot_make_one(tmp_path: Path) -> None:
    assert encode_for_playback(tmp_path / "missing.wav", imageio_ffmpeg.get_ffmpeg_exe()) is None
    assert encode_for_playback(_tone_wav(tmp_path / "a.wav", 1.0), str(tmp_path / "no-ffmpeg")) is None


def test_a_job_asked_for_playback_returns_it_and_marks_the_doubted_word(
    doubtful_checkpoint: Path, tmp_path: Path
) -> None:
    """Through the real job: the recording comes back as the player's copy, the doubted word below the
    default mark, and the JSON download says so."""
    from asr.engines.transformers_engine import AsrEngine

    wav = _tone_wav(tmp_path / "memo.wav", 4.0)
    engine = AsrEngine.load(str(doubtful_checkpoint))
    outcome = run_job(wav, engine, Settings(), TranscribeOptions(), playback=True)
    assert isinstance(outcome, Transcribed), outcome
    assert outcome.playback is not None and _mp3_seconds(outcome.playback.data) == pytest.approx(
        4.0, abs=MP3_PADDING_S
    )
    [segment] = review_segments(outcome.transcript)
    low = [w.text for w in segment.words if (w.probability or 1.0) < Settings().low_confidence]
    assert low == [DOUBTED_WORD]
    [row] = json.loads(export(outcome.transcript, "json"))["segments"]
    assert {t["text"].strip(): t["probability"] < 0.5 for t in row["tokens"]} == {
        "hello": False,
        DOUBTED_WORD: True,
        "world": False,
    }
    assert run_job(wav, engine, Settings(), TranscribeOptions()).playback is None, "only when asked"
