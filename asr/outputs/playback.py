"""A compact copy of the recording for the review page's player, made in memory from the job's own WAV.

The player needs the recording after the job's folder is gone, and the upload itself may be a 600 MB WAV or
a video. So before cleanup one ffmpeg call re-encodes the 16 kHz mono WAV the decoder wrote (our file, not
the upload) to 32 kbit/s CBR MP3 on a pipe: ~14 MB an hour, encoded at ~600x real time on one core, seekable
to the frame by every browser (constant bit rate: a time is a byte offset). Nothing is written: ffmpeg's
output is read from its stdout, its log is discarded, and the bytes live in the browser session's memory
until the card is closed, served by the app's own media endpoint.

The input half of the command is the same locked-down one as the decoder's (`asr.speech.audio.input_args`).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asr.speech.audio import input_args

log = logging.getLogger(__name__)

PLAYBACK_MIME = "audio/mpeg"
PLAYBACK_BITRATE = "32k"
ENCODE_TIMEOUT_S = 600  # an hour takes ~6 s; the 3-hour limit well under a minute


@dataclass(frozen=True)
class Playback:
    """The recording as the player gets it."""

    data: bytes = b""
    mime: str = PLAYBACK_MIME

    def __repr__(self) -> str:  # never the bytes, in a log or a traceback
        return f"Playback({len(self.data)} bytes, {self.mime})"


def encode_for_playback(wav_path: Path, ffmpeg: str) -> Playback | None:
    """The WAV as MP3 bytes; None (the card then has no player) when ffmpeg cannot make them."""
    command = [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *input_args(wav_path),
        "-map_metadata",
        "-1",
        "-c:a",
        "libmp3lame",
        "-b:a",
        PLAYBACK_BITRATE,
        "-f",
        "mp3",
        "pipe:1",
    ]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=ENCODE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("Playback copy not made: %s", type(exc).__name__)
        return None
    if done.returncode != 0 or not done.stdout:
        log.warning("Playback copy not made: ffmpeg exit %d", done.returncode)
        return None
    return Playback(done.stdout)
