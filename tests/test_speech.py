"""Speech detection on real recorded voices: where speech starts and ends, in every codec people upload, as
the transcript's segments (the JSON users download) show it; the batched detector against one long pass; the
loudness fallback; and a detector that leaves the process's threads alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import asr.speech.detect as speech
from asr.job import Transcribed, run_job
from asr.outputs.export import export
from asr.settings import Settings
from asr.speech.chunking import frame_loudness
from asr.transcribe import TranscribeOptions
from bench.diarize import CODECS, Recording, encode

SAMPLE = "pyannote sample call"
BOUNDARY_S = 0.3


@pytest.mark.parametrize("codec", list(CODECS))
def test_segments_start_and_end_with_the_speech_of_a_real_call_in_every_codec(
    english_engine, real_recordings: dict[str, Recording], codec: str, tmp_path: Path
) -> None:
    """The call is silent for its first 6.7 s: the first segment starts there, not at 0.00 s."""
    for name in (SAMPLE, "assembled from its voices #1"):
        recording = real_recordings[name]
        upload = encode(recording.wav, codec, tmp_path / name.replace(" ", "-"))
        outcome = run_job(upload, english_engine, Settings(), TranscribeOptions())
        assert isinstance(outcome, Transcribed), outcome
        segments = json.loads(export(outcome.transcript, "json"))["segments"]
        first = min(turn.start for turn in recording.reference)
        last = max(turn.end for turn in recording.reference)
        assert abs(segments[0]["start"] - first) <= BOUNDARY_S, (name, segments[0]["start"], first)
        assert abs(segments[-1]["end"] - last) <= BOUNDARY_S, (name, segments[-1]["end"], last)
        assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:], strict=False))


def test_a_long_pause_inside_a_recording_is_in_no_segment(english_engine, real_recordings) -> None:
    """dev01 has 4 s and more without speech: no segment spans a pause of a second or more there."""
    recording = real_recordings["AMI excerpt dev01"]
    outcome = run_job(recording.wav, english_engine, Settings(), TranscribeOptions())
    assert isinstance(outcome, Transcribed), outcome
    levels = frame_loudness(recording.wav)
    regions = speech.detect_speech(recording.wav, recording.duration_s, levels)
    pauses = [(a[1], b[0]) for a, b in zip(regions, regions[1:], strict=False) if b[0] - a[1] >= 1.0]
    assert pauses, "the excerpt has long pauses"
    for segment in outcome.transcript.segments:
        assert not any(segment.start < start and end < segment.end for start, end in pauses)


def _one_pass(wav: Path, duration_s: float) -> np.ndarray:
    """silero the plain way: one stream, frame after frame."""
    vad = speech.silero()
    assert vad is not None
    pcm = torch.from_numpy(speech.load_pcm(wav, 0.0, duration_s))
    model = vad._model
    model.reset_states()
    frames = len(pcm) // speech.FRAME_SAMPLES
    with torch.inference_mode():
        return np.array(
            [
                model(pcm[i * speech.FRAME_SAMPLES : (i + 1) * speech.FRAME_SAMPLES], 16000).item()
                for i in range(frames)
            ]
        )


def test_the_batched_detector_hears_what_one_long_pass_hears(real_recordings, monkeypatch) -> None:
    monkeypatch.setattr(speech, "STREAM_S", 4.0)  # several streams even in 30 s
    recording = real_recordings[SAMPLE]
    vad = speech.silero()
    assert vad is not None
    batched = vad.probabilities(recording.wav, recording.duration_s)
    single = _one_pass(recording.wav, recording.duration_s)
    assert len(batched) == len(single)
    agree = ((batched >= speech.THRESHOLD) == (single >= speech.THRESHOLD)).mean()
    assert agree >= 0.99, agree


def test_regions_open_at_the_threshold_close_after_a_silence_and_blips_are_dropped() -> None:
    frames = int(10 / speech.FRAME_S)
    probs = np.zeros(frames, dtype=np.float32)
    at = lambda s: int(s / speech.FRAME_S)  # noqa: E731
    probs[at(1.0) : at(3.0)] = 0.9  # speech
    probs[at(3.0) : at(3.05)] = 0.4  # a dip above the lower threshold: still speech
    probs[at(3.05) : at(4.0)] = 0.9
    probs[at(6.0) : at(6.1)] = 0.9  # a 0.1 s blip
    regions = speech.regions_from_probabilities(probs, 10.0)
    assert len(regions) == 1
    (start, end), pad = regions[0], speech.PAD_S
    assert start == pytest.approx(1.0 - pad, abs=0.04) and end == pytest.approx(4.0 + pad, abs=0.04)


def test_without_the_detector_sound_is_found_by_loudness(real_recordings, monkeypatch) -> None:
    monkeypatch.setattr(speech, "_silero_file", lambda: None)
    monkeypatch.setattr(speech, "_VAD_LOADED", False)
    monkeypatch.setattr(speech, "_VAD", None)
    recording = real_recordings[SAMPLE]
    levels = frame_loudness(recording.wav)
    regions = speech.detect_speech(recording.wav, recording.duration_s, levels)
    assert regions and regions[0][0] >= 5.0  # the silent opening is still no speech
    monkeypatch.undo()
    assert speech.silero() is not None


def test_detecting_speech_leaves_the_process_threads_alone(real_recordings) -> None:
    """silero-vad's own package sets torch to one thread on import; the app never imports it."""
    before = torch.get_num_threads()
    recording = real_recordings[SAMPLE]
    speech.detect_speech(recording.wav, recording.duration_s, frame_loudness(recording.wav))
    assert torch.get_num_threads() == before
