"""`python -m bench langid`: what the language check costs, refused and accepted, at the real model size.

Three runs of `run_job` on the same clip, interleaved, in one process (the model loads once):
refused — the model's first tokens say `language Japanese`, which the default policy refuses; accepted — they
say `language English` and the whole clip is transcribed at the bench's token rate; unchecked — the same
transcription with the check switched off ("transcribe anyway"): the same tokens are generated, so
accepted / unchecked is what the check costs an accepted recording.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from asr.engines.loading import plan_device
from asr.engines.transformers_engine import AsrEngine
from asr.job import Failed, run_job
from asr.settings import Settings, load_settings
from asr.transcribe import TranscribeOptions
from bench import assets
from bench.variants import fix_pipeline_length


def _timed(
    engine: AsrEngine, settings: Settings, mp3: Path, options: TranscribeOptions
) -> tuple[float, str | None]:
    started = time.perf_counter()
    outcome = run_job(mp3, engine, settings, options)
    seconds = time.perf_counter() - started
    return seconds, outcome.reason.code if isinstance(outcome, Failed) else None


def langid_main(args: argparse.Namespace) -> None:
    root = assets.cache_dir(args.cache)
    mp3 = assets.speech_mp3(root, args.seconds)
    checkpoint = assets.checkpoint(root, tiny=args.quick)
    settings = load_settings()
    plan = plan_device(settings.dtype, settings.cpu_int8)
    refusing, accepting = AsrEngine.load(str(checkpoint), plan), AsrEngine.load(str(checkpoint), plan)
    fix_pipeline_length(refusing, args.tokens_per_second, args.tag_tokens, "language Japanese<asr_text>")
    fix_pipeline_length(accepting, args.tokens_per_second, args.tag_tokens)
    runs: dict[str, list[float]] = {"refused": [], "accepted": [], "unchecked": []}
    for _ in range(args.repeats):
        seconds, code = _timed(refusing, settings, mp3, TranscribeOptions())
        assert code == "language_refused", code
        runs["refused"].append(seconds)
        seconds, code = _timed(accepting, settings, mp3, TranscribeOptions())
        assert code is None, code
        runs["accepted"].append(seconds)
        seconds, code = _timed(accepting, settings, mp3, TranscribeOptions().anyway(None))
        assert code is None, code
        runs["unchecked"].append(seconds)
    size = "tiny" if args.quick else "real-size"
    print(f"\n### Language check on a {args.seconds:g} s clip ({size} model)\n")
    print("| run | median s | runs |\n|---|---|---|")
    for name, values in runs.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    refused, accepted = statistics.median(runs["refused"]), statistics.median(runs["accepted"])
    unchecked = statistics.median(runs["unchecked"])
    print(f"\nrefused / accepted: {refused / accepted:.3f}; accepted / unchecked: {accepted / unchecked:.3f}")
