"""Run leases: which worker process executes which workflow run (``RunLeases``)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa

from nexus.core.status import RunStatus
from nexus.store.db import Database
from nexus.store.tables import RunRow, utcnow

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0
"""How long a run's lease lasts unless renewed (renewed every third of it while executing)."""

CHECK_INTERVAL_S = 1.0
"""How often the executing worker looks whether the run was finished elsewhere (a cancel sent
to another worker's API): one indexed read, so a stop shows within about a second."""


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
    releases it when the run stops; a worker that fails to renew stops executing the run.

    A run finished through another worker (a cancel) is only marked in its row there: the
    executing worker sees it (``keep``), stops, and writes the run's last events itself, so one
    process alone writes a run's event log while it executes (no clashing sequence numbers)."""

    def __init__(self, db: Database, *, ttl_s: float = LEASE_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        self.finished_elsewhere: set[str] = set()
        """Runs ``keep`` stopped because their row was finished by another worker."""

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

    async def held_elsewhere(self, run_id: str) -> bool:
        """Whether another live worker holds the lease of ``run_id`` (it executes the run)."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(RunRow.lease_owner, RunRow.lease_until).where(RunRow.id == run_id)
                )
            ).one_or_none()
        if row is None or row[0] is None or row[0] == self.owner or row[1] is None:
            return False
        until = row[1] if row[1].tzinfo is not None else row[1].replace(tzinfo=UTC)
        return until >= utcnow() and not self._gone(row[0])

    async def _finished(self, run_id: str) -> bool:
        async with self.db.sessions() as session:
            status = await session.scalar(sa.select(RunRow.status).where(RunRow.id == run_id))
        return status is None or RunStatus(status).is_final

    async def keep(self, run_id: str, task: asyncio.Task[Any]) -> None:
        """Renew the lease until cancelled; if it is lost, stop ``task`` (like a crash: the
        worker that took the run over continues it). Every ``CHECK_INTERVAL_S`` look whether
        the run was finished elsewhere: then stop ``task`` and note it in
        ``finished_elsewhere`` (the caller closes the run's event log)."""
        tick = min(CHECK_INTERVAL_S, self.ttl_s / 3)
        renew_every = max(1, round((self.ttl_s / 3) / tick))
        ticks = 0
        while True:
            await asyncio.sleep(tick)
            ticks += 1
            try:
                if await self._finished(run_id):
                    log.info("run %s was finished by another worker; stopping", run_id)
                    self.finished_elsewhere.add(run_id)
                    task.cancel()
                    return
                kept = True if ticks % renew_every else await self.renew(run_id)
            except Exception:  # a lost database: try again at the next tick
                log.warning("could not renew the lease of run %s", run_id, exc_info=True)
                continue
            if not kept:
                log.warning("run %s: lease lost or run finished elsewhere; stopping", run_id)
                task.cancel()
                return
