"""The decode stage: what a user uploads either becomes a 16 kHz mono WAV or one clear refusal."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

import asr.speech.audio
from asr.errors import UserFacingError
from asr.i18n import TEXT, t
from asr.speech.audio import DecodedAudio, decode_to_wav, find_ffmpeg, load_pcm
from asr.speech.diagnose import family
from tests.fixtures_audio import SPEECH_FORMATS, PlaylistAttack, wav_duration

LANGS = ("en", "zh")


def assert_16k_mono_s16(path: Path) -> None:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (
            1,
            2,
            16000,
            "NONE",
        )


def refusal(src: Path, dst: Path, **kwargs: float | str) -> UserFacingError:
    """Decode expecting a refusal; check the refusal reads well in both languages and left no file."""
    with pytest.raises(UserFacingError) as caught:
        decode_to_wav(src, dst, **kwargs)
    err = caught.value
    assert not dst.exists(), f"{err.code}: partial output left behind"
    for lang in ("zh", "en"):
        sentence = t(err.code, lang, **err.params)
        assert sentence and "{" not in sentence
    return err


@pytest.mark.parametrize("ext", list(SPEECH_FORMATS))
@pytest.mark.parametrize("lang", LANGS)
def test_every_format_decodes_to_16k_mono_wav(
    lang: str, ext: str, speech_files: dict, speech_wavs: dict, tmp_path: Path
) -> None:
    out = decode_to_wav(speech_files[(lang, ext)], tmp_path / "out.wav")
    assert_16k_mono_s16(out.wav_path)
    assert out.sample_rate == 16000
    assert out.duration_s == pytest.approx(wav_duration(speech_wavs[lang]), abs=0.1)
    assert out.duration_s == pytest.approx(wav_duration(out.wav_path), abs=1e-6)
    assert not out.truncated
    assert not out.is_silent
    assert -35 < out.dbfs < -5


def test_decoded_samples_match_the_source(speech_wavs: dict, speech_files: dict, tmp_path: Path) -> None:
    """Lossless input comes out as the same waveform (resampled), not as noise or another channel."""
    out = decode_to_wav(speech_files[("en", "flac")], tmp_path / "out.wav")
    with wave.open(str(speech_wavs["en"]), "rb") as w:
        source = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    decoded = load_pcm(out.wav_path)
    resampled = np.interp(np.arange(decoded.size) / 16000, np.arange(source.size) / 22050, source)
    assert np.corrcoef(decoded, resampled)[0, 1] > 0.95


BAD_INPUTS = {
    "empty_upload": "empty_file",
    "text_as_mp3": "not_audio",
    "png_as_mp3": "not_audio",
    "random_bytes_mp3": "not_audio",
    "video_only_mp4": "no_audio_track",
    "moov_missing_m4a": "decode_failed",  # an MP4 whose index was cut off: a damaged file, not "not audio"
    "transport_stream_mp3": "unsupported_container",  # MPEG-TS: a real container we do not open
    "short_clip_wav": "too_short",
}


@pytest.mark.parametrize(("fixture", "code"), list(BAD_INPUTS.items()))
def test_bad_input_gets_the_same_code_with_every_ffmpeg(
    fixture: str, code: str, ffmpeg_binary: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The pinned ffmpeg and the system one (Debian's 5.1 on CI) word their errors and exit differently;
    the user's message must not follow."""
    err = refusal(request.getfixturevalue(fixture), tmp_path / "out.wav", ffmpeg=ffmpeg_binary)
    assert err.code == code


def test_the_short_clip_message_says_the_minimum(short_clip_wav: Path, tmp_path: Path) -> None:
    err = refusal(short_clip_wav, tmp_path / "out.wav")
    assert "0.3" in t(err.code, "en", **err.params)


def test_first_bytes_name_the_container_family(
    text_as_mp3: Path, png_as_mp3: Path, moov_missing_m4a: Path, transport_stream_mp3: Path, hls_attack
) -> None:
    assert family(text_as_mp3.read_bytes()[:1024]) == "unknown"
    assert family(png_as_mp3.read_bytes()[:1024]) == "unknown"
    assert family(moov_missing_m4a.read_bytes()[:1024]) == "permitted"
    assert family(transport_stream_mp3.read_bytes()[:1024]) == "foreign"
    assert family(hls_attack.as_mp3.read_bytes()[:1024]) == "playlist"


