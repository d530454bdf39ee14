"""`python -m bench live`: live (microphone) transcription fed from a recording in real time.

Each precision runs in a fresh child process (`ASR_DTYPE`, `ASR_MODEL` = the bench's checkpoint), which
loads the engine the users' way (`asr.background.load_backend`), warms it up, then has its answers follow
`bench.standin.StandIn`: an utterance is answered with `language English<asr_text>` and `--tokens-per-second`
3.5 words a second of its audio, word k the same token in every decode but for the last `--revision` x 5 of
a decode, which the next decode revises (random weights never stop, never name a language and never agree
with a draft; every forward pass is still the model's own). A `LiveJob` is fed the recording in `--piece-s`
pieces on an absolute schedule: stream second s is "spoken" at t0 + s, and a piece is handed over when its
last sample has been spoken (piece k at t0 + (k + 1) x piece), so the feeder never drifts. At the end, Stop
and wait for the outcome.

From the job's `LiveTimeline` (clock: `time.monotonic`, the job's default):
  * speech end -> committed: each commit's time minus t0 + the utterance's end in the stream (its padded end,
    `PAD_S` after the last speech frame when a pause closed it);
  * provisional refresh interval: time between two provisional refreshes of the same utterance (no commit in
    between), so pauses between utterances are not counted as slow refreshes;
  * lag at each commit (`timeline.lags`), per minute, so a growing lag shows;
  * the job's own `LiveView.behind`, polled once a second: what the page showed;
  * the draft tokens each decode was given and how many it kept (`StandIn.accepted`).
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import assets

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16000
# issue 36's targets: speech end -> committed text, p50 and p95 (bf16; float32 p95 only), refresh p50
TARGETS_S = {"bfloat16": (0.8, 1.5), "float32": (None, 3.0)}
REFRESH_TARGET_S = 1.0
_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_line() -> str:
    """The CPU, its cores and the flags that decide the app's precision, and the load right now."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    from asr.engines.loading import cpu_has_native_bf16

    listed = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in _FLAGS)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    default = "bfloat16" if cpu_has_native_bf16() else "float32"
    return f"{model}, {os.cpu_count()} cores; {listed}; app default {default}; load average {load}"


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (p95 of 20 values is the 19th): no interpolation between two commits."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(np.ceil(q * len(ordered))) - 1))]


