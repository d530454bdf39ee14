"""The private temp root and this process's folder inside it.

Every temporary file the app makes lives under `<system tmp>/qwen_asr_root_<uid>/proc_<pid>_<start>/`. The
start time (kernel clock ticks since boot) is part of the name because PIDs are reused: a later process must
be able to tell a folder of a dead process, which it may sweep, from one of a live process, which it must not
touch, even when a new process got the dead one's PID.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "QWEN_ASR_TMP_ROOT"
DISABLE_ENV = "CLEANUP_DISABLED"
ROOT_PREFIX = "qwen_asr_root_"
PROC_PREFIX = "proc_"
JOB_PREFIX = "qwen_asr_"


@dataclass(frozen=True)
class ProcessTag:
    """Who owns a process folder: PID plus start time, so a reused PID never passes for its predecessor."""

    pid: int
    start: str

    @property
    def dirname(self) -> str:
        return f"{PROC_PREFIX}{self.pid}_{self.start}"

    @classmethod
    def from_dirname(cls, name: str) -> ProcessTag | None:
        if not name.startswith(PROC_PREFIX):
            return None
        pid, _, start = name[len(PROC_PREFIX) :].partition("_")
        if not pid.isdigit() or not start:
            return None
        return cls(int(pid), start)


def cleanup_disabled() -> bool:
    """Developers set CLEANUP_DISABLED=1 to inspect a job's files; every removal path honours it."""
    return os.environ.get(DISABLE_ENV, "") == "1"


def _process_start(pid: int) -> str | None:
    """Start time of `pid` from /proc (field 22), or None when the process is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def is_alive(tag: ProcessTag) -> bool:
    """True while the process that made the folder still runs (the same process, not a PID reuser)."""
    if Path("/proc/self/stat").exists():
        return _process_start(tag.pid) == tag.start
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return _windows_process_running(tag.pid)
    try:
        os.kill(tag.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_process_running(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    try:
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    finally:
        kernel32.CloseHandle(handle)
    return code.value == 259  # STILL_ACTIVE


def _user_id() -> int | None:
    """The POSIX user id; None on Windows, where the per-user temp dir already belongs to the user."""
    return os.getuid() if hasattr(os, "getuid") else None


def current_tag() -> ProcessTag:
    return ProcessTag(os.getpid(), _process_start(os.getpid()) or "0")


def private_root() -> Path:
    """Create (0700, owned by us, not a symlink) and return the per-user root.

    Read from the environment on every call: the launcher pins QWEN_ASR_TMP_ROOT before it points TMPDIR into
    this process's folder, so neither this process nor its children ever nest a root inside a root.
    """
    override = os.environ.get(ROOT_ENV)
    uid = _user_id()
    owner = "user" if uid is None else str(uid)
    root = Path(override) if override else Path(tempfile.gettempdir()) / f"{ROOT_PREFIX}{owner}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
        raise RuntimeError("temp root is not a directory owned by this user; refusing to use it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(root, 0o700)
    return root


def process_dir(root: Path | None = None) -> Path:
    """This process's folder (created 0700 on demand, so a folder removed under us comes back)."""
    path = (root or private_root()) / current_tag().dirname
    path.mkdir(mode=0o700, exist_ok=True)
    return path
