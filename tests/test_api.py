"""The OpenAI-compatible API (`api`), driven as its clients drive it: the official `openai` SDK and curl.

The servers are started as the README says (`python -m asr serve`, and the page's own two start commands
answering `/v1`), under strace, on tiny checkpoints that say "hello world" through the real `generate`.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import APIStatusError, BadRequestError, OpenAI
from openai.types.audio import TranscriptionDiarized, TranscriptionVerbose

import asr.background
from api.errors import ApiError, error_response
from api.form import ReceivedForm, TranscriptionRequest
from api.formats import TextDeltas, render
from api.serve import allowed_hosts, binds_beyond_loopback
from api.service import RETRY_AFTER_S, TranscriptionService
from asr.background import SharedModels
from asr.cli import main
from asr.engines.protocol import Aborted, Cancel
from asr.engines.turns import Turns
from asr.i18n import t
from asr.langid import Verdict
from asr.outputs.transcript import Segment, Timings, Transcript, Word
from asr.settings import Settings
from asr.speakers.diarize import jit_cache_dir
from asr.speech.audio import load_pcm
from cleanup.root import JOB_PREFIX
from testkit.audio import make_long_mp3
from testkit.browser import START_COMMANDS, AppServer, start_app
from testkit.trace import http_status
from tests.fixtures_model import SAYS_DOUBTFUL, SAYS_ENGLISH
from tests.test_audio import BAD_INPUTS

SAID = SAYS_ENGLISH.split("<asr_text>")[1]  # "hello world"
KEY = "sk-local-test-3c1d"

# --- the request's fields, the answers' shapes, the model's turns ----------------------------------------


def _form(**fields: str | list[str]) -> ReceivedForm:
    return ReceivedForm({k: v if isinstance(v, list) else [v] for k, v in fields.items()}, file_bytes=10)


def test_fields_are_read_as_the_sdk_and_other_clients_send_them() -> None:
    sdk = _form(
        model="Qwen/Qwen3-ASR-0.6B-hf",
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
        language="zh-CN",
        temperature="0.0",
        prompt="通义千问, Qwen",
    )
    asked = TranscriptionRequest.of(sdk, "Qwen/Qwen3-ASR-0.6B-hf")
    assert (asked.words, asked.language, asked.prompt, asked.stream) == (
        True,
        "Chinese",
        "通义千问, Qwen",
        False,
    )
    bare = _form(model="Qwen3-ASR-0.6B-hf", response_format="verbose_json", timestamp_granularities="word")
    assert TranscriptionRequest.of(bare, "Qwen/Qwen3-ASR-0.6B-hf").words, "speaches' spelling, no brackets"
    diarized = TranscriptionRequest.of(_form(model="m", response_format="diarized_json"), "m")
    assert diarized.speakers and not TranscriptionRequest.of(_form(model="m"), "m").speakers
    assert TranscriptionRequest.of(_form(model="m", speakers="true"), "m").speakers, "the extension field"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper-1"}, "model"),
        ({"model": "m", "temperature": "0.7"}, "temperature"),
        ({"model": "m", "response_format": "xml"}, "response_format"),
        ({"model": "m", "language": "klingon"}, "language"),
        ({"model": "m", "hotwords": "Qwen"}, "hotwords"),
        ({"model": "m", "include[]": "logprobs"}, "include[]"),
        ({"model": "m", "stream": "true", "response_format": "srt"}, "stream"),
        ({"model": "m", "stream": "maybe"}, "stream"),
        ({"model": "m", "timestamp_granularities[]": "word"}, "timestamp_granularities"),
        ({"model": "m", "response_format": "verbose_json", "timestamp_granularities[]": "char"}, None),
    ],
)
def test_a_field_that_cannot_be_honoured_is_refused_by_name(
    fields: dict[str, str], param: str | None
) -> None:
    with pytest.raises(ApiError) as refused:
        TranscriptionRequest.of(_form(**fields), "m")
    assert refused.value.status == 400
    assert refused.value.param == (param or "timestamp_granularities")


def _transcript(*segments: Segment, speakers: bool = False) -> Transcript:
    verdict = Verdict("zh-en", "Chinese", None, 0.9, 0.1)
    return Transcript(segments, verdict, 12.3, Timings(1.0))


def test_every_json_answer_parses_into_the_sdks_own_types() -> None:
    words = (Word(0.5, 0.9, "hello", 1), Word(1.0, 1.4, "world", 1))
    first = Segment(0.4, 1.5, "hello world", "English", words=words, speaker=1)
    second = Segment(2.0, 3.0, "你好世界", "Chinese", words=(Word(2.0, 2.4, "你", 2),), speaker=2)
    transcript = _transcript(first, second)
    verbose = TranscriptionVerbose.model_validate_json(render(transcript, "verbose_json", words=True))
    assert verbose.text == transcript.text and verbose.language == "chinese"
    assert [w.word for w in verbose.words or []] == ["hello", "world", "你"]
    assert [s.start for s in verbose.segments or []] == [0.4, 2.0]
    assert (
        json.loads(render(transcript, "verbose_json", words=True))["segments"][0]["words"][0]["word"]
        == "hello"
    )
    assert "words" not in json.loads(render(transcript, "verbose_json", words=False))
    diarized = TranscriptionDiarized.model_validate_json(render(transcript, "diarized_json", words=False))
    assert [(s.speaker, s.text) for s in diarized.segments] == [
        ("Speaker 1", "hello world"),
        ("Speaker 2", "你好世界"),
    ]
    assert json.loads(render(transcript, "json", words=False))["text"] == transcript.text


def test_stream_deltas_add_up_to_the_final_text() -> None:
    segments = [
        Segment(0, 1, "hello world.", "English"),
        Segment(1, 2, "你好", "Chinese"),
        Segment(2, 3, "ok", "English"),
    ]
    deltas = TextDeltas()
    events = deltas.events(segments[:1]) + deltas.events(segments[1:])
    said = "".join(json.loads(e.removeprefix("data: "))["delta"] for e in events)
    assert said == _transcript(*segments).text
    assert json.loads(deltas.done(_transcript(*segments)).removeprefix("data: "))["text"] == said


def test_the_model_goes_to_whoever_asked_first() -> None:
    """A job that asks again at once queues behind the one already waiting (a plain Lock lets it cut in)."""
    turns, order, asked = Turns(), [], threading.Event()

    def short() -> None:
        asked.set()
        with turns:
            order.append("short")

    with turns:
        order.append("long")
        waiter = threading.Thread(target=short)
        waiter.start()
        asked.wait()
        time.sleep(0.1)  # the short job is queued now
    with turns:  # the long job's next batch
        order.append("long")
    waiter.join()
    assert order == ["long", "short", "long"]


def test_a_cancelled_job_frees_the_engine_within_a_step(english_engine, speech_wavs: dict[str, Path]) -> None:
    from asr.speech.audio import decode_to_wav

    wav = decode_to_wav(speech_wavs["en"], speech_wavs["en"].with_name("api_cancel.wav")).wav_path
    pcm = load_pcm(wav)
    assert english_engine.transcribe([pcm], cancel=Cancel())[0].text == SAID
    gone = Cancel()
    gone.set()
    with pytest.raises(Aborted):
        english_engine.transcribe([pcm] * 4, cancel=gone, max_new_tokens=64)


def test_503_while_the_model_loads_and_429_when_the_queue_is_full(monkeypatch) -> None:
    loaded, engine = threading.Event(), object()

    def slow_load(settings: Settings) -> object:
        loaded.wait(10)
        return engine

    monkeypatch.setattr(asr.background, "load_backend", slow_load)
    service = TranscriptionService(Settings(model="Qwen/Qwen3-ASR-0.6B-hf"), SharedModels(), admit=2)
    with pytest.raises(ApiError) as loading:
        service.backend()
    assert (loading.value.status, loading.value.retry_after_s) == (503, RETRY_AFTER_S)
    assert error_response(loading.value).headers["retry-after"] == str(RETRY_AFTER_S)
    loaded.set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            assert service.backend() is engine
            break
        except ApiError:
            time.sleep(0.05)
    assert service.backend() is engine and service.served == "Qwen/Qwen3-ASR-0.6B-hf"
    with service.admitted(), service.admitted():
        with pytest.raises(ApiError) as full:
            with service.admitted():
                pass
        assert (full.value.status, full.value.type) == (429, "rate_limit_error")
    with service.admitted():
        pass  # places come back when requests end


def test_serving_beyond_loopback_needs_a_key(monkeypatch, capsys) -> None:
    assert not binds_beyond_loopback("127.0.0.1") and not binds_beyond_loopback("localhost")
    assert binds_beyond_loopback("0.0.0.0") and binds_beyond_loopback("192.168.1.20")
    assert allowed_hosts("0.0.0.0", ["asr.lan"]) == ["localhost", "127.0.0.1", "::1", "[::1]", "asr.lan"]
    monkeypatch.delenv("ASR_API_KEY", raising=False)
    monkeypatch.delenv("ASR_API_KEY_FILE", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert t("api_key_needed", "en", host="0.0.0.0") in capsys.readouterr().err


# --- `python -m asr serve`, driven by the SDK and curl ----------------------------------------------------


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory,
    english_checkpoint: Path,
    aligner_checkpoint: Path,
    speech_files: dict,
) -> Iterator[AppServer]:
    tmp = tmp_path_factory.mktemp("api")
    env = {"ASR_ALIGNER_MODEL": str(aligner_checkpoint), "ASR_MAX_SECONDS": "400"}
    server = start_app(tmp, english_checkpoint, "--verbose", command="api", env=env, trace_files=True)
    client = _client(server)
    with speech_files[("en", "mp3")].open("rb") as file:  # the SDK waits out the model's load (503s)
        assert client.audio.transcriptions.create(model=_model_id(client), file=file).text == SAID
    yield server
    assert server.stop() == 143, "SIGTERM ends the server as it ends the page"
    assert server.leftovers() == [], "nothing of any request is left in the temp root"


def _client(server: AppServer, key: str = "unused") -> OpenAI:
    return OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key=key, max_retries=8)


def _model_id(client: OpenAI) -> str:
    [model] = client.models.list().data
    assert client.models.retrieve(model.id).id == model.id
    return model.id


def test_the_sdk_gets_every_response_format(api_server: AppServer, speech_files: dict) -> None:
    _every_format(_client(api_server), speech_files[("en", "mp3")], SAID)


def _every_format(client: OpenAI, audio: Path, said: str) -> None:
    """Each `response_format`, both granularities and a stream, parsed by the SDK into its own types."""
    model = _model_id(client)

    def create(**asked):  # type: ignore[no-untyped-def]
        with audio.open("rb") as file:
            return client.audio.transcriptions.create(model=model, file=file, **asked)

    assert create().text == said
    assert create(response_format="text").strip() == said
    assert "-->" in create(response_format="srt") and said in create(response_format="srt")
    assert create(response_format="vtt").startswith("WEBVTT")
    verbose = create(response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert verbose.text == said and verbose.language == "english"
    assert [w.word for w in verbose.words] == said.split(), "the aligner's words, at the top level"
    assert [s.text for s in verbose.segments] == [said]
    segments_only = create(response_format="verbose_json")
    assert segments_only.words is None and segments_only.segments
    events = list(create(stream=True))
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]
    assert events[0].delta == events[1].text == said
    assert create(language="en", prompt="Qwen").text == said, "forced language and a context prompt"


def test_the_sdk_gets_every_response_format_in_front_of_a_vllm_server(
    vllm_server, aligner_checkpoint: Path, speech_files: dict, tmp_path: Path
) -> None:
    """`ASR_BACKEND=vllm`: the team's server decodes; this API adds srt, vtt, verbose_json, words, streams."""
    env = {**vllm_server.client_env(), "ASR_ALIGNER_MODEL": str(aligner_checkpoint)}
    server = start_app(tmp_path, tmp_path / "Qwen3-ASR-0.6B-hf", command="api", env=env)
    try:
        _every_format(_client(server), speech_files[("en", "mp3")], SAYS_DOUBTFUL.split("<asr_text>")[1])
        assert server.non_loopback() == []
    finally:
        server.stop()
    assert server.leftovers() == []


