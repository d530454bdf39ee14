"""One recognition job, end to end, and the only thing the page and the CLI call.

workspace -> decode -> speech regions -> (speakers) -> chunks -> language check -> transcribe -> (word times)
-> outcome -> cleanup. Everything that is policy rather than drawing lives here, so both front-ends behave
the same: the private folder that is gone when the job ends however it ends, the redaction of the file's
name and of every piece of its transcript from all log lines while the job runs, the language policy and
"transcribe anyway" (`TranscribeOptions.anyway`), and the catch-all that turns an unexpected exception into a
`Failed` outcome with a content-free log line.

The result is a tagged union, `Transcribed | Failed | Cancelled`, so a caller cannot read a transcript that
is not there. Ctrl-C (KeyboardInterrupt) is a `Cancelled` outcome; Streamlit's own stop and rerun signals are
not exceptions of the job, so they pass through after the cleanup (the page tells a Cancel from a rerun).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from asr.engines.protocol import Aborted, Backend, Cancel, Capabilities
from asr.errors import UserFacingError
from asr.models import SpeakerFinder, WordTimer
from asr.outputs.playback import Playback, encode_for_playback
from asr.outputs.transcript import Segment, Timings, Transcript, clock
from asr.settings import Settings
from asr.speech.audio import decode_to_wav, find_ffmpeg
from asr.speech.chunking import frame_loudness, plan_chunks
from asr.speech.detect import detect_speech
from asr.speech.sources import FileChunks
from asr.transcribe import Progress, TranscribeOptions, transcribe
from cleanup.workspace import JobWorkspace, job_workspace
from privacy.logs import register_sensitive, unregister_sensitive

if TYPE_CHECKING:
    from asr.speakers.diarize import Diarization

log = logging.getLogger(__name__)

Stage = Literal["decoding", "detecting", "diarizing", "recognising", "aligning", "cleaning"]


@dataclass(frozen=True)
class JobEvent:
    stage: Stage
    progress: Progress | None = None


@dataclass(frozen=True)
class Notice:
    """A sentence for the user: a key of `asr.i18n.TEXT` and what fills it in."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Cleanup:
    """What became of the job's folder."""

    removal_seconds: float | None
    kept_wav: Path | None  # with CLEANUP_DISABLED=1, the WAV kept for debugging
    failed: bool

    @classmethod
    def of(cls, workspace: JobWorkspace) -> Cleanup:
        kept = workspace.wav_path if workspace.kept else None
        return cls(workspace.removal_seconds, kept, workspace.cleanup_error is not None)


@dataclass(frozen=True)
class Transcribed:
    transcript: Transcript
    notices: tuple[Notice, ...]
    cleanup: Cleanup
    playback: Playback | None = None  # asked for with `run_job(playback=True)`; None also when not made
    kind: Literal["transcribed"] = "transcribed"


@dataclass(frozen=True)
class Failed:
    """The job ended without a transcript; `reason.code` says why in the user's words."""

    reason: Notice
    notices: tuple[Notice, ...]
    cleanup: Cleanup
    kind: Literal["failed"] = "failed"

    @property
    def language_refused(self) -> bool:
        """The first chunk's language is not accepted: the user may "transcribe anyway"."""
        return self.reason.code.startswith("language_refused")


@dataclass(frozen=True)
class Cancelled:
    cleanup: Cleanup
    kind: Literal["cancelled"] = "cancelled"


JobOutcome = Transcribed | Failed | Cancelled


#: What a job transcribes: the bytes, a file on disk, or an open binary stream (a page upload, which is
#: copied to the job folder in blocks, so the server never holds a second whole copy of it).
Source = bytes | Path | BinaryIO


def _store(source: Source, target: Path) -> None:
    if source == target:  # received straight into the job's folder (an API request)
        return
    with target.open("wb") as out:
        target.chmod(0o600)
        if isinstance(source, bytes):
            out.write(source)
        elif isinstance(source, Path):
            with source.open("rb") as file:
                shutil.copyfileobj(file, out)
        else:
            source.seek(0)
            shutil.copyfileobj(source, out)


def _notices(transcript: Transcript, word_timestamps: bool) -> list[Notice]:
    """What the user should check in a transcript that did come out."""
    found = []
    segments = transcript.segments
    if transcript.repetition_trimmed:
        found.append(Notice("repetition_trimmed"))
    cut = [clock(s.end) for s in segments if s.hit_token_limit]
    if cut:
        found.append(Notice("token_limit", {"times": ", ".join(cut)}))
    if word_timestamps:
        untimed = sorted({s.language or "?" for s in segments if s.text.strip() and not s.words})
        if untimed:
            found.append(Notice("word_times_unavailable", {"languages": ", ".join(untimed)}))
    return found


