"""Startup sweep: remove what dead processes left behind, since a SIGKILLed process cannot clean up itself.

Multipart upload spools land in the same per-process folders (the launcher points TMPDIR there), so one sweep
covers job folders and spool files alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cleanup.removal import remove_tree
from cleanup.root import ProcessTag, cleanup_disabled, current_tag, is_alive, private_root

_log = logging.getLogger("cleanup.sweep")


@dataclass(frozen=True)
class Sweep:
    removed: int
    live_skipped: int
    failed: int


def sweep_orphans(root: Path | None = None) -> Sweep:
    """Remove the folders of dead processes under the private root; never a live process's, never our own."""
    base = root or private_root()
    if cleanup_disabled():
        return Sweep(removed=0, live_skipped=0, failed=0)
    me = current_tag()
    removed = live = failed = 0
    for entry in base.iterdir():
        tag = ProcessTag.from_dirname(entry.name)
        if tag is None or tag == me:
            continue
        if is_alive(tag):
            live += 1
        elif remove_tree(entry).error is None:
            removed += 1
        else:
            failed += 1
    _log.info("Orphan sweep: %d removed, %d live skipped, %d failed", removed, live, failed)
    return Sweep(removed=removed, live_skipped=live, failed=failed)
