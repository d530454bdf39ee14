"""`python -m bench.review_page [--minutes 60]`: is a 1-hour recording's review page still responsive?

The app is started as users start it, on a tiny checkpoint wired to say a 55-word line for every ~20 s chunk
(about 165 words a minute, a talkative speaker), so an hour gives ~180 segments and ~10,000 words: the
page's real load, without the real model's minutes of CPU. Chromium then measures, from the click or key to
what the user waits for:

* draw: typing a word into Find and pressing Enter until the matching segments are drawn: one whole rerun
  of the card (review list, table, text box, downloads) for the hour;
* edit: a corrected cell until the text box shows it (the rerun plus applying the edit);
* jump: clicking the time of a segment near the end until the player's `currentTime` is there (a seek in the
  14 MB MP3 through the app's media endpoint);
* and the review list's size in the page (segments, characters of HTML).

Medians of `--repeats` tries are printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.checkpoints import build_checkpoint
from testkit.audio import make_long_mp3
from testkit.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Traffic,
    open_app,
    open_cell_editor,
    start_app,
    start_transcription,
    upload,
)

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu budget roadmap invoice finance "
    "meeting monday report quarter market policy contract witness hearing patient dosage lecture chapter "
    "theory method sample result figure table review summary agenda minutes action owner deadline"
).split()


def _wait_textbox(page, predicate: str) -> None:
    page.wait_for_function(
        f"() => [...document.querySelectorAll('textarea:not(.gdg-input)')].some(a => {predicate})",
        timeout=120_000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.review_page", description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_review_"))
    try:
        line = "language English<asr_text>" + " ".join(WORDS[:55])
        model = build_checkpoint(work / "ckpt", say=line)
        speech = work / "speech.wav"
        sentence = "We will discuss the roadmap next Monday."
        subprocess.run(["espeak-ng", "-w", str(speech), sentence], check=True)
        audio = make_long_mp3(speech, work / "hour.mp3", args.minutes * 60)
        server = start_app(work / "app", model)
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = open_app(browser, server, Traffic(server.port))
            page.set_viewport_size({"width": 1280, "height": 1600})
            upload(page, audio)
            started = time.perf_counter()
            start_transcription(page)
            segments = page.locator(".asr-review .asr-seg")
            segments.last.wait_for(timeout=1_800_000)
            job_s = time.perf_counter() - started
            count = segments.count()
            html_chars = page.evaluate("document.querySelector('.asr-review').outerHTML.length")
            draws, edits, jumps = [], [], []
            find = page.get_by_label("Find", exact=True)
            for attempt in range(args.repeats):
                word = WORDS[10 + attempt]
                find.fill(word)
                began = time.perf_counter()
                find.press("Enter")
                page.get_by_text(f"{count} segment(s) contain “{word}”").wait_for(timeout=120_000)
                draws.append(time.perf_counter() - began)

                target = segments.nth(count - 2 - attempt)
                start = float(target.get_attribute("data-start"))
                target.scroll_into_view_if_needed()
                began = time.perf_counter()
                target.locator("button[data-seek]").click()
                page.wait_for_function(
                    "s => { const a = document.querySelector('[class*=st-key-player_] audio');"
                    " return a.currentTime >= s - 0.05 && a.currentTime < s + 2; }",
                    arg=start,
                    timeout=60_000,
                )
                jumps.append(time.perf_counter() - began)

            page.get_by_role("tab", name="Edit").click()
            for attempt in range(args.repeats):
                editor = open_cell_editor(page, row=attempt)
                marker = f"corrected number {attempt}"
                editor.fill(marker)
                began = time.perf_counter()
                editor.press("Enter")
                _wait_textbox(page, f"a.value.includes({json.dumps(marker)})")
                edits.append(time.perf_counter() - began)
        finally:
            browser.close()
            playwright.stop()
            server.stop()
        print(
            json.dumps(
                {
                    "minutes": args.minutes,
                    "segments": count,
                    "review_html_chars": html_chars,
                    "job_s": round(job_s, 1),
                    "draw_s_median": round(statistics.median(draws), 3),
                    "edit_s_median": round(statistics.median(edits), 3),
                    "jump_s_median": round(statistics.median(jumps), 3),
                    "draw_s": [round(x, 3) for x in draws],
                    "edit_s": [round(x, 3) for x in edits],
                    "jump_s": [round(x, 3) for x in jumps],
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
