"""What the sidebar's "隐私自检 / Privacy check" panel shows, gathered in one typed snapshot.

Each field is read from the live source (Streamlit's effective config, the guard's counters, the disk), not
from what we meant to configure, so the panel can show a real problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from cleanup.audit import JobLifecycle, count_job_folders, last_job_lifecycle
from cleanup.root import cleanup_disabled, private_root
from privacy.guard import guard_status, is_local_host
from privacy.process import is_secured


@dataclass(frozen=True)
class SelfCheck:
    process_secured: bool  # `privacy.process.secure_process` ran in this process
    server_address: str | None
    server_port: int
    usage_stats: bool
    guard_installed: bool
    guard_locked: bool
    blocked_count: int
    attempt_count: int
    temp_root: str
    job_folders_now: int
    last_job: JobLifecycle | None
    cleanup_disabled: bool

    @property
    def loopback_only(self) -> bool:
        """An unset address means all interfaces; only an explicit loopback address keeps the LAN out."""
        address = self.server_address
        return bool(address) and address not in ("0.0.0.0", "::") and is_local_host(address)

    @property
    def ok(self) -> bool:
        return (
            self.process_secured
            and self.loopback_only
            and not self.usage_stats
            and self.guard_locked
            and not self.cleanup_disabled
            and (self.last_job is None or self.last_job.cleanup_error is None)
        )


def self_check() -> SelfCheck:
    from streamlit import config

    status = guard_status()
    return SelfCheck(
        process_secured=is_secured(),
        server_address=config.get_option("server.address"),
        server_port=int(config.get_option("server.port")),
        usage_stats=bool(config.get_option("browser.gatherUsageStats")),
        guard_installed=status.installed,
        guard_locked=status.locked,
        blocked_count=status.blocked_count,
        attempt_count=status.attempt_count,
        temp_root=str(private_root()),
        job_folders_now=count_job_folders(),
        last_job=last_job_lifecycle(),
        cleanup_disabled=cleanup_disabled(),
    )
