"""Known voices: clips a user brings name the speakers of any recording, in every format, with no database."""

from __future__ import annotations

import base64
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import srt
import webvtt
from docx import Document
from streamlit.testing.v1 import AppTest

import asr.background
import asr.cli as cli_module
from api.errors import ApiError
from api.form import ReceivedForm, TranscriptionRequest
from asr.errors import UserFacingError
from asr.i18n import t
from asr.job import Transcribed, run_job
from asr.outputs.export import export, export_file
from asr.outputs.transcript import Speaker
from asr.settings import Settings
from asr.speakers.diarize import attribute
from asr.speakers.known import (
    MATCH_COSINE,
    MATCH_MARGIN,
    PRINT_SIZE,
    Clip,
    KnownVoice,
    combined,
    enroll,
    match,
    name_speakers,
    read_voices_file,
    voices_file,
)
from asr.transcribe import TranscribeOptions
from bench.conversations import Conversation
from bench.der import read_rttm
from bench.diarize import encode
from bench.known_voices import cut_clips, people, score
from cleanup.workspace import job_workspace
from testkit.audio import make_long_mp3, run_ffmpeg
from tests.test_cli import stub_process_hooks
from tests.test_diarize import APP, TURNS, _transcript

RNG = np.random.default_rng(7)


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _voice(name: str, vector: np.ndarray, speech_s: float = 10.0) -> KnownVoice:
    return KnownVoice(name, _unit(vector), speech_s)