class _Redaction:
    """The file's names and every transcript piece seen so far, kept out of every log line for the job."""

    def __init__(self, names: Sequence[str]) -> None:
        self.pieces: list[str] = list(names)
        register_sensitive(*self.pieces)

    def add(self, segments: Sequence[Segment]) -> None:
        """Register the text of segments just finished."""
        fresh = [text for s in segments for text in (s.text, s.untrimmed_text) if text]
        register_sensitive(*fresh)
        self.pieces.extend(fresh)

    def close(self) -> None:
        unregister_sensitive(*self.pieces)


@contextmanager
def _redacting(names: Sequence[str]) -> Iterator[_Redaction]:
    redaction = _Redaction(names)
    try:
        yield redaction
    finally:
        redaction.close()


def run_job(
    source: Source,
    backend: Backend,
    settings: Settings,
    options: TranscribeOptions,
    *,
    names: Sequence[str] = (),
    on_event: Callable[[JobEvent], None] | None = None,
    session_id: str | None = None,
    aligner: WordTimer | None = None,
    speaker_model: SpeakerFinder | None = None,
    playback: bool = False,
    cancel: Cancel | None = None,
    workspace: JobWorkspace | None = None,
) -> JobOutcome:
    """Run one job; nothing but Streamlit's control flow (and SystemExit) escapes as an exception.

    `names` are what the user calls the file (its name, path, stem): redacted from logs like its text.
    With `options.word_timestamps` and an `aligner`, words are timed before the WAV is removed; with
    `options.identify_speakers` and a `speaker_model`, speakers are found first and chunks cut at their turns.
    With `playback`, the recording is also re-encoded in memory for the review page's player. Setting
    `cancel` ends the job as `Cancelled` at its next stage or engine step (an API client that went away).
    `workspace`: a job folder the caller opened (and removes), `source` already received into its
    `upload_path`; otherwise the job opens its own.
    """
    models = JobModels(backend, aligner, speaker_model)
    return run_in_workspace(
        lambda scope: _run(source, models, settings, scope, cancel),
        models,
        settings,
        options,
        names=names,
        on_event=on_event,
        session_id=session_id,
        playback=playback,
        workspace=workspace,
    )


@dataclass(frozen=True)
class JobModels:
    backend: Backend
    aligner: WordTimer | None = None
    speaker_model: SpeakerFinder | None = None


@dataclass
class JobScope:
    """What a job's work runs in: its private folder, the redaction of its text from the logs, the options
    the engine can honour, the notices gathered so far, and where its stages are reported."""

    workspace: JobWorkspace
    redaction: _Redaction
    options: TranscribeOptions
    warnings: list[Notice]
    notify: Callable[[JobEvent], None]


def run_in_workspace(
    work: Callable[[JobScope], Transcript | None],
    models: JobModels,
    settings: Settings,
    options: TranscribeOptions,
    *,
    names: Sequence[str] = (),
    on_event: Callable[[JobEvent], None] | None = None,
    session_id: str | None = None,
    playback: bool = False,
    workspace: JobWorkspace | None = None,
) -> JobOutcome:
    """`work` inside a fresh job folder (or the caller's `workspace`, which the caller removes), its text
    redacted from logs, its errors made outcomes, the folder gone when it returns: what a file's job and a
    live recording's share. `work` leaves the recording at `scope.workspace.wav_path` for the word aligner,
    the speakers and the player; it returns None (or raises `Aborted`) when it was cancelled."""
    notify = on_event or (lambda event: None)
    if settings.batch_size and not options.batch_size:
        options = replace(options, batch_size=settings.batch_size)
    options, warnings = _within_capabilities(options, models.backend.capabilities)
    result: Transcript | Notice | None  # None: cancelled
    player: Playback | None = None
    folder = nullcontext(workspace) if workspace is not None else job_workspace(session_id=session_id)
    with _redacting(names) as redaction, folder as workspace:
        try:
            result = work(JobScope(workspace, redaction, options, warnings, notify))
            if playback:
                player = _playback(workspace.wav_path, settings)
        except UserFacingError as exc:
            log.info("Job ended: %s", exc.code)
            result = Notice(exc.code, dict(exc.params))
        except (KeyboardInterrupt, Aborted):
            log.info("Job cancelled")
            result = None
        except Exception as exc:  # one broken file must cost neither the page nor the other files
            log.error("Job failed unexpectedly: " + type(exc).__name__, exc_info=True)
            result = Notice("job_unexpected")
        finally:
            notify(JobEvent("cleaning"))
    cleanup = Cleanup.of(workspace)
    if cleanup.failed:
        warnings.append(Notice("cleanup_failed"))
    if isinstance(result, Transcript):
        notices = tuple(warnings + _notices(result, options.word_timestamps))
        return Transcribed(result, notices, cleanup, player)
    if result is None:
        return Cancelled(cleanup)
    return Failed(result, tuple(warnings), cleanup)


