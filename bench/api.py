"""`python -m bench api`: eight clients at once on the OpenAI-compatible API, as a team's tools would send.

One long recording and seven short ones are posted together to `python -m asr serve` (the real-shape
random-weight 0.6B, the language forced: random weights name none) through the official `openai` SDK. Each
request's time from send to answer, the order they finish in, the server's peak RSS. `--modes` compares
what the app does (`together`: the calls of jobs that wait for the model are decoded as one batch, the
model handed over first come, first served) with `turns` (one call at a time, first come, first served)
and `lock` (one call at a time behind a plain `threading.Lock`, which lets the thread that just released
the model take it back): the same server, started with the merging or the lock class swapped (bench only).
Numbers only, never asserted.
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
from pathlib import Path
from typing import Any

import psutil

from bench import assets
from testkit.trace import REPO, free_port

# The server as the README starts it, with the merging or the model's lock swapped first (bench only).
_SERVE = """
import sys, threading
from asr.engines.transformers_engine import AsrEngine
import asr.engines.loading

def alone(self, call):
    with self._waiting_lock:
        self._waiting.remove(call)
        call.taken = True
    return [call]

if sys.argv[1] != "together":
    AsrEngine._take = alone
if sys.argv[1] == "lock":
    asr.engines.loading.Turns = threading.Lock
from asr.cli import main
sys.exit(main(["serve", "--port", sys.argv[2], "--verbose"]))
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    api: argparse.ArgumentParser = sub.add_parser("api", help="8 clients at once on the API")
    api.add_argument("--long-s", type=float, default=180.0, help="the long recording's length")
    api.add_argument("--short-s", type=float, default=20.0, help="each short recording's length")
    api.add_argument("--shorts", type=int, default=7)
    api.add_argument("--modes", default="together,turns,lock", help="together (the app's), turns, lock")
    api.add_argument("--quick", action="store_true", help="smoke test: tiny checkpoint, 30 s + 5 s")
    api.add_argument("--json", type=Path, help="write the results here")
    return api


def _start(mode: str, model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ASR_MODEL": str(model), "PYTHONPATH": str(REPO), "ASR_MAX_SECONDS": "100000"}
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", _SERVE, mode, str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )


def _send(client: Any, model: str, path: Path) -> str:
    with path.open("rb") as file:
        return str(client.audio.transcriptions.create(model=model, file=file, language="en").text)


def _measure(mode: str, model: Path, long: Path, short: Path, shorts: int, logs: Path) -> dict[str, Any]:
    from openai import OpenAI

    port = free_port()
    server = _start(mode, model, port, logs / f"serve-{mode}.log")
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        process = psutil.Process(server.pid)
        while not stop.wait(0.2):
            try:
                peak[0] = max(peak[0], process.memory_info().rss)
            except psutil.Error:
                return

    threading.Thread(target=sample, daemon=True).start()
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=60, timeout=3600)
        started = time.monotonic()
        while True:  # the server is up once /v1/models answers
            try:
                served = client.models.list().data[0].id
                break
            except Exception:
                if time.monotonic() - started > 120:
                    raise
                time.sleep(0.5)
        _send(client, served, short)  # the model loaded (503 + Retry-After until then) and warmed
        alone = time.monotonic()
        _send(client, served, short)
        alone_s = time.monotonic() - alone
        done: dict[str, float] = {}
        sent: dict[str, float] = {}

        def one(name: str, path: Path) -> None:
            sent[name] = time.monotonic()
            _send(client, served, path)
            done[name] = time.monotonic()

        threads = [threading.Thread(target=one, args=("long", long))]
        threads += [threading.Thread(target=one, args=(f"short{n}", short)) for n in range(shorts)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        waits = sorted(done[f"short{n}"] - sent[f"short{n}"] for n in range(shorts))
        order = sorted(done, key=done.__getitem__)
        return {
            "mode": mode,
            "short_alone_s": alone_s,
            "short_p50_s": statistics.median(waits),
            "short_max_s": waits[-1],
            "long_s": done["long"] - sent["long"],
            "shorts_before_long": order.index("long"),
            "wall_s": max(done.values()) - began,
            "peak_rss_mb": peak[0] / 2**20,
            "healthy_after": bool(client.models.list().data),
        }
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)


def api_main(args: argparse.Namespace) -> None:
    root = assets.cache_dir(args.cache)
    if args.quick:
        args.long_s, args.short_s, args.shorts = 30.0, 5.0, 3
    model = assets.checkpoint(root, tiny=args.quick)
    long, short = assets.speech_mp3(root, args.long_s), assets.speech_mp3(root, args.short_s)
    checkpoint = "tiny" if args.quick else "real-shape 0.6B (random weights)"
    print(
        f"# 1 x {args.long_s:g} s + {args.shorts} x {args.short_s:g} s sent at once to `python -m asr "
        f"serve`; {checkpoint}, language forced\n"
    )
    results = [_measure(mode, model, long, short, args.shorts, root) for mode in args.modes.split(",")]
    print("| mode | short alone | short p50 / max, together | long | shorts first | wall | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        together = f"{r['short_p50_s']:.1f} / {r['short_max_s']:.1f} s"
        print(
            f"| {r['mode']} | {r['short_alone_s']:.1f} s | {together} | {r['long_s']:.1f} s | "
            f"{r['shorts_before_long']} of {args.shorts} | {r['wall_s']:.1f} s | {r['peak_rss_mb']:.0f} MB |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
