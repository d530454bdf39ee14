"""Folder mode of `python -m asr transcribe DIR`: a department's archive, thousands of recordings, over days.

Such a run is interrupted and restarted, so it is planned from what is already on disk: a recording whose
output exists is skipped, and an output appears whole or not at all (written beside itself, then renamed),
so a file cut off by Ctrl-C, a crash or a power cut is never taken for a finished one. Each recording is
still one `run_job`, exactly as in file mode: the same private job folder, gone when the job ends, and the
same redaction of its names from every log line. Up to `jobs` recordings are in flight at once, on threads
sharing the one loaded engine. Ctrl-C only raises a flag: no new file starts, and each file in flight is
cancelled at its next step (run_job's own cancel, which removes its folder); a KeyboardInterrupt landing
between two statements of the scheduler could instead lose the result of a file that had just finished.

The terminal gets one line per file naming its path relative to the folder (the user's own screen, and without
it a failure among thousands could not be found again); log records never name a file.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from asr.i18n import Lang, t
from asr.job import Cancelled, Failed, JobEvent, JobOutcome, Notice
from asr.outputs.transcript import Transcript
from asr.speech.audio import MEDIA_EXTENSIONS

log = logging.getLogger(__name__)

_POLL_S = 0.25  # how soon the scheduler notices Ctrl-C while every worker is busy
_REDRAW_S = 0.2  # the status line is redrawn at most this often on chunk progress


class Pipeline(Protocol):
    """The loaded models and the user's choices, as the CLI holds them for its file mode too."""

    def job(self, source: Path, names: Sequence[str], on_event: Callable[[JobEvent], None]) -> JobOutcome: ...

    def export(self, transcript: Transcript, title: str) -> bytes: ...


@dataclass(frozen=True)
class Recording:
    source: Path
    relative: Path  # to the folder given: what the terminal shows
    target: Path  # its output file


@dataclass(frozen=True)
class Plan:
    todo: tuple[Recording, ...]
    done: tuple[Recording, ...]  # their outputs exist: skipped
    unreadable: tuple[Path, ...]  # subfolders (relative) the walk could not list

    @property
    def total(self) -> int:
        return len(self.todo) + len(self.done)


def is_recording(name: str) -> bool:
    """By extension, any case; hidden files are left out (macOS `._x.mp3` copies are not audio)."""
    stem, dot, extension = name.rpartition(".")
    return bool(dot and stem) and not name.startswith(".") and extension.lower() in MEDIA_EXTENSIONS


def find_recordings(folder: Path, recursive: bool) -> tuple[list[Path], list[Path]]:
    """Recordings and unlistable subfolders, relative to `folder`, in path order: the same on every run."""
    found: list[Path] = []
    unreadable: list[Path] = []

    def note(error: OSError) -> None:
        unreadable.append(Path(error.filename or folder).relative_to(folder))

    for here, subfolders, files in os.walk(folder, onerror=note):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".")) if recursive else []
        base = Path(here).relative_to(folder)
        found.extend(base / name for name in files if is_recording(name))
    return sorted(found, key=lambda path: path.parts), sorted(unreadable, key=lambda path: path.parts)


def output_targets(relatives: Sequence[Path], root: Path, extension: str) -> list[Path]:
    """`root/<sub-folders>/<stem>.<ext>`; recordings of one folder sharing a stem keep their extension
    (`a.mp3.txt`, `a.wav.txt`), so no two outputs collide and each name is the same on every run."""
    shared = Counter((relative.parent, relative.stem.casefold()) for relative in relatives)
    targets = []
    for relative in relatives:
        name = relative.name if shared[(relative.parent, relative.stem.casefold())] > 1 else relative.stem
        targets.append(root / relative.parent / f"{name}.{extension}")
    return targets


def plan_archive(folder: Path, *, recursive: bool, out: Path | None, extension: str, overwrite: bool) -> Plan:
    """Outputs go beside each recording, or into `out` mirroring the sub-folders."""
    relatives, unreadable = find_recordings(folder, recursive)
    targets = output_targets(relatives, folder if out is None else out, extension)
    todo: list[Recording] = []
    done: list[Recording] = []
    for relative, target in zip(relatives, targets, strict=True):
        recording = Recording(folder / relative, relative, target)
        (done if target.exists() and not overwrite else todo).append(recording)
    return Plan(tuple(todo), tuple(done), tuple(unreadable))


