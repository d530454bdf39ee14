"""Find the model weights on this machine, never on the network.

The app must not go online by itself (a download is a network event the user did not ask for), so the model
is taken from a local folder named by `ASR_MODEL` (read by `asr.settings`), or from the Hugging Face
cache where `hf download` put it.
When neither holds it, the user is told the exact command to fetch it once. The optional forced aligner
(word timestamps) follows the same rules under `ASR_ALIGNER_MODEL`, with its own error codes so the user is
told which of the two checkpoints is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from asr.errors import UserFacingError

DEFAULT_MODEL_ID = "Qwen/Qwen3-ASR-0.6B-hf"
MODEL_ENV = "ASR_MODEL"
DEFAULT_ALIGNER_ID = "Qwen/Qwen3-ForcedAligner-0.6B-hf"
ALIGNER_ENV = "ASR_ALIGNER_MODEL"

#: Which checkpoint a lookup is for; it prefixes the error codes (`model_missing`, `aligner_missing`, ...).
Kind = Literal["model", "aligner"]


def resolve_model_dir(model: str, kind: Kind = "model") -> Path:
    """The local folder that holds `model`'s files; raises `UserFacingError(f"{kind}_missing")`."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise UserFacingError(f"{kind}_folder_invalid")
        return candidate.resolve()
    if model.count("/") != 1 or candidate.is_absolute():
        raise UserFacingError(f"{kind}_missing")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise UserFacingError(f"{kind}_missing") from exc


def download_command(model: str = DEFAULT_MODEL_ID) -> str:
    """The one command that fetches the weights into the cache the app reads."""
    return f"hf download {model}"
