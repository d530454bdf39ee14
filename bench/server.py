"""`python -m bench server`: the in-process engine against a vLLM server on this machine, same pipeline.

A team deciding whether to run vLLM wants audio-seconds per second for one long recording (one user) and
for several at once (a team), and what each costs in memory. Both engines run the real-shape random-weight
0.6B through `run_job` (decode, speech detection, chunking, transcription, cleanup) with the language forced
(random weights name none), each chunk decoding its whole token budget (`min_new_tokens` in process,
`min_tokens` + `ignore_eos` on the server), so both decode the same tokens.
Each measurement runs in a fresh child process (its peak RSS is its own); the vLLM server's peak is sampled
over its whole process tree while the child runs. `--repeats N` runs each measurement N times (the
in-process ones before the server starts, the server's concurrencies in rounds) and shows the median wall
time and the largest peak. Numbers only, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from bench import assets
from testkit.vllm_server import VLLM_PYTHON_ENV, start_vllm, vllm_python

_DEFAULT_VENV = Path.home() / ".cache" / "qwen-asr-ci" / "vllm-venv" / "bin" / "python"
_KEY = "bench-key"
# vLLM keeps encoder outputs (multimodal cache) and prompt KV (prefix cache) across requests. The synthetic
# recording repeats its sentences and each measurement transcribes the same file again, so with them on a
# later run skips encoders and prefills that a user's real, never-repeating audio would pay (a run after
# another logged a 49 % multimodal and 26 % prefix hit rate). Both off: each request costs what it would.
_NO_REUSE = ("--no-enable-prefix-caching", "--mm-processor-cache-gb", "0")


def _child(engine: str, files: list[str], tokens_per_second: float, in_flight: int | None) -> dict:
    """Transcribe `files` at once (one thread each) with the engine the environment names; wall time.

    `in_flight`: a server's requests in flight per job (`ASR_BATCH_SIZE`); None: the engine's default."""
    from asr.background import load_backend
    from asr.job import Transcribed, run_job
    from asr.settings import load_settings
    from asr.transcribe import TranscribeOptions
    from bench.probe import peak_rss_mb

    settings = load_settings()
    backend = load_backend(settings)
    _decode_the_whole_budget(backend)
    options = TranscribeOptions(language="English", tokens_per_second=tokens_per_second, batch_size=in_flight)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        outcomes = list(pool.map(lambda f: run_job(Path(f), backend, settings, options), files))
    wall = time.perf_counter() - started
    if not all(isinstance(o, Transcribed) for o in outcomes):
        raise RuntimeError(f"{engine}: a job did not transcribe")
    audio = sum(o.transcript.duration_s for o in outcomes if isinstance(o, Transcribed))
    peak = peak_rss_mb()
    batch = in_flight or settings.batch_size or backend.preferred_batch_size()
    return {
        "engine": engine,
        "files": len(files),
        "batch": batch,
        "audio_s": audio,
        "wall_s": wall,
        "client_peak_mb": peak,
    }


def _decode_the_whole_budget(backend: object) -> None:
    """Random weights stop at a random step: make both engines decode every chunk's full token budget
    (bench-only, on this instance or module; nothing in `asr/` changes)."""
    import asr.engines.vllm_engine as server_engine
    from asr.engines.transformers_engine import AsrEngine

    if isinstance(backend, AsrEngine):
        original = backend.model.generate

        def generate(*args, **kwargs):
            kwargs["min_new_tokens"] = kwargs["max_new_tokens"]
            return original(*args, **kwargs)

        backend.model.generate = generate
        return
    request = server_engine.chat_request

    def full_length(*args, **kwargs) -> dict:
        body = request(*args, **kwargs)
        return {**body, "min_tokens": body["max_tokens"], "ignore_eos": True}

    server_engine.chat_request = full_length


def _cpu_capability() -> str:
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def _tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def _measure(
    engine: str,
    files: list[Path],
    env: dict[str, str],
    args: argparse.Namespace,
    pid: int | None,
    in_flight: int | None = None,
):
    """One child run; with `pid`, the server tree's peak RSS sampled meanwhile."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_mb(pid)) if pid else 0.0

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    spec = json.dumps([engine, [str(f) for f in files], args.tokens_per_second, in_flight])
    repo = str(Path(__file__).resolve().parent.parent)
    full_env = {**os.environ, **env, "PYTHONPATH": repo}
    done_proc = subprocess.run(
        [sys.executable, "-m", "bench.server", spec], env=full_env, capture_output=True, text=True, cwd=repo
    )
    done.set()
    sampler.join()
    if done_proc.returncode != 0:
        raise RuntimeError(done_proc.stderr[-3000:])
    result = json.loads(done_proc.stdout.strip().splitlines()[-1])
    result["server_peak_mb"] = peak[0] if pid else None
    result["audio_s_per_s"] = result["audio_s"] / result["wall_s"]
    result["rtf"] = result["wall_s"] / result["audio_s"]
    return result