def write_atomically(target: Path, data: bytes) -> None:
    """Owner-only from the first byte (a transcript is as private as its recording), and whole or absent."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def unusable(source: Path) -> Notice | None:
    """Why `source` cannot even be started, said before a job folder is made for it."""
    if not source.is_file():
        return Notice("cli_not_a_file")
    if not os.access(source, os.R_OK):
        return Notice("cli_read_failed")
    return None


@dataclass(frozen=True)
class Written:
    audio_s: float
    seconds: float
    notices: tuple[Notice, ...]


@dataclass(frozen=True)
class FileFailed:
    reason: Notice
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class Stopped:
    """Cancelled by Ctrl-C before it finished: nothing of it is left, and the next run does it."""


FileResult = Written | FileFailed | Stopped


def hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _columns(text: str) -> int:
    """Terminal cells `text` takes: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _fit(text: str, columns: int) -> str:
    """`text` cut to `columns` cells, so the status line never wraps (a wrapped line cannot be redrawn)."""
    while text and _columns(text) > columns:
        text = text[:-1]
    return text


@dataclass
class Tally:
    total: int
    transcribed: int = 0
    skipped: int = 0
    audio_s: float = 0.0
    failures: list[tuple[Path, Notice]] = field(default_factory=list)
    unreadable: tuple[Path, ...] = ()

    @property
    def finished(self) -> int:
        return self.transcribed + self.skipped + len(self.failures)

    @property
    def any_failed(self) -> bool:
        return bool(self.failures or self.unreadable)


class Board:
    """The run's stderr: one line per finished file and, on a terminal, a status line kept below them.

    Workers report chunk progress from their threads and the scheduler reports finished files, so every write
    goes through one lock.
    """

    def __init__(self, lang: Lang, plan: Plan, stream: TextIO, status_line: bool) -> None:
        self.lang = lang
        self.tally = Tally(plan.total, unreadable=plan.unreadable)
        self._stream = stream
        self._status_line = status_line  # a terminal only, and no log lines to break it
        self._live = False  # the status line starts with the run: model loading prints its own lines first
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._in_flight: dict[Path, float] = {}  # audio seconds done so far of each file in flight
        self._drawn = 0  # cells of the status line now on screen
        self._drawn_at = 0.0

    def begin(self) -> None:
        with self._lock:
            self._live = self._status_line
            self._started = time.perf_counter()
            self._draw()

    def say(self, line: str) -> None:
        with self._lock:
            self._erase()
            print(line, file=self._stream, flush=True)
            self._draw()

    def planned(self, plan: Plan) -> None:
        """What the walk found, each skipped recording, and each subfolder it could not list."""
        self.say(t("archive_found", self.lang, total=plan.total, todo=len(plan.todo), skipped=len(plan.done)))
        for folder in plan.unreadable:
            self.say(self._failure(folder, Notice("archive_folder_unreadable")))
        for recording in plan.done:
            self.tally.skipped += 1
            self.say(self._numbered("archive_skipped", recording))

    def advanced(self, recording: Recording, event: JobEvent) -> None:
        """A worker's job moved on; the status line counts the audio its chunks have covered."""
        with self._lock:
            done = event.progress.done_s if event.progress else self._in_flight.get(recording.source, 0.0)
            self._in_flight[recording.source] = done
            if self._live and time.perf_counter() - self._drawn_at >= _REDRAW_S:
                self._erase()
                self._draw()

    def finished(self, recording: Recording, result: FileResult) -> None:
        with self._lock:
            self._in_flight.pop(recording.source, None)
        if isinstance(result, Stopped):
            return
        if isinstance(result, FileFailed):
            self.tally.failures.append((recording.relative, result.reason))
            self.say(self._numbered("archive_failed", recording, reason=self._sentence(result.reason)))
        else:
            self.tally.transcribed += 1
            self.tally.audio_s += result.audio_s
            line = self._numbered("archive_ok", recording, audio=hms(result.audio_s), seconds=result.seconds)
            self.say(line)
        for notice in result.notices:
            self.say("    " + self._sentence(notice))

    def stopping(self, running: int) -> None:
        self.say(t("archive_stopping", self.lang, running=running))

    def summary(self, interrupted: bool) -> None:
        """The counts, then every failure again: among thousands of lines they would be lost."""
        with self._lock:
            self._erase()
            self._live = False
        tally = self.tally
        counts = {
            "total": tally.total,
            "transcribed": tally.transcribed,
            "skipped": tally.skipped,
            "failed": len(tally.failures),
        }
        if interrupted:
            left = tally.total - tally.finished
            self.say(t("archive_interrupted", self.lang, finished=tally.finished, left=left, **counts))
        else:
            elapsed = hms(time.perf_counter() - self._started)
            self.say(t("archive_summary", self.lang, audio=hms(tally.audio_s), elapsed=elapsed, **counts))
        if tally.any_failed:
            self.say(t("archive_failures", self.lang))
        for folder in tally.unreadable:
            self.say(self._failure(folder, Notice("archive_folder_unreadable")))
        for path, reason in tally.failures:
            self.say(self._failure(path, reason))
        if any(reason.code.startswith("language_refused") for _, reason in tally.failures):
            self.say(t("cli_force_hint", self.lang))

    def _sentence(self, notice: Notice) -> str:
        return t(notice.code, self.lang, **notice.params)

    def _failure(self, path: Path, reason: Notice) -> str:
        return t("archive_failure", self.lang, path=path, reason=self._sentence(reason))

    def _numbered(self, key: str, recording: Recording, **params: object) -> str:
        finished, total = self.tally.finished, self.tally.total
        return t(key, self.lang, finished=finished, total=total, path=recording.relative, **params)

    def _status(self) -> str:
        audio = self.tally.audio_s + sum(self._in_flight.values())
        return t(
            "archive_status",
            self.lang,
            finished=self.tally.finished,
            total=self.tally.total,
            failed=len(self.tally.failures),
            audio=hms(audio),
            elapsed=hms(time.perf_counter() - self._started),
        )

    def _draw(self) -> None:
        if not self._live:
            return
        status = _fit(self._status(), self._width() - 1)
        self._stream.write("\r" + status)
        self._stream.flush()
        self._drawn = _columns(status)
        self._drawn_at = time.perf_counter()

    def _width(self) -> int:
        """The terminal's width; 80 where it reports none (0 on a pseudo-terminal nobody sized)."""
        try:
            return os.get_terminal_size(self._stream.fileno()).columns or 80
        except (OSError, ValueError):
            return 80

    def _erase(self) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0


