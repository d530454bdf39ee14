"""The browser the page tests drive: Debian's Chromium through Playwright, one per test module; for live
mode, one whose microphone plays a recording."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from asr.speech.audio import SAMPLE_RATE, decode_to_wav, load_pcm
from testkit.browser import CHROMIUM, CHROMIUM_ARGS, require_browser_tools

__all__ = ["playwright_driver", "chromium", "microphone_wav", "chromium_with_microphone"]


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    """One Playwright per session: a second sync driver in the same thread refuses to start."""
    require_browser_tools()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        yield playwright
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def chromium(playwright_driver) -> Iterator[object]:
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def microphone_wav(speech_wavs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A voice, a pause, the voice again, a pause: Chromium loops it as its microphone."""
    folder = tmp_path_factory.mktemp("microphone")
    decode_to_wav(speech_wavs["en"], folder / "voice.wav")
    voice = load_pcm(folder / "voice.wav")
    pause = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
    pcm = np.concatenate([pause, voice, pause, voice, pause])
    path = folder / "microphone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def chromium_with_microphone(playwright_driver, microphone_wav: Path) -> Iterator[object]:
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
    ]
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield browser
    finally:
        browser.close()
