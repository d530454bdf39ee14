"""Decode stage: any upload -> one 16 kHz mono 16-bit WAV, through exactly one locked-down ffmpeg call.

Why it looks like this:

* An upload is untrusted bytes with an untrusted extension. ffmpeg picks a demuxer by content, and some
  demuxers open *other* inputs named inside the file: an HLS playlist (``#EXTM3U``) or an ``ffconcat`` list
  renamed to ``.mp3`` makes ffmpeg read arbitrary local files (and, with network protocols, fetch URLs), and
  ``image2``/``lavfi``/``tty``/``data`` turn odd inputs into output. So the call pins
  ``-protocol_whitelist file`` (no network, no pipes, no nested protocols), ``-format_whitelist`` with plain
  audio/video container demuxers only (the ``mov`` demuxer keeps its external references, ``enable_drefs``,
  off by default), and passes both paths as ``file:`` URLs so a name can never be read as an option or
  another protocol. ``-map_metadata -1`` keeps tags (titles, names) from the upload out of our WAV.
* pydub's ``AudioSegment.from_file`` is not used on uploads: it runs ffprobe and ffmpeg without any of those
  whitelists. pydub only measures loudness of the WAV we wrote ourselves.
* One WAV on disk, read in blocks: a 3-hour upload is ~350 MB of PCM, so duration comes from the WAV header
  and loudness from one-second blocks; memory stays bounded whatever the length.
* Which ffmpeg: the one pinned by the imageio-ffmpeg wheel (`find_ffmpeg`), unless `FFMPEG_BINARY` names
  another. A system ffmpeg is not preferred just because it is on PATH: the pinned one is the version CI
  decodes every fixture with, on every platform the wheel serves, and it needs no install step.
* Which message a failure gets does not depend on that choice: `asr.speech.diagnose` classifies failures from
  the stream list and the file's own first bytes, never from ffmpeg's wording or exit number (both changed
  between 5.1 and 9.0). The tests run every bad input through the pinned binary and the system one.

ffmpeg's log is read for one thing only, signs of damage in a decode that succeeded (level-tagged errors,
"corrupt", "partial file"), to warn that only the readable part was transcribed; it is never logged, because
it carries upload metadata.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import tempfile
import time
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from asr.errors import UserFacingError
from asr.settings import DEFAULT_MAX_SECONDS
from asr.speech.diagnose import failure_code, looks_like_playlist

with warnings.catch_warnings():
    # pydub looks for ffmpeg on PATH at import time and warns when it is missing; it never runs one here.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
    # pydub imports the stdlib audioop, deprecated since 3.11 (audioop-lts replaces it on 3.13+).
    warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
    from pydub import AudioSegment

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: What the page's uploader and the CLI's folder mode pick up: the containers ffmpeg decodes that people
#: record in (any other file is still tried when named on its own).
MEDIA_EXTENSIONS = (
    "mp3",
    "m4a",
    "aac",
    "wav",
    "flac",
    "ogg",
    "oga",
    "opus",
    "webm",
    "wma",
    "mp4",
    "mov",
    "mkv",
)
MIN_SECONDS = 0.3
SILENCE_DBFS = -60.0
DECODE_TIMEOUT_S = 3600

# Demuxers for real audio/video containers that never open a second input by themselves.
FORMAT_WHITELIST = "mp3,mov,mp4,m4a,3gp,3g2,mj2,aac,wav,w64,flac,ogg,matroska,webm,asf,avi,aiff,caf,amr,au"
_DAMAGE = re.compile(
    r"\[(?:error|fatal)\]|\[warning\].*(?:corrupt|partial file|do not match|truncat)", re.IGNORECASE
)
_STDERR_HEAD = 1 << 20
_STDERR_TAIL = 1 << 16


@dataclass(frozen=True)
class DecodedAudio:
    """The decoded WAV and what the UI needs to know about it."""

    wav_path: Path
    duration_s: float
    sample_rate: int
    truncated: bool  # the input was damaged or cut off; what was readable was decoded
    dbfs: float  # loudness of the whole file (pydub's definition; -inf for digital silence)
    is_silent: bool  # no one-second block reaches SILENCE_DBFS: nothing to transcribe


def find_ffmpeg(configured: str | None = None) -> str:
    """`configured` (`FFMPEG_BINARY`), else the imageio-ffmpeg wheel's binary.

    The wheel ships one for Linux x86_64/aarch64, macOS and Windows; where it has none, imageio-ffmpeg itself
    falls back to an ffmpeg on PATH.
    """
    return configured or imageio_ffmpeg.get_ffmpeg_exe()


def input_args(src: Path) -> list[str]:
    """The locked-down input half of every ffmpeg call on an upload (see the module docstring)."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-i",
        f"file:{src}",
    ]


