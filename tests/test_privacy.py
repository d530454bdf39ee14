"""Privacy promises users rely on: nothing leaves the machine, strangers are refused, logs hold no content."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy import logs
from testkit.trace import (
    REPO,
    START_COMMANDS,
    STRACE,
    Server,
    free_port,
    http_status,
    outbound,
    strace_cmd,
)

needs_strace = pytest.mark.skipif(
    STRACE is None and os.environ.get("CI") != "true", reason="strace not installed (required on CI)"
)
PLAIN_PAGE = "import streamlit as st\n\nst.write('a plain page')\n"


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter under strace: audit hooks cannot be removed, so never in pytest."""
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "QWEN_ASR_TMP_ROOT": str(tmp_path / "root"), **env}
    return subprocess.run(
        strace_cmd(tmp_path / "trace.txt", sys.executable, str(script)),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


# --- network guard -----------------------------------------------------------------------------------


@needs_strace
def test_locked_guard_blocks_before_any_packet_and_allows_loopback(tmp_path: Path) -> None:
    result = run_python(
        """
        import json, socket
        from privacy import guard
        guard.lock_down()
        outcomes = {}
        tcp = socket.socket(); tcp.settimeout(3)
        try:
            tcp.connect(("203.0.113.1", 80)); outcomes["tcp"] = "connected"
        except guard.NetworkBlockedError:
            outcomes["tcp"] = "blocked"
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.sendto(b"x", ("203.0.113.1", 9)); outcomes["udp"] = "sent"
        except guard.NetworkBlockedError:
            outcomes["udp"] = "blocked"
        try:
            socket.getaddrinfo("example.com", 443); outcomes["dns"] = "resolved"
        except guard.NetworkBlockedError:
            outcomes["dns"] = "blocked"
        except OSError:
            outcomes["dns"] = "failed"
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=3).sendall(b"hi")
        outcomes["loopback"] = server.accept()[0].recv(2).decode()
        status = guard.guard_status()
        print(json.dumps({**outcomes, "blocked": status.blocked_count, "locked": status.locked}))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "tcp": "blocked",
        "udp": "blocked",
        "dns": "blocked",
        "loopback": "hi",
        "blocked": 3,
        "locked": True,
    }
    assert outbound(tmp_path / "trace.txt") == []


@needs_strace
def test_guard_admits_exactly_the_configured_server_and_nothing_else(tmp_path: Path) -> None:
    """The decision alone: `sys.audit` asks the guard about a connect that is never made (no test traffic
    leaves loopback, so the refusal of other addresses is proven here and not on the wire)."""
    result = run_python(
        """
        import json, socket, sys
        from privacy import guard
        guard.lock_down()
        guard.allow("10.20.30.40", 8000)
        guard.allow("10.20.30.40", 8000)  # the same server again: fine
        sock = socket.socket()
        def decide(event, *args):
            try:
                sys.audit(event, *args)
                return "pass"
            except guard.NetworkBlockedError:
                return "blocked"
        seen = {
            "server": decide("socket.connect", sock, ("10.20.30.40", 8000)),
            "lookup": decide("socket.getaddrinfo", "10.20.30.40", 8000, 0, 1, 0, 0),
            "other_port": decide("socket.connect", sock, ("10.20.30.40", 8001)),
            "other_host": decide("socket.connect", sock, ("10.20.30.41", 8000)),
            "public": decide("socket.connect", sock, ("203.0.113.1", 8000)),
            "dns_elsewhere": decide("socket.getaddrinfo", "example.com", 8000, 0, 1, 0, 0),
            "udp_to_server_port": decide("socket.sendto", socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                                         ("10.20.30.41", 8000)),
        }
        try:
            guard.allow("10.20.30.41", 8000)
            seen["second_server"] = "allowed"
        except ValueError:
            seen["second_server"] = "refused"
        status = guard.guard_status()
        print(json.dumps({**seen, "destination": status.destination, "blocked": status.blocked_count}))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "server": "pass",
        "lookup": "pass",
        "other_port": "blocked",
        "other_host": "blocked",
        "public": "blocked",
        "dns_elsewhere": "blocked",
        "udp_to_server_port": "blocked",
        "second_server": "refused",
        "destination": "10.20.30.40:8000",
        "blocked": 5,
    }
    assert outbound(tmp_path / "trace.txt") == []


@needs_strace
def test_unlocked_guard_records_and_reports_what_it_sees(tmp_path: Path) -> None:
    report = tmp_path / "guard.jsonl"
    result = run_python(
        """
        import socket
        from privacy import guard
        guard.install()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.connect(("203.0.113.1", 9))  # UDP connect sends no packet
        except OSError:
            pass
        status = guard.guard_status()
        print(status.attempt_count, status.blocked_count, status.attempts[0].host)
        """,
        tmp_path,
        PRIVACY_GUARD_REPORT=str(report),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0", "203.0.113.1"]
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["installed", "socket.connect"]
    assert ("203.0.113.1", 9) in outbound(tmp_path / "trace.txt"), (
        "the detector sees what an unlocked guard allows"
    )


# --- content-free logs ---------------------------------------------------------------------------------


@pytest.fixture
def redacting() -> Iterator[logging.Logger]:
    base = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logs.redacting_factory(base))
    try:
        yield logging.getLogger("some.library")
    finally:
        logging.setLogRecordFactory(base)


def _line(logger: logging.Logger, caplog: pytest.LogCaptureFixture, *args: object, **kwargs: object) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info(*args, **kwargs)
    record = caplog.records[-1]
    return logging.Formatter(logs.FORMAT).format(record)


def test_registered_text_is_redacted_from_library_logs(redacting: logging.Logger, caplog) -> None:
    transcript = "The merger closes on Friday.\nDo not tell anyone."
    with logs.sensitive("board meeting.m4a", transcript):
        line = _line(redacting, caplog, "decoded %s: %s", "board meeting.m4a", "Do not tell anyone.")
    assert line == f"[INFO] decoded {logs.REDACTED}: {logs.REDACTED}"
    after = _line(redacting, caplog, "decoded %s", "board meeting.m4a")
    assert after == "[INFO] decoded board meeting.m4a", "only registered for the job's duration"


def test_exception_message_is_replaced_by_its_type(redacting: logging.Logger, caplog) -> None:
    try:
        raise ValueError("cannot decode /home/me/board meeting.m4a: 'The merger closes'")
    except ValueError:
        line = _line(redacting, caplog, "decode failed", exc_info=True)
    assert "board meeting" not in line and "merger" not in line
    assert line.startswith("[INFO] decode failed\nTraceback")
    assert line.endswith("ValueError (message withheld)")


def test_own_loggers_keep_numbers_and_drop_anything_else(caplog) -> None:
    base = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logs.redacting_factory(base))
    try:
        line = _line(logging.getLogger("asr.job"), caplog, "Chunk %d of %d: %s", 2, 5, "hello world")
    finally:
        logging.setLogRecordFactory(base)
    assert line == f"[INFO] Chunk 2 of 5: {logs.REDACTED}"