# ---------------------------------------------------------------------------------------------- the child


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One precision: load, warm up, feed the recording in real time, Stop, and the raw timeline."""
    import asr.live as live
    from asr.background import in_passing_thread, load_backend
    from asr.engines.transformers_engine import AsrEngine
    from asr.job import Failed, JobModels, Transcribed
    from asr.settings import load_settings
    from asr.transcribe import TranscribeOptions
    from bench.probe import peak_rss_mb
    from bench.standin import StandIn
    from bench.variants import _warm_up

    settings = load_settings()
    started = time.perf_counter()
    # Loaded and warmed up in threads that end, as the page and the CLI do (`in_passing_thread` says why):
    # loaded in this main thread, every engine call of the live job took 20-40 % longer than in the app.
    backend = in_passing_thread(lambda: load_backend(settings))
    load_s = time.perf_counter() - started
    if not isinstance(backend, AsrEngine):
        raise SystemExit("python -m bench live measures the in-process engine (ASR_BACKEND=transformers)")
    warmup_s = in_passing_thread(lambda: _warm_up(backend.model, backend.processor))
    # built in a passing thread too: its probe of the prompt runs torch, whose OpenMP workers would stay
    # with this thread, and with more workers than cores OpenMP parks them after every parallel region
    stand_in = in_passing_thread(lambda: StandIn(backend, spec["tokens_per_second"], spec["revision"]))
    if spec.get("no_reuse"):  # what the prefill memory saves: the same run with nothing kept between calls
        memory = backend._memory
        prefill = memory.prefill

        def forgetful(*args: Any, **kwargs: Any) -> Any:
            memory._kept = None
            return prefill(*args, **kwargs)

        memory.prefill = forgetful  # type: ignore[method-assign]
    step_s = live.STEP_S if spec["step_s"] is None else spec["step_s"]

    samples = np.load(spec["pcm"])
    data = (np.clip(samples, -1.0, 32767 / 32768) * 32768).round().astype("<i2").tobytes()
    piece = int(round(spec["piece_s"] * SAMPLE_RATE))
    pieces = [data[at : at + 2 * piece] for at in range(0, len(data), 2 * piece)]
    audio_s = len(samples) / SAMPLE_RATE

    job = live.LiveJob(JobModels(backend), settings, TranscribeOptions(), step_s=step_s)
    t0 = time.monotonic()
    polls: list[tuple[float, bool, float]] = []  # (seconds since t0, behind, lag_s) once a second
    done = threading.Event()

    def poll() -> None:
        while not done.wait(1.0):
            view = job.view()
            polls.append((time.monotonic() - t0, view.behind, view.lag_s))

    poller = threading.Thread(target=poll, name="bench-live-poll", daemon=True)
    poller.start()
    late_max, refused_at = 0.0, None
    for k, chunk in enumerate(pieces):
        due = t0 + (k + 1) * spec["piece_s"]
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            late_max = max(late_max, -wait)
        if not job.feed(chunk):
            refused_at = k * spec["piece_s"]
            break
        if (k + 1) % int(round(60 / spec["piece_s"])) == 0:
            view = job.view()
            print(
                f"  [{spec['dtype']}] {(k + 1) * spec['piece_s'] / 60:.0f} min: {len(job.timeline.commits)} "
                f"commits, lag {view.lag_s:.1f} s{', behind' if view.behind else ''}",
                file=sys.stderr,
                flush=True,
            )
    stopped = time.monotonic()
    job.stop()
    outcome = job.wait(spec["wait_s"])
    ended = time.monotonic()
    done.set()
    poller.join()

    view = job.view()
    result: dict[str, Any] = {
        "dtype_asked": spec["dtype"],
        "dtype": str(backend.plan.dtype).removeprefix("torch."),
        "checkpoint": spec["checkpoint_name"],
        "audio_s": audio_s,
        "piece_s": spec["piece_s"],
        "step_s": step_s,
        "behind_threshold_s": live.BEHIND_S,
        "tokens_per_second": spec["tokens_per_second"],
        "revision": spec["revision"],
        "tag_tokens": len(stand_in.tag),
        "drafts": stand_in.accepted_summary(),
        "reuse": dataclasses.asdict(backend._memory.reuse),
        "no_reuse": bool(spec.get("no_reuse")),
        "load_s": load_s,
        "warmup_s": warmup_s,
        "threads": _torch_threads(),
        "feed_late_max_s": late_max,
        "feed_refused_at_s": refused_at,
        "stop_to_outcome_s": ended - stopped,
        "outcome": outcome.kind if outcome is not None else "still running",
        "failure": outcome.reason.code if isinstance(outcome, Failed) else None,
        "peak_rss_mb": peak_rss_mb(),
        # raw, relative to t0 (the stream's second 0 on the clock)
        "commits": [(end_s, at - t0) for end_s, at in job.timeline.commits],
        "provisionals": [at - t0 for at in job.timeline.provisionals],
        "calls": [(at - t0, *rest) for at, *rest in stand_in.calls],
        "lags": list(job.timeline.lags),
        "polls": polls,
        "chunks": [(s.start, s.end) for s in view.committed],
        "stopped_at_s": stopped - t0,
    }
    if isinstance(outcome, Transcribed):
        result["segments"] = len(outcome.transcript.segments)
        result["engine_s"] = outcome.transcript.timings.transcribe_s
    return result


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# ---------------------------------------------------------------------------------------------- the parent


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Latencies, refresh intervals, lags and the behind time, overall and per minute of the stream."""
    commits = raw["commits"]
    latencies = [at - end_s for end_s, at in commits]
    commit_times = sorted(at for _, at in commits)
    refreshes = [
        b - a
        for a, b in zip(raw["provisionals"], raw["provisionals"][1:], strict=False)
        if bisect.bisect_right(commit_times, a) == bisect.bisect_left(commit_times, b)
    ]
    minutes = max(1, int(np.ceil(raw["audio_s"] / 60 - 1e-9)))

    def minute_of(seconds: float) -> int:
        return min(minutes - 1, int(seconds // 60))

    rows = []
    for m in range(minutes):
        lat = [at - end_s for end_s, at in commits if minute_of(end_s) == m]
        lags = [lag for heard, lag in raw["lags"] if minute_of(heard) == m]
        chunk = [end - start for start, end in raw["chunks"] if minute_of(end) == m]
        in_minute = [p for p in raw["provisionals"] if minute_of(p) == m]
        ref = [
            b - a
            for a, b in zip(in_minute, in_minute[1:], strict=False)
            if bisect.bisect_right(commit_times, a) == bisect.bisect_left(commit_times, b)
        ]
        rows.append(
            {
                "minute": m + 1,
                "commits": len(lat),
                "latency_p50_s": _quantile(lat, 0.5),
                "latency_p95_s": _quantile(lat, 0.95),
                "latency_max_s": max(lat, default=None),
                "refresh_p50_s": _quantile(ref, 0.5),
                "refresh_p95_s": _quantile(ref, 0.95),
                "lag_max_s": max(lags, default=None),
                "behind_s": sum(1 for t, behind, _ in raw["polls"] if behind and minute_of(t) == m),
                "chunk_p50_s": _quantile(chunk, 0.5),
                "chunk_max_s": max(chunk, default=None),
            }
        )
    lags = [lag for _, lag in raw["lags"]]
    chunks = [end - start for start, end in raw["chunks"]]
    summary = {
        key: raw[key]
        for key in (
            "dtype_asked",
            "dtype",
            "checkpoint",
            "audio_s",
            "piece_s",
            "step_s",
            "tokens_per_second",
            "revision",
            "tag_tokens",
            "drafts",
            "reuse",
            "no_reuse",
            "threads",
            "load_s",
            "warmup_s",
            "feed_late_max_s",
            "feed_refused_at_s",
            "stop_to_outcome_s",
            "outcome",
            "failure",
            "peak_rss_mb",
        )
    }
    summary.update(
        utterances_committed=len(commits),
        segments=raw.get("segments"),
        engine_busy_share=raw["engine_s"] / raw["audio_s"] if raw.get("engine_s") else None,
        latency_p50_s=_quantile(latencies, 0.5),
        latency_p95_s=_quantile(latencies, 0.95),
        latency_max_s=max(latencies, default=None),
        refresh_p50_s=_quantile(refreshes, 0.5),
        refresh_p95_s=_quantile(refreshes, 0.95),
        refreshes=len(raw["provisionals"]),
        lag_max_s=max(lags, default=None),
        lag_max_first_minute_s=rows[0]["lag_max_s"],
        lag_max_last_minute_s=rows[-1]["lag_max_s"],
        behind_s=sum(1 for _, behind, _ in raw["polls"] if behind),
        chunk_p50_s=_quantile(chunks, 0.5),
        chunk_max_s=max(chunks, default=None),
        breakdown=breakdown(raw),
        per_minute=rows,
    )
    return summary


def breakdown(raw: dict[str, Any]) -> dict[str, float | None]:
    """Where each commit's wait went, as medians over commits: from the speech end (padded) to the start of
    the engine call whose answer was committed (the call in flight giving way, the detector noticing the
    pause), that call's length and the tokens it generated beyond the draft it kept, and from its end to the
    commit (the pause closing, or more rows of a batch)."""
    calls = sorted(raw.get("calls", []))
    waits, took, beyond, after = [], [], [], []
    for (end_s, at), (start_s, _) in zip(raw["commits"], raw["chunks"], strict=False):
        length = end_s - start_s
        done = [
            c for c in calls if c[0] + c[1] <= at + 1e-3 and c[3] >= length - 0.05 and c[0] >= end_s - 0.05
        ]
        if not done:
            continue
        started, lasted, _, _, tokens, _ = done[-1]
        waits.append(started - end_s)
        took.append(lasted)
        beyond.append(float(tokens))
        after.append(at - started - lasted)
    return {
        "commits_traced": len(waits),
        "start_after_end_p50_s": _quantile(waits, 0.5),
        "start_after_end_p95_s": _quantile(waits, 0.95),
        "call_p50_s": _quantile(took, 0.5),
        "call_p95_s": _quantile(took, 0.95),
        "tokens_beyond_draft_p50": _quantile(beyond, 0.5),
        "commit_after_call_p50_s": _quantile(after, 0.5),
        "commit_after_call_p95_s": _quantile(after, 0.95),
    }


def _s(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(summary: dict[str, Any]) -> str:
    """One precision: a row per minute of the stream and one for the whole of it."""
    lines = [
        f"### {summary['dtype']} (ASR_DTYPE={summary['dtype_asked']}), revision {summary['revision']:g}, "
        f"{summary['checkpoint']}, "
        f"{summary['audio_s']:.0f} s in {summary['piece_s']:g} s pieces, {summary['threads']} threads",
        "",
        "| minute | commits | speech end → committed p50 / p95 / max (s) | provisional refresh p50 / p95 (s) "
        "| lag at commits, max (s) | page showed behind (s) | committed chunk p50 / max (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = summary["per_minute"] if len(summary["per_minute"]) > 1 else []
    for r in [*rows, {**summary, "minute": "all", "commits": summary["utterances_committed"]}]:
        lines.append(
            f"| {r['minute']} | {r['commits']} | {_s(r['latency_p50_s'])} / {_s(r['latency_p95_s'])} / "
            f"{_s(r['latency_max_s'])} | {_s(r['refresh_p50_s'])} / {_s(r['refresh_p95_s'])} | "
            f"{_s(r['lag_max_s'])} | {r['behind_s']} | "
            f"{_s(r['chunk_p50_s'], 1)} / {_s(r['chunk_max_s'], 1)} |"
        )
    first, last = summary["lag_max_first_minute_s"], summary["lag_max_last_minute_s"]
    busy = summary["engine_busy_share"]
    lines += [
        "",
        f"outcome {summary['outcome']}{' (' + summary['failure'] + ')' if summary['failure'] else ''}; "
        f"{summary['utterances_committed']} commits, {summary['segments']} segments; "
        f"load {summary['load_s']:.1f} s, warm-up {summary['warmup_s']:.1f} s; "
        f"engine busy {_s(None if busy is None else 100 * busy, 0)} % of the audio's length; "
        f"Stop → outcome {summary['stop_to_outcome_s']:.1f} s; feeder at most "
        f"{1000 * summary['feed_late_max_s']:.0f} ms late; peak RSS {summary['peak_rss_mb']:.0f} MB",
        f"targets: {verdicts(summary)}; lag bounded: max {_s(first)} s in the first minute, {_s(last)} s in "
        f"the last, behind {summary['behind_s']} s of {summary['audio_s']:.0f}",
        f"drafts: {_drafts_line(summary['drafts'])}",
        f"where a commit's wait goes (medians, p95): {_breakdown_line(summary['breakdown'])}",
        f"kept between decodes{' (off: --no-reuse)' if summary['no_reuse'] else ''}: "
        f"{_reuse_line(summary['reuse'])}",
    ]
    return "\n".join(lines)


def verdicts(summary: dict[str, Any]) -> str:
    """Each of issue 36's targets for this precision next to what was measured, never asserted."""
    p50_target, p95_target = TARGETS_S.get(summary["dtype"], (None, None))
    checks = [
        ("committed p50", summary["latency_p50_s"], p50_target),
        ("committed p95", summary["latency_p95_s"], p95_target),
        (
            "refresh p50",
            summary["refresh_p50_s"],
            REFRESH_TARGET_S if summary["dtype"] == "bfloat16" else None,
        ),
    ]
    said = [
        f"{name} {_s(value)} s ≤ {target:g}: {'met' if value is not None and value <= target else 'missed'}"
        for name, value, target in checks
        if target is not None
    ]
    return "; ".join(said) or "none for this precision"


def _drafts_line(drafts: dict[str, Any]) -> str:
    if not drafts["drafted_rows"]:
        return "none given"
    return (
        f"{drafts['drafted_rows']} decodes had one, {drafts['draft_tokens_per_row']:.1f} tokens each, "
        f"{drafts['accepted_tokens_per_row']:.1f} accepted ({100 * drafts['accepted_share']:.0f} %)"
    )


def _breakdown_line(b: dict[str, Any]) -> str:
    if not b["commits_traced"]:
        return "no commit traced"
    return (
        f"its decode started {_s(b['start_after_end_p50_s'])} s ({_s(b['start_after_end_p95_s'])}) after the "
        f"speech end, took {_s(b['call_p50_s'])} s ({_s(b['call_p95_s'])}) for "
        f"{_s(b['tokens_beyond_draft_p50'], 0)} tokens beyond its draft, and was committed "
        f"{_s(b['commit_after_call_p50_s'])} s ({_s(b['commit_after_call_p95_s'])}) after it ended "
        f"({b['commits_traced']} commits traced)"
    )


def _reuse_line(reuse: dict[str, int]) -> str:
    def share(reused: str, done: str) -> str:
        total = reuse[reused] + reuse[done]
        return f"{reuse[reused]} of {total} ({100 * reuse[reused] / total:.0f} %)" if total else "0"

    return (
        f"{reuse['calls']} single-row prefills; 1 s chunks convolved: "
        f"{share('chunks_reused', 'chunks_convolved')} reused; 8 s windows encoded: "
        f"{share('windows_reused', 'windows_encoded')} reused; decoder prompt tokens: "
        f"{share('tokens_reused', 'tokens_prefilled')} reused"
    )


def _measure(dtype: str, spec: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """One precision in a fresh interpreter; its progress lines pass through, its result comes back."""
    env = {
        **os.environ,
        "ASR_MODEL": str(checkpoint),
        "ASR_DTYPE": dtype,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.live", json.dumps({**spec, "dtype": dtype})],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {dtype} run (revision {spec['revision']}) failed (its log is above)")
    raw: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return raw


def live_main(args: argparse.Namespace) -> None:
    root = assets.cache_dir(args.cache)
    seconds = 20.0 if args.quick else args.minutes * 60
    checkpoint = assets.checkpoint(root, tiny=args.quick)
    pcm = assets.decoded_pcm(assets.speech_mp3(root, seconds))
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    revisions = [float(r) for r in args.revision.split(",") if r.strip()]
    spec = {
        "pcm": str(pcm),
        "checkpoint_name": "tiny random checkpoint" if args.quick else "real-shape 0.6B (random weights)",
        "tokens_per_second": args.tokens_per_second,
        "piece_s": args.piece_s,
        "step_s": args.step_s,
        "wait_s": max(600.0, seconds),
        "no_reuse": args.no_reuse,
    }
    length = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    print(f"# Live transcription, {length} fed in real time; {cpu_line()}")
    print(
        f"# each utterance is answered with its tag + {args.tokens_per_second} words a second "
        f"(bench.standin), a share {args.revision} of the last 5 words of each decode revised\n"
    )
    raws, summaries = [], []
    for dtype, revision in [(d, r) for d in dtypes for r in revisions]:
        raw = _measure(dtype, {**spec, "revision": revision}, checkpoint)
        summary = summarize(raw)
        raws.append(raw)
        summaries.append(summary)
        print(table(summary), end="\n\n", flush=True)
    for summary in summaries:
        print(json.dumps({k: v for k, v in summary.items() if k != "per_minute"}))
    if args.json:
        args.json.write_text(json.dumps({"summaries": summaries, "raw": raws}, indent=1))


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """`python -m bench live`'s flags (called by bench/__main__.py)."""
    live: argparse.ArgumentParser = sub.add_parser(
        "live", help="live transcription fed in real time: latency, refresh, lag"
    )
    live.add_argument("--minutes", type=float, default=10.0, help="length of the recording fed")
    live.add_argument("--dtypes", default="bfloat16,float32", help="precisions, one child process each")
    live.add_argument("--tokens-per-second", type=float, default=3.5)
    live.add_argument(
        "--revision",
        default="0.5",
        help="share of a decode's last 5 words the next one revises (bench.standin); a comma list runs each",
    )
    live.add_argument("--piece-s", type=float, default=0.1, help="audio per feed() (the page sends 0.25)")
    live.add_argument("--step-s", type=float, default=None, help="provisional refresh step (default 1.0)")
    live.add_argument(
        "--no-reuse", action="store_true", help="keep nothing between decodes (what reuse saves)"
    )
    live.add_argument("--quick", action="store_true", help="smoke test: tiny checkpoint, 20 s")
    live.add_argument("--json", type=Path, help="write the summaries and raw timelines here")
    return live


if __name__ == "__main__":  # one precision, in a fresh process (see `_measure`)
    print(json.dumps(_child(json.loads(sys.argv[1]))))
