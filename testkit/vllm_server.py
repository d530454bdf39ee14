"""A real vLLM server on this machine for the tests and the bench: the engine a team runs, started privately.

vLLM lives in its own virtual environment (it pins its own torch and transformers; `.ci/vllm-venv.sh` makes
it and `ASR_TEST_VLLM_PYTHON` names its interpreter). It is started the way the README tells a team to start
it: bound to loopback, an API key, usage reporting off and `VLLM_HOST_IP` set (without it vLLM connects a
UDP socket to 8.8.8.8 at start to learn its own address), under strace so a test can show it reached
nothing off this machine. A tiny checkpoint must suit vLLM's CPU kernels (a text head size of 64; 16 is
refused), and `for_vllm` moves its untied LM head to the name vLLM's loader maps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from testkit.trace import STRACE, free_port, http_status, strace_cmd

VLLM_PYTHON_ENV = "ASR_TEST_VLLM_PYTHON"
PRIVATE_ENV = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_HOST_IP": "127.0.0.1"}
START_TIMEOUT_S = 420.0


def vllm_python() -> str | None:
    """The interpreter of the venv vLLM was installed in, when this machine has one."""
    path = os.environ.get(VLLM_PYTHON_ENV, "")
    return path if path and Path(path).is_file() else None


def for_vllm(checkpoint: Path) -> Path:
    """Rename a top-level `lm_head.weight` to `thinker.lm_head.weight`: vLLM's Qwen3-ASR loader maps the
    original layout's name for an untied head but not the transformers layout's (it refuses the file)."""
    weights_file = checkpoint / "model.safetensors"
    weights = load_file(weights_file)
    if "lm_head.weight" in weights:
        weights["thinker.lm_head.weight"] = weights.pop("lm_head.weight")
        save_file(weights, weights_file, metadata={"format": "pt"})
    return checkpoint


@dataclass
class VllmServer:
    """One running server; `url` is what ASR_SERVER takes."""

    process: subprocess.Popen[bytes]
    port: int
    key: str
    served_name: str
    log: Path
    trace: Path | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """What a user of the app sets to use this server."""
        return {"ASR_BACKEND": "vllm", "ASR_SERVER": self.url, "ASR_SERVER_KEY": self.key}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM to the whole group (strace, the API server, its engine process); SIGKILL if it hangs."""
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """The server dies at once, as on a crash or a pulled plug: no goodbye to its clients."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def start_vllm(
    python: str,
    model: Path,
    workdir: Path,
    *,
    key: str,
    served_name: str = "Qwen3-ASR-0.6B",
    dtype: str = "float32",
    kv_cache_gib: int = 1,
    extra_args: Sequence[str] = (),
) -> VllmServer:
    """Start `vllm.entrypoints.openai.api_server` on a free loopback port and wait until it answers."""
    port = free_port()
    cmd = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        key,
        "--max-model-len",
        "4096",
        "--dtype",
        dtype,
        *extra_args,
    ]
    trace_path = workdir / "vllm-trace.txt" if STRACE else None
    if trace_path is not None:
        cmd = strace_cmd(trace_path, *cmd)
    log = workdir / "vllm.log"
    env = {**os.environ, **PRIVATE_ENV, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib), "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
        )
    server = VllmServer(process, port, key, served_name, log, trace_path)
    _wait_until_up(server)
    return server


def _wait_until_up(server: VllmServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError("vLLM exited at start:\n" + server.log.read_text()[-4000:])
        try:
            if http_status(server.port, "/health") == 200:
                return
        except OSError:
            pass
        time.sleep(2)
    server.stop()
    raise RuntimeError("vLLM did not start in time:\n" + server.log.read_text()[-4000:])
