"""`python -m bench diarize`: who-spoke-when as users get it, on real voices in the codecs people upload.

Each recording is transcribed the way the CLI does it (`run_job` with speakers on, automatic count, then the
JSON export), by a tiny checkpoint that says a fixed line: the words mean nothing, but segments, their times
and their speakers come from the real speech detector, planner and diarizer. The JSON's speaker-labelled
segments are scored against the reference turns (DER without collar, `bench.der`), and so are the diarizer's
own turns from the same JSON (`speaker_turns`); each recording in WAV, MP3 64k, M4A/AAC 64k and Opus 32k.

Recordings, each with reference turns:
* pyannote's own sample, a real 30 s two-person call with its RTTM, taken from the pyannote.audio wheel
  (downloaded once with `pip download --no-deps`, read from the zip, never installed);
* conversations assembled from that call's two real voices: each reference turn's single-voice stretches,
  shuffled into a new order with pauses of 0.2 to 0.8 s (seeded), so the true turns are known exactly;
* `--recordings DIR`: every folder in DIR holding `audio.*` and `ref.rttm` (real meetings from public
  repositories, say; see bench/README.md for the ones measured).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.speech.audio import find_ffmpeg
from bench.conversations import Conversation, assemble
from bench.der import Turn, der, read_rttm

PYANNOTE_SDIST = "pyannote_audio-4.0.7.tar.gz"
_SDIST_ROOT = "pyannote_audio-4.0.7/"
SAMPLE = "src/pyannote/audio/sample/sample"
#: AMI meeting excerpts in pyannote.audio's own test data: 30 s each, 2 to 4 people, some with much overlap.
#: Those with under 10 s of reference speech (trn01, trn02, tst01) are left out: too little to score.
AMI_EXCERPTS = {
    "dev00": "development",
    "dev01": "development",
    "trn00": "train",
    "trn03": "train",
    "trn04": "train",
    "trn05": "train",
    "trn06": "train",
    "trn07": "train",
    "trn08": "train",
    "trn09": "train",
    "tst00": "test",
}
_MEMBER_NAME = {"trn00": "trñ00"}  # the archive's file name for that excerpt


@dataclass(frozen=True)
class Recording:
    name: str
    wav: Path
    duration_s: float
    reference: list[Turn]


def pyannote_sdist(root: Path) -> Path | None:
    """pyannote.audio's source archive from the package index (14 MB, downloaded once, never installed)."""
    archive = root / PYANNOTE_SDIST
    if not archive.is_file():
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        pip += ["--no-binary", ":all:", "pyannote-audio==4.0.7", "-d", str(root)]
        if subprocess.run(pip, capture_output=True).returncode != 0:
            return None
    return archive


def _to_wav(data: bytes, target: Path) -> Path:
    """Any WAV (the excerpts are 32-bit float) as the 16 kHz 16-bit mono WAV the job itself would make."""
    if not target.is_file():
        source = target.with_suffix(".source")
        source.write_bytes(data)
        cmd = [find_ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-ac", "1"]
        subprocess.run([*cmd, "-ar", "16000", "-c:a", "pcm_s16le", str(target)], check=True)
        source.unlink()
    return target


def packaged_recordings(root: Path) -> list[Recording]:
    """pyannote's sample call and the AMI excerpts, with their reference turns; none without the archive."""
    archive = pyannote_sdist(root)
    if archive is None:
        return []
    folder = root / "pyannote-audio-data"
    folder.mkdir(exist_ok=True)
    found = []
    with tarfile.open(archive) as tar:

        def read(member: str) -> bytes:
            handle = tar.extractfile(_SDIST_ROOT + member)
            assert handle is not None, member
            return handle.read()

        wav = _to_wav(read(SAMPLE + ".wav"), folder / "sample.wav")
        reference = read_rttm(read(SAMPLE + ".rttm").decode())
        found.append(Recording("pyannote sample call", wav, len(_pcm(wav)) / 16000, reference))
        for uri, subset in AMI_EXCERPTS.items():
            wav = _to_wav(read(f"tests/data/{_MEMBER_NAME.get(uri, uri)}.wav"), folder / f"{uri}.wav")
            turns = read_rttm(read(f"tests/data/debug.{subset}.rttm").decode(), uri)
            found.append(Recording(f"AMI excerpt {uri}", wav, len(_pcm(wav)) / 16000, turns))
    return found


def _pcm(wav: Path) -> np.ndarray:
    with wave.open(str(wav)) as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)


def _single_voice_stretches(reference: list[Turn], min_s: float = 0.5) -> list[Turn]:
    """Parts of reference turns where nobody else speaks."""
    stretches = []
    for turn in reference:
        cuts = [(turn.start, turn.end)]
        for other in reference:
            if other is turn or other.end <= turn.start or other.start >= turn.end:
                continue
            cuts = [
                piece
                for start, end in cuts
                for piece in ((start, min(end, other.start)), (max(start, other.end), end))
                if piece[1] - piece[0] > 0
            ]
        stretches += [Turn(a, b, turn.speaker) for a, b in cuts if b - a >= min_s]
    return stretches