def test_a_long_file_streams_its_text_segment_by_segment(
    api_server: AppServer, speech_wavs: dict, tmp_path: Path
) -> None:
    long = make_long_mp3(speech_wavs["en"], tmp_path / "lecture.mp3", 90)
    client = _client(api_server)
    with long.open("rb") as file:
        events = list(client.audio.transcriptions.create(model=_model_id(client), file=file, stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) > 1, "text came before the end"
    assert events[-1].type == "transcript.text.done" and "".join(deltas) == events[-1].text


def _curl(server: AppServer, *fields: str, key: str | None = None) -> tuple[int, dict]:
    form = [arg for field in fields for arg in ("-F", field)]
    auth = ["-H", f"Authorization: Bearer {key}"] if key else []
    url = f"http://127.0.0.1:{server.port}/v1/audio/transcriptions"
    done = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *auth, *form, url], capture_output=True, text=True
    )
    body, status = done.stdout.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_curl_gets_words_without_brackets_and_every_bad_input_its_openai_error(
    api_server: AppServer,
    speech_files: dict,
    speech_wavs: dict,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    assert shutil.which("curl"), "curl is the raw multipart client"
    model = _model_id(_client(api_server))
    audio = speech_files[("en", "wav")]
    status, verbose = _curl(
        api_server,
        f"file=@{audio}",
        f"model={model}",
        "response_format=verbose_json",
        "timestamp_granularities=word",
    )
    assert status == 200 and [w["word"] for w in verbose["words"]] == SAID.split()
    _refuses_every_bad_input(api_server, model, request)
    long = make_long_mp3(speech_wavs["en"], tmp_path / "too-long.mp3", 420)
    status, answer = _curl(api_server, f"file=@{long}", f"model={model}")
    assert (status, answer["error"]["code"]) == (413, "audio_too_long")
    status, answer = _curl(api_server, f"file=@{audio}", "model=whisper-1")
    assert status == 400 and model in answer["error"]["message"] and answer["error"]["param"] == "model"
    status, answer = _curl(api_server, f"file=@{audio}", f"model={model}", "temperature=0.8")
    assert status == 400 and answer["error"]["param"] == "temperature"
    status, answer = _curl(api_server, f"model={model}")
    assert status == 400 and answer["error"]["type"] == "invalid_request_error"
    status, answer = _curl(
        api_server, f"file=@{request.getfixturevalue('text_as_mp3')}", f"model={model}", "stream=true"
    )
    assert (status, answer["error"]["code"]) == (400, "not_audio"), (
        "a stream's bad file is a 400, not an event"
    )
    assert _client(api_server).models.list().data, "the server is still up"
    assert http_status(api_server.port, "/v1/models", host="rebound.example") == 400, "the Host check"
    _kept_to_itself(api_server)
    assert "too-long" not in api_server.log_text()


def _refuses_every_bad_input(
    server: AppServer, model: str, request: pytest.FixtureRequest, key: str | None = None
) -> None:
    """Each file the page refuses gets a 400 in OpenAI's shape with the page's code and sentence."""
    for fixture, code in BAD_INPUTS.items():
        bad = request.getfixturevalue(fixture)
        status, answer = _curl(server, f"file=@{bad}", f"model={model}", key=key)
        assert (status, answer["error"]["code"], answer["error"]["param"]) == (400, code, "file"), fixture
        assert answer["error"]["message"] == t(code, "en", min_seconds=0.3), fixture


def _kept_to_itself(server: AppServer) -> None:
    """No connection off this machine, no file written outside the job folders (strace), no text in the
    log."""
    assert server.non_loopback() == []
    written = [p for p in server.written_paths() if not p.startswith(("/dev/", "/proc/"))]
    assert written and all(
        Path(p).is_relative_to(server.root) or "/__pycache__/" in p or p == str(server.report)
        for p in written
    ), "nothing written outside the job folders"
    assert SAID not in server.log_text()


def test_eight_clients_at_once_short_ones_first(
    api_server: AppServer, speech_files: dict, speech_wavs: dict, tmp_path: Path
) -> None:
    """One long recording and seven short ones sent together: all are transcribed, the short ones while the
    long one still runs (the model is taken in turns, a batch at a time)."""
    long = make_long_mp3(speech_wavs["en"], tmp_path / "long.mp3", 300)
    short = speech_files[("en", "mp3")]
    client = _client(api_server)
    model = _model_id(client)
    finished: dict[str, float] = {}
    texts: dict[str, str] = {}

    def send(name: str, path: Path) -> None:
        with path.open("rb") as file:
            texts[name] = client.audio.transcriptions.create(model=model, file=file).text
        finished[name] = time.monotonic()

    threads = [threading.Thread(target=send, args=("long", long))]
    threads += [threading.Thread(target=send, args=(f"short{n}", short)) for n in range(7)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=600)
    assert len(texts) == 8 and all(texts[f"short{n}"] == SAID for n in range(7)) and SAID in texts["long"]
    assert max(finished[f"short{n}"] for n in range(7)) < finished["long"]
    peak = _peak_rss_mb(api_server)
    print(f"8 concurrent clients: server peak RSS {peak:.0f} MB")
    assert client.models.list().data and api_server.job_folders() == []


def _peak_rss_mb(server: AppServer) -> float:
    status = Path(f"/proc/{server.python_pid()}/status").read_text()
    [line] = [row for row in status.splitlines() if row.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_goes_away_leaves_nothing_and_frees_the_engine(
    api_server: AppServer, speech_wavs: dict, speech_files: dict, tmp_path: Path, stream: bool
) -> None:
    long = make_long_mp3(speech_wavs["en"], tmp_path / "gone.mp3", 360)
    client = _client(api_server)
    model = _model_id(client)
    log = api_server.log_text
    before = (
        log().count("Recognition started"),
        log().count("API client went away"),
        log().count("Job cancelled"),
    )
    sent = threading.Thread(target=_send_then_leave, args=(api_server, long, model, before[0], stream))
    sent.start()
    sent.join(timeout=120)
    api_server.wait_log("API client went away", count=before[1] + 1)
    api_server.wait_log("Job cancelled", count=before[2] + 1)
    after_leaving = log().split("API client went away")[-1].split("Job cancelled")[0]
    assert after_leaving.count("Chunks done") <= 1, "the engine stopped within the call it was in"
    deadline = time.monotonic() + 30
    while api_server.job_folders() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api_server.job_folders() == [], "the job's folder went with its client"
    with speech_files[("en", "mp3")].open("rb") as file:
        assert client.audio.transcriptions.create(model=model, file=file).text == SAID, "the server goes on"


def test_a_client_that_goes_away_mid_upload_leaves_nothing(api_server: AppServer, speech_wavs: dict) -> None:
    before = api_server.log_text().count("API client went away during its upload")
    connection = http.client.HTTPConnection("127.0.0.1", api_server.port, timeout=30)
    connection.putrequest("POST", "/v1/audio/transcriptions")
    connection.putheader("Content-Type", "multipart/form-data; boundary=cut")
    connection.putheader("Content-Length", str(10_000_000))
    connection.endheaders()
    head = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="half.wav"\r\n\r\n'
    connection.send(head + speech_wavs["en"].read_bytes()[:50_000])
    deadline = time.monotonic() + 30
    while not api_server.job_folders() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api_server.job_folders(), "the upload was being received into its job folder"
    connection.close()
    api_server.wait_log("API client went away during its upload", count=before + 1)
    assert api_server.job_folders() == []


def _send_then_leave(server: AppServer, audio: Path, model: str, before: int, stream: bool = False) -> None:
    """Post the whole file, wait until its recognition has started, then close the connection."""
    boundary = "leaving-early-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="stream"\r\n\r\n{str(stream).lower()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{audio.name}"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        + audio.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    connection.request("POST", "/v1/audio/transcriptions", body=body, headers=headers)
    server.wait_log("Recognition started", count=before + 1, timeout=120)
    connection.close()  # mid-job


def test_diarized_json_known_speakers_and_the_speakers_extension(
    tmp_path: Path, english_checkpoint: Path, conversation, voice_clips
) -> None:
    """A two-voice call: `diarized_json` parses into the SDK's type with its two speakers; with a known
    speaker (a name and a clip as a data URL, as the SDK sends them) that voice's segments carry its name,
    and a clip that is not audio is a 400 naming the voice; any other format gets speakers with
    `speakers=true` (this app's extension field)."""
    shared = jit_cache_dir()  # the server's HOME is its own; the numba code compiled once is reused
    home_cache = tmp_path / "server_home" / ".cache" / "senko"
    home_cache.mkdir(parents=True)
    (home_cache / "numba_cache").symlink_to(shared, target_is_directory=True)
    server = start_app(tmp_path, english_checkpoint, command="api")
    try:
        client = _client(server)
        model = _model_id(client)
        with conversation.path.open("rb") as file:
            diarized = client.audio.transcriptions.create(
                model=model, file=file, response_format="diarized_json"
            )
        assert {s.speaker for s in diarized.segments} == {"Speaker 1", "Speaker 2"}
        assert all(s.text == SAID for s in diarized.segments)
        clip = "data:audio/wav;base64," + base64.b64encode(voice_clips[2].read_bytes()).decode()
        with conversation.path.open("rb") as file:
            named = client.audio.transcriptions.create(
                model=model,
                file=file,
                response_format="diarized_json",
                known_speaker_names=["Ann Li"],
                known_speaker_references=[clip],
            )
        expected = ["Ann Li" if s.speaker == "Speaker 2" else s.speaker for s in diarized.segments]
        assert [s.speaker for s in named.segments] == expected
        not_audio = "data:audio/wav;base64," + base64.b64encode(b"just some text").decode()
        with conversation.path.open("rb") as file, pytest.raises(BadRequestError) as refused:
            client.audio.transcriptions.create(
                model=model,
                file=file,
                response_format="diarized_json",
                known_speaker_names=["Ann Li"],
                known_speaker_references=[not_audio],
            )
        assert (
            refused.value.code == "known_voice_not_audio"
            and refused.value.param == "known_speaker_references"
        )
        assert t("known_voice_not_audio", "en", name="Ann Li") in str(refused.value)
        with conversation.path.open("rb") as file:
            text = client.audio.transcriptions.create(
                model=model, file=file, response_format="text", extra_body={"speakers": "true"}
            )
        assert [p.split(":")[0] for p in text.strip().split("\n\n")] == [
            f"Speaker {n}" for n in (1, 2, 1, 2, 1)
        ]
        assert server.non_loopback() == []
    finally:
        server.stop()
    assert server.leftovers() == []


# --- the page's own server answers /v1 too ----------------------------------------------------------------


@pytest.mark.parametrize("command", list(START_COMMANDS))
def test_the_pages_server_answers_the_api_with_its_one_model(
    tmp_path: Path,
    english_checkpoint: Path,
    speech_files: dict,
    text_as_mp3: Path,
    command: str,
    request: pytest.FixtureRequest,
) -> None:
    env = {"ASR_API_KEY": KEY}
    server = start_app(tmp_path, english_checkpoint, command=command, env=env, trace_files=True)
    try:
        with pytest.raises(APIStatusError) as refused:
            _model_id(_client(server, key="sk-wrong"))
        assert refused.value.status_code == 401
        client = _client(server, key=KEY)
        model = _model_id(client)
        with speech_files[("en", "mp3")].open("rb") as file:
            assert client.audio.transcriptions.create(model=model, file=file).text == SAID
        with text_as_mp3.open("rb") as file, pytest.raises(BadRequestError) as bad:
            client.audio.transcriptions.create(model=model, file=file)
        assert bad.value.code == "not_audio"
        _refuses_every_bad_input(server, model, request, key=KEY)
        assert client.models.list().data, "the server is still up"
        _kept_to_itself(server)
    finally:
        server.stop()
    assert server.leftovers() == []


def test_sigterm_mid_job_leaves_nothing(
    tmp_path: Path, english_checkpoint: Path, speech_wavs: dict, speech_files: dict
) -> None:
    server = start_app(tmp_path, english_checkpoint, "--verbose", command="api")
    long = make_long_mp3(speech_wavs["en"], tmp_path / "stopped.mp3", 300)
    try:
        client = _client(server)
        model = _model_id(client)
        with speech_files[("en", "mp3")].open("rb") as file:  # the SDK waits out the model's load (503s)
            assert client.audio.transcriptions.create(model=model, file=file).text == SAID
        leaving = threading.Thread(target=_send_then_leave, args=(server, long, model, 1))
        leaving.start()
        server.wait_log("Recognition started", count=2, timeout=120)
        assert server.job_folders(), "the job is running in its folder"
        assert server.stop() == 143
        leaving.join(timeout=120)
    finally:
        server.stop()
    assert server.leftovers() == []


def test_a_refused_language_is_a_400_with_what_was_heard(
    tmp_path: Path, japanese_checkpoint: Path, speech_files: dict
) -> None:
    server = start_app(tmp_path, japanese_checkpoint, command="api")
    try:
        client = _client(server)
        with speech_files[("en", "mp3")].open("rb") as file, pytest.raises(BadRequestError) as refused:
            client.audio.transcriptions.create(model=_model_id(client), file=file)
        assert refused.value.code == "language_not_accepted" and "Japanese" in str(refused.value)
        with speech_files[("en", "mp3")].open("rb") as file, pytest.raises(BadRequestError) as streamed:
            list(client.audio.transcriptions.create(model=_model_id(client), file=file, stream=True))
        assert streamed.value.code == "language_not_accepted", "a stream is refused before it begins"
    finally:
        server.stop()
    assert server.leftovers() == [] and not list(server.root.rglob(f"{JOB_PREFIX}*"))
