"""A whole job, upload to transcript, on a real (tiny) model: what a user gets, and what is left on disk."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

import asr.transcribe as transcribe_module
from asr.align import Aligner
from asr.engines.protocol import Backend
from asr.engines.transformers_engine import AsrEngine
from asr.job import Cancelled, Failed, JobEvent, JobOutcome, Notice, Transcribed, run_job
from asr.outputs.transcript import Transcript
from asr.settings import Settings
from asr.speech.chunking import Chunk, frame_loudness, plan_chunks
from asr.speech.detect import detect_speech
from asr.speech.sources import batches
from asr.transcribe import TranscribeOptions
from cleanup import private_root
from privacy import logs

DEFAULT = TranscribeOptions()
SETTINGS = Settings()


@pytest.fixture(scope="module")
def japanese_engine(japanese_checkpoint: Path) -> AsrEngine:
    return AsrEngine.load(str(japanese_checkpoint))


def job(source: bytes | Path, backend: Backend, options: TranscribeOptions = DEFAULT, **kwargs) -> JobOutcome:
    return run_job(source, backend, kwargs.pop("settings", SETTINGS), options, **kwargs)


def transcript_of(outcome: JobOutcome) -> Transcript:
    assert isinstance(outcome, Transcribed), outcome
    return outcome.transcript


def failure_of(outcome: JobOutcome) -> str:
    assert isinstance(outcome, Failed), outcome
    return outcome.reason.code


def job_folders() -> list[Path]:
    return sorted(private_root().glob("proc_*/qwen_asr_*"))


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of noise, loud enough to count as sound; the tiny model answers the same whatever it hears."""
    return np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.2


def test_a_recording_becomes_a_transcript_and_its_folder_is_gone(
    english_engine: AsrEngine, speech_files: dict
) -> None:
    stages: list[str] = []
    outcome = job(speech_files[("en", "mp3")], english_engine, on_event=lambda e: stages.append(e.stage))
    transcript = transcript_of(outcome)
    assert transcript.text == "hello world"
    assert transcript.verdict.code == "en" and transcript.language_check == "passed"
    assert stages[0] == "decoding" and "recognising" in stages and stages[-1] == "cleaning"
    assert outcome.cleanup.removal_seconds is not None and outcome.cleanup.kept_wav is None
    assert job_folders() == []


def test_uploaded_bytes_are_stored_under_our_name_only(english_engine: AsrEngine, speech_files: dict) -> None:
    seen: list[list[str]] = []

    def look(event: JobEvent) -> None:
        if event.stage == "recognising":
            seen.append(sorted(p.name for p in job_folders()[0].iterdir()))

    transcript_of(job(speech_files[("en", "wav")].read_bytes(), english_engine, on_event=look))
    assert seen[0] == ["audio_wav.wav", "uploaded_audio"]


def test_other_language_is_refused_and_can_be_forced(japanese_engine: AsrEngine, speech_files: dict) -> None:
    upload = speech_files[("en", "wav")]
    refused = job(upload, japanese_engine)
    assert (
        failure_of(refused) == "language_refused" and isinstance(refused, Failed) and refused.language_refused
    )
    forced = transcript_of(job(upload, japanese_engine, DEFAULT.anyway("Japanese")))
    assert forced.text == "hello world"
    assert forced.forced_language == "Japanese" and forced.language_check == "forced"
    anyway = transcript_of(job(upload, japanese_engine, DEFAULT.anyway(None)))
    assert anyway.verdict.code == "other:Japanese" and anyway.language_check == "skipped"
    widened = transcript_of(job(upload, japanese_engine, TranscribeOptions(accepted=frozenset({"Japanese"}))))
    assert widened.verdict.code == "other:Japanese"
    assert job_folders() == []


def test_every_bad_input_gives_its_code_and_leaves_nothing(
    english_engine: AsrEngine,
    ffmpeg_binary: str,
    empty_upload: Path,
    text_as_mp3: Path,
    png_as_mp3: Path,
    video_only_mp4: Path,
    short_clip_wav: Path,
    digital_silence_wav: Path,
    hls_attack,
    ffconcat_attack,
) -> None:
    cases = {
        empty_upload: "empty_file",
        text_as_mp3: "not_audio",
        png_as_mp3: "not_audio",
        video_only_mp4: "no_audio_track",
        short_clip_wav: "too_short",
        digital_silence_wav: "no_speech",
        hls_attack.as_mp3: "unsupported_container",
        ffconcat_attack.as_mp3: "unsupported_container",
    }
    settings = Settings(ffmpeg=ffmpeg_binary)
    for upload, code in cases.items():
        assert failure_of(job(upload, english_engine, settings=settings)) == code, upload.name
        assert job_folders() == []