def test_installed_logging_covers_warnings_and_uncaught_errors(tmp_path: Path) -> None:
    code = """
        import logging, warnings
        from privacy import logs
        logs.install_logging()
        logging.getLogger("asr.engines.transformers_engine").info("Recognition started")
        with logs.sensitive("secret words here"):
            warnings.warn("odd token in secret words here")
        raise RuntimeError("transcript: secret words here")
    """
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "[INFO] Recognition started" in result.stderr
    assert "[WARNING]" in result.stderr and "odd token in" in result.stderr
    assert "RuntimeError (message withheld)" in result.stderr
    assert "secret words" not in result.stderr + result.stdout


# --- the launched server -------------------------------------------------------------------------------


def websocket_status(port: int, origin: str, host: str | None = None) -> str:
    """Status line of a WebSocket handshake to /_stcore/stream (101 = accepted)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            (
                "GET /_stcore/stream HTTP/1.1\r\n"
                f"Host: {host or f'127.0.0.1:{port}'}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin}\r\n\r\n"
            ).encode()
        )
        return conn.recv(200).split(b"\r\n", 1)[0].decode()


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def start_server(tmp: Path, cmd: list[str], cwd: Path, env: dict[str, str]) -> Server:
    port = free_port()
    trace = tmp / "trace.txt"
    home = tmp / "home"
    home.mkdir()
    full_env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO), **env}
    full_cmd = strace_cmd(
        trace, sys.executable, *cmd, "--server.port", str(port), "--server.headless", "true"
    )
    proc = subprocess.Popen(
        full_cmd, cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(proc, port, trace, tmp / "root", tmp / "guard.jsonl")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during startup"
        try:
            if http_status(port, "/_stcore/health") == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    pytest.fail("server did not come up within 90 s")


@pytest.fixture(scope="module", params=list(START_COMMANDS))
def launched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if STRACE is None:
        pytest.skip("strace not installed") if os.environ.get("CI") != "true" else pytest.fail(
            "strace missing"
        )
    tmp = tmp_path_factory.mktemp(f"launched_{request.param}")
    env = {"QWEN_ASR_TMP_ROOT": str(tmp / "root"), "PRIVACY_GUARD_REPORT": str(tmp / "guard.jsonl")}
    # The launcher is started from a foreign directory: it must still find the repo's .streamlit/config.toml.
    # The seed's command is typed in the project folder, as the article says.
    cwd = tmp if request.param == "launcher" else REPO
    server = start_server(tmp, START_COMMANDS[request.param], cwd=cwd, env=env)
    yield server
    server.stop()


def test_server_listens_on_loopback_only(launched: Server) -> None:
    assert listening_addresses(launched.port) == {"127.0.0.1"}


def test_foreign_host_is_refused(launched: Server) -> None:
    assert http_status(launched.port, "/", host="evil.example") == 400
    assert http_status(launched.port, "/", host=f"evil.example:{launched.port}") == 400
    assert websocket_status(launched.port, "http://evil.example", host="evil.example").split()[1] != "101"
    assert http_status(launched.port, "/") == 200


def test_foreign_origin_websocket_is_refused_without_any_lookup(launched: Server) -> None:
    own = f"http://127.0.0.1:{launched.port}"
    assert websocket_status(launched.port, own).split()[1] == "101", "the app's own page still connects"
    assert websocket_status(launched.port, "http://evil.example").split()[1] == "403"
    time.sleep(2.5)  # the unpatched external-IP probe would have fired (1 s timeouts) by now
    assert outbound(launched.trace) == []
    events = [json.loads(line) for line in launched.report.read_text().splitlines()]
    assert [event["event"] for event in events] == ["installed"], "guard saw no non-local attempt"


def test_stopping_the_server_leaves_no_temp_files(launched: Server) -> None:
    folders = [folder.name for folder in launched.root.iterdir()]
    assert len(folders) == 1 and folders[0].startswith(f"proc_{launched.python_pid()}_")
    launched.stop()
    assert list(launched.root.iterdir()) == []


@needs_strace
def test_detector_catches_plain_streamlit_probing_out(tmp_path: Path) -> None:
    """A plain page without our app.py (address unset): Streamlit's startup connects to 8.8.8.8, and strace
    must see it, or the no-egress checks above could pass by being blind."""
    script = tmp_path / "plain_app.py"
    script.write_text(PLAIN_PAGE)
    server = start_server(tmp_path, ["-m", "streamlit", "run", str(script)], cwd=tmp_path, env={})
    try:
        time.sleep(1)
    finally:
        server.stop()
    assert ("8.8.8.8", 1) in outbound(server.trace)


def test_self_check_reports_the_live_state(tmp_path: Path) -> None:
    code = """
        from cleanup import job_workspace
        from privacy.process import secure_process
        from privacy.selfcheck import self_check
        secure_process()
        secure_process()  # idempotent: the launcher and app.py's import both call it
        with job_workspace():
            during = self_check().job_folders_now
        check = self_check()
        print(during, check.job_folders_now, check.server_address, check.usage_stats, check.guard_locked,
              check.last_job.removal_seconds is not None, check.loopback_only, check.ok)
    """
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(REPO), "QWEN_ASR_TMP_ROOT": str(tmp_path / "root")}
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0", "127.0.0.1", "False", "True", "True", "True", "True"]
    assert result.stderr.count("Orphan sweep") == 1
