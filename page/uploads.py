"""Uploads held once: Streamlit keeps every uploaded file in memory, and must not copy it again each run.

On every run `st.file_uploader` and `st.audio_input` return a `copy.deepcopy` of their value (so a script
cannot mutate widget state). An `UploadedFile` is a `BytesIO`, whose deep copy copies its buffer: a 1.0 GB
WAV in the uploader made each run hold a second gigabyte, and the server peaked at +2.2 GB over idle while
it transcribed that file. Upload bytes are never written to (the job copies them to its folder in blocks),
so the copy a run gets can share them: a new `UploadedFile` over the same immutable `bytes`, with its own
position.
"""

from __future__ import annotations

from typing import Any

from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec


def _sharing_copy(upload: UploadedFile, memo: dict[int, Any]) -> UploadedFile:
    record = UploadedFileRec(upload.file_id, upload.name, upload.type, upload.getvalue())
    return UploadedFile(record, upload._file_urls)


def share_upload_bytes() -> None:
    """Make a deep copy of an upload share its bytes (idempotent; once per run is cheap)."""
    UploadedFile.__deepcopy__ = _sharing_copy  # type: ignore[attr-defined]