def test_truncated_upload_is_transcribed_with_a_warning(english_engine: AsrEngine, truncated_files) -> None:
    upload, _ = truncated_files["mp3_cut_in_half"]
    outcome = job(upload, english_engine)
    assert transcript_of(outcome).text == "hello world"
    assert isinstance(outcome, Transcribed) and Notice("truncated_warning") in outcome.notices


class ModelCrash(RuntimeError):
    pass


def test_an_unexpected_error_fails_that_job_alone_and_says_nothing_of_it(
    english_checkpoint: Path, speech_files: dict, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    engine = AsrEngine.load(str(english_checkpoint))
    original = engine.transcribe

    def crash(*args, **kwargs):
        raise ModelCrash("the transcript hello world of secret.mp3")

    monkeypatch.setattr(engine, "transcribe", crash)
    monkeypatch.setattr(logging, "_logRecordFactory", logs.redacting_factory(logging.getLogRecordFactory()))
    with caplog.at_level(logging.INFO):
        outcome = job(speech_files[("en", "wav")], engine, names=("secret.mp3",))
    assert failure_of(outcome) == "job_unexpected"
    assert job_folders() == []
    record = next(r for r in caplog.records if r.getMessage().startswith("Job failed unexpectedly"))
    assert record.getMessage() == "Job failed unexpectedly: ModelCrash"
    assert "secret" not in caplog.text
    monkeypatch.setattr(engine, "transcribe", original)
    assert transcript_of(job(speech_files[("en", "wav")], engine)).text == "hello world", "the next job works"


def test_ctrl_c_mid_job_is_a_cancelled_outcome_and_leaves_nothing(english_engine, speech_files) -> None:
    def interrupt(event: JobEvent) -> None:
        if event.stage == "recognising":
            raise KeyboardInterrupt

    outcome = job(speech_files[("en", "wav")], english_engine, on_event=interrupt)
    assert isinstance(outcome, Cancelled)
    assert job_folders() == []


def test_library_log_lines_lose_the_file_name_and_the_transcript_while_the_job_runs(
    english_engine, speech_files, caplog
) -> None:
    """Redaction belongs to the job, so the CLI gets it as the page does."""
    base = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logs.redacting_factory(base))
    library = logging.getLogger("some.library")

    def chatty(event: JobEvent) -> None:
        if event.progress is not None:
            library.info("heard %s in %s", event.progress.added[0].text, "board meeting.wav")

    try:
        with caplog.at_level(logging.INFO, logger="some.library"):
            job(speech_files[("en", "wav")], english_engine, names=("board meeting.wav",), on_event=chatty)
            library.info("after: %s", "hello world")
    finally:
        logging.setLogRecordFactory(base)
    lines = [r.getMessage() for r in caplog.records if r.name == "some.library"]
    assert lines == [f"heard {logs.REDACTED} in {logs.REDACTED}", "after: hello world"]


def test_a_chunk_that_hits_its_token_budget_is_reported(english_engine, speech_files, monkeypatch) -> None:
    """A budget of 3 tokens ends "language English<asr_text>hello world" early, as a loop would end."""
    monkeypatch.setattr(transcribe_module, "TAG_TOKENS", 3)
    outcome = job(speech_files[("en", "wav")], english_engine, TranscribeOptions(tokens_per_second=0.0))
    assert isinstance(outcome, Transcribed)
    [segment] = outcome.transcript.segments
    assert segment.hit_token_limit
    [notice] = [n for n in outcome.notices if n.code == "token_limit"]
    assert notice.params == {"times": "00:03"}


def test_folder_is_removed_when_streamlit_stops_the_script_mid_job(english_engine, speech_files) -> None:
    def stop_when_recognising(event: JobEvent) -> None:
        if event.stage == "recognising":
            raise StopException()

    with pytest.raises(StopException):
        job(speech_files[("en", "wav")], english_engine, on_event=stop_when_recognising)
    assert job_folders() == []


def test_cleanup_disabled_keeps_the_folder_and_says_where(english_engine, speech_files, monkeypatch) -> None:
    monkeypatch.setenv("CLEANUP_DISABLED", "1")
    outcome = job(speech_files[("en", "wav")], english_engine)
    assert transcript_of(outcome).text == "hello world"
    kept = outcome.cleanup.kept_wav
    assert kept is not None and kept.name == "audio_wav.wav"
    assert kept.parent.name.startswith("qwen_asr_")
    assert kept.is_file()
    assert job_folders() == [kept.parent]


