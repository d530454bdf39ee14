"""The per-job workspace: private, named by us, and gone however the job ends (or the process dies)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

from cleanup import (
    count_job_folders,
    job_workspace,
    last_job_lifecycle,
    process_dir,
    release_session,
    sweep_orphans,
)
from cleanup.root import JOB_PREFIX, PROC_PREFIX, ROOT_ENV

REPO = Path(__file__).resolve().parent.parent

# A child that opens a job folder, says where, and waits to be killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from cleanup import install_exit_handlers, job_workspace
    if sys.argv[1] == "handlers":
        install_exit_handlers()
    with job_workspace() as ws:
        ws.upload_path.write_bytes(b"secret audio")
        print(ws.path, flush=True)
        time.sleep(60)
    """
)


@pytest.fixture(autouse=True)
def private_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    monkeypatch.setenv(ROOT_ENV, str(root))
    monkeypatch.delenv("CLEANUP_DISABLED", raising=False)
    return root


def _holder(root: Path, mode: str = "plain") -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, ROOT_ENV: str(root), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, mode], env=env, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().strip())
    assert path.is_dir()
    return proc, path


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_folder_is_private_and_named_by_us(private_root: Path) -> None:
    with job_workspace() as ws:
        mode = stat.S_IMODE(ws.path.stat().st_mode)
        assert mode == 0o700
        assert stat.S_IMODE(private_root.stat().st_mode) == 0o700
        assert ws.path.name.startswith(JOB_PREFIX)
        assert ws.path.parent == process_dir()
        assert ws.path.parent.name.startswith(f"{PROC_PREFIX}{os.getpid()}_")
        assert ws.upload_path == ws.path / "uploaded_audio"
        assert ws.wav_path == ws.path / "audio_wav.wav"
        assert count_job_folders() == 1


def test_removed_on_success_with_lifecycle_recorded() -> None:
    with job_workspace() as ws:
        ws.upload_path.write_bytes(b"x" * 1000)
        ws.wav_path.write_bytes(b"y" * 1000)
    assert not ws.path.exists()
    assert ws.cleanup_error is None and not ws.kept
    assert ws.removed_at is not None and ws.removed_at >= ws.created_at
    life = last_job_lifecycle()
    assert life is not None and life.path == ws.path and life.removal_seconds == ws.removal_seconds
    assert count_job_folders() == 0


@pytest.mark.parametrize(
    "exc",
    [ValueError("decode failed"), StopException(), RerunException(RerunData()), KeyboardInterrupt()],
    ids=["exception", "streamlit-stop", "streamlit-rerun", "keyboard-interrupt"],
)
def test_removed_however_the_job_ends(exc: BaseException) -> None:
    with pytest.raises(type(exc)), job_workspace() as ws:
        ws.upload_path.write_bytes(b"half an upload")
        raise exc
    assert not ws.path.exists()
    assert count_job_folders() == 0


def test_kept_when_cleanup_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANUP_DISABLED", "1")
    with job_workspace() as ws:
        ws.wav_path.write_bytes(b"debug me")
    assert ws.kept and ws.wav_path.exists()
    assert sweep_orphans().removed == 0


def test_cleanup_failure_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy", "/secret/user file.mp3")

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "rmtree", busy)
        with job_workspace(session_id="tab-1") as ws:
            ws.upload_path.write_bytes(b"x")
    assert ws.path.exists()
    assert ws.cleanup_error == "OSError: Device or resource busy"
    assert last_job_lifecycle().cleanup_error == ws.cleanup_error
    # The session's release retries what the job could not remove.
    assert release_session("tab-1").removed == 1
    assert not ws.path.exists()


def test_release_session_never_takes_a_running_jobs_folder() -> None:
    with job_workspace(session_id="tab-2") as ws:
        ws.upload_path.write_bytes(b"still being read")
        release = release_session("tab-2")
        assert release.in_use == 1 and release.removed == 0
        assert ws.upload_path.read_bytes() == b"still being read"
    assert not ws.path.exists()


def test_sweep_removes_dead_process_leftovers_but_not_a_live_ones(private_root: Path) -> None:
    dead, dead_path = _holder(private_root)
    live, live_path = _holder(private_root)
    try:
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=10)
        assert dead_path.exists(), "a SIGKILLed process leaves its folder (what the sweep is for)"
        assert count_job_folders() == 2
        sweep = sweep_orphans()
        assert not dead_path.parent.exists()
        assert live_path.exists() and (live_path / "uploaded_audio").exists()
        assert (sweep.removed, sweep.live_skipped) == (1, 1)
    finally:
        _stop(live)
        _stop(dead)


def test_sigterm_leaves_nothing(private_root: Path) -> None:
    proc, path = _holder(private_root, "handlers")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
        assert not path.exists()
        assert list(private_root.iterdir()) == []
    finally:
        _stop(proc)


def test_removing_a_100_mb_job_is_quick() -> None:
    with job_workspace() as ws:
        with open(ws.wav_path, "wb") as handle:
            handle.write(os.urandom(100 * 1024 * 1024))
            handle.flush()
            os.fsync(handle.fileno())
    assert not ws.path.exists()
    assert ws.removal_seconds is not None and ws.removal_seconds < 2.0