def _assembled(wav: Path, reference: list[Turn], folder: Path, seed: int) -> Conversation:
    rate = 16000
    pcm = _pcm(wav)
    stretches = _single_voice_stretches(reference)
    rng = np.random.default_rng(seed)
    by_voice: dict[str, list[Turn]] = {}
    for stretch in stretches:
        by_voice.setdefault(stretch.speaker, []).append(stretch)
    voices = sorted(by_voice)
    order: list[Turn] = []
    pools = {voice: list(rng.permutation(len(turns))) for voice, turns in by_voice.items()}
    voice = int(rng.integers(len(voices)))
    while any(pools.values()):
        if not pools[voices[voice]]:
            voice = 1 - voice
        order.append(by_voice[voices[voice]][pools[voices[voice]].pop()])
        voice = voice if rng.random() < 0.25 else 1 - voice  # sometimes one speaker goes on
    utterances = [
        (voices.index(t.speaker) + 1, pcm[round(t.start * rate) : round(t.end * rate)]) for t in order
    ]
    pauses = [0.5, *rng.uniform(0.2, 0.8, len(order) - 1)]
    return assemble(folder / f"assembled-{seed}.wav", utterances, pauses)


def recordings(root: Path) -> list[Recording]:
    """The packaged real recordings, and three conversations assembled from the sample call's voices."""
    found = packaged_recordings(root)
    if found:
        sample = found[0]
        for seed in (1, 2, 3):
            made = _assembled(sample.wav, sample.reference, root, seed)
            found.insert(seed, _recording(f"assembled from its voices #{seed}", made))
    return found


def _recording(name: str, conversation: Conversation) -> Recording:
    turns = [Turn(a, b, str(voice)) for a, b, voice in conversation.turns]
    return Recording(name, conversation.path, conversation.duration_s, turns)


CODECS: dict[str, list[str]] = {
    "WAV": [],
    "MP3 64k": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "M4A 64k": ["-c:a", "aac", "-b:a", "64k"],
    "Opus 32k": ["-c:a", "libopus", "-b:a", "32k"],
}
_SUFFIX = {"WAV": ".wav", "MP3 64k": ".mp3", "M4A 64k": ".m4a", "Opus 32k": ".opus"}