def test_over_the_limit_is_refused_and_says_the_limit(speech_files: dict, tmp_path: Path) -> None:
    src = speech_files[("en", "mp3")]  # ~3.4 s
    err = refusal(src, tmp_path / "out.wav", max_seconds=3.0)  # 0.05 minutes
    assert err.code == "too_long"
    assert "0.05" in t("too_long", "en", **err.params) and "0.05" in t("too_long", "zh", **err.params)
    assert decode_to_wav(src, tmp_path / "ok.wav", max_seconds=4.0).duration_s < 4.0


def test_failed_decode_removes_a_stale_output(text_as_mp3: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.wav"
    dst.write_bytes(b"left over from an earlier run")
    assert refusal(text_as_mp3, dst).code == "not_audio"


@pytest.mark.parametrize("name", ["mp3_cut_in_half", "m4a_cut_in_half", "wav_lying_header"])
def test_truncated_input_is_decoded_and_flagged(
    name: str, truncated_files: dict, ffmpeg_binary: str, tmp_path: Path
) -> None:
    src, full = truncated_files[name]
    out = decode_to_wav(src, tmp_path / "out.wav", ffmpeg=ffmpeg_binary)
    assert out.truncated
    assert_16k_mono_s16(out.wav_path)
    assert 0.3 < out.duration_s <= full + 0.1
    assert not out.is_silent
    assert t("truncated_warning", "zh") and t("truncated_warning", "en")


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "mp4"])
def test_intact_files_are_not_flagged_truncated(
    ext: str, speech_files: dict, ffmpeg_binary: str, tmp_path: Path
) -> None:
    assert not decode_to_wav(speech_files[("zh", ext)], tmp_path / "out.wav", ffmpeg=ffmpeg_binary).truncated


