"""Benchmark inputs, made once and cached outside git: checkpoints and generated speech recordings.

Nothing here can be downloaded (no hub, no network), so the real-shape checkpoint is random weights of the
exact Qwen3-ASR-0.6B layout from `bench.checkpoints`, and the speech is espeak-ng English and Mandarin with
pauses, encoded to mp3 by the project's own ffmpeg, so the decode stage sees the kind of file users upload.
Files are named by their parameters, so changing a duration makes a new file instead of reusing an old one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import torch

from asr.speech.audio import find_ffmpeg, load_pcm
from bench.checkpoints import REAL_0_6B, TinyShape, build_checkpoint

CACHE_ENV = "QWEN_ASR_BENCH_CACHE"
LONG_SECONDS = 3 * 3600 - 5  # just under the app's 3-hour cap, which mp3 frame padding would otherwise cross

# Alternating English and Mandarin sentences: the recording is meant to be the app's zh/en meeting audio.
_SENTENCES = [
    ("en", "Good morning everyone, let's start with the quarterly numbers and the hiring plan."),
    ("cmn", "大家早上好，我们先看一下这个季度的销售数据，然后讨论明年的招聘计划。"),
    ("en", "The new release fixed the login problem, but the upload page is still too slow on old laptops."),
    ("cmn", "请把会议纪要在明天上午十点之前发给我，并且抄送给张经理和财务部门。"),
    ("en", "We will discuss the roadmap next Monday, so please send your questions before Friday."),
    ("cmn", "这个项目的预算已经超过百分之二十，我们需要重新评估每一个模块的优先级。"),
]
_PAUSES_S = (0.4, 1.2, 0.7, 2.0, 0.3, 0.9)  # short gaps and real pauses, so chunking has both kinds of cut


def cache_dir(override: Path | None = None) -> Path:
    """`--cache`, else `$QWEN_ASR_BENCH_CACHE`, else ~/.cache/qwen-asr-bench: a multi-GB checkpoint stays
    out of the repository and survives across runs."""
    root = override or Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "qwen-asr-bench")
    root.mkdir(parents=True, exist_ok=True)
    return root


def checkpoint(root: Path, tiny: bool = False) -> Path:
    """The real-shape (≈782 M params) or tiny random checkpoint; bf16 on disk like the released weights, so
    load time includes the same bf16 -> fp32/fp16 conversion a user pays."""
    name = "tiny" if tiny else "real-0.6b-bf16"
    path = root / name
    if not (path / "config.json").is_file():
        shape = TinyShape() if tiny else REAL_0_6B
        partial = root / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        build_checkpoint(partial, shape=shape, dtype=torch.float32 if tiny else torch.bfloat16)
        partial.rename(path)
    return path


def _ffmpeg(*args: str | Path) -> None:
    cmd = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.strip()}")


def _sentence_pcm(root: Path) -> tuple[list[np.ndarray], int]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is needed to generate the benchmark speech (apt-get install espeak-ng)")
    clips, rate = [], 0
    for index, (voice, text) in enumerate(_SENTENCES):
        wav_path = root / "speech" / f"{index}-{voice}.wav"
        wav_path.parent.mkdir(exist_ok=True)
        if not wav_path.is_file():
            subprocess.run([espeak, "-v", voice, "-w", str(wav_path), text], check=True, capture_output=True)
        with wave.open(str(wav_path), "rb") as w:
            rate = w.getframerate()
            clips.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"))
    return clips, rate


def speech_mp3(root: Path, seconds: float) -> Path:
    """An mp3 of exactly `seconds` of alternating English/Mandarin sentences separated by pauses."""
    path = root / f"speech-{seconds:g}s.mp3"
    if path.is_file():
        return path
    clips, rate = _sentence_pcm(root)
    parts, total, index = [], 0, 0
    while total < seconds * rate:
        parts.append(clips[index % len(clips)])
        parts.append(np.zeros(int(_PAUSES_S[index % len(_PAUSES_S)] * rate), dtype="<i2"))
        total += len(parts[-2]) + len(parts[-1])
        index += 1
    wav_path = root / f"speech-{seconds:g}s.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(parts)[: int(seconds * rate)].tobytes())
    _ffmpeg("-i", wav_path, "-c:a", "libmp3lame", "-b:a", "64k", path)
    wav_path.unlink()
    return path


def long_mp3(root: Path, ten_minutes: Path) -> Path:
    """The 3-hour recording: the 10-minute one looped by ffmpeg without re-encoding."""
    path = root / f"speech-{LONG_SECONDS}s.mp3"
    if not path.is_file():
        _ffmpeg("-stream_loop", "-1", "-i", ten_minutes, "-t", str(LONG_SECONDS), "-c", "copy", path)
    return path


def decoded_pcm(mp3: Path) -> Path:
    """A .npy of the 16 kHz float32 samples of `mp3`, decoded with the app's ffmpeg settings; (a) and (b)
    start from these so that they measure the model alone and the decode stage counts as pipeline overhead."""
    npy = mp3.with_suffix(".f32.npy")
    if not npy.is_file():
        wav_path = mp3.with_suffix(".16k.wav")
        _ffmpeg("-i", mp3, "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", wav_path)
        np.save(npy, load_pcm(wav_path))
        wav_path.unlink()
    return npy
