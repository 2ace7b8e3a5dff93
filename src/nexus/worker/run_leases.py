"""Run leases: which worker process executes which workflow run (``RunLeases``)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from nexus.core.status import RunStatus
from nexus.store.db import Database
from nexus.store.tables import RunRow, utcnow

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0
"""How long a run's lease lasts unless renewed (renewed every third of it while executing)."""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is alive (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[:1]
        return state not in (["Z"], ["X"])
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLeases:
    """Which worker process executes which run, so two processes never execute the same run.

    A lease is ``runs.lease_owner`` (``host:pid:random``, one per ``WorkflowRuns``) and
    ``runs.lease_until``. It is taken with one ``UPDATE ... WHERE`` that only matches when the
    run is free, already ours, expired, or held by a process of this host that is gone (a
    SIGKILLed worker restarted on the same machine takes its runs back at once; elsewhere they
    wait for the lease to expire). The executing worker renews it every ``ttl_s / 3`` and
    releases it when the run stops; a worker that fails to renew stops executing the run."""

    def __init__(self, db: Database, *, ttl_s: float = LEASE_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"

    def _gone(self, owner: str | None) -> bool:
        if owner is None:
            return False
        host, _, rest = owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host != self.host or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        return pid != os.getpid() and not process_alive(pid)

    async def acquire(self, run_id: str) -> bool:
        """Take (or renew) the lease of ``run_id``; ``False`` when a live worker holds it."""
        now = utcnow()
        async with self.db.sessions.begin() as session:
            holder = await session.scalar(sa.select(RunRow.lease_owner).where(RunRow.id == run_id))
            takeable = sa.or_(
                RunRow.lease_owner.is_(None),
                RunRow.lease_owner == self.owner,
                RunRow.lease_until.is_(None),
                RunRow.lease_until < now,
            )
            if self._gone(holder):
                takeable = sa.or_(takeable, RunRow.lease_owner == holder)
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, takeable)
                .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.ttl_s))
            )
            return bool(result.rowcount == 1)

    async def renew(self, run_id: str) -> bool:
        """Extend our lease; ``False`` when it is no longer ours, or when the run was finished
        meanwhile by someone else (cancelled through another worker's API)."""
        until = utcnow() + timedelta(seconds=self.ttl_s)
        final = [s.value for s in RunStatus if s.is_final]
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                sa.update(RunRow)
                .where(
                    RunRow.id == run_id,
                    RunRow.lease_owner == self.owner,
                    RunRow.status.not_in(final),
                )
                .values(lease_until=until)
            )
            return bool(result.rowcount == 1)

    async def release(self, run_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def keep(self, run_id: str, task: asyncio.Task[Any]) -> None:
        """Renew the lease until cancelled; if it is lost, stop ``task`` (like a crash: the
        worker that took the run over continues it)."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                kept = await self.renew(run_id)
            except Exception:  # a lost database: try again at the next tick
                log.warning("could not renew the lease of run %s", run_id, exc_info=True)
                continue
            if not kept:
                log.warning("run %s: lease lost or run finished elsewhere; stopping", run_id)
                task.cancel()
                return