def _transcribe_one(
    recording: Recording, pipeline: Pipeline, stop: threading.Event, board: Board
) -> FileResult:
    """One recording, start to output; every failure becomes a result, so one file never ends the run."""
    refusal = unusable(recording.source)
    if refusal is not None:
        return FileFailed(refusal)
    started = time.perf_counter()

    def on_event(event: JobEvent) -> None:
        # run_job turns a KeyboardInterrupt into its cancel: folder removed, `Cancelled` returned. The
        # "cleaning" event is sent from that very cleanup, which must run to its end.
        if stop.is_set() and event.stage != "cleaning":
            raise KeyboardInterrupt
        board.advanced(recording, event)

    source = recording.source
    names = (str(source), source.name, source.stem, str(recording.relative))
    try:
        outcome = pipeline.job(source, names, on_event)
        if isinstance(outcome, Cancelled):
            return Stopped()
        if isinstance(outcome, Failed):
            return FileFailed(outcome.reason, outcome.notices)
        data = pipeline.export(outcome.transcript, source.name)
        try:
            write_atomically(recording.target, data)
        except OSError:
            return FileFailed(Notice("cli_write_failed"), outcome.notices)
    except Exception as exc:  # an export bug must cost this file only, like a job's own unexpected error
        log.error("Archive file failed unexpectedly: " + type(exc).__name__, exc_info=True)
        return FileFailed(Notice("job_unexpected"))
    return Written(outcome.transcript.duration_s, time.perf_counter() - started, outcome.notices)


@contextmanager
def _stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets `stop` instead of raising (see the module docstring); only the main thread gets signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_archive(plan: Plan, pipeline: Pipeline, jobs: int, board: Board) -> bool:
    """Transcribe `plan.todo`, up to `jobs` at once; True when Ctrl-C stopped it before the end."""
    stop = threading.Event()
    waiting = iter(plan.todo)
    running: dict[Future[FileResult], Recording] = {}
    announced = False
    log.info("Folder run: %d files, %d to transcribe, %d at once", plan.total, len(plan.todo), jobs)
    board.begin()
    with _stop_on_sigint(stop), ThreadPoolExecutor(jobs, thread_name_prefix="asr-archive") as pool:
        try:
            while True:
                while not stop.is_set() and len(running) < jobs and (recording := next(waiting, None)):
                    running[pool.submit(_transcribe_one, recording, pipeline, stop, board)] = recording
                if not running:
                    return stop.is_set() and board.tally.finished < plan.total
                finished, _ = wait(running, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                # counted before `finished` are taken out: they may be the very files just cancelled
                if stop.is_set() and not announced:
                    board.stopping(len(running))
                    announced = True
                for future in finished:
                    board.finished(running.pop(future), future.result())
        finally:
            stop.set()  # on SIGTERM's SystemExit too: the workers cancel, and the pool's exit waits for them