def _median(runs: list[dict]) -> dict:
    """One row for repeated runs of a measurement: the median wall time, the largest peaks."""
    wall = statistics.median(r["wall_s"] for r in runs)
    servers = [r["server_peak_mb"] for r in runs if r["server_peak_mb"]]
    return {
        **runs[0],
        "runs": len(runs),
        "walls_s": [r["wall_s"] for r in runs],
        "wall_s": wall,
        "audio_s_per_s": runs[0]["audio_s"] / wall,
        "rtf": wall / runs[0]["audio_s"],
        "client_peak_mb": max(r["client_peak_mb"] for r in runs),
        "server_peak_mb": max(servers) if servers else None,
    }


def server_main(args: argparse.Namespace) -> None:
    root = assets.cache_dir(args.cache)
    checkpoint = assets.checkpoint(root)
    seconds = args.minutes * 60
    one = [assets.speech_mp3(root, seconds)]
    team = [assets.speech_mp3(root, seconds / args.at_once)] * args.at_once if args.at_once else []
    python = vllm_python() or (str(_DEFAULT_VENV) if _DEFAULT_VENV.is_file() else None)
    if python is None:
        raise SystemExit(f"no vLLM: run .ci/vllm-venv.sh and set {VLLM_PYTHON_ENV}")
    local = {"ASR_MODEL": str(checkpoint)}
    if args.dtype:
        local["ASR_DTYPE"] = args.dtype
    in_flight = [int(n) for n in args.in_flight.split(",")]
    repeats = range(args.repeats)
    results = [_median([_measure("in-process", one, local, args, None) for _ in repeats])]
    if args.at_once:
        results.append(_median([_measure("in-process", team, local, args, None) for _ in repeats]))
    workdir = root / "vllm-bench"
    workdir.mkdir(exist_ok=True)
    started = time.perf_counter()
    server = start_vllm(
        python,
        checkpoint,
        workdir,
        key=_KEY,
        dtype=args.dtype or "bfloat16",
        kv_cache_gib=args.kv_cache_gib,
        extra_args=_NO_REUSE,
    )
    startup = time.perf_counter() - started
    try:
        remote = {"ASR_BACKEND": "vllm", "ASR_SERVER": server.url, "ASR_SERVER_KEY": _KEY}
        pid = server.process.pid
        runs: dict[int, list[dict]] = {n: [] for n in in_flight}
        for _ in repeats:  # each concurrency once per round, so drift on the box spreads over all of them
            for n in in_flight:
                runs[n].append(_measure("vllm", one, remote, args, pid, n))
        results += [_median(runs[n]) for n in in_flight]
        if args.at_once:
            results.append(_median([_measure("vllm", team, remote, args, pid) for _ in repeats]))
    finally:
        server.stop()
    print(f"# in-process vs vLLM-CPU, real-shape 0.6B (random weights), {args.tokens_per_second} tokens/s")
    print(f"precision {args.dtype or 'the app default'}; CPU capability {_cpu_capability()}")
    print(f"vLLM start-up: {startup:.0f} s; median of {args.repeats} run(s) per row, every run listed\n")
    columns = "batch / in flight | audio (s) | wall (s) | runs (s) | audio-s per s | RTF | app peak MB"
    print(f"| engine | at once | {columns} | server peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        server_mb = f"{r['server_peak_mb']:.0f}" if r["server_peak_mb"] else "–"
        walls = ", ".join(f"{w:.1f}" for w in r["walls_s"])
        print(
            f"| {r['engine']} | {r['files']} | {r['batch']} | {r['audio_s']:.0f} | {r['wall_s']:.1f} "
            f"| {walls} | {r['audio_s_per_s']:.2f} | {r['rtf']:.3f} | {r['client_peak_mb']:.0f} "
            f"| {server_mb} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":  # one measurement, in a fresh process (see `_measure`)
    print(json.dumps(_child(*json.loads(sys.argv[1]))))
