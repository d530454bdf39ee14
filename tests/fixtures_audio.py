"""Generated audio fixtures for the decode stage: real speech (espeak-ng) in every supported format, and every
kind of bad upload. Nothing is committed as a blob; everything is made once per session under a temp dir.

Fixture generation may use ffmpeg features that uploads may not (lavfi sources, concat); the whitelist in
`asr.speech.audio` applies to decoding uploads only.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest

from testkit.audio import run_ffmpeg

__all__ = [
    "ffmpeg_binary",
    "system_ffmpeg",
    "SPEECH_TEXT",
    "SPEECH_FORMATS",
    "PlaylistAttack",
    "wav_duration",
    "audio_dir",
    "speech_wavs",
    "speech_files",
    "empty_upload",
    "text_as_mp3",
    "png_as_mp3",
    "random_bytes_mp3",
    "transport_stream_mp3",
    "video_only_mp4",
    "truncated_files",
    "moov_missing_m4a",
    "short_clip_wav",
    "digital_silence_wav",
    "near_silence_wav",
    "quiet_speech_wav",
    "hls_attack",
    "ffconcat_attack",
    "multichannel_96k_24bit_wav",
    "float32_wav",
]

SPEECH_TEXT = {
    "en": ("en-us", "Please send the invoice to finance at company dot com"),
    "zh": ("cmn", "这个报告我明天上午十点前发给你"),
}

# extension -> ffmpeg output arguments (after the inputs). Video containers get a small video track too.
SPEECH_FORMATS: dict[str, list[str]] = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
    "wav": ["-c:a", "pcm_s16le"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "webm": ["-c:a", "libopus"],
    "wma": ["-c:a", "wmav2", "-f", "asf"],
    "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libvorbis"],
}
_VIDEO = {"mp4", "mov", "mkv"}


def system_ffmpeg() -> str:
    """The distribution's ffmpeg (CI installs Debian's 5.1); skipped on a developer machine without one."""
    found = shutil.which("ffmpeg")
    if found is None or Path(found).resolve() == Path(imageio_ffmpeg.get_ffmpeg_exe()).resolve():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have a system ffmpeg besides the pinned one (apt-get install ffmpeg)")
        pytest.skip("no system ffmpeg besides the pinned one")
    return found


@pytest.fixture(params=["pinned", "system"])
def ffmpeg_binary(request: pytest.FixtureRequest) -> str:
    """Each bad-input test runs with the binary users get by default and with a system one (FFMPEG_BINARY):
    a message must not depend on the ffmpeg version that produced it."""
    return imageio_ffmpeg.get_ffmpeg_exe() if request.param == "pinned" else system_ffmpeg()


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def speech_wavs(audio_dir: Path) -> dict[str, Path]:
    """espeak-ng speech, one 22.05 kHz WAV per language ("en", "zh")."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is required in CI to generate speech fixtures")
        pytest.skip("espeak-ng not installed")
    out = {}
    for lang, (voice, text) in SPEECH_TEXT.items():
        dst = audio_dir / f"speech_{lang}.wav"
        subprocess.run([espeak, "-v", voice, "-w", str(dst), text], check=True, capture_output=True)
        out[lang] = dst
    return out


@pytest.fixture(scope="session")
def speech_files(audio_dir: Path, speech_wavs: dict[str, Path]) -> dict[tuple[str, str], Path]:
    """(lang, extension) -> the speech encoded in that format; extensions are the keys of SPEECH_FORMATS."""
    out = {}
    for lang, src in speech_wavs.items():
        for ext, args in SPEECH_FORMATS.items():
            dst = audio_dir / f"speech_{lang}_enc.{ext}"
            if ext in _VIDEO:
                run_ffmpeg(
                    "-f", "lavfi", "-i", "color=c=navy:s=64x64:r=10", "-i", src, "-shortest", *args, dst
                )
            else:
                run_ffmpeg("-i", src, *args, dst)
            out[(lang, ext)] = dst
    return out


