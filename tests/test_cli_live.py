"""`python -m asr live`: the real command recording from the system's default input device, on a tiny
checkpoint wired to say one line.

The device is real as far as the command can tell: PortAudio (the `sounddevice` package) opens ALSA's default
capture device, which an ALSA configuration of the test's own makes a `file` plugin reading a file of speech.
That plugin hands the file over as fast as it is read, not in real time, so the subprocess runs are not
about timing (the page's live tests and `python -m bench live` are); they prove the command records from the
system's device, prints committed text, saves the whole recording and leaves nothing behind. Ctrl-C, once
(stop, finish) and twice (cancel), is tested on the command's recording loop in this process, fed the same
speech in real time.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import srt

from asr.cli_live import LiveScreen, record
from asr.engines.transformers_engine import AsrEngine
from asr.i18n import t
from asr.job import JobModels, Transcribed
from asr.live import LiveView
from asr.outputs.export import char_width
from asr.outputs.transcript import Segment
from asr.settings import Settings
from asr.speech.audio import SAMPLE_RATE, decode_to_wav, load_pcm
from asr.transcribe import TranscribeOptions
from cleanup import private_root
from testkit.browser import require

REPO = Path(__file__).resolve().parent.parent
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
SAID = "hello world"
PIECE_BYTES = 2 * SAMPLE_RATE // 10  # the command reads 0.1 s pieces of 16-bit samples
COMMITTED_LINE = re.compile(r"^\[\d\d:\d\d\] hello world$")


@pytest.fixture(scope="module")
def speech_pcm(speech_wavs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Seconds of espeak speech between pauses, as 16 kHz mono 16-bit samples."""
    wav = tmp_path_factory.mktemp("mic") / "voice.wav"
    decode_to_wav(speech_wavs["en"], wav)
    voice = load_pcm(wav)
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    pcm = np.concatenate([pause, voice, pause, voice, pause])
    return (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture
def input_device(tmp_path: Path, speech_pcm: bytes) -> dict[str, str]:
    """The environment that makes ALSA's default capture device a file of speech."""
    require(ALSA_CONF.exists(), "ALSA (libasound2)")
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        require(False, "sounddevice with PortAudio (libportaudio2)")
    raw = tmp_path / "microphone.raw"
    raw.write_bytes(speech_pcm)
    config = tmp_path / "asoundrc"
    config.write_text(
        'pcm.!default {\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
        f'  infile "{raw}"\n  format "raw"\n}}\n'
    )
    return {"ALSA_CONFIG_PATH": f"{ALSA_CONF}:{config}"}


def run_command(
    tmp_path: Path, args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("QWEN_ASR_TMP_ROOT", "CLEANUP_DISABLED")}
    base.update(TMPDIR=str(temp), LANG="en_US.UTF-8", HF_HUB_OFFLINE="1", **env)
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=base, capture_output=True, text=True, timeout=timeout
    )