def _ffmpeg_command(ffmpeg: str, src: Path, dst: Path, max_seconds: float) -> list[str]:
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "level+warning",
        *input_args(src),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "pcm_s16le",
        # One second past the cap: anything still producing audio there is longer than allowed.
        "-t",
        f"{max_seconds + 1:.3f}",
        "-f",
        "wav",
        "-y",
        f"file:{dst}",
    ]


def _run_ffmpeg(cmd: list[str]) -> tuple[int, str]:
    """Exit code and ffmpeg's log; only its head and tail are kept, so a flood of errors stays small."""
    with tempfile.TemporaryFile() as err:
        try:
            rc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=DECODE_TIMEOUT_S,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            raise UserFacingError("decode_failed") from None
        size = err.tell()
        err.seek(0)
        text = err.read(_STDERR_HEAD)
        if size > _STDERR_HEAD:
            err.seek(max(_STDERR_HEAD, size - _STDERR_TAIL))
            text += b"\n" + err.read()
    return rc, text.decode("utf-8", "replace")


def _loudness(wav_path: Path) -> tuple[float, float]:
    """(dBFS of the whole file, dBFS of its loudest one-second block), reading one block at a time."""
    squares = 0.0
    frames = 0
    loudest = 0
    with wave.open(str(wav_path), "rb") as w:
        while block := w.readframes(SAMPLE_RATE):
            seg = AudioSegment(data=block, sample_width=2, frame_rate=SAMPLE_RATE, channels=1)
            n = int(seg.frame_count())
            squares += float(seg.rms) ** 2 * n
            frames += n
            loudest = max(loudest, seg.rms)
    rms = math.sqrt(squares / frames) if frames else 0.0
    return _dbfs(rms), _dbfs(loudest)


def _dbfs(rms: float) -> float:
    """pydub's `AudioSegment.dBFS` for 16-bit samples with this RMS."""
    return 20 * math.log10(rms / (1 << 15)) if rms else -math.inf


def decode_to_wav(
    src: Path, dst: Path, max_seconds: float = DEFAULT_MAX_SECONDS, ffmpeg: str | None = None
) -> DecodedAudio:
    """Decode the first audio track of `src` into `dst` (16 kHz mono s16 WAV), or raise `UserFacingError`.

    `ffmpeg` is the binary to run (`find_ffmpeg`). On any failure `dst` does not exist afterwards.
    """
    binary = find_ffmpeg(ffmpeg)
    started = time.monotonic()
    try:
        if src.stat().st_size == 0:
            raise UserFacingError("empty_file")
        if looks_like_playlist(src):
            raise UserFacingError("unsupported_container")
        rc, stderr = _run_ffmpeg(_ffmpeg_command(binary, src, dst, max_seconds))
        if rc != 0:
            dst.unlink(missing_ok=True)
            raise UserFacingError(failure_code(binary, input_args(src), src))
        with wave.open(str(dst), "rb") as w:
            duration = w.getnframes() / w.getframerate()
        if duration > max_seconds:
            raise UserFacingError("too_long", max_minutes=round(max_seconds / 60, 2))
        if duration < MIN_SECONDS:
            raise UserFacingError("too_short", min_seconds=MIN_SECONDS)
        dbfs, loudest = _loudness(dst)
    except UserFacingError as e:
        dst.unlink(missing_ok=True)
        log.info("decode refused: %s", e.code)
        raise
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    result = DecodedAudio(
        wav_path=dst,
        duration_s=duration,
        sample_rate=SAMPLE_RATE,
        truncated=_DAMAGE.search(stderr) is not None,
        dbfs=dbfs,
        is_silent=loudest < SILENCE_DBFS,
    )
    log.info(
        "decoded %.1f s in %.2f s (truncated=%s, silent=%s, %.1f dBFS)",
        duration,
        time.monotonic() - started,
        result.truncated,
        result.is_silent,
        dbfs,
    )
    return result


def load_pcm(wav_path: Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    """Samples of a WAV from `decode_to_wav` between `start_s` and `end_s`, as float32 in [-1, 1).

    Only the requested block is read from disk.
    """
    with wave.open(str(wav_path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError("load_pcm expects the 16-bit mono WAV written by decode_to_wav")
        rate = w.getframerate()
        total = w.getnframes()
        first = min(max(round(start_s * rate), 0), total)
        last = total if end_s is None else min(max(round(end_s * rate), first), total)
        w.setpos(first)
        data = w.readframes(last - first)
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(1 << 15)
