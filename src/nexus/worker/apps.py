"""The hosted-apps supervisor: starts a code project's web app in the sandbox's mode ``app``,
records it, stops it at its TTL or on request, and reports a crash without restarting it.

One ``Apps`` per API process (``app.state.apps``). Each app is a row (``nexus.store.apps``) and,
while it runs, an ``AppProcess`` (``nexus.sandbox.app_mode``) reached through an httpx transport
over its Unix socket. Status moves ``starting`` → ``running`` → one of ``stopped`` (DELETE or
shutdown), ``expired`` (TTL) or ``crashed`` (it exited by itself, or never answered HTTP);
nothing moves back, except that a *permanent* app outlives Nexus: shutdown stops its process
but leaves it active, and ``recover`` (at start-up) starts it again, same id and URL, from the
project's files as they were when it was first started (later edits are not deployed by a
restart); other apps still active at start-up are recorded as stopped. ``sweep`` (called
every ``interval_s`` by ``run`` in the API lifespan, and directly by tests with an injected
clock) expires apps past their TTL and records crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from nexus.core.errors import InvalidInputError, NotFoundError
from nexus.core.sandbox_types import SandboxUnavailableError
from nexus.sandbox.app_mode import AppExit, AppProcess
from nexus.sandbox.bubblewrap import BubblewrapSandbox
from nexus.store.apps import AppRepository, StoredApp
from nexus.store.code_projects import CodeProjectRepository
from nexus.store.db import Database
from nexus.store.tables import utcnow

log = logging.getLogger(__name__)

ProjectFiles = Callable[[str], Awaitable[dict[str, str]]]
"""``async (project_id) -> {path: content}``: the current files of a code project."""
ProjectFilesAt = Callable[[str, datetime], Awaitable[dict[str, str]]]
"""``async (project_id, at) -> {path: content}``: a code project's files as they were at ``at``."""

DEFAULT_TTL_S = 3600
MAX_TTL_S = 7 * 24 * 3600
HEALTH_TIMEOUT_S = 20.0


@dataclass
class LiveApp:
    process: AppProcess
    transport: httpx.AsyncHTTPTransport


