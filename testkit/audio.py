"""Audio the tests and the bench make with the project's own ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asr.speech.audio import find_ffmpeg


def run_ffmpeg(*args: str | Path) -> None:
    """Run the project's ffmpeg for fixture generation; fail with its message if it fails."""
    cmd = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fixture ffmpeg failed: {done.stderr.strip()}")


def make_long_mp3(speech_wav: Path, dst: Path, seconds: float) -> Path:
    """An mp3 of `seconds` made by looping `speech_wav` (for the decode-time measurement)."""
    run_ffmpeg(
        "-stream_loop", "-1", "-i", speech_wav, "-t", f"{seconds}", "-c:a", "libmp3lame", "-b:a", "64k", dst
    )
    return dst
