"""Why an upload could not be decoded, told by what does not change between ffmpeg versions.

ffmpeg's messages are worded differently from release to release (Debian 12's 5.1 says
``file:notes.mp3: Invalid argument`` where 9.0 says ``Error opening input file``), and its exit status went
from always 1 to the failing call's error number (183, 234, ...). So neither is read here. Two things are:

1. **The stream list.** After a failed decode, ffmpeg opens the file again with the very same locked-down
   input flags and writes nothing but the stream header of the ``framecrc`` format, the one FFmpeg's own
   regression suite compares byte for byte (``#media_type 0: audio``). Opened with an audio stream: the
   audio is there but undecodable (``decode_failed``); opened without one: ``no_audio_track``.
2. **The file's first bytes**, when no permitted demuxer opens it at all: a damaged file of a container we
   do decode (an MP4 cut before its index) is ``decode_failed``; a real container we deliberately do not open
   (MPEG-TS, RealMedia, ...) is ``unsupported_container``; anything else (text, images, documents, noise)
   is ``not_audio``. The signatures are our own table, so the answer cannot move with an ffmpeg upgrade.

Playlists are refused before ffmpeg ever runs (`looks_like_playlist`): they are the one kind of file whose
demuxer would open other files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

Family = Literal["playlist", "permitted", "foreign", "unknown"]
HEAD_BYTES = 1024
PROBE_TIMEOUT_S = 120

_PLAYLIST_MAGIC = (b"#EXTM3U", b"#EXT-X-", b"ffconcat")
_MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})


def _at(offset: int, magic: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[offset : offset + len(magic)] == magic


def _riff(*forms: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] in forms


def _mpeg_sync(head: bytes) -> bool:
    """An MPEG audio or ADTS AAC frame header: eleven set bits."""
    return len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _transport_stream(head: bytes) -> bool:
    """MPEG-TS packets (188 bytes, sync byte 0x47), plain or with the 4-byte M2TS timestamp."""
    return any(len(head) > at + 188 and head[at] == head[at + 188] == 0x47 for at in (0, 4))


# Containers whose demuxers `asr.speech.audio.FORMAT_WHITELIST` permits (wav, avi, w64, mov/mp4, flac, ogg,
# mp3, aac, matroska/webm, asf, aiff, caf, amr, au).
_PERMITTED: tuple[Callable[[bytes], bool], ...] = (
    _riff(b"WAVE", b"AVI "),
    _at(0, b"RF64"),
    _at(0, b"BW64"),
    _at(0, b"riff"),
    lambda head: head[4:8] in _MP4_BOXES,
    _at(0, b"fLaC"),
    _at(0, b"OggS"),
    _at(0, b"ID3"),
    _mpeg_sync,
    _at(0, b"\x1a\x45\xdf\xa3"),
    _at(0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),
    lambda head: head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"),
    _at(0, b"caff"),
    _at(0, b"#!AMR"),
    _at(0, b".snd"),
)
# Real audio/video containers that ffmpeg knows but we do not open.
_FOREIGN: tuple[Callable[[bytes], bool], ...] = (
    _transport_stream,
    _at(0, b"\x00\x00\x01\xba"),  # MPEG program stream (.mpg, .vob)
    _at(0, b"FLV\x01"),
    _at(0, b".RMF"),  # RealMedia
    _at(0, b"MAC "),  # Monkey's Audio
    _at(0, b"wvpk"),  # WavPack
    _at(0, b"MPCK"),  # Musepack
    _at(0, b"TTA1"),
    _at(0, b"\x0b\x77"),  # raw AC-3
    _at(0, b"\x7f\xfe\x80\x01"),  # raw DTS
    _at(0, b"\x06\x0e\x2b\x34"),  # MXF
    _at(0, b"DSD "),
)


_CODE_BY_FAMILY: dict[Family, str] = {
    "permitted": "decode_failed",
    "foreign": "unsupported_container",
    "playlist": "unsupported_container",
    "unknown": "not_audio",
}


def read_head(src: Path) -> bytes:
    with src.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def family(head: bytes) -> Family:
    """What the first bytes of a file say it is."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(_PLAYLIST_MAGIC):
        return "playlist"
    if any(matches(head) for matches in _PERMITTED):
        return "permitted"
    if any(matches(head) for matches in _FOREIGN):
        return "foreign"
    return "unknown"


def looks_like_playlist(src: Path) -> bool:
    return family(read_head(src)) == "playlist"


def stream_types(ffmpeg: str, input_args: Sequence[str]) -> list[str] | None:
    """The media type of every stream ffmpeg sees ("audio", "video", ...), or None if it cannot open it.

    `input_args` are the decode call's own input options and `-i`, so the probe opens exactly what the
    decode opened. Only the framecrc header is written: no packet is read past what opening needs.
    """
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "quiet", *input_args]
    cmd += ["-map", "0", "-c", "copy", "-frames", "0", "-f", "framecrc", "pipe:1"]
    try:
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    header = done.stdout.decode("ascii", "replace").splitlines()
    return [line.split(":", 1)[1].strip() for line in header if line.startswith("#media_type")]


def failure_code(ffmpeg: str, input_args: Sequence[str], src: Path) -> str:
    """The `asr.i18n` code for a decode that ffmpeg ended with a non-zero status."""
    streams = stream_types(ffmpeg, input_args)
    if streams is not None:
        return "decode_failed" if "audio" in streams else "no_audio_track"
    return _CODE_BY_FAMILY[family(read_head(src))]
