"""Per-job temporary folders that are always removed, plus the sweep and exit handlers behind that promise."""

from cleanup.audit import JobLifecycle, count_job_folders, last_job_lifecycle
from cleanup.registry import Release, release_session
from cleanup.root import cleanup_disabled, private_root, process_dir
from cleanup.shutdown import install_exit_handlers
from cleanup.sweep import Sweep, sweep_orphans
from cleanup.workspace import JobWorkspace, job_workspace

__all__ = [
    "JobLifecycle",
    "JobWorkspace",
    "Release",
    "Sweep",
    "cleanup_disabled",
    "count_job_folders",
    "install_exit_handlers",
    "job_workspace",
    "last_job_lifecycle",
    "private_root",
    "process_dir",
    "release_session",
    "sweep_orphans",
]
