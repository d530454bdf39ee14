"""The app as a private front-end to a real vLLM server (CPU build, tiny checkpoint), as a team would use it.

One server is started for this module (about a minute and a half on two cores) and every test drives the
real CLI or the real page against it: no mock of vLLM, no local model (`ASR_MODEL` points at nothing and
the Hugging Face cache is empty). The server dies in the last test, on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from asr.i18n import t
from bench.conversations import Conversation
from testkit.audio import make_long_mp3
from testkit.browser import (
    UI,
    Traffic,
    open_app,
    start_app,
    start_live,
    start_transcription,
    transcript_box,
    upload,
    wait_transcript,
)
from testkit.trace import REPO, START_COMMANDS, free_port, outbound
from testkit.vllm_server import VllmServer
from tests.fixtures_model import DOUBTED_WORD
from tests.fixtures_vllm import SERVER_KEY

SAID = "hello brave world"
UNSURE = DOUBTED_WORD.strip()


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(tmp_path: Path, *args: str | Path, env: dict[str, str], timeout: float = 300) -> Run:
    """`python -m asr transcribe ...` as a team member runs it: only the server's settings, no local model."""
    temp = tmp_path / f"tmp_{len(list(tmp_path.glob('tmp_*')))}"
    temp.mkdir()
    full = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    full.update(
        ASR_MODEL=str(tmp_path / "no-model-on-this-laptop"),
        HF_HOME=str(tmp_path / "empty-hf-cache"),
        TMPDIR=str(temp),
        LANG="en_US.UTF-8",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", *map(str, args)],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert_private(run, temp)
    return run


def assert_private(run: Run, temp: Path) -> None:
    leftovers = [p for p in temp.rglob("*") if p.name.startswith("qwen_asr_") and "_root_" not in p.name]
    assert leftovers == [], "a job folder outlived the run"
    assert "Traceback" not in run.err
    assert SAID not in run.err, "the transcript reached stderr"
    assert SERVER_KEY not in run.out + run.err, "the API key was printed"


@pytest.fixture(scope="module")
def speech(speech_files: dict[tuple[str, str], Path]) -> Path:
    return speech_files[("en", "mp3")]


def test_a_transcript_with_the_servers_own_word_probabilities(
    vllm_server: VllmServer, speech: Path, tmp_path: Path
) -> None:
    done = run_cli(tmp_path, speech, "--format", "json", env=vllm_server.client_env())
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert " ".join(s["text"] for s in result["segments"]) == SAID
    tokens = [token for segment in result["segments"] for token in segment["tokens"]]
    doubted = [token["probability"] for token in tokens if token["text"].strip() == UNSURE]
    sure = [token["probability"] for token in tokens if token["text"].strip() != UNSURE]
    assert doubted and all(0.1 < p < 0.5 for p in doubted), tokens  # below the marking threshold
    assert sure and all(p > 0.95 for p in sure), tokens
    assert vllm_server.url.removeprefix("http://") in done.err, "the CLI says where audio is sent"


def test_a_refused_language_then_transcribe_anyway(
    vllm_server: VllmServer, speech: Path, tmp_path: Path
) -> None:
    refused = run_cli(tmp_path, speech, "--accept", "Chinese", env=vllm_server.client_env())
    assert refused.code == 1 and refused.out == ""
    assert "(Chinese)" in refused.err, refused.err  # no speech in the accepted languages
    anyway = run_cli(tmp_path, speech, "--accept", "any", env=vllm_server.client_env())
    assert anyway.code == 0 and anyway.out.strip() == SAID, anyway.err
    forced = run_cli(tmp_path, speech, "--language", "English", env=vllm_server.client_env())
    assert forced.code == 0 and forced.out.strip() == SAID, forced.err


def test_hotwords_are_used_not_dropped(vllm_server: VllmServer, speech: Path, tmp_path: Path) -> None:
    """The server engine takes a context prompt (the system turn), so the CLI does not say it was dropped."""
    hinted = run_cli(tmp_path, speech, "--context", "Zhang Wei, Qwen", env=vllm_server.client_env())
    assert hinted.code == 0 and hinted.out.strip() == SAID, hinted.err
    assert t("context_unsupported", "en") not in hinted.err


def test_a_wrong_key_is_one_sentence_naming_the_key(
    vllm_server: VllmServer, speech: Path, tmp_path: Path
) -> None:
    env = {**vllm_server.client_env(), "ASR_SERVER_KEY": "sk-wrong"}
    done = run_cli(tmp_path, speech, env=env)
    assert done.code == 2 and done.out == ""
    assert "ASR_SERVER_KEY" in done.err and "sk-wrong" not in done.err


def test_no_server_at_that_address_is_one_sentence(speech: Path, tmp_path: Path) -> None:
    env = {"ASR_BACKEND": "vllm", "ASR_SERVER": f"http://127.0.0.1:{free_port()}"}
    done = run_cli(tmp_path, speech, env=env)
    assert done.code == 2 and done.out == ""
    assert "cannot be reached" in done.err and "ASR_SERVER" in done.err


def test_ctrl_c_mid_job_stops_at_once_and_leaves_nothing(
    vllm_server: VllmServer, long_speech: Path, tmp_path: Path
) -> None:
    proc, temp = start_cli(tmp_path, long_speech, vllm_server)
    wait_for_requests(vllm_server, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert_private(Run(proc.returncode, out, err), temp)
    assert vllm_server.alive()


def test_speakers_are_found_on_this_computer_and_name_the_servers_segments(
    vllm_server: VllmServer, conversation: Conversation, tmp_path: Path
) -> None:
    done = run_cli(
        tmp_path, conversation.path, "--speakers", "2", "--format", "json", env=vllm_server.client_env()
    )
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert {segment["text"] for segment in result["segments"]} == {SAID}
    assert len({segment["speaker"] for segment in result["segments"]}) == 2
    assert len({turn["speaker"] for turn in result["speaker_turns"]}) == 2


def test_an_archive_with_a_bad_file_then_a_second_run_that_skips_what_is_done(
    vllm_server: VllmServer, speech: Path, text_as_mp3: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    for folder in ("2025/march", "2025/april"):
        (archive / folder).mkdir(parents=True)
        shutil.copy(speech, archive / folder / "interview.mp3")
    shutil.copy(text_as_mp3, archive / "2025" / "notes.mp3")
    env = vllm_server.client_env()
    first = run_cli(tmp_path, archive, "--recursive", "--jobs", "2", env=env)
    assert first.code == 1, first.err
    for folder in ("2025/march", "2025/april"):
        assert (archive / folder / "interview.txt").read_text().strip() == SAID
    assert "failed: 2025/notes.mp3" in first.err and first.err.count(" ok: ") == 2
    second = run_cli(tmp_path, archive, "--recursive", "--jobs", "2", env=env)
    assert second.code == 1 and second.err.count("skipped: ") == 2 and " ok: " not in second.err


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_the_page_says_where_audio_goes_and_shows_the_servers_transcript_and_marks(
    chromium, vllm_server: VllmServer, speech: Path, tmp_path: Path, command: str
) -> None:
    env = vllm_server.client_env()
    app = start_app(tmp_path, tmp_path / "no-model-on-this-laptop", env=env, command=command)
    try:
        traffic = Traffic(app.port)
        page = open_app(chromium, app, traffic)
        server = vllm_server.url.removeprefix("http://")
        page.get_by_text(t("ui_subtitle_server", UI, server=server)).wait_for()
        upload(page, speech)
        start_transcription(page)
        assert wait_transcript(page, speech.name) == SAID
        marks = page.locator(".asr-review mark.asr-low")
        marks.first.wait_for()  # the review list can render a moment after the transcript box
        assert marks.all_inner_texts() == [UNSURE]
        page.context.close()
        assert traffic.foreign() == [] and app.non_loopback() == []
        assert app.job_folders() == [] and SAID not in app.log_text()
    finally:
        app.stop()


def test_the_server_goes_on_from_a_given_start_of_the_answer(
    vllm_server: VllmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What live mode's re-decodes send (`prefix`): the answer is the rest of the line, with probabilities."""
    import numpy as np

    from asr.engines.vllm_engine import VllmEngine
    from asr.settings import load_settings

    for name, value in vllm_server.client_env().items():
        monkeypatch.setenv(name, value)
    engine = VllmEngine.connect(load_settings())
    audio = np.zeros(16000, dtype=np.float32)
    [rest] = engine.transcribe([audio], language="English", prefix="hello", max_new_tokens=20)
    assert rest.text == "brave world" and rest.raw.startswith(" ")
    assert [piece.text.strip() for piece in rest.pieces] == ["brave", "world"]


def test_live_mode_sends_the_microphone_to_the_server_and_stop_gives_its_card(
    chromium_with_microphone, vllm_server: VllmServer, tmp_path: Path
) -> None:
    app = start_app(tmp_path, tmp_path / "no-model-on-this-laptop", env=vllm_server.client_env())
    try:
        traffic = Traffic(app.port)
        page = start_live(chromium_with_microphone, app, traffic)
        committed = page.locator(".asr-live-seg")
        committed.first.wait_for()
        assert committed.first.inner_text().split(" ", 1)[1] == SAID
        page.get_by_role("button", name=t("ui_live_stop", UI), exact=True).click()
        box = transcript_box(page)
        box.wait_for()
        assert box.input_value().startswith(SAID)
        assert page.locator(".asr-review mark.asr-low").first.inner_text() == UNSURE
        page.context.close()
        assert traffic.foreign() == [] and app.non_loopback() == []
        assert app.job_folders() == [] and SAID not in app.log_text()
    finally:
        app.stop()


def test_the_server_reached_nothing_off_this_machine(vllm_server: VllmServer) -> None:
    """strace of the server since its start (every test above included): loopback only, no 8.8.8.8 probe."""
    if vllm_server.trace is None:
        pytest.skip("strace is not installed")
    assert outbound(vllm_server.trace) == []
    log = vllm_server.log.read_text(errors="replace")
    assert SAID not in log and UNSURE not in log, "request content in the server's log"


def test_the_server_killed_mid_job_is_a_clear_error_and_leaves_nothing(
    vllm_server: VllmServer, long_speech: Path, tmp_path: Path
) -> None:
    proc, temp = start_cli(tmp_path, long_speech, vllm_server)
    wait_for_requests(vllm_server, 2)
    vllm_server.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out == "", err
    said = [line for line in vllm_server.log.read_text(errors="replace").splitlines() if "POST" in line]
    assert "went away" in err or "cannot be reached" in err, "\n".join([err, *said[-4:]])
    assert_private(Run(proc.returncode, out, err), temp)


# --- helpers for the mid-job tests --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory: pytest.TempPathFactory, speech_wavs: dict[str, Path]) -> Path:
    return make_long_mp3(speech_wavs["en"], tmp_path_factory.mktemp("long") / "long.mp3", 600)


def start_cli(tmp_path: Path, audio: Path, server: VllmServer) -> tuple[subprocess.Popen[str], Path]:
    """The CLI on a 10-minute file, one request in flight at a time, so the job is still running when the
    test acts."""
    temp = tmp_path / "tmp_job"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    env.update(server.client_env(), ASR_BATCH_SIZE="1", TMPDIR=str(temp), LANG="en_US.UTF-8")
    env.update(ASR_MODEL=str(tmp_path / "none"), HF_HOME=str(tmp_path / "hf"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "asr", "transcribe", str(audio)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, temp


def wait_for_requests(server: VllmServer, count: int, timeout: float = 120) -> None:
    """Until the server's access log shows `count` more transcription requests than when called."""
    needle = "POST /v1/chat/completions"
    before = server.log.read_text(errors="replace").count(needle)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.log.read_text(errors="replace").count(needle) >= before + count:
            return
        time.sleep(0.05)
    raise AssertionError("the job sent no requests to the server")