@pytest.fixture(scope="session")
def empty_upload(audio_dir: Path) -> Path:
    path = audio_dir / "empty.mp3"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def text_as_mp3(audio_dir: Path) -> Path:
    path = audio_dir / "notes.mp3"
    path.write_text("Meeting notes: call the bank on Monday.\n" * 20, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def png_as_mp3(audio_dir: Path) -> Path:
    """A valid 8x8 PNG image named .mp3."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * 8 for _ in range(8))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    path = audio_dir / "picture.mp3"
    path.write_bytes(png)
    return path


@pytest.fixture(scope="session")
def random_bytes_mp3(audio_dir: Path) -> Path:
    """Noise with an audio name: what a corrupted download or an encrypted file looks like."""
    path = audio_dir / "noise.mp3"
    path.write_bytes(bytes((index * 7919 + 13) % 251 for index in range(20000)))
    return path


@pytest.fixture(scope="session")
def transport_stream_mp3(audio_dir: Path) -> Path:
    """Real audio in an MPEG transport stream, a container the decoder deliberately does not open."""
    path = audio_dir / "broadcast.mp3"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "mp2", "-f", "mpegts", path)
    return path


@pytest.fixture(scope="session")
def video_only_mp4(audio_dir: Path) -> Path:
    path = audio_dir / "video_only.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=64x64:r=10:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", path
    )
    return path


@pytest.fixture(scope="session")
def truncated_files(audio_dir: Path, speech_wavs: dict[str, Path]) -> dict[str, tuple[Path, float]]:
    """name -> (damaged file, duration of the intact original). Each still holds decodable audio."""
    both = audio_dir / "speech_both.wav"
    run_ffmpeg(
        "-i", speech_wavs["en"], "-i", speech_wavs["zh"], "-filter_complex", "concat=n=2:v=0:a=1", both
    )
    full = wav_duration(both)

    mp3 = audio_dir / "whole.mp3"
    run_ffmpeg("-i", both, "-c:a", "libmp3lame", "-b:a", "64k", mp3)
    cut_mp3 = audio_dir / "cut_in_half.mp3"
    data = mp3.read_bytes()
    cut_mp3.write_bytes(data[: len(data) // 2])

    m4a = audio_dir / "whole_faststart.m4a"
    run_ffmpeg("-i", both, "-c:a", "aac", "-movflags", "+faststart", m4a)
    cut_m4a = audio_dir / "cut_in_half.m4a"
    data = m4a.read_bytes()
    cut_m4a.write_bytes(data[: len(data) // 2])

    # A WAV whose header promises four times the audio that follows it.
    data = both.read_bytes()
    at = data.find(b"data")
    (size,) = struct.unpack("<I", data[at + 4 : at + 8])
    lying = audio_dir / "lying_header.wav"
    lying.write_bytes(data[:at] + b"data" + struct.pack("<I", size * 4) + data[at + 8 :])
    return {
        "mp3_cut_in_half": (cut_mp3, full),
        "m4a_cut_in_half": (cut_m4a, full),
        "wav_lying_header": (lying, full),
    }


@pytest.fixture(scope="session")
def moov_missing_m4a(audio_dir: Path, speech_wavs: dict[str, Path]) -> Path:
    """An m4a whose index (moov, written last by default) was cut off: nothing in it can be located."""
    whole = audio_dir / "index_at_end.m4a"
    run_ffmpeg("-i", speech_wavs["zh"], "-c:a", "aac", whole)
    data = whole.read_bytes()
    path = audio_dir / "index_cut_off.m4a"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def short_clip_wav(audio_dir: Path, speech_wavs: dict[str, Path]) -> Path:
    """0.2 s of speech: too short to transcribe."""
    path = audio_dir / "clip_0_2s.wav"
    run_ffmpeg("-i", speech_wavs["en"], "-ss", "0.5", "-t", "0.2", path)
    return path


@pytest.fixture(scope="session")
def digital_silence_wav(audio_dir: Path) -> Path:
    path = audio_dir / "silence.wav"
    run_ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "3", "-c:a", "pcm_s16le", path)
    return path


@pytest.fixture(scope="session")
def near_silence_wav(audio_dir: Path) -> Path:
    """Faint white noise around -76 dBFS, the hiss of an unplugged microphone."""
    path = audio_dir / "near_silence.mp3"
    run_ffmpeg(
        "-f", "lavfi", "-i", "anoisesrc=r=44100:a=0.0003:c=white", "-t", "3", "-c:a", "libmp3lame", path
    )
    return path


@pytest.fixture(scope="session")
def quiet_speech_wav(audio_dir: Path, speech_wavs: dict[str, Path]) -> Path:
    """Real speech 25 dB quieter than normal: must not count as silence."""
    path = audio_dir / "quiet_speech.wav"
    run_ffmpeg("-i", speech_wavs["en"], "-af", "volume=-25dB", path)
    return path


@dataclass(frozen=True)
class PlaylistAttack:
    as_mp3: Path  # the attack as uploaded: playlist content, audio extension
    as_native: Path  # the same content under the extension ffmpeg trusts (.m3u8 / .ffconcat)
    control: Path  # a list that only points at real audio: plain ffmpeg does follow it
    secret: bytes  # content of the referenced private file, or b"" when none is referenced


@pytest.fixture(scope="session")
def hls_attack(
    tmp_path_factory: pytest.TempPathFactory, speech_files: dict[tuple[str, str], Path]
) -> PlaylistAttack:
    """HLS playlists referencing a real local mp3 and a private text file by relative name."""
    folder = tmp_path_factory.mktemp("hls")
    shutil.copy(speech_files[("en", "mp3")], folder / "segment.mp3")
    secret = f"SECRET-{uuid.uuid4().hex}".encode()
    (folder / "secret.txt").write_bytes(secret + b"\n")
    head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:0\n"
    attack = head + "#EXTINF:4.0,\nsegment.mp3\n#EXTINF:4.0,\nsecret.txt\n#EXT-X-ENDLIST\n"
    for name in ("playlist.mp3", "playlist.m3u8"):
        (folder / name).write_text(attack)
    (folder / "control.m3u8").write_text(head + "#EXTINF:4.0,\nsegment.mp3\n#EXT-X-ENDLIST\n")
    return PlaylistAttack(folder / "playlist.mp3", folder / "playlist.m3u8", folder / "control.m3u8", secret)


@pytest.fixture(scope="session")
def ffconcat_attack(tmp_path_factory: pytest.TempPathFactory, speech_wavs: dict[str, Path]) -> PlaylistAttack:
    """An ffconcat list referencing a real local WAV by a relative name (which ffmpeg's safe mode allows)."""
    folder = tmp_path_factory.mktemp("ffconcat")
    shutil.copy(speech_wavs["en"], folder / "private.wav")
    listing = "ffconcat version 1.0\nfile 'private.wav'\n"
    for name in ("list.mp3", "list.ffconcat", "control.ffconcat"):
        (folder / name).write_text(listing)
    return PlaylistAttack(folder / "list.mp3", folder / "list.ffconcat", folder / "control.ffconcat", b"")


@pytest.fixture(scope="session")
def multichannel_96k_24bit_wav(audio_dir: Path, speech_wavs: dict[str, Path]) -> Path:
    """Speech on all six channels of a 5.1, 96 kHz, 24-bit WAV."""
    path = audio_dir / "six_channels_96k_24bit.wav"
    pan = "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0"
    run_ffmpeg("-i", speech_wavs["en"], "-af", pan, "-ar", "96000", "-c:a", "pcm_s24le", path)
    return path


@pytest.fixture(scope="session")
def float32_wav(audio_dir: Path, speech_wavs: dict[str, Path]) -> Path:
    path = audio_dir / "float32.wav"
    run_ffmpeg("-i", speech_wavs["zh"], "-ac", "2", "-c:a", "pcm_f32le", path)
    return path
