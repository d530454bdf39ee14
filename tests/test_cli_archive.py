"""`python -m asr transcribe DIR`: a folder tree through the real pipeline, on the tiny checkpoint that says
"hello world", in the real command (subprocess: live guard, logging, SIGINT) and in this process.

Beside the outputs, every run checks what an archive run promises: no job folder and no half-written output
left behind, no transcript text on stderr, and no file name in any log line (the per-file lines may name the
path within the folder: that is the user's own terminal).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import srt

import asr.cli as cli_module
from asr.i18n import t
from testkit.audio import run_ffmpeg
from tests.test_cli import REPO, SAID, Run, stub_process_hooks

GOOD = ("minutes_of_the_board.wav", "sub/deeper/payroll_call.mp3", "sub/minutes_of_the_board.wav")  # in order
BAD = "sub/strategy_notes.mp3"
LOG_LEVELS = ("[DEBUG]", "[INFO]", "[WARNING]", "[ERROR]", "[CRITICAL]")


@dataclass(frozen=True)
class Tree:
    root: Path
    good: tuple[Path, ...]  # relative
    bad: Path  # relative: a text file named .mp3


def make_tree(base: Path, speech: Path, bad: bool = True) -> Tree:
    """GOOD in nested folders (two with the same name), the BAD one, and files a run must leave alone."""
    root = base / "archive"
    for relative in GOOD:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".wav":
            shutil.copyfile(speech, target)
        else:
            run_ffmpeg("-i", speech, "-c:a", "libmp3lame", "-b:a", "64k", target)
    if bad:
        (root / BAD).write_text("Q3 strategy: close the Shenzhen office.\n", encoding="utf-8")
    (root / "sub" / "agenda.odt").write_text("not a recording\n", encoding="utf-8")
    (root / ".hidden").mkdir()
    shutil.copyfile(speech, root / ".hidden" / "ignored.wav")
    return Tree(root, tuple(Path(p) for p in GOOD), Path(BAD))


def outputs(root: Path, extension: str = "txt") -> dict[Path, bytes]:
    return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob(f"*.{extension}"))}


def txt_target(relative: Path) -> Path:
    return relative.with_suffix(".txt")


def check_privacy(done: Run, temp_root: Path, tree: Tree) -> None:
    """No job folder and no temporary output left; no transcript, traceback, or file name in a log line."""
    leftovers = [p for p in temp_root.rglob("*") if p.name.startswith("qwen_asr_") and "_root_" not in p.name]
    assert leftovers == [], "a job folder outlived the run"
    assert [p for p in tree.root.parent.rglob("*.part")] == [], "a half-written output was left"
    assert SAID not in done.stderr and "Traceback" not in done.stderr
    names = [part for p in (*tree.good, tree.bad) for part in (p.name, p.stem)]
    for line in done.stderr.splitlines():
        if line.lstrip("\r ").startswith(LOG_LEVELS):
            assert not any(name in line for name in names), "a log line names a file"


def subprocess_env(temp: Path, model: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    env.update(ASR_MODEL=str(model), TMPDIR=str(temp), LANG="en_US.UTF-8", HF_HUB_OFFLINE="1")
    return env


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "asr", "transcribe", *map(str, args)]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`main(argv)` in this process, as tests/test_cli.py runs it."""
    stub_process_hooks(monkeypatch)
    monkeypatch.setenv("LANG", "en_US.UTF-8")

    def run(model: Path, *args: str | Path) -> Run:
        monkeypatch.setenv("ASR_MODEL", str(model))
        capsys.readouterr()
        code = cli_module.main(["transcribe", *map(str, args)])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def test_a_tree_is_transcribed_the_bad_file_is_listed_and_a_rerun_skips_what_is_done(
    english_checkpoint: Path,
    speech_wavs: dict[str, Path],
    tmp_path: Path,
    cli: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = make_tree(tmp_path, speech_wavs["en"])
    out = tmp_path / "transcripts"
    temp = tmp_path / "tmp"
    temp.mkdir()
    args = (tree.root, "--recursive", "--out", out, "--format", "srt")
    first = subprocess.run(
        command(*args, "--verbose"),
        cwd=REPO,
        env=subprocess_env(temp, english_checkpoint),
        capture_output=True,
        text=True,
        timeout=300,
    )
    done = Run(first.returncode, first.stdout, first.stderr)
    check_privacy(done, temp, tree)
    assert done.returncode == 1 and done.stdout == ""
    written = outputs(out, "srt")
    assert sorted(written) == sorted(p.with_suffix(".srt") for p in tree.good), "mirrored, none for the bad"
    for data in written.values():
        assert [cue.content for cue in srt.parse(data.decode())] == [SAID]
    assert all((out / p).stat().st_mode & 0o077 == 0 for p in written), "transcripts are private"
    reason = t("not_audio", "en")
    assert t("archive_failed", "en", finished=4, total=4, path=tree.bad, reason=reason) in done.stderr
    assert t("archive_failures", "en") + "\n" + t("archive_failure", "en", path=tree.bad, reason=reason) in (
        done.stderr
    )
    assert "ignored.wav" not in done.stderr and "agenda" not in done.stderr

    # Again, in this process, on a terminal: the good ones are skipped, the bad one is tried and fails again.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    again = cli(english_checkpoint, *args)
    assert again.returncode == 1
    assert outputs(out, "srt") == written
    for finished, relative in enumerate(tree.good, start=1):
        line = t("archive_skipped", "en", finished=finished, total=4, path=relative)
        assert line in again.stderr
    status = t("archive_status", "en", finished=4, total=4, failed=1, audio="0:00:00", elapsed="@")
    assert "\r" + status.split("@")[0] in again.stderr, "a status line, redrawn on the terminal"

    # --overwrite redoes them, two at a time, to the very same outputs (each replaced, not appended to).
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    before = {p: (out / p).stat().st_ino for p in written}
    redone = cli(english_checkpoint, *args, "--overwrite", "--jobs", "2")
    assert redone.returncode == 1
    assert outputs(out, "srt") == written
    assert all((out / p).stat().st_ino != before[p] for p in written), "every output was written anew"
    summary = t("archive_summary", "en", transcribed=3, skipped=0, failed=1, total=4, audio="", elapsed="")
    assert summary.split(";")[0] in redone.stderr


def test_ctrl_c_cancels_the_file_in_flight_and_leaves_nothing_half_done(
    english_checkpoint: Path, speech_wavs: dict[str, Path], tmp_path: Path
) -> None:
    """No --out: outputs beside the recordings. SIGINT once the first file is done, while the next runs."""
    tree = make_tree(tmp_path, speech_wavs["en"], bad=False)
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = subprocess.Popen(
        command(tree.root, "--recursive"),
        cwd=REPO,
        env=subprocess_env(temp, english_checkpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    first = t("archive_ok", "en", finished=1, total=3, path=tree.good[0], audio="", seconds=0).split("(")[0]
    for line in process.stderr:
        seen.append(line)
        if line.startswith(first):
            process.send_signal(signal.SIGINT)
            break
    rest, tail = process.communicate(timeout=300)
    done = Run(process.returncode, rest, "".join(seen) + tail)
    check_privacy(done, temp, tree)
    assert done.returncode == 130, done.stderr
    assert done.stdout == ""
    written = outputs(tree.root)
    assert 1 <= len(written) < 3, "the first file is kept and the run stopped before the last"
    assert set(written) == {txt_target(p) for p in tree.good[: len(written)]}
    assert all(data == (SAID + "\n").encode() for data in written.values())
    assert t("archive_stopping", "en", running=1) in done.stderr
    finished = len(written)
    counts = dict(transcribed=finished, skipped=0, failed=0)
    line = t("archive_interrupted", "en", finished=finished, total=3, left=3 - finished, **counts)
    assert line in done.stderr


def test_bad_usage_and_empty_folders_exit_2_with_one_line(
    tmp_path: Path, cli: Callable[..., Run], speech_wavs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """None of these loads a model: the path given for it does not even exist."""
    no_model = tmp_path / "no_model"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio\n", encoding="utf-8")
    done = cli(no_model, empty, "--recursive")
    assert (done.returncode, done.stderr.strip()) == (2, t("archive_empty", "en"))

    nested = tmp_path / "nested"
    (nested / "2024").mkdir(parents=True)
    shutil.copyfile(speech_wavs["en"], nested / "2024" / "call.wav")
    done = cli(no_model, nested)
    assert (done.returncode, done.stderr.strip()) == (2, t("archive_empty_flat", "en"))

    done = cli(no_model, nested, nested / "2024" / "call.wav")
    assert (done.returncode, done.stderr.strip()) == (2, t("archive_one_folder", "en"))

    with pytest.raises(SystemExit) as refused:
        cli_module.main(["transcribe", str(nested), "--jobs", "0"])
    assert refused.value.code == 2
    assert "--jobs takes a whole number, 1 or more" in capsys.readouterr().err


def test_help_documents_the_folder_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_module.main(["transcribe", "--help"])
    shown = capsys.readouterr().out
    for option in ("--recursive", "--jobs", "--overwrite", "folders (archive mode)", "130 interrupted"):
        assert option in shown