def _near(vector: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector whose cosine to `vector` (unit) is `cosine`."""
    other = RNG.standard_normal(PRINT_SIZE)
    other -= other @ vector * vector
    return _unit(cosine * vector + np.sqrt(1 - cosine**2) * _unit(other))


# --- the matching -------------------------------------------------------------------------------------------


def test_each_found_speaker_takes_at_most_one_name_and_each_name_one_speaker() -> None:
    ann, bob = _unit(RNG.standard_normal(PRINT_SIZE)), _unit(RNG.standard_normal(PRINT_SIZE))
    known = [_voice("Ann", ann), _voice("Bob", bob)]
    # both found speakers are closest to Ann; the pairing with the most similarity in all wins: 2 is Ann
    found = {1: _near(ann, 0.80), 2: _near(ann, 0.90), 3: _near(bob, 0.85)}
    assert match(found, known) == {2: "Ann", 3: "Bob"}
    # a pair under the threshold names nobody; a known voice nobody matches is simply absent
    assert match({1: _near(ann, MATCH_COSINE - 0.05), 2: _near(bob, 0.9)}, known) == {2: "Bob"}
    assert match({}, known) == {} and match(found, []) == {}
    # a speaker about as alike to two known voices is neither: a voice that sounds like everyone's
    both = _unit(ann + bob)
    cosines = {name: float(both @ voice.print) for name, voice in zip("AB", known, strict=True)}
    assert min(cosines.values()) >= MATCH_COSINE and abs(cosines["A"] - cosines["B"]) < MATCH_MARGIN
    assert match({1: both}, known) == {}
    assert match({1: both}, known[:1]) == {1: "Ann"}, "with one known voice, the threshold alone"


def test_every_format_uses_the_known_names_and_a_rename_still_wins() -> None:
    ann = _unit(RNG.standard_normal(PRINT_SIZE))
    attributed = attribute(_transcript(), TURNS)
    voices = {1: _near(ann, 0.9), 2: _unit(RNG.standard_normal(PRINT_SIZE))}
    speakers = tuple(Speaker(s.label, s.seconds, voice=voices[s.label]) for s in attributed.speakers)
    with_voices = replace(attributed, speakers=speakers)
    named = name_speakers(with_voices, [_voice("Ann Li", ann)])
    assert [s.name for s in named.speakers] == ["Ann Li", None]
    assert export(named, "txt") == "Ann Li: hello yes\n\nSpeaker 2: right\n\nAnn Li: so\n"
    assert [cue.content.split(": ")[0] for cue in srt.parse(export(named, "srt"))] == [
        "Ann Li",
        "Speaker 2",
        "Ann Li",
    ]
    assert [c.voice for c in webvtt.from_string(export(named, "vtt"))] == ["Ann Li", "Speaker 2", "Ann Li"]
    document = json.loads(export(named, "json"))
    assert [s["name"] for s in document["speakers"]] == ["Ann Li", "Speaker 2"]
    assert "voice" not in json.dumps(document) and "print" not in json.dumps(document)
    rttm = export_file(named, "rttm", title="call.wav").decode()
    assert {turn.speaker for turn in read_rttm(rttm, "call")} == {"Ann_Li", "Speaker_2"}
    docx = Document(io.BytesIO(export_file(named, "docx", title="call.wav")))
    assert "Ann Li" in [run.text for p in docx.paragraphs for run in p.runs]
    # the user can still rename, over the known name
    assert export(named, "txt", {1: "Dr Li"}).startswith("Dr Li: hello yes")


def test_the_voices_file_holds_names_and_prints_and_reads_back() -> None:
    voices = [
        _voice("Ann", RNG.standard_normal(PRINT_SIZE), 12.5),
        _voice("王小明", RNG.standard_normal(PRINT_SIZE)),
    ]
    data = voices_file(voices)
    document = json.loads(data)
    assert set(document["voices"][0]) == {"name", "print", "speech_s"}, "names and prints, no audio"
    assert len(base64.b64decode(document["voices"][0]["print"])) == PRINT_SIZE * 4
    back = read_voices_file(data)
    assert [v.name for v in back] == ["Ann", "王小明"]
    assert all(np.allclose(a.print, b.print) for a, b in zip(voices, back, strict=True))
    for bad in (
        b"",
        b"not json",
        b'{"kind": "something else"}',
        data.replace(b'"print": "', b'"print": "AAAA'),
    ):
        with pytest.raises(UserFacingError) as raised:
            read_voices_file(bad)
        assert raised.value.code == "voices_file_bad"


def test_more_clips_of_one_name_are_one_voice_weighted_by_their_speech() -> None:
    a, b = _unit(RNG.standard_normal(PRINT_SIZE)), _unit(RNG.standard_normal(PRINT_SIZE))
    [ann, bob] = combined([_voice("Ann", a, 30.0), _voice("Bob", b), _voice("Ann", b, 10.0)])
    assert (ann.name, ann.speech_s, bob.name) == ("Ann", 40.0, "Bob")
    assert np.allclose(ann.print, _unit(30 * a + 10 * b), atol=1e-6)


# --- bad input: one sentence each, before any model loads ---------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "code"),
    [
        ("Ann", "known_voice_no_clip"),
        ("Ann=", "known_voice_no_clip"),
        ("=CLIP", "known_voice_no_name"),
        ("Ann=/nonexistent/clip.wav", "known_voice_not_audio"),
    ],
)
def test_the_cli_says_what_is_wrong_with_a_known_speaker_in_one_sentence(
    argument: str, code: str, monkeypatch, capsys, tmp_path: Path
) -> None:
    stub_process_hooks(monkeypatch)
    loaded = []
    monkeypatch.setattr(cli_module, "load_backend", lambda settings: loaded.append(1))
    recording = tmp_path / "call.wav"
    recording.write_bytes(b"RIFF")
    argument = argument.replace("CLIP", str(recording))
    assert cli_module.main(["transcribe", str(recording), "--known-speaker", argument]) == 2
    err = capsys.readouterr().err.strip()
    assert err == t(code, "en", name="Ann"), err
    assert loaded == [], "said before any model loads"


def test_the_cli_refuses_one_clip_under_two_names(monkeypatch, capsys, tmp_path: Path) -> None:
    stub_process_hooks(monkeypatch)
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"the same bytes")
    copy = tmp_path / "copy.wav"
    shutil.copy(clip, copy)
    argv = ["transcribe", str(clip), "--known-speaker", f"Ann={clip}", "--known-speaker", f"Bob={copy}"]
    assert cli_module.main(argv) == 2
    assert capsys.readouterr().err.strip() == t("known_voice_same_clip", "en", first="Ann", second="Bob")


def _form(**fields: str | list[str]) -> ReceivedForm:
    form = ReceivedForm(file_bytes=10, file_name="call.wav")
    form.fields = {name: value if isinstance(value, list) else [value] for name, value in fields.items()}
    return form


def test_the_api_reads_known_speakers_as_the_sdk_sends_them_and_refuses_what_is_wrong() -> None:
    clip = b"RIFF....WAVE"
    url = "data:audio/wav;base64," + base64.b64encode(clip).decode()
    fields = {"model": "m", "response_format": "diarized_json"}
    asked = TranscriptionRequest.of(
        _form(**fields, **{"known_speaker_names[]": ["Ann"], "known_speaker_references[]": [url]}), "m"
    )
    assert asked.known == (("Ann", clip),) and asked.speakers
    implied = TranscriptionRequest.of(
        _form(model="m", **{"known_speaker_names[]": ["Ann"], "known_speaker_references[]": [url]}), "m"
    )
    assert implied.speakers, "known speakers imply speakers"
    cases = [
        (
            {"known_speaker_names[]": ["Ann", "Bob"], "known_speaker_references[]": [url]},
            "known_voice_no_clip",
        ),
        ({"known_speaker_references[]": [url]}, "known_voice_no_name"),
        ({"known_speaker_names[]": [" "], "known_speaker_references[]": [url]}, "known_voice_no_name"),
        (
            {"known_speaker_names[]": ["Ann"], "known_speaker_references[]": ["clip.wav"]},
            "known_voice_not_audio",
        ),
        (
            {"known_speaker_names[]": ["Ann"], "known_speaker_references[]": ["data:audio/wav;base64,@@"]},
            "known_voice_not_audio",
        ),
    ]
    for extra, code in cases:
        with pytest.raises(ApiError) as raised:
            TranscriptionRequest.of(_form(**fields, **extra), "m")
        assert raised.value.status == 400 and raised.value.message_code == code


# --- real voices --------------------------------------------------------------------------------------------


def test_a_clip_of_each_voice_names_them_in_the_call_and_the_cli_in_folder_mode(
    monkeypatch,
    capsys,
    tmp_path: Path,
    english_checkpoint,
    speaker_model,
    conversation: Conversation,
    voice_clips,
) -> None:
    """`--known-speaker` twice: each voice of the call under its name, in a file's json and in folder mode;
    only one known: the other stays "Speaker N"."""
    monkeypatch.setenv("ASR_MODEL", str(english_checkpoint))
    monkeypatch.setattr(cli_module, "load_speaker_model", lambda: speaker_model)
    stub_process_hooks(monkeypatch)
    known = ["--known-speaker", f"Ann={voice_clips[1]}", "--known-speaker", f"Bob={voice_clips[2]}"]
    assert cli_module.main(["transcribe", str(conversation.path), *known, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    names = {s["label"]: s["name"] for s in document["speakers"]}
    said = [(names[s["speaker"]], round(s["start"], 1)) for s in document["segments"]]
    expected = {1: "Ann", 2: "Bob"}
    for turn_start, _, voice in conversation.turns:
        assert any(name == expected[voice] and abs(start - turn_start) < 0.5 for name, start in said), said
    folder = tmp_path / "calls"
    folder.mkdir()
    shutil.copy(conversation.path, folder / "monday.wav")
    out = tmp_path / "out"
    argv = ["transcribe", str(folder), "--known-speaker", f"Bob={voice_clips[2]}", "--out", str(out)]
    assert cli_module.main(argv) == 0
    paragraphs = (out / "monday.txt").read_text("utf-8").strip().split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == ["Speaker 1", "Bob", "Speaker 1", "Bob", "Speaker 1"]


@pytest.mark.parametrize("codec", ["WAV", "MP3 64k"])
def test_clips_cut_from_one_meeting_name_its_people_in_another(
    codec: str, english_engine, speaker_model, real_recordings, tmp_path: Path
) -> None:
    """AMI's participants keep their ids across excerpts of a meeting: clips of both people cut from dev01
    name them in dev00 (each clip and the meeting in `codec`, as users would upload them); clips of people
    from other recordings name nobody there."""
    source, target = real_recordings["AMI excerpt dev01"], real_recordings["AMI excerpt dev00"]
    clips = cut_clips(source, tmp_path / "clips")
    strangers = cut_clips(real_recordings["AMI excerpt trn03"], tmp_path / "strangers")
    upload = encode(target.wav, codec, tmp_path / "upload")

    def named(chosen: dict[str, Path]) -> tuple[float | None, float | None]:
        coded = [Clip(p, encode(path, codec, tmp_path / f"coded-{p}")) for p, path in chosen.items()]
        with job_workspace() as folder:
            voices = enroll(coded, speaker_model, folder.path)
        options = TranscribeOptions(identify_speakers=True, known_voices=tuple(voices))
        outcome = run_job(upload, english_engine, Settings(), options, speaker_model=speaker_model)
        assert isinstance(outcome, Transcribed), outcome
        document = json.loads(export(outcome.transcript, "json"))
        scored = score(target, document, outcome.transcript.speakers, voices)
        return scored.right_share, scored.wrong_share

    assert {t.speaker for t in people(target)} == set(clips) == {"MEE009", "MEE012"}
    right, _ = named(clips)
    assert right is not None and right >= 0.85, right
    _, wrong = named({p: strangers[p] for p in strangers})
    assert wrong == 0.0, wrong


def test_a_clip_that_is_not_one_voice_speaking_is_refused_naming_the_voice(
    speaker_model, voice_clips, digital_silence_wav: Path, near_silence_wav: Path, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    short = tmp_path / "short.wav"
    run_ffmpeg("-i", voice_clips[1], "-t", "1.2", short)
    cases = {
        "known_voice_not_audio": text,
        "known_voice_no_speech": digital_silence_wav,
        "known_voice_too_short": short,
        "known_voice_too_long": make_long_mp3(voice_clips[1], tmp_path / "long.mp3", 40),
    }
    with job_workspace() as folder, pytest.raises(UserFacingError) as hiss:
        enroll([Clip("Ann", near_silence_wav)], speaker_model, folder.path)
    assert hiss.value.code == "known_voice_no_speech", "an unplugged microphone's hiss is no voice"
    for code, path in cases.items():
        with job_workspace() as folder, pytest.raises(UserFacingError) as raised:
            enroll([Clip("Ann", path)], speaker_model, folder.path)
        assert raised.value.code == code and raised.value.params["name"] == "Ann", (code, raised.value.code)
        assert "Ann" in t(code, "en", **raised.value.params)
    with job_workspace() as folder:
        [voice] = enroll([Clip("Ann", voice_clips[1])], speaker_model, folder.path)
        assert list(folder.path.iterdir()) == [], "the clip's WAV is gone once printed"
    assert voice.speech_s > 5 and abs(float(np.linalg.norm(voice.print)) - 1) < 1e-5


def test_remember_this_voice_names_that_speaker_in_the_next_recording(
    monkeypatch, english_checkpoint, speaker_model, conversation: Conversation
) -> None:
    """On a card, name a speaker and press "Remember this voice": the next transcription of the session
    names that voice by itself, in the text and the downloads' names."""
    monkeypatch.setenv("ASR_MODEL", str(english_checkpoint))
    monkeypatch.setattr(asr.background, "load_speaker_model", lambda: speaker_model)
    app = AppTest.from_file(APP, default_timeout=180)
    app.run()
    [switch] = [c for c in app.sidebar.checkbox if c.label == t("ui_identify_speakers", "en")]
    switch.check().run()
    app.get("file_uploader")[0].set_value(("call.wav", conversation.path.read_bytes(), "audio/wav"))
    app.run()

    def transcribe() -> str:
        [button] = [b for b in app.button if b.label == t("ui_transcribe", "en")]
        button.click().run()
        assert not app.exception
        [text] = [a.value for a in app.text_area if a.label == t("ui_transcript", "en")]
        return text

    assert transcribe().startswith("Speaker 1: ")
    [remember, _] = [b for b in app.button if b.label == t("ui_remember_voice", "en")]
    assert remember.disabled, "a speaker is remembered under a name the user gave"
    [box] = [box for box in app.text_input if box.value == "Speaker 1"]
    box.input("Host").run()
    [remember, _] = [b for b in app.button if b.label == t("ui_remember_voice", "en")]
    remember.click().run()
    assert [voice.name for voice in app.session_state["known_voices"]] == ["Host"]
    paragraphs = transcribe().split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == ["Host", "Speaker 2", "Host", "Speaker 2", "Host"]


def test_the_page_says_what_is_wrong_with_a_voice_in_one_sentence(monkeypatch, english_checkpoint) -> None:
    """Known voices on the page: a name without a clip, a clip without a name, a file that is not a voices
    file: one sentence each, and no voice is added."""

    class NoModel:
        def diarize(self, *args: object) -> None:
            raise AssertionError("nothing to diarize")

        voice_print = diarize

    monkeypatch.setenv("ASR_MODEL", str(english_checkpoint))
    monkeypatch.setattr(asr.background, "load_speaker_model", NoModel)
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    [switch] = [c for c in app.sidebar.checkbox if c.label == t("ui_identify_speakers", "en")]
    switch.check().run()
    [name] = [box for box in app.text_input if box.label == t("ui_known_voice_name", "en")]
    name.input("Ann")
    [add] = [b for b in app.button if b.label == t("ui_known_voice_add", "en")]
    add.click().run()
    assert [e.value for e in app.error] == [t("known_voice_no_clip", "en", name="Ann")]
    [add] = [b for b in app.button if b.label == t("ui_known_voice_add", "en")]
    add.click().run()  # the form was cleared: now neither a name nor a clip
    assert [e.value for e in app.error] == [t("known_voice_no_name", "en")]
    [load] = [u for u in app.get("file_uploader") if u.proto.label == t("ui_voices_load", "en")]
    load.set_value(("voices.json", b'{"kind": "a playlist"}', "application/json"))
    app.run()
    assert [e.value for e in app.error] == [t("voices_file_bad", "en")]
    assert app.session_state["known_voices"] == []
