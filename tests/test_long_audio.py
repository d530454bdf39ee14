"""An hour-long recording goes through the whole pipeline on the tiny model with bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit.audio import make_long_mp3

REPO = Path(__file__).resolve().parent.parent

# Runs in a child process so its peak RSS belongs to this job alone.
_JOB = """
import json, resource, sys
from pathlib import Path
from asr.engines.transformers_engine import AsrEngine
from asr.job import run_job
from asr.settings import Settings
from asr.transcribe import TranscribeOptions
from cleanup import private_root
engine = AsrEngine.load(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = run_job(Path(sys.argv[1]), engine, Settings(), TranscribeOptions())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
segments = result.transcript.segments
print(json.dumps({
    "kind": result.kind,
    "segments": len(segments),
    "first_start": segments[0].start,
    "last_end": segments[-1].end,
    "gaps": sum(b.start - a.end for a, b in zip(segments, segments[1:])),
    "overlaps": sum(a.end > b.start for a, b in zip(segments, segments[1:])),
    "texts": sorted({s.text for s in segments}),
    "longest": max(s.end - s.start for s in segments),
    "duration": result.transcript.duration_s,
    "rss_growth_mb": (after - before) / 1024,
    "left": len(list(private_root().glob("proc_*/qwen_asr_*"))),
}))
"""


def test_one_hour_file_is_transcribed_in_chunks_with_bounded_memory(
    tmp_path: Path, speech_wavs: dict, english_checkpoint: Path
) -> None:
    hour = make_long_mp3(speech_wavs["en"], tmp_path / "hour.mp3", 3600)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _JOB, str(hour), str(english_checkpoint)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["kind"] == "transcribed"
    assert abs(report["duration"] - 3600) < 1
    assert report["segments"] >= 3600 / 28  # no chunk over the 28 s maximum
    assert report["longest"] <= 28.0
    assert report["first_start"] < 1 and abs(report["last_end"] - 3600) < 1
    # chunks follow the speech in order: what lies between them is the pauses between the looped sentences
    assert report["overlaps"] == 0 and report["gaps"] < 0.05 * 3600
    assert report["texts"] == ["hello world"]
    # An hour of 16 kHz PCM is 115 MB as s16 and 230 MB as float32: the pipeline must not hold it.
    assert report["rss_growth_mb"] < 400, report
    assert report["left"] == 0