@pytest.mark.parametrize("fixture", ["digital_silence_wav", "near_silence_wav"])
def test_silence_is_flagged(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    out = decode_to_wav(request.getfixturevalue(fixture), tmp_path / "out.wav")
    assert out.is_silent
    assert out.duration_s == pytest.approx(3.0, abs=0.1)
    assert out.dbfs < -60
    assert t("no_speech", "zh") and t("no_speech", "en")


def test_digital_silence_is_minus_infinity_dbfs(digital_silence_wav: Path, tmp_path: Path) -> None:
    assert decode_to_wav(digital_silence_wav, tmp_path / "out.wav").dbfs == float("-inf")


def test_quiet_speech_is_not_silence(quiet_speech_wav: Path, tmp_path: Path) -> None:
    out = decode_to_wav(quiet_speech_wav, tmp_path / "out.wav")
    assert not out.is_silent
    assert -60 < out.dbfs < -35


@pytest.mark.parametrize(("fixture", "lang"), [("multichannel_96k_24bit_wav", "en"), ("float32_wav", "zh")])
def test_unusual_pcm_is_converted(
    fixture: str, lang: str, request: pytest.FixtureRequest, speech_wavs: dict, tmp_path: Path
) -> None:
    out = decode_to_wav(request.getfixturevalue(fixture), tmp_path / "out.wav")
    assert_16k_mono_s16(out.wav_path)
    assert out.duration_s == pytest.approx(wav_duration(speech_wavs[lang]), abs=0.05)
    assert not out.is_silent and not out.truncated
    assert -35 < out.dbfs < -5


def _assert_nothing_leaked(attack: PlaylistAttack, dst: Path, err: UserFacingError, logs: str) -> None:
    assert err.code in {"unsupported_container", "not_audio"}
    assert not dst.exists()
    if attack.secret:
        assert attack.secret.decode() not in f"{err!r}{err.params}{logs}"
        for path in dst.parent.iterdir():
            assert attack.secret not in path.read_bytes()


@pytest.mark.parametrize("kind", ["hls_attack", "ffconcat_attack"])
def test_control_plain_ffmpeg_does_follow_these_lists(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Without the whitelists, ffmpeg reads the local files a list names: the fixtures are live attacks."""
    attack: PlaylistAttack = request.getfixturevalue(kind)
    out = tmp_path / "plain.wav"
    cmd = [find_ffmpeg(), "-nostdin", "-v", "error", "-i", attack.control.name, "-ac", "1", "-y", str(out)]
    subprocess.run(cmd, cwd=attack.control.parent, check=True, capture_output=True)
    assert wav_duration(out) > 1.0


@pytest.mark.parametrize("variant", ["as_mp3", "as_native", "control"])
@pytest.mark.parametrize("kind", ["hls_attack", "ffconcat_attack"])
def test_playlists_are_refused_as_unsupported(
    kind: str,
    variant: str,
    ffmpeg_binary: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attack: PlaylistAttack = request.getfixturevalue(kind)
    dst = tmp_path / "out.wav"
    with caplog.at_level(logging.DEBUG):
        err = refusal(getattr(attack, variant), dst, ffmpeg=ffmpeg_binary)
    assert err.code == "unsupported_container"
    _assert_nothing_leaked(attack, dst, err, caplog.text)


@pytest.mark.parametrize("variant", ["as_mp3", "as_native", "control"])
@pytest.mark.parametrize("kind", ["hls_attack", "ffconcat_attack"])
def test_ffmpeg_whitelist_alone_stops_playlists(
    kind: str,
    variant: str,
    ffmpeg_binary: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even if the cheap content sniff missed a list, the ffmpeg call itself never opens what it names."""
    monkeypatch.setattr(asr.speech.audio, "looks_like_playlist", lambda src: False)
    attack: PlaylistAttack = request.getfixturevalue(kind)
    dst = tmp_path / "out.wav"
    with caplog.at_level(logging.DEBUG):
        err = refusal(getattr(attack, variant), dst, ffmpeg=ffmpeg_binary)
    _assert_nothing_leaked(attack, dst, err, caplog.text)


def test_load_pcm_reads_the_requested_block(speech_files: dict, tmp_path: Path) -> None:
    out: DecodedAudio = decode_to_wav(speech_files[("zh", "wav")], tmp_path / "out.wav")
    whole = load_pcm(out.wav_path)
    assert whole.dtype == np.float32
    assert whole.size == round(out.duration_s * 16000)
    assert -1.0 <= whole.min() and whole.max() <= 1.0 and np.abs(whole).max() > 0.1

    block = load_pcm(out.wav_path, 1.0, 2.5)
    assert block.size == 24000
    np.testing.assert_array_equal(block, whole[16000:40000])

    tail = load_pcm(out.wav_path, 5.0)
    np.testing.assert_array_equal(tail, whole[80000:])
    assert load_pcm(out.wav_path, 4.0, 999.0).size == whole.size - 64000
    assert load_pcm(out.wav_path, 999.0).size == 0


def test_ffmpeg_binary_is_the_one_that_decodes(speech_files: dict, tmp_path: Path) -> None:
    real = imageio_ffmpeg.get_ffmpeg_exe()
    marker = tmp_path / "wrapper-was-used"
    wrapper = tmp_path / "my-ffmpeg"
    wrapper.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    assert find_ffmpeg(str(wrapper)) == str(wrapper)
    decode_to_wav(speech_files[("en", "ogg")], tmp_path / "out.wav", ffmpeg=str(wrapper))
    assert marker.exists()


def test_without_ffmpeg_binary_the_pinned_one_decodes_even_with_ffmpeg_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = tmp_path / "ffmpeg"
    on_path.symlink_to(shutil.which("true") or "/bin/true")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_every_audio_code_has_one_sentence_in_both_languages() -> None:
    codes = ["empty_file", "not_audio", "no_audio_track", "too_short", "too_long", "unsupported_container"]
    codes += ["decode_failed", "truncated_warning", "no_speech"]
    for code in codes:
        assert set(TEXT[code]) == {"zh", "en"}
        assert TEXT[code]["en"].count(". ") == 0 and TEXT[code]["en"].endswith(".")
