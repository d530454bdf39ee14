"""Live mode in the real page: Chromium plays a recording as its microphone
(`--use-file-for-fake-audio-capture`), the page streams it to the app, text appears while it plays.

The app runs on the tiny checkpoint that says "hello world" whatever it hears (tests/fixtures_model.py), so
what is tested is the plumbing a user relies on: the audio reaches the app over its own loopback server,
provisional then committed text appear while the microphone is on, Stop gives a card with every download,
the recording's folder is gone after Stop, after the tab closes and after SIGTERM, nothing leaves the
machine, and the text is not in the log; under both start commands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.i18n import t
from testkit.browser import (
    UI,
    Traffic,
    assert_nothing_left_the_machine,
    download,
    start_app,
    start_live,
    transcript_box,
    wait_for_job_folder,
    wait_no_job_folder,
)
from testkit.trace import START_COMMANDS

pytestmark = pytest.mark.browser

SAID = "hello world"


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_live_text_while_the_microphone_plays_then_stop_gives_a_card_and_leaves_nothing(
    chromium_with_microphone, english_checkpoint: Path, tmp_path: Path, command: str
) -> None:
    app = start_app(tmp_path, english_checkpoint, command=command)
    try:
        traffic = Traffic(app.port)
        page = start_live(chromium_with_microphone, app, traffic)
        provisional = page.locator(".asr-live-provisional")
        provisional.wait_for()
        assert provisional.inner_text() == SAID
        committed = page.locator(".asr-live-seg")
        committed.nth(1).wait_for()  # both utterances final while the microphone is still on
        assert page.get_by_role("button", name=t("ui_live_stop", UI), exact=True).is_visible()
        assert [text.split(" ", 1)[1] for text in committed.all_inner_texts()[:2]] == [SAID, SAID]
        assert len(wait_for_job_folder(app)) == 1, "the recording lives in one private job folder"

        page.get_by_role("button", name=t("ui_live_stop", UI), exact=True).click()
        box = transcript_box(page)
        box.wait_for()
        assert box.input_value().startswith(f"{SAID} {SAID}")
        assert page.get_by_text(t("ui_live_name", UI, time="")).first.is_visible()
        for ext in ("txt", "srt", "json"):
            assert SAID in Path(download(page, ext).path()).read_text("utf-8")
        assert wait_no_job_folder(app) == [], "Stop removed the recording's folder"
        page.context.close()
        assert_nothing_left_the_machine(app, traffic)
        assert SAID not in app.log_text()
    finally:
        app.stop()


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_a_closed_tab_or_a_stopped_server_leaves_no_recording_behind(
    chromium_with_microphone, english_checkpoint: Path, tmp_path: Path, command: str
) -> None:
    app = start_app(tmp_path, english_checkpoint, command=command)
    try:
        traffic = Traffic(app.port)
        page = start_live(chromium_with_microphone, app, traffic)
        page.locator(".asr-live-seg").first.wait_for()
        assert len(wait_for_job_folder(app)) == 1
        page.context.close()
        assert wait_no_job_folder(app, timeout=40) == [], "a closed tab's recording is removed"

        page = start_live(chromium_with_microphone, app, traffic)
        page.locator(".asr-live-seg").first.wait_for()
        assert len(wait_for_job_folder(app)) == 1
        assert app.stop() is not None
        assert app.job_folders() == [] and app.leftovers() == [], "SIGTERM removed the recording"
        assert "Traceback" not in app.log_text(), "a service stop printed a traceback"
        assert_nothing_left_the_machine(app, traffic)
    finally:
        app.stop()
