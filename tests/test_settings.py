"""Settings: every documented variable parsed once, at the start, into one object; a bad value is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asr.engines.endpoint import Endpoint
from asr.i18n import settings_error, t
from asr.settings import DEFAULT_MAX_SECONDS, VARIABLES, Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    assert load_settings({}) == Settings()
    assert Settings().max_seconds == DEFAULT_MAX_SECONDS == 3 * 3600
    assert Settings().batch_size is None and Settings().dtype is None and Settings().ffmpeg is None


def test_every_variable_is_read(tmp_path: Path) -> None:
    ffmpeg = tmp_path / "ffmpeg"
    ffmpeg.write_text("#!/bin/sh\n")
    ffmpeg.chmod(0o755)
    key_file = tmp_path / "key"
    key_file.write_text("sk-team-key\n")
    env = {
        "ASR_BACKEND": "vllm",
        "ASR_SERVER": "https://gpu-box.lan:8000/",
        "ASR_SERVER_KEY_FILE": str(key_file),
        "ASR_MODEL": " /models/asr ",
        "ASR_ALIGNER_MODEL": "/models/aligner",
        "ASR_MAX_SECONDS": "900",
        "ASR_BATCH_SIZE": "3",
        "ASR_DTYPE": "BFloat16",
        "ASR_CPU_INT8": "1",
        "CLEANUP_DISABLED": "1",
        "FFMPEG_BINARY": str(ffmpeg),
        "ASR_LOW_CONFIDENCE": "0.35",
        "ASR_API_KEY_FILE": str(key_file),
    }
    assert load_settings(env) == Settings(
        backend="vllm",
        server=Endpoint("https", "gpu-box.lan", 8000),
        server_key="sk-team-key",
        model="/models/asr",
        aligner_model="/models/aligner",
        max_seconds=900.0,
        batch_size=3,
        dtype="bfloat16",
        cpu_int8=True,
        cleanup_disabled=True,
        ffmpeg=str(ffmpeg),
        low_confidence=0.35,
        api_key="sk-team-key",
    )
    by_value = {**env, "ASR_SERVER_KEY": "sk-other", "ASR_API_KEY": "sk-api"}
    del by_value["ASR_SERVER_KEY_FILE"], by_value["ASR_API_KEY_FILE"]
    assert (load_settings(by_value).server_key, load_settings(by_value).api_key) == ("sk-other", "sk-api")
    documented = {*env, "ASR_SERVER_KEY", "ASR_API_KEY"}
    assert {v.name for v in VARIABLES} == documented, "--help documents exactly what is parsed"


def test_the_key_is_never_printed_and_audio_stays_here_without_a_server() -> None:
    env = {"ASR_BACKEND": "vllm", "ASR_SERVER": "http://[::1]:8765", "ASR_SERVER_KEY": "sk-1"}
    settings = load_settings(env)
    assert "sk-1" not in repr(settings) and "sk-1" not in str(settings)
    assert settings.audio_destination == "[::1]:8765"
    assert load_settings({}).audio_destination is None


@pytest.mark.parametrize(
    "env",
    [
        {"ASR_SERVER_KEY": "sk secret"},
        {"ASR_SERVER_KEY_FILE": "/no/such/key-file"},
        {"ASR_SERVER_KEY": "sk-secret", "ASR_SERVER_KEY_FILE": "/etc/hostname"},
        {"ASR_API_KEY": "sk secret"},
        {"ASR_API_KEY": "sk-secret", "ASR_API_KEY_FILE": "/etc/hostname"},
    ],
)
def test_a_refused_key_is_not_repeated_in_the_message(env: dict[str, str]) -> None:
    server = {"ASR_BACKEND": "vllm", "ASR_SERVER": "http://127.0.0.1:8000"}
    with pytest.raises(SettingsError) as raised:
        load_settings({**server, **env})
    assert raised.value.variable in env
    for lang in ("en", "zh"):
        line = settings_error(raised.value, lang)
        assert "secret" not in line and "/no/such" not in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ASR_BACKEND", "nonsense"),
        ("ASR_MAX_SECONDS", "3h"),
        ("ASR_MAX_SECONDS", "-5"),
        ("ASR_MAX_SECONDS", "inf"),
        ("ASR_BATCH_SIZE", "eight"),
        ("ASR_BATCH_SIZE", "0"),
        ("ASR_DTYPE", "fp16"),
        ("ASR_CPU_INT8", "yes"),
        ("CLEANUP_DISABLED", "true"),
        ("FFMPEG_BINARY", "/no/such/ffmpeg"),
        ("ASR_LOW_CONFIDENCE", "1"),
        ("ASR_LOW_CONFIDENCE", "50%"),
        ("ASR_SERVER", "ftp://gpu-box:8000"),
        ("ASR_SERVER", "http://gpu-box:8000/v1"),
        ("ASR_SERVER", "http://user:pass@gpu-box:8000"),
        ("ASR_SERVER", "http://gpu-box:99999"),
        ("ASR_SERVER", "gpu-box:8000"),
        ("ASR_SERVER", "http://127.0.0.1:8000"),  # without ASR_BACKEND=vllm audio would not go there
    ],
)
def test_a_value_that_cannot_be_used_names_the_variable_the_value_and_what_is_accepted(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    error = raised.value
    assert (error.variable, error.value) == (variable, value)
    for lang in ("en", "zh"):
        line = settings_error(error, lang)
        assert variable in line and value in line and t(error.accepts, lang) in line
        assert "\n" not in line


def test_the_server_engine_without_a_server_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"ASR_BACKEND": "vllm"})
    assert raised.value.variable == "ASR_SERVER"
    assert "ASR_BACKEND=vllm" in settings_error(raised.value, "en")


def test_nothing_is_read_at_import_time() -> None:
    """A bad value must reach the entry point's check, not break `import` with a traceback."""
    env = {**os.environ, "ASR_MAX_SECONDS": "3h", "ASR_BATCH_SIZE": "junk", "PYTHONPATH": str(REPO)}
    code = "import asr.speech.audio, asr.transcribe, asr.job, asr.cli, asr.background; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "imported"
