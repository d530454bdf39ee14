"""Real-browser harness: the app started as users start it, under strace, driven by Debian's Chromium.

The server side reuses `testkit.trace` (free port, health probe, strace command line, the
strace parser `outbound` and its `Server` with SIGTERM-the-Python-not-strace `stop`); this module only adds a
captured server log, the README start command with the env a test needs, and browser-side plumbing:
a request recorder, a recorder of what the server sends the page, and small page actions (upload, remove,
transcribe, wait for a card).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from asr.i18n import t
from cleanup.root import JOB_PREFIX, PROC_PREFIX
from testkit.trace import (
    API_COMMAND,
    FILE_CALLS,
    NETWORK_CALLS,
    REPO,
    START_COMMANDS,
    STRACE,
    Server,
    free_port,
    http_status,
    outbound,
    strace_cmd,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000  # the longest any single browser wait may take
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
UI = "en"  # the browser runs with locale en-US, so the page speaks English


def require(present: bool, what: str) -> None:
    """Skip when a tool is missing on a developer machine; on CI (CI=true) a missing tool is a failure."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required on CI")
    pytest.skip(f"{what} not installed")


def require_browser_tools() -> None:
    require(CHROMIUM.exists(), str(CHROMIUM))
    require(STRACE is not None, "strace")


# --- the server ------------------------------------------------------------------------------------------


_FILE_CALL = re.compile(
    r"\b(?P<call>openat|creat|mkdir|renameat2|renameat|rename)\((?P<args>.*)\) = (?P<result>-?\d+)"
)


@dataclass
class AppServer(Server):
    """`python -m privacy --server.port N` under `strace -f`, its stdout+stderr captured in `log`."""

    log: Path = field(default=Path())

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def job_folders(self) -> list[Path]:
        return sorted(path for path in self.root.glob(f"{PROC_PREFIX}*/{JOB_PREFIX}*"))

    def leftovers(self) -> list[Path]:
        """Anything under the temp root but the process folders themselves: job folders, spools, strays."""
        return sorted(
            path
            for path in self.root.rglob("*")
            if not (path.parent == self.root and path.name.startswith(PROC_PREFIX) and path.is_dir())
        )

    def log_text(self) -> str:
        return self.log.read_text("utf-8", "replace") if self.log.exists() else ""

    def non_loopback(self) -> list[tuple[str, int]]:
        """Destinations of the server's connect/sendto/sendmsg calls that leave the machine (or are DNS)."""
        return outbound(self.trace)

    def written_paths(self) -> list[str]:
        """Every path the server created, renamed to, or opened for writing (a `trace_files` start only)."""
        found = []
        for line in self.trace.read_text().splitlines():
            match = _FILE_CALL.search(line)
            if match is None or int(match["result"]) < 0:
                continue
            names = re.findall(r'"((?:[^"\\]|\\.)*)"', match["args"])
            if not names:
                continue
            if match["call"] == "openat" and not re.search(r"O_WRONLY|O_RDWR|O_CREAT", match["args"]):
                continue
            found.append(names[-1] if match["call"].startswith("rename") else names[0])
        return found

    def traced_calls(self) -> int:
        """Lines strace wrote: the trace was live (the server answers the browser with sendto/sendmsg)."""
        return len(self.trace.read_text().splitlines()) if self.trace.exists() else 0

    def guard_events(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line.strip()]

    def guard_attempts(self) -> list[dict]:
        """What the in-process guard saw besides its own 'installed' line: every non-local attempt."""
        return [event for event in self.guard_events() if event["event"] != "installed"]

    def kill(self) -> None:
        """SIGKILL the app (not strace), as the OOM killer or a power cut would: no handler runs."""
        if self.proc.poll() is None:
            os.kill(self.python_pid(), signal.SIGKILL)
            self.proc.wait(timeout=20)

    def wait_log(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.log_text().count(needle) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"server log never showed {needle!r} x{count}")
            time.sleep(0.05)