def test_the_microphone_records_the_systems_input_device_in_16k_mono_pieces(
    tmp_path: Path, input_device: dict[str, str], speech_pcm: bytes
) -> None:
    """What `Microphone` yields is the device's samples, in order, in 0.1 s pieces."""
    code = (
        "import sys\nfrom asr.microphone import Microphone\n"
        "got = []\nwith Microphone() as m:\n    for piece in m.pieces():\n"
        "        if piece: got.append(piece)\n        if len(got) == 12: break\n"
        "print(' '.join(str(len(p)) for p in got))\nsys.stdout.flush()\n"
        "sys.stdout.buffer.write(b''.join(got))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **input_device},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    sizes, _, samples = done.stdout.partition(b"\n")
    assert sizes.split() == [str(PIECE_BYTES).encode()] * 12
    assert samples == speech_pcm[: 12 * PIECE_BYTES], "the samples are the device's, in order"


def test_live_prints_each_committed_stretch_and_saves_the_whole_recording(
    tmp_path: Path, input_device: dict[str, str], english_checkpoint: Path
) -> None:
    """The real command until the length limit (the test device never stops talking): committed lines on
    stdout, the recording saved whole in the format asked for, owner-only; stderr says what happened and
    no word of it; the temp folder is empty afterwards."""
    out = tmp_path / "notes.srt"
    env = {**input_device, "ASR_MODEL": str(english_checkpoint), "ASR_MAX_SECONDS": "20"}
    done = run_command(tmp_path, ["-m", "asr", "live", "--format", "srt", "--out", str(out)], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(COMMITTED_LINE.match(line) for line in lines), done.stdout
    cues = list(srt.parse(out.read_text(encoding="utf-8")))
    assert cues and all(cue.end.total_seconds() <= 20.0 for cue in cues)
    assert out.stat().st_mode & 0o077 == 0, "a transcript file is private to its owner"
    for said in ("cli_live_listening", "ui_live_finishing", "cli_live_saved"):
        assert t(said, "en") in done.stderr
    assert t("live_limit_reached", "en", limit="00:20") in done.stderr
    assert SAID not in done.stderr and "Traceback" not in done.stderr
    assert [p for p in (tmp_path / "tmp").rglob("*") if p.is_file()] == [], "a recording outlived the run"


def test_live_says_what_to_install_before_loading_anything(tmp_path: Path) -> None:
    """Without a sound library the command stops at once with the install line (the page does not need it)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    env = {"PYTHONPATH": f"{blocker}{os.pathsep}{REPO}", "ASR_MODEL": str(tmp_path / "no-model")}
    done = run_command(tmp_path, ["-m", "asr", "live"], env, timeout=60)
    assert done.returncode == 2
    assert t("cli_live_needs_portaudio", "en") in done.stderr
    assert t("ui_stage_loading", "en") not in done.stderr, "it said so before loading the model"


def test_a_device_that_cannot_record_is_named_before_loading_anything(
    tmp_path: Path, input_device: dict[str, str]
) -> None:
    env = {**input_device, "ASR_MODEL": str(tmp_path / "no-model")}
    done = run_command(tmp_path, ["-m", "asr", "live", "--device", "99"], env, timeout=60)
    assert done.returncode == 2
    opening = t("cli_live_no_device", "en", reason="#").split("#")[0]
    assert opening in done.stderr and "python -m sounddevice" in done.stderr
    assert t("ui_stage_loading", "en") not in done.stderr and "Traceback" not in done.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_words_in_progress_are_redrawn_in_place_within_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each committed stretch is printed once; the provisional line under it is cleared before anything
    else is written, and never wider than the terminal (Chinese characters take two columns)."""
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: os.terminal_size((24, 10)))
    out, said = Terminal(), []
    screen = LiveScreen(out, said.append, "en")
    first = Segment(0.4, 2.0, "今天我们讨论一下第三季度的目标", "Chinese")

    def view(committed: tuple[Segment, ...], provisional: str, behind: bool = False) -> LiveView:
        return LiveView(committed, provisional, 3.0, 5.0 if behind else 0.0, behind, True, None)

    screen.show(view((), "今天我们讨论一下第三季度的目标和预算"))
    screen.show(view((first,), "and the budget", behind=True))
    screen.show(view((first,), "and the budget", behind=True))
    lines = out.getvalue().split("\n")
    assert lines[0].startswith("\x1b[2m…") and lines[0].endswith(
        "\r\x1b[K[00:00] 今天我们讨论一下第三季度的目标"
    )
    drawn = lines[0].split("\r")[0].removeprefix("\x1b[2m").removesuffix("\x1b[0m")
    assert sum(char_width(c) for c in drawn) <= 23 and drawn.endswith("和预算")
    assert lines[1] == "\x1b[2mand the budget\x1b[0m", "redrawn once, not again when nothing changed"
    assert said == [t("ui_live_behind", "en", seconds=5.0)], "the machine falling behind is said once"


# --- Ctrl-C, in this process: the command's loop fed real-time speech --------------------------------------


def real_time(pcm: bytes, interrupt_after_s: float) -> Iterator[bytes]:
    """The speech in 0.1 s pieces at the pace a device gives them, then Ctrl-C (KeyboardInterrupt, raised
    where the command's loop waits for the next piece, as the signal does)."""
    started, piece_s = time.monotonic(), PIECE_BYTES / 2 / SAMPLE_RATE
    for index, at in enumerate(range(0, len(pcm), PIECE_BYTES)):
        if (index + 1) * piece_s > interrupt_after_s:
            raise KeyboardInterrupt
        time.sleep(max(0.0, started + (index + 1) * piece_s - time.monotonic()))
        yield pcm[at : at + PIECE_BYTES]


class InterruptedWhileFinishing(LiveScreen):
    """A terminal whose user presses Ctrl-C again once the last words are being finished."""

    def __init__(self, out: io.StringIO) -> None:
        super().__init__(out, lambda message: None, "en")
        self.finishing = False

    def show(self, view: LiveView) -> None:
        super().show(view)
        if self.finishing:
            raise KeyboardInterrupt


def test_ctrl_c_stops_the_recording_and_its_words_are_committed(
    english_engine: AsrEngine, speech_pcm: bytes
) -> None:
    out, said = io.StringIO(), []
    screen = LiveScreen(out, said.append, "en")
    seconds = len(speech_pcm) / 2 / SAMPLE_RATE
    outcome = record(
        real_time(speech_pcm, seconds - 0.5),
        JobModels(english_engine),
        Settings(),
        TranscribeOptions(),
        screen,
        said.append,
        "en",
    )
    assert isinstance(outcome, Transcribed)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(outcome.transcript.segments) >= 2, "every committed segment printed once"
    assert all(COMMITTED_LINE.match(line) for line in lines)
    assert said[0] == t("cli_live_listening", "en") and t("ui_live_finishing", "en") in said
    assert list(private_root().glob("proc_*/qwen_asr_*")) == [], "the recording's folder is gone"


def test_a_second_ctrl_c_cancels_and_removes_the_recording(
    english_engine: AsrEngine, speech_pcm: bytes
) -> None:
    screen = InterruptedWhileFinishing(io.StringIO())
    said: list[str] = []

    def say(message: str) -> None:
        said.append(message)
        screen.finishing = message == t("ui_live_finishing", "en")

    with pytest.raises(KeyboardInterrupt):
        record(
            real_time(speech_pcm, 3.0),
            JobModels(english_engine),
            Settings(),
            TranscribeOptions(),
            screen,
            say,
            "en",
        )
    assert list(private_root().glob("proc_*/qwen_asr_*")) == [], "the cancelled recording's folder is gone"
