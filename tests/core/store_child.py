"""A child process for the store's multi-process tests (run as a script, not collected)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from predictml_desktop.core.audit import AuditEvent, AuditLog
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import Store


def increment(home: Path, n: int, start_flag: Path, locked: bool) -> None:
    """Add 1 to dataset report_1's row count ``n`` times (read-modify-write)."""
    store = Store(Paths(home))
    while not start_flag.exists():
        time.sleep(0.005)
    for _ in range(n):
        if locked:
            with store.transaction() as tx:
                ds = tx.datasets.get("report_1")
                tx.datasets.update("report_1", rows=ds.rows + 1)
        else:
            # Negative control: the same read-modify-write without the lock.
            rows = store.read().datasets.get("report_1").rows
            tx = store.read()
            tx.datasets.update("report_1", rows=rows + 1)
            tx.commit()


def churn(home: Path) -> None:
    """Update forever, printing each acknowledged sequence number (for the kill -9 test).

    Each update is followed by an audit entry, acknowledged as ``audit <n>``: the kills land in the
    records' saves and in the audit trail's appends alike.
    """
    store = Store(Paths(home))
    log = AuditLog(store.paths)
    print("ready", flush=True)
    seq = 0
    while True:
        seq += 1
        with store.transaction() as tx:
            tx.datasets.update("report_1", rows=seq)
            tx.jobs.update("training_1", progress=seq % 100, stage=f"seq {seq}")
        print(seq, flush=True)
        log.append(AuditEvent(action="policy_changed", actor="churn", details={"seq": seq}))
        print(f"audit {seq}", flush=True)


def audit(home: Path, config: Path, n: int, start_flag: Path, actor: str) -> None:
    """Append ``n`` audit entries as ``actor`` once the flag exists (the concurrent-writers test)."""
    log = AuditLog(Paths(home, config))
    while not start_flag.exists():
        time.sleep(0.005)
    for i in range(n):
        log.append(AuditEvent(action="unlocked", actor=actor, details={"n": i}))


if __name__ == "__main__":
    mode, home = sys.argv[1], Path(sys.argv[2])
    if mode == "increment":
        increment(home, int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "locked")
    elif mode == "churn":
        churn(home)
    elif mode == "audit":
        audit(home, Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]), sys.argv[6])
