"""The app's server as the tests and the bench watch it: started as users start it, traced with strace.

Shared by tests/ and bench/ (neither imports the other's modules for this): a free loopback port, the health
probe, the strace command line, the parser that lists every destination off this machine (`outbound`), and
`Server`, whose `stop` sends SIGTERM to the Python process, not to strace.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from privacy.guard import is_local_host

REPO = Path(__file__).resolve().parent.parent
STRACE = shutil.which("strace")
_V4 = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_V6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
# The two ways users start the app: the README's launcher, and the seed article's command.
START_COMMANDS = {
    "launcher": ["-m", "privacy"],
    "streamlit_run": ["-m", "streamlit", "run", "app.py", "--server.address=127.0.0.1"],
}
# The API without the page, as the README starts it.
API_COMMAND = ["-m", "asr", "serve"]


def outbound(trace: Path) -> list[tuple[str, int]]:
    """Every connect/sendto/sendmsg destination in an strace log that is not this machine, or is DNS."""
    found = []
    for line in trace.read_text().splitlines():
        for match in [*_V4.finditer(line), *_V6.finditer(line)]:
            port, host = int(match.group(1)), match.group(2)
            if not is_local_host(host) or port == 53:
                found.append((host, port))
    return found


NETWORK_CALLS = "connect,sendto,sendmsg"
#: With these too, the trace also shows every file the process creates or opens for writing.
FILE_CALLS = "openat,creat,mkdir,rename,renameat,renameat2"


def strace_cmd(log: Path, *cmd: str, calls: str = NETWORK_CALLS) -> list[str]:
    assert STRACE is not None
    return [
        STRACE,
        "-f",
        "--seccomp-bpf",
        "-qq",
        "-e",
        f"trace={calls}",
        "-e",
        "signal=none",
        "-o",
        str(log),
        *cmd,
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_status(port: int, path: str, host: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        return conn.getresponse().status
    finally:
        conn.close()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    trace: Path
    root: Path
    report: Path

    def python_pid(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])

    def stop(self) -> int | None:
        """SIGTERM the server (not strace), as a user's Ctrl+C / service stop would; kill if it hangs."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            os.kill(self.python_pid(), signal.SIGTERM)
            return self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, IndexError, FileNotFoundError):
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None