def start_app(
    tmp: Path,
    model: Path,
    *args: str,
    root: Path | None = None,
    name: str = "server",
    env: dict[str, str] | None = None,
    command: str = "launcher",
    trace_files: bool = False,
) -> AppServer:
    """Start the app as a user does (`command`: a key of START_COMMANDS, or "api" for `python -m asr
    serve`), plus the env a test needs; wait until it is healthy. The launcher and the API run from a
    foreign folder, the seed's command from the project's. `trace_files` also records the files it writes
    (`AppServer.written_paths`)."""
    tmp.mkdir(parents=True, exist_ok=True)
    home = tmp / f"{name}_home"
    home.mkdir(exist_ok=True)
    port = free_port()
    root = root or tmp / "root"
    trace, report, log = tmp / f"{name}_trace.txt", tmp / f"{name}_guard.jsonl", tmp / f"{name}.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "CLEANUP_DISABLED"},
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "ASR_MODEL": str(model),
        "QWEN_ASR_TMP_ROOT": str(root),
        "PRIVACY_GUARD_REPORT": str(report),
        **(env or {}),
    }
    calls = f"{NETWORK_CALLS},{FILE_CALLS}" if trace_files else NETWORK_CALLS
    if command == "api":  # `python -m asr serve`: the API alone, answered at /v1 (401 with a key set)
        server_cmd = [sys.executable, *API_COMMAND, "--port", str(port), *args]
        health, healthy = "/v1/models", (200, 401)
    else:
        server_cmd = [sys.executable, *START_COMMANDS[command], "--server.port", str(port), *args]
        health, healthy = "/_stcore/health", (200,)
    cmd = strace_cmd(trace, *server_cmd, calls=calls)
    cwd = tmp if command in ("launcher", "api") else REPO
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=sink, stderr=subprocess.STDOUT)
    server = AppServer(proc=proc, port=port, trace=trace, root=root, report=report, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited during startup:\n{server.log_text()[-2000:]}")
        try:
            if http_status(port, health) in healthy:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail("server did not come up within 60 s")


# --- the browser ----------------------------------------------------------------------------------------


class Traffic:
    """URLs every page of the recorded contexts asked for (HTTP, WebSocket): the 'nothing leaves' check."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.urls: list[str] = []

    def record(self, context) -> None:
        # The context-level event fires for every request of every page (and frame) in it: a superset of
        # page.on("request"), so a popup or a later tab cannot slip past.
        context.on("request", lambda request: self.urls.append(request.url))
        context.on("page", lambda page: page.on("websocket", lambda ws: self.urls.append(ws.url)))

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES:
            return True
        return parts.hostname in LOCAL_HOSTS and parts.port == self.port

    def foreign(self) -> list[str]:
        return [url for url in self.urls if not self.is_local(url)]


class Redraws:
    """What the server sent one page over its WebSocket (Streamlit's ForwardMsg protobufs): each element it
    drew and how each script run ended, so a test can count what a click made the server redraw."""

    def __init__(self, page) -> None:
        self.messages: list[ForwardMsg] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes):
            return
        message = ForwardMsg.FromString(payload)
        if message.WhichOneof("type") != "heartbeat_ack":  # the page's keep-alive, no drawing
            self.messages.append(message)

    def mark(self) -> int:
        return len(self.messages)

    def idle(self) -> bool:
        """The last script run that started has finished (each run opens with a new_session message)."""
        kinds = [m.WhichOneof("type") for m in self.messages]
        started = max((i for i, k in enumerate(kinds) if k == "new_session"), default=-1)
        finished = max((i for i, k in enumerate(kinds) if k == "script_finished"), default=-1)
        return finished > started

    def html_since(self, mark: int) -> list[str]:
        """The bodies of the `st.html` elements drawn since `mark`."""
        return [
            m.delta.new_element.html.body
            for m in self.messages[mark:]
            if m.WhichOneof("type") == "delta"
            and m.delta.WhichOneof("type") == "new_element"
            and m.delta.new_element.WhichOneof("type") == "html"
        ]

    def runs_since(self, mark: int) -> list[str]:
        """How each script run since `mark` ended: "FINISHED_SUCCESSFULLY" for a whole-page run,
        "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" for a fragment's."""
        return [
            ForwardMsg.ScriptFinishedStatus.Name(m.script_finished)
            for m in self.messages[mark:]
            if m.WhichOneof("type") == "script_finished"
        ]


def new_page(browser, traffic: Traffic):
    """A fresh browser session (context): en-US, clipboard on, downloads accepted, every request recorded."""
    context = browser.new_context(
        locale="en-US",
        permissions=["clipboard-read", "clipboard-write"],
        accept_downloads=True,
    )
    context.set_default_timeout(WAIT_MS)
    traffic.record(context)
    return context.new_page()


def open_app(browser, server: AppServer, traffic: Traffic):
    page = new_page(browser, traffic)
    page.goto(server.url)
    wait_ready(page)
    return page


def start_live(browser, server: AppServer, traffic: Traffic):
    """A fresh tab that presses Start in live mode and waits until its microphone is streaming."""
    page = open_app(browser, server, traffic)
    page.get_by_role("button", name=t("ui_live_start", UI), exact=True).click()
    page.get_by_text(t("ui_live_listening", UI)).wait_for()
    return page


UPLOADER = ".st-key-uploads input[type=file]"  # the main uploader (the sidebar's known voices have their own)


def wait_ready(page) -> None:
    page.wait_for_selector(UPLOADER, state="attached", timeout=WAIT_MS)
    transcribe_button(page).wait_for(timeout=WAIT_MS)


def transcribe_button(page):
    return page.get_by_role("button", name=t("ui_transcribe", UI), exact=True)


# Counts the page's script runs that ended (each change of stApp's run state away from "running", one record
# per change even when several come between two callbacks), from the first call on; returns the count.
_RUNS_ENDED = """() => {
  if (window.__asrRunsEnded === undefined) {
    window.__asrRunsEnded = 0;
    new MutationObserver((records) => {
      for (const r of records) if (r.oldValue === "running") window.__asrRunsEnded += 1;
    }).observe(document.querySelector("[data-testid=stApp]"), {
      attributes: true, attributeOldValue: true, attributeFilter: ["data-test-script-state"],
    });
  }
  return window.__asrRunsEnded;
}"""


def upload(page, path: Path) -> None:
    """Pick a file in the uploader, as a user's file dialog would, and wait until the run it started has
    ended: the chip shows before the server has the file, and a click on Transcribe before that run ends
    can be lost (the Transcribe button is enabled already from an earlier file, so it cannot tell)."""
    ended = page.evaluate(_RUNS_ENDED)
    page.set_input_files(UPLOADER, str(path))
    file_chip(page, path.name).wait_for(timeout=WAIT_MS)
    page.wait_for_function("n => window.__asrRunsEnded > n", arg=ended, timeout=WAIT_MS)
    wait_transcribe_enabled(page, True)


def wait_transcribe_enabled(page, enabled: bool) -> None:
    """The button is enabled only by a script run that saw an upload: the server-side state, not the DOM's."""
    page.wait_for_function(
        "([name, enabled]) => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === name && b.disabled === !enabled)",
        arg=[t("ui_transcribe", UI), enabled],
        timeout=WAIT_MS,
    )


def file_chip(page, name: str):
    """The uploader's chip for `name` (its visible text is shortened; its aria-label is "<name>, <size>")."""
    return page.locator(f'[data-testid=stFileChip][aria-label^="{name},"]')


def remove_uploads(page, names: Iterable[str]) -> None:
    for name in names:
        page.get_by_role("button", name=f"Remove {name}", exact=True).click()
        file_chip(page, name).wait_for(state="detached", timeout=WAIT_MS)
    wait_transcribe_enabled(page, False)


def start_transcription(page) -> None:
    """Click Transcribe once the page's run is over: a click during the run that an upload started can land
    on the button that run is replacing, and no job starts."""
    wait_idle(page)
    transcribe_button(page).click()


def wait_idle(page) -> None:
    """The page's last script run has finished (Streamlit marks its root while one runs)."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached")


def open_cell_editor(page, row: int):
    """Double-click the text cell of `row` until its editor opens: the grid is a canvas that paints its rows
    (and may shift as the tab settles) after the element appears, so one click can land before it is ready."""
    grid = page.get_by_test_id("stDataFrame")
    grid.wait_for()
    editor = page.locator("textarea.gdg-input")
    row_px = 35  # the grid's header and rows
    for _ in range(10):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.dblclick(box["x"] + box["width"] * 0.6, box["y"] + row_px * (row + 1) + row_px / 2)
        try:
            editor.wait_for(timeout=3000)
            return editor
        except PlaywrightTimeoutError:
            continue
    editor.wait_for()
    return editor


def download(page, ext: str):
    """Click the transcript's `ext` download once the page is idle, and return Playwright's Download.

    A click during a rerun can land on the button the run is replacing: its file is gone by the time the
    browser asks for it, and no download ever starts."""
    wait_idle(page)
    with page.expect_download() as started:
        page.get_by_role("button", name=t("ui_download", UI, ext=ext), exact=True).click()
    return started.value


def card_title(page, name: str):
    """The bold file name that heads a result card (drawn only once the job is over)."""
    return page.locator("[data-testid=stMarkdownContainer] strong", has_text=name)


def card(page, name: str):
    """The result card headed by `name`: everything drawn for that file (keyed `card_<id>` by the page)."""
    return page.locator("[class*='st-key-card_']").filter(has=card_title(page, name))


def wait_error(page, name: str, code: str, **params: object) -> str:
    """Wait for `name`'s card to show the one-sentence message for `code`; return the alert's text."""
    card_title(page, name).first.wait_for(timeout=WAIT_MS)
    alert = page.get_by_test_id("stAlert").filter(has_text=t(code, UI, **params))
    alert.first.wait_for(timeout=WAIT_MS)
    return alert.first.inner_text().strip()


def transcript_box(page):
    return page.get_by_label(t("ui_transcript", UI), exact=True)


def wait_transcript(page, name: str) -> str:
    card_title(page, name).first.wait_for(timeout=WAIT_MS)
    box = transcript_box(page)
    box.wait_for(timeout=WAIT_MS)
    return box.input_value()


def wait_for_job_folder(server: AppServer, timeout: float = 30) -> list[Path]:
    deadline = time.monotonic() + timeout
    while not (found := server.job_folders()):
        if time.monotonic() > deadline:
            pytest.fail("no job folder appeared: the job never started")
        time.sleep(0.02)
    return found


def wait_no_job_folder(server: AppServer, timeout: float = 15) -> list[Path]:
    """Poll until the temp root holds no job folder (or time runs out); return what is left."""
    deadline = time.monotonic() + timeout
    while (left := server.job_folders()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def assert_nothing_left_the_machine(server: AppServer, traffic: Traffic) -> None:
    """The page asked only its own server, which reached nothing off loopback, as strace and the guard saw."""
    # The counts, for `pytest -rP` / `-s` reports; the assertions below are what decides.
    print(
        f"e2e: page requests {len(traffic.urls)}, to other hosts {len(traffic.foreign())}; "
        f"strace calls {server.traced_calls()}, non-loopback {len(server.non_loopback())}; "
        f"guard attempts {len(server.guard_attempts())}; job folders {len(server.job_folders())}, "
        f"leftovers {len(server.leftovers())}"
    )
    assert traffic.urls, "the recorder saw no request at all: it was not attached"
    assert traffic.foreign() == [], "the page requested a host other than the app's own"
    assert server.traced_calls() > 0, "strace recorded nothing: the trace was not live"
    assert server.non_loopback() == [], "the server connected/sent to a non-loopback address"
    events = server.guard_events()
    assert events and events[0]["event"] == "installed", "guard report missing: it was not live"
    assert server.guard_attempts() == [], "the in-process guard saw a non-local attempt"