def four_stretches(tmp_path: Path) -> tuple[Path, float]:
    """A WAV of four 12 s stretches of sound, each followed by a 1.5 s pause, and its length."""
    pause = np.zeros(int(16000 * 1.5), dtype=np.float32)
    parts = []
    for index in range(4):
        parts += [speech_like(12.0, seed=index), pause]
    pcm = np.concatenate(parts)
    return write_wav(tmp_path / "long.wav", pcm), len(pcm) / 16000


def chunks_encoded(engine: AsrEngine) -> list[int]:
    """Counts, per audio-encoder call of `engine`, the chunks it encodes (from now on)."""
    calls: list[int] = []

    def count(module, args, kwargs) -> None:
        calls.append(len(kwargs.get("input_features", args[0] if args else None)))

    engine.model.model.audio_tower.register_forward_pre_hook(count, with_kwargs=True)
    return calls


def test_a_refused_long_recording_costs_one_chunk_and_an_accepted_one_encodes_each_chunk_once(
    english_checkpoint: Path, japanese_checkpoint: Path, tmp_path: Path
) -> None:
    wav, _ = four_stretches(tmp_path)
    options = TranscribeOptions(batch_size=4)
    refusing = AsrEngine.load(str(japanese_checkpoint))
    refused_calls = chunks_encoded(refusing)
    refused = job(wav, refusing, options)
    assert failure_of(refused) == "language_refused"
    assert refused_calls == [1]  # the first chunk only, though the first batch holds four
    accepting = AsrEngine.load(str(english_checkpoint))
    accepted_calls = chunks_encoded(accepting)
    accepted = job(wav, accepting, options)
    segments = transcript_of(accepted).segments
    assert [s.text for s in segments] == ["hello world"] * len(segments) and len(segments) > 1
    assert accepted_calls == [1, len(segments) - 1]  # the probe, then the rest: no chunk twice
    anyway = job(wav, refusing, options.anyway(None))
    assert transcript_of(anyway).verdict.code == "other:Japanese"
    assert job_folders() == []


def test_long_recording_is_cut_at_pauses_and_transcribed_in_batches(english_engine, tmp_path) -> None:
    """Four 12 s stretches of sound, 1.5 s pauses: every chunk lies in one stretch, every stretch is heard."""
    wav, duration = four_stretches(tmp_path)
    levels = frame_loudness(wav)
    regions = detect_speech(wav, duration, levels)  # noise: no speech heard, so by loudness
    chunks = plan_chunks(regions, levels, target_s=20.0, max_s=28.0)
    stretches = [(13.5 * i, 13.5 * i + 12.0) for i in range(4)]
    assert len(chunks) == 4
    for chunk, (start, end) in zip(chunks, stretches, strict=True):
        assert start - 0.15 <= chunk.start_s <= start + 0.15 and end - 0.15 <= chunk.end_s <= end + 0.15

    steps = []
    outcome = job(
        wav, english_engine, TranscribeOptions(batch_size=2), on_event=lambda e: steps.append(e.progress)
    )
    segments = transcript_of(outcome).segments
    assert [(s.start, s.end) for s in segments] == [(c.start_s, c.end_s) for c in chunks]
    assert all(s.text == "hello world" for s in segments)
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    done = [p.done_chunks for p in steps if p is not None]
    assert done == sorted(done) and done[-1] == len(segments)


def test_word_timestamps_are_added_before_the_audio_is_removed(
    english_engine, aligner_checkpoint, speech_files
):
    aligner = Aligner.load(str(aligner_checkpoint))
    stages: list[str] = []
    outcome = job(
        speech_files[("en", "wav")],
        english_engine,
        TranscribeOptions(word_timestamps=True),
        on_event=lambda e: stages.append(e.stage),
        aligner=aligner,
    )
    [segment] = transcript_of(outcome).segments
    assert [w.text for w in segment.words] == ["hello", "world"]
    assert all(segment.start <= w.start <= w.end <= segment.end for w in segment.words)
    assert stages.index("aligning") < stages.index("cleaning")
    assert job_folders() == []


def test_batches_hold_chunks_of_like_length_and_the_first_chunk_leads() -> None:
    """A 3 s reply no longer waits in a batch of 28 s monologues (a batch decodes until its longest row)."""
    lengths = [12.0, 3.0, 27.0, 2.5, 26.0, 4.0, 11.0]
    chunks, at = [], 0.0
    for index, length in enumerate(lengths):
        chunks.append(Chunk(index, at, at + length))
        at += length + 1.0
    groups = batches(chunks, 2)
    assert groups[0][0] is chunks[0]  # the language probe's chunk is row 0 of the first batch
    assert sorted(c.index for group in groups for c in group) == list(range(len(chunks)))
    assert [c.duration_s for c in groups[0]] == [12.0, 26.0]
    assert [sorted(c.duration_s for c in group) for group in groups[1:]] == [[2.5, 3.0], [4.0, 11.0], [27.0]]
