"""Network guard: an audit hook that sees every socket connect, send and name lookup in this process.

Loopback and local sockets pass, and so does the one speech server a team configured (`allow`: exactly its
host and port, nothing else on that host, no other port). Anything else is counted (host and port, never
payload) and, once `lock_down()` has run, refused by raising inside the hook, which CPython does *before* the
system call, so no packet and no DNS query leaves. The app never downloads anything (weights are local files
only), so both front-ends lock down before they load anything: the page in `privacy.process.secure_process`,
the CLI at the start of a command. Before that call the guard only records, which is what a test of the
guard's own decisions needs. Audit hooks cannot be removed, which is the point: nothing later can switch it
off.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass

REPORT_ENV = "PRIVACY_GUARD_REPORT"
_LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
_LOCAL_FAMILIES = frozenset(
    family for family in (getattr(socket, "AF_UNIX", None), getattr(socket, "AF_NETLINK", None)) if family
)
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
}


class NetworkBlockedError(PermissionError):
    """An OSError subclass, so libraries that fall back when offline treat a block like a dead network."""


@dataclass(frozen=True)
class Attempt:
    event: str
    host: str
    port: int | None
    blocked: bool


@dataclass(frozen=True)
class GuardStatus:
    installed: bool
    locked: bool
    attempt_count: int
    blocked_count: int
    attempts: tuple[Attempt, ...]
    destination: str | None = None  # "host:port" of the one server allowed, if any


@dataclass(frozen=True)
class Destination:
    """The one server audio may go to: its name as configured, its port, and the addresses the name had
    when it was allowed (a connect goes to an address, a lookup asks for the name)."""

    host: str
    port: int
    addresses: frozenset[str]

    def admits(self, host: str, port: int | None) -> bool:
        return port == self.port and _normal(host) in {_normal(self.host), *self.addresses}


def _normal(host: str) -> str:
    """One spelling per address (`::1` and `0:0::1` are one), names lower-cased, brackets dropped."""
    name = host.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(name.split("%", 1)[0]))
    except ValueError:
        return name


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed = False
        self.locked = False
        self.destination: Destination | None = None
        self.attempt_count = 0
        self.blocked_count = 0
        self.attempts: deque[Attempt] = deque(maxlen=100)


_state = _State()


def is_local_host(host: object) -> bool:
    """True for names and addresses that cannot leave the machine (no DNS query, no route out)."""
    if host is None or host in ("", b""):
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def _target(event: str, args: tuple) -> tuple[str, int | None] | None:
    """The remote (host, port) an event would reach, or None when it stays on this machine."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        local_family = getattr(sock, "family", None) in _LOCAL_FAMILIES
        if address is None or local_family or not isinstance(address, tuple):
            return None
        host, port = address[0], address[1]
    elif event == "socket.getaddrinfo":
        host, port = args[0], args[1]
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        host, port = args[0], None
    elif event == "socket.getnameinfo":
        host, port = args[0][0], args[0][1]
    else:
        return None
    if is_local_host(host):
        return None
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    number = int(port) if isinstance(port, int) or (isinstance(port, str) and port.isdigit()) else None
    destination = _state.destination
    if destination is not None and destination.admits(text, number):
        return None
    return text, number


def _report(attempt: Attempt | None) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    line: dict[str, object] = {"event": "installed"} if attempt is None else asdict(attempt)
    line["pid"] = os.getpid()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _hook(event: str, args: tuple) -> None:
    if not event.startswith("socket."):
        return
    target = _target(event, args)
    if target is None:
        return
    with _state.lock:
        blocked = _state.locked
        attempt = Attempt(event=event, host=target[0], port=target[1], blocked=blocked)
        _state.attempt_count += 1
        _state.blocked_count += blocked
        _state.attempts.append(attempt)
    _report(attempt)
    if blocked:
        raise NetworkBlockedError("network access blocked by the privacy guard")


def install() -> None:
    """Start recording non-local network attempts (idempotent)."""
    with _state.lock:
        if _state.installed:
            return
        _state.installed = True
    sys.addaudithook(_hook)
    _report(None)


def go_offline() -> None:
    """Tell the Hugging Face stack not to phone home, including modules already imported."""
    os.environ.update(OFFLINE_ENV)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        setattr(constants, "HF_HUB_OFFLINE", True)  # noqa: B010 (a module read at import time, not typed)
        setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # noqa: B010


def lock_down() -> None:
    """Block every non-local connection from now on; the page and the CLI call this before loading models."""
    install()
    go_offline()
    with _state.lock:
        _state.locked = True


def allow(host: str, port: int) -> None:
    """Let this process reach `host`:`port`, the team's speech server the settings name, and nothing else.

    Called by the server engine before its first request, locked or not. The name is resolved once, here
    (a lookup the guard admits for that name and port); a connect must then go to one of those addresses
    on that port. A second, different destination is refused: one process, one server.
    """
    install()
    if is_local_host(host):
        return  # loopback always passes
    with _state.lock:
        if _state.destination is not None:
            if (_normal(host), port) != (_normal(_state.destination.host), _state.destination.port):
                raise ValueError("the network guard already allows another server")
            return
        _state.destination = Destination(host, port, frozenset({_normal(host)}))
    try:
        found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError:  # unknown name: its requests fail as "server unreachable", nothing else is let through
        return
    addresses = frozenset({_normal(host), *(_normal(str(info[4][0])) for info in found)})
    with _state.lock:
        _state.destination = Destination(host, port, addresses)


def guard_status() -> GuardStatus:
    with _state.lock:
        return GuardStatus(
            installed=_state.installed,
            locked=_state.locked,
            attempt_count=_state.attempt_count,
            blocked_count=_state.blocked_count,
            attempts=tuple(_state.attempts),
            destination=_address(_state.destination),
        )


def _address(destination: Destination | None) -> str | None:
    if destination is None:
        return None
    host = destination.host
    return f"[{host}]:{destination.port}" if ":" in host else f"{host}:{destination.port}"
