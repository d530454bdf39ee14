"""`python -m bench startup`: how long from the README's start command until a user can use the page.

Starts `python -m privacy` on a free port with the real-shape checkpoint, opens the page in Debian's
Chromium (Playwright, `executable_path`, never `playwright install`) and times: the health endpoint answering,
the page showing the uploader and the Transcribe button (what "interactive" means to a user), and the
model load the server logs, which runs in the background and must not hold the page up.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from asr.i18n import t
from bench import assets

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
LOADED = re.compile(r"Loaded model in ([\d.]+) s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(check, timeout: float = 120.0) -> float:
    """Poll `check` until it is true; the time it became true (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(0.02)
    raise TimeoutError("the app did not get there in time")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def _one_start(checkpoint: Path, browser) -> dict[str, float | None]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        env = {**os.environ, "ASR_MODEL": str(checkpoint), "QWEN_ASR_TMP_ROOT": str(Path(tmp) / "root")}
        command = [sys.executable, "-m", "privacy", "--server.port", str(port)]
        started = time.perf_counter()
        with log.open("wb") as sink:
            server = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            healthy = _until(lambda: _healthy(port))
            page = browser.new_page(locale="en-US")
            page.goto(f"http://localhost:{port}")
            page.wait_for_selector("input[type=file]", state="attached", timeout=120_000)
            page.get_by_role("button", name=t("ui_transcribe", "en"), exact=True).wait_for(timeout=120_000)
            interactive = time.perf_counter()
            _until(lambda: LOADED.search(log.read_text("utf-8", "replace")) is not None)
            loaded = time.perf_counter()
            page.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        load = LOADED.search(log.read_text("utf-8", "replace"))
    return {
        "health_s": healthy - started,
        "interactive_s": interactive - started,
        "model_ready_s": loaded - started,
        "model_load_s": float(load[1]) if load else None,
    }


def startup_main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    checkpoint = assets.checkpoint(assets.cache_dir(args.cache), tiny=args.quick)
    runs = []
    with sync_playwright() as playwright:
        flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            for _ in range(args.repeats):
                runs.append(_one_start(checkpoint, browser))
        finally:
            browser.close()
    print("\n### Start-up: `python -m privacy` until the page is usable (target: interactive ≤ 3 s)\n")
    print("| measure | median s | runs |\n|---|---|---|")
    labels = {
        "health_s": "server answers /_stcore/health",
        "interactive_s": "page shows uploader + Transcribe",
        "model_ready_s": "model loaded (server log seen)",
        "model_load_s": "model load itself (logged)",
    }
    for key, label in labels.items():
        values = [run[key] for run in runs if run[key] is not None]
        if values:
            print(f"| {label} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