def _within_capabilities(
    options: TranscribeOptions, capabilities: Capabilities
) -> tuple[TranscribeOptions, list[Notice]]:
    """The user's options less what the engine cannot do, each dropped one said on the card and in the CLI."""
    dropped: list[Notice] = []
    if options.context and not capabilities.context_prompt:
        options = replace(options, context=None)
        dropped.append(Notice("context_unsupported"))
    if options.language and not capabilities.forced_language:
        options = replace(options, language=None)
        dropped.append(Notice("forced_language_unsupported"))
    return options, dropped


def _playback(wav_path: Path, settings: Settings) -> Playback | None:
    started = time.perf_counter()
    made = encode_for_playback(wav_path, find_ffmpeg(settings.ffmpeg))
    if made is not None:
        seconds = time.perf_counter() - started
        log.info("Playback copy made in %.2f s (%d kB)", seconds, len(made.data) // 1000)
    return made


def _run(
    source: Source, models: JobModels, settings: Settings, scope: JobScope, cancel: Cancel | None
) -> Transcript:
    workspace, options, warnings = scope.workspace, scope.options, scope.warnings

    def notify(event: JobEvent) -> None:
        if cancel is not None and cancel.is_set():
            raise Aborted
        scope.notify(event)

    notify(JobEvent("decoding"))
    _store(source, workspace.upload_path)
    started = time.perf_counter()
    audio = decode_to_wav(workspace.upload_path, workspace.wav_path, settings.max_seconds, settings.ffmpeg)
    decode_s = time.perf_counter() - started
    if audio.truncated:
        warnings.append(Notice("truncated_warning"))
    if audio.is_silent:
        raise UserFacingError("no_speech")
    notify(JobEvent("detecting"))
    levels = frame_loudness(workspace.wav_path)
    speech = detect_speech(workspace.wav_path, audio.duration_s, levels)
    if not speech:
        raise UserFacingError("no_speech")
    diarization = find_speakers(models, scope, audio.duration_s)
    notify(JobEvent("recognising"))

    def on_progress(step: Progress) -> None:
        scope.redaction.add(step.added)
        notify(JobEvent("recognising", step))

    changes = diarization.changes() if diarization else ()
    chunks = plan_chunks(
        speech, levels, options.chunk_target_s, options.chunk_max_s, changes, options.chunk_pause_s
    )
    source_chunks = FileChunks(workspace.wav_path, chunks)
    recognition = transcribe(models.backend, source_chunks, options, on_progress, cancel)
    transcript = Transcript(
        segments=recognition.segments,
        verdict=recognition.verdict,
        duration_s=audio.duration_s,
        timings=Timings(recognition.seconds, recognition.verdict.seconds, decode_s),
        language_check=options.language_check,
        forced_language=options.language,
    )
    return words_and_speakers(transcript, models, scope, diarization)


def find_speakers(models: JobModels, scope: JobScope, duration_s: float) -> Diarization | None:
    """Who speaks when in the job's WAV, when the user asked and the speaker model is loaded."""
    options = scope.options
    if not options.identify_speakers or models.speaker_model is None:
        return None
    scope.notify(JobEvent("diarizing"))
    diarization = models.speaker_model.diarize(scope.workspace.wav_path, duration_s, options.speakers)
    if options.speakers and diarization.speakers < options.speakers:
        found = {"requested": options.speakers, "found": diarization.speakers}
        scope.warnings.append(Notice("speakers_fewer", found))
    return diarization


def words_and_speakers(
    transcript: Transcript, models: JobModels, scope: JobScope, diarization: Diarization | None
) -> Transcript:
    """The transcript with its words timed (when asked for) and its segments given their speakers."""
    if scope.options.word_timestamps and models.aligner is not None:
        scope.notify(JobEvent("aligning"))
        transcript = models.aligner.time_words(scope.workspace.wav_path, transcript)
    if diarization is not None:
        from asr.speakers.diarize import attribute
        from asr.speakers.known import name_speakers

        transcript = attribute(transcript, diarization)
        if scope.options.known_voices:
            transcript = name_speakers(transcript, scope.options.known_voices)
    return transcript