def encode(wav: Path, codec: str, folder: Path) -> Path:
    """`wav` as a user would upload it in `codec` (one of `CODECS`), made by the project's ffmpeg in
    `folder` (one folder per recording: the name is the codec's)."""
    if not CODECS[codec]:
        return wav
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"upload{_SUFFIX[codec]}"
    if not out.is_file():
        cmd = [
            find_ffmpeg(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(wav),
            *CODECS[codec],
            str(out),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
    return out


def extra_recordings(folder: Path) -> list[Recording]:
    """Every `<name>/audio.*` + `<name>/ref.rttm` below `folder`, as a 16 kHz mono WAV."""
    found = []
    for rttm in sorted(folder.glob("*/ref.rttm")):
        audio = next((p for p in sorted(rttm.parent.glob("audio.*")) if p.suffix != ".rttm"), None)
        if audio is None:
            continue
        wav = rttm.parent / "bench-16k.wav"
        if not wav.is_file():
            cmd = [find_ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-i", str(audio), "-ac", "1"]
            subprocess.run([*cmd, "-ar", "16000", "-c:a", "pcm_s16le", str(wav)], check=True)
        reference = read_rttm(rttm.read_text())
        found.append(Recording(rttm.parent.name, wav, len(_pcm(wav)) / 16000, reference))
    return found


@dataclass(frozen=True)
class Scored:
    """One recording in one codec, as the JSON a user downloads says it."""

    speakers: int
    segments_der: float
    turns_der: float
    start_error_s: float  # first segment's start minus the reference's first speech
    end_error_s: float  # last segment's end minus the reference's last speech


def json_turns(document: dict) -> tuple[list[Turn], list[Turn]]:
    """The speaker-labelled segments of a JSON export, and its diarizer turns."""
    segments = [Turn(s["start"], s["end"], str(s["speaker"])) for s in document["segments"] if "speaker" in s]
    turns = [Turn(t["start"], t["end"], str(t["speaker"])) for t in document.get("speaker_turns", [])]
    return segments, turns


def score(reference: list[Turn], document: dict) -> Scored:
    segments, turns = json_turns(document)
    first = min(t.start for t in reference)
    last = max(t.end for t in reference)
    return Scored(
        speakers=len(document.get("speakers", [])),
        segments_der=der(reference, segments).der,
        turns_der=der(reference, turns).der,
        start_error_s=min(s.start for s in segments) - first if segments else float("nan"),
        end_error_s=max(s.end for s in segments) - last if segments else float("nan"),
    )


def transcribe_json(path: Path, engine: object, model: object, speakers: int | None = None) -> dict:
    """What `python -m asr transcribe PATH --speakers auto --format json` writes, as a dict."""
    from asr.job import Transcribed, run_job
    from asr.outputs.export import export
    from asr.settings import Settings
    from asr.transcribe import TranscribeOptions

    options = TranscribeOptions(identify_speakers=True, speakers=speakers)
    outcome = run_job(path, engine, Settings(), options, speaker_model=model)  # type: ignore[arg-type]
    if not isinstance(outcome, Transcribed):
        raise RuntimeError(f"the job did not transcribe: {outcome.kind}")
    return json.loads(export(outcome.transcript, "json"))


def _load_seconds() -> tuple[float, float]:
    """The speaker model's load in a fresh process with an empty JIT cache, then again with it filled."""
    with tempfile.TemporaryDirectory() as cache:
        code = "import time; t=time.perf_counter(); "
        code += "from asr.speakers.diarize import SpeakerModel; SpeakerModel.load(); "
        code += "print(time.perf_counter()-t)"
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            times.append(float(done.stdout.strip().splitlines()[-1]))
        return times[0], times[1]


def cost(ten_minutes: Path, checkpoint: Path) -> dict[str, float]:
    """The 10-minute recording transcribed without speakers, then with them (diarizing, and the extra chunks
    cut at speaker changes), each as one `run_job`; the bench's token budget as in `python -m bench` (c)."""
    from asr.engines.loading import plan_device
    from asr.engines.transformers_engine import AsrEngine
    from asr.job import Transcribed, run_job
    from asr.settings import load_settings
    from asr.speakers.diarize import SpeakerModel
    from asr.transcribe import TranscribeOptions
    from bench.variants import fix_pipeline_length

    settings = load_settings()
    engine = AsrEngine.load(str(checkpoint), plan_device(settings.dtype, settings.cpu_int8))
    fix_pipeline_length(engine, 3.5, 3)
    model = SpeakerModel.load()
    figures = {}
    for name, options in (
        ("plain", TranscribeOptions()),
        ("speakers", TranscribeOptions(identify_speakers=True)),
    ):
        started = time.perf_counter()
        outcome = run_job(ten_minutes, engine, settings, options, speaker_model=model)
        if not isinstance(outcome, Transcribed):
            raise RuntimeError(f"the 10-minute job did not transcribe: {outcome.kind}")
        figures[f"{name}_job_s"] = time.perf_counter() - started
        figures[f"{name}_chunks"] = len(outcome.transcript.segments)
        figures[f"{name}_transcribe_s"] = outcome.transcript.timings.transcribe_s
        figures["diarize_s"] = outcome.transcript.timings.diarize_s or 0.0
    return figures


def main(root: Path, with_cost: bool, extra: Path | None = None, known: bool = False) -> None:
    from asr.engines.transformers_engine import AsrEngine
    from asr.speakers.diarize import SpeakerModel
    from bench.checkpoints import build_checkpoint

    found = recordings(root) + (extra_recordings(extra) if extra else [])
    says = root / "tiny-says-english"
    if not (says / "config.json").is_file():
        build_checkpoint(says, say="language English<asr_text>hello world")
    engine = AsrEngine.load(str(says))
    model = SpeakerModel.load()
    if known:
        from bench.known_voices import main as known_main

        known_main(found, root, engine, model)
        return
    header = ["recording", "codec", "speakers (ref)", "DER of JSON segments", "DER of JSON turns"]
    print("| " + " | ".join([*header, "start / end error"]) + " |")
    print("|---|---|---|---|---|---|")
    table: dict[str, list[Scored]] = {}
    for recording in found:
        expected = len({t.speaker for t in recording.reference})
        for codec in CODECS:
            upload = encode(recording.wav, codec, root / "codecs" / re.sub(r"\W+", "-", recording.name))
            scored = score(recording.reference, transcribe_json(upload, engine, model))
            table.setdefault(codec, []).append(scored)
            found_count = f"{scored.speakers} ({expected})"
            errors = f"{scored.start_error_s:+.2f} / {scored.end_error_s:+.2f} s"
            print(
                f"| {recording.name} | {codec} | {found_count} | {scored.segments_der:.1%} | "
                f"{scored.turns_der:.1%} | {errors} |",
                flush=True,
            )
    for codec, rows in table.items():
        print(
            f"{codec}: mean DER of segments {np.mean([r.segments_der for r in rows]):.1%}, "
            f"of turns {np.mean([r.turns_der for r in rows]):.1%}, "
            f"worst boundary {max(max(abs(r.start_error_s), abs(r.end_error_s)) for r in rows):.2f} s"
        )
    first, later = _load_seconds()
    print(f"\nspeaker model load: first process {first:.0f} s (numba compiles), later ones {later:.0f} s")
    if with_cost:
        from bench import assets

        figures = cost(assets.speech_mp3(root, 600), assets.checkpoint(root))
        print(
            f"10-minute recording: job {figures['plain_job_s']:.0f} s without speakers "
            f"({figures['plain_chunks']:.0f} chunks), {figures['speakers_job_s']:.0f} s with them "
            f"({figures['speakers_chunks']:.0f} chunks); diarization {figures['diarize_s']:.1f} s; "
            f"speakers cost {figures['speakers_job_s'] / figures['plain_job_s'] - 1:+.0%} of the job"
        )
