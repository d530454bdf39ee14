"""`python -m asr transcribe` end to end in a subprocess, on tiny offline checkpoints wired to say one line.

Every run also checks the CLI's promises about stderr (no transcript text, no file name, no traceback) and
about the temp root (no job folder left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import srt
import webvtt

from asr.i18n import t
from asr.model_source import download_command
from tests.model_factory import build_checkpoint

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


def run_cli(
    tmp_path: Path, model: Path, *args: str | Path, lang: str = "en_US.UTF-8"
) -> subprocess.CompletedProcess:
    """Run the CLI with its own TMPDIR, then check it left no job folder and kept stderr content-free."""
    temp = tmp_path / f"tmp_{len(list(tmp_path.glob('tmp_*')))}"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    env.update(ASR_MODEL=str(model), TMPDIR=str(temp), LANG=lang, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    leftovers = [
        p for p in temp.rglob("*") if p.name.startswith(("qwen_asr_", "proc_")) and "_root_" not in p.name
    ]
    assert leftovers == [], "a job or process folder outlived the run"
    for private in (SAID, GOOD_STEM, BAD_STEM, "Traceback"):
        assert private not in done.stderr
    return done


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
def test_each_format_to_stdout_and_to_a_folder(fmt: str, inputs: Inputs, tmp_path: Path) -> None:
    printed = run_cli(tmp_path, inputs.english_model, inputs.good, "--format", fmt)
    assert printed.returncode == 0
    check_output(fmt, printed.stdout)
    assert "1/1" in printed.stderr, "progress names the chunk count"

    out = tmp_path / "results"
    written = run_cli(tmp_path, inputs.english_model, inputs.good, "--format", fmt, "--out", out)
    assert written.returncode == 0
    assert written.stdout == ""
    target = out / f"{GOOD_STEM}.{fmt}"
    check_output(fmt, target.read_text(encoding="utf-8"))
    assert target.stat().st_mode & 0o077 == 0, "a transcript file is private to its owner"


def test_a_bad_file_fails_alone_and_the_good_one_is_still_written(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "results"
    missing = tmp_path / "missing.wav"
    done = run_cli(tmp_path, inputs.english_model, inputs.bad, missing, inputs.good, "--out", out)
    assert done.returncode == 1
    assert (out / f"{GOOD_STEM}.txt").read_text(encoding="utf-8") == SAID + "\n"
    not_audio = t("cli_file_failed", "en", index=1, total=3, reason=t("not_audio", "en"))
    not_a_file = t("cli_file_failed", "en", index=2, total=3, reason=t("cli_not_a_file", "en"))
    assert not_audio in done.stderr and not_a_file in done.stderr
    assert t("cli_summary", "en", done=1, total=3) in done.stderr
    assert "missing" not in done.stderr


def test_a_missing_model_exits_2_with_the_download_command(inputs: Inputs, tmp_path: Path) -> None:
    done = run_cli(tmp_path, tmp_path / "no_model_here", inputs.good, lang="zh_CN.UTF-8")
    assert done.returncode == 2
    assert t("model_missing", "zh") in done.stderr
    assert download_command() in done.stderr
    assert done.stdout == ""


def test_a_refused_language_fails_until_it_is_forced(inputs: Inputs, tmp_path: Path) -> None:
    refused = run_cli(tmp_path, inputs.japanese_model, inputs.good)
    assert refused.returncode == 1
    assert t("language_refused", "en") in refused.stderr
    assert "--language" in refused.stderr
    assert refused.stdout == ""

    forced = run_cli(
        tmp_path, inputs.japanese_model, inputs.good, "--language", "Japanese", "--format", "json"
    )
    assert forced.returncode == 0
    document = json.loads(forced.stdout)
    assert document["text"] == SAID and document["forced_language"] == "Japanese"

    anyway = run_cli(tmp_path, inputs.japanese_model, inputs.good, "--accept", "any", "--format", "json")
    assert anyway.returncode == 0
    document = json.loads(anyway.stdout)
    assert document["text"] == SAID and document["forced_language"] is None
    assert document["language"]["code"] == "other:Japanese"


def test_help_documents_every_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0
    for option in ("--format", "--language", "--out", "--context", "--accept", "--model", "exit status"):
        assert option in done.stdout