class Apps:
    def __init__(
        self,
        sandbox: BubblewrapSandbox | None,
        db: Database,
        *,
        files: ProjectFiles | None = None,
        files_at: ProjectFilesAt | None = None,
        clock: Callable[[], datetime] = utcnow,
        health_timeout_s: float = HEALTH_TIMEOUT_S,
    ) -> None:
        self._sandbox = sandbox
        self.repo = AppRepository(db)
        projects = CodeProjectRepository(db)
        self._files = files if files is not None else projects.files
        self._files_at = files_at if files_at is not None else projects.files_at
        self._restarts: set[asyncio.Task[None]] = set()
        self.clock = clock
        self._health_timeout_s = health_timeout_s
        self._live: dict[str, LiveApp] = {}
        self._lock = asyncio.Lock()

    # -- start and stop -------------------------------------------------------------------------

    async def start(
        self,
        *,
        project_id: str,
        entry: str,
        owner_id: str | None,
        workspace_id: str | None,
        access: str = "private",
        ttl_s: int | None = None,
        permanent: bool = False,
    ) -> StoredApp:
        """Start the app and wait until it answers HTTP (or crashes); never a partial row."""
        if self._sandbox is None:
            raise SandboxUnavailableError("hosted apps need the sandbox, which is not configured")
        if permanent and ttl_s is not None:
            raise InvalidInputError("give ttl_s or permanent, not both", field="ttl_s")
        if ttl_s is not None and not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidInputError(f"ttl_s must be between 1 and {MAX_TTL_S}", field="ttl_s")
        files = await self._files(project_id)
        if not files:
            raise InvalidInputError("the project has no files to run", field="project_id")
        process = await asyncio.to_thread(self._sandbox.start_app, files, entry)
        now = self.clock()
        ttl = None if permanent else (ttl_s if ttl_s is not None else DEFAULT_TTL_S)
        try:
            app = await self.repo.create(
                project_id=project_id,
                entry=entry,
                owner_id=owner_id,
                workspace_id=workspace_id,
                access=access,
                status="starting",
                permanent=permanent,
                ttl_s=ttl,
                expires_at=now + timedelta(seconds=ttl) if ttl is not None else None,
                created_at=now,
                started_at=now,
            )
        except BaseException:
            await asyncio.to_thread(process.stop)
            raise
        return await self._watch(app.id, process)

    async def _watch(self, app_id: str, process: AppProcess) -> StoredApp:
        """Make ``process`` the app's and wait until it answers HTTP (``running``) or not
        (``crashed``)."""
        self._live[app_id] = LiveApp(
            process, httpx.AsyncHTTPTransport(uds=process.socket_path, retries=0)
        )
        healthy = await asyncio.to_thread(process.wait_healthy, self._health_timeout_s)
        if healthy:
            return await self._set(app_id, status="running")
        if process.running:
            await self._end(
                app_id,
                "crashed",
                error=f"the app did not answer HTTP on 127.0.0.1:$PORT within "
                f"{self._health_timeout_s:g} s",
            )
        else:
            await self._end(app_id, "crashed")
        return await self._require(app_id)

    async def stop(self, app_id: str, status: str = "stopped") -> StoredApp:
        """Stop a running app (``stopped`` or ``expired``); a finished one is left as it is."""
        app = await self._require(app_id)
        if app.status in ("starting", "running") and app_id in self._live:
            return await self._end(app_id, status)
        return app

    async def _end(self, app_id: str, status: str, error: str | None = None) -> StoredApp:
        async with self._lock:
            live = self._live.pop(app_id, None)
        ended: AppExit | None = None
        if live is not None:
            ended = live.process.exit_info()
            if ended is None:
                ended = await asyncio.to_thread(live.process.stop)
            else:
                status = "crashed"  # It ended by itself before we stopped it.
            await live.transport.aclose()
        fields: dict[str, Any] = {"status": status, "ended_at": self.clock()}
        if ended is not None:
            fields.update(
                exit_code=ended.exit_code,
                killed_reason=ended.killed_reason,
                stderr_tail=ended.stderr_tail,
            )
        if error is not None:
            fields["error"] = error
        return await self._set(app_id, **fields)

    # -- reading ----------------------------------------------------------------------------------

    async def refresh(self, app: StoredApp) -> StoredApp:
        """``app`` with a crash recorded if its process ended by itself meanwhile."""
        live = self._live.get(app.id)
        if live is not None and app.status == "running" and not live.process.running:
            return await self._end(app.id, "crashed")
        return app

    def usage(self, app: StoredApp) -> dict[str, float | None]:
        """Uptime, CPU seconds and RSS of a running app (``None`` when it is not running)."""
        live = self._live.get(app.id)
        if live is None or app.status != "running" or app.started_at is None:
            return {"uptime_s": None, "cpu_s": None, "rss_bytes": None}
        measured = live.process.usage()
        uptime = (self.clock() - app.started_at).total_seconds()
        return {"uptime_s": max(0.0, uptime), **measured}

    def transport(self, app_id: str) -> httpx.AsyncHTTPTransport | None:
        live = self._live.get(app_id)
        if live is None or not live.process.running:
            return None
        return live.transport

    async def _require(self, app_id: str) -> StoredApp:
        app = await self.repo.get(app_id)
        if app is None:
            raise NotFoundError(f"app {app_id!r} not found")
        return app

    async def _set(self, app_id: str, **fields: Any) -> StoredApp:
        app = await self.repo.update(app_id, **fields)
        if app is None:
            raise NotFoundError(f"app {app_id!r} not found")
        return app

    # -- background -------------------------------------------------------------------------------

    async def sweep(self) -> list[str]:
        """Expire apps past their TTL and record crashes; the ids that changed."""
        changed: list[str] = []
        now = self.clock()
        for app_id in list(self._live):
            app = await self.repo.get(app_id)
            if app is None:
                continue
            if app.expires_at is not None and app.expires_at <= now:
                await self._end(app_id, "expired")
                changed.append(app_id)
            elif app.status == "running" and (await self.refresh(app)).status == "crashed":
                changed.append(app_id)
        return changed

    async def run(self, interval_s: float = 1.0) -> None:
        """Sweep forever (the API lifespan runs this as a task and cancels it at shutdown)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:  # A failed sweep must not end TTL enforcement.
                log.exception("hosted apps: sweep failed")

    async def recover(self) -> None:
        """At start-up: permanent apps start again (in the background: start-up does not wait
        for them); other apps that were active are recorded as stopped."""
        for app in await self.repo.active():
            if app.id in self._live:
                continue
            if not app.permanent:
                await self._set(
                    app.id, status="stopped", ended_at=self.clock(), error="Nexus restarted"
                )
                continue
            await self._set(app.id, status="starting", started_at=self.clock())
            task = asyncio.get_running_loop().create_task(
                self._restart(app), name=f"hosted-app-restart-{app.id}"
            )
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)

    async def _restart(self, app: StoredApp) -> None:
        try:
            if self._sandbox is None:
                raise SandboxUnavailableError("the sandbox is not configured")
            files = await self._files_at(app.project_id, app.created_at)
            if not files:
                raise InvalidInputError("the project had no files when the app was started")
            process = await asyncio.to_thread(self._sandbox.start_app, files, app.entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("hosted app %s could not be restarted: %s", app.id, exc)
            await self._set(
                app.id,
                status="crashed",
                ended_at=self.clock(),
                error=f"could not restart after Nexus restarted: {exc}",
            )
            return
        await self._watch(app.id, process)

    async def shutdown(self) -> None:
        """Stop every app's process: permanent ones stay active (``recover`` restarts them),
        the others are recorded as stopped."""
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        for app_id in list(self._live):
            with contextlib.suppress(Exception):
                app = await self._require(app_id)
                if app.permanent:
                    await self._pause(app_id)
                else:
                    await self._end(app_id, "stopped", error="Nexus shut down")

    async def _pause(self, app_id: str) -> None:
        """Stop a permanent app's process and leave its record active."""
        async with self._lock:
            live = self._live.pop(app_id, None)
        if live is not None:
            await asyncio.to_thread(live.process.stop)
            await live.transport.aclose()
