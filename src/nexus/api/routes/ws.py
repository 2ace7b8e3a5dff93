"""``/ws``: one WebSocket per client for live run events and single-node test runs.

The protocol (JSON text frames) is described for client authors in ``docs/workflows.md``,
section "Live events: SSE and WebSocket". In short, the client sends ``subscribe`` (a run, with
``after_seq``, or a workflow), ``unsubscribe``, ``ping`` and ``execute_node``; the server answers
``subscribed``/``unsubscribed``/``pong``/``node_result``/``error`` and pushes ``event`` frames.
Any client message may carry an ``id`` (string or integer) that the direct answer echoes.

Authentication is the REST API's, at the handshake: ``Authorization: Bearer nx_…``, or
``?token=nx_…`` (browsers cannot set headers on a WebSocket), or the ``nexus_session`` cookie.
A cookie is ambient (the browser sends it whatever page opens the socket), so with a cookie the
``Origin`` must be this server's own host or a configured CORS origin, else the handshake is
refused (HTTP 403): that stops cross-site WebSocket hijacking, which the REST API's CSRF header
prevents for ordinary requests. Bad credentials: the socket is accepted and closed with code
4401 (4403, 4404 for a workspace the caller cannot act in), which browsers can read.
``X-Nexus-Workspace`` or ``?workspace=`` picks the workspace, as for REST.

Every id goes through ``Access`` (the ownership helper): ids of other workspaces answer
``not_found`` exactly like missing ones. Run events come from ``RunEventLog.follow`` (the SSE
route's replay-then-tail), so a client reconnecting with the last ``seq`` it saw as
``after_seq`` gets every later event once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from nexus.api.deps import SESSION_COOKIE, WORKSPACE_HEADER
from nexus.api.schemas.ws import (
    ExecuteNode,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    parse_message,
)
from nexus.core.errors import (
    AuthenticationError,
    NexusError,
    NotFoundError,
    PermissionDeniedError,
)
from nexus.core.events import RUN_COMPLETED, RunEvent
from nexus.core.status import RunStatus
from nexus.security.access import Access
from nexus.security.principal import Principal
from nexus.store.event_log import POLL_INTERVAL_S
from nexus.store.tables import RunRow
from nexus.worker.node_tests import NodeTest, NodeTests
from nexus.worker.services import RunServices
from nexus.worker.workflow_runs import WorkflowRuns

router = APIRouter()
log = logging.getLogger(__name__)

CLOSE_CODES: tuple[tuple[type[NexusError], int], ...] = (
    (AuthenticationError, 4401),
    (PermissionDeniedError, 4403),
    (NotFoundError, 4404),
)
MAX_SUBSCRIPTIONS = 100
"""Subscriptions (runs and workflows) one socket may hold at once."""
MAX_FOLLOWED_RUNS = 100
"""Runs one workflow subscription streams at once (finished runs leave the count)."""
MAX_TESTS = 4
"""``execute_node`` test runs one socket may have in flight."""
ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value, RunStatus.WAITING.value)
CREATION_SLACK = timedelta(seconds=5)
"""Runs are found by creation time; a row may commit a little after its ``created_at``."""


def event_frame(event: RunEvent, workflow_id: str | None = None) -> dict[str, Any]:
    frame = {
        "type": "event",
        "run_id": event.run_id,
        "seq": event.seq,
        "event": event.type,
        "data": event.data,
        "ts": event.created_at,
    }
    if workflow_id is not None:
        frame["workflow_id"] = workflow_id
    return frame


# ------------------------------------------------------------------ authentication


def origin_allowed(websocket: WebSocket, cors_origins: list[str]) -> bool:
    """A browser's ``Origin`` is this server (same host and port) or a configured origin."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    if origin.rstrip("/") in {o.rstrip("/") for o in cors_origins}:
        return True
    host = websocket.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


async def authenticate(websocket: WebSocket) -> Principal:
    """The caller, from the header, the ``token`` query parameter or the session cookie."""
    accounts = websocket.app.state.accounts
    params = websocket.query_params
    workspace = websocket.headers.get(WORKSPACE_HEADER) or params.get("workspace") or None
    token = params.get("token") or None
    authorization = websocket.headers.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthenticationError("use 'Authorization: Bearer nx_…'")
        token = credential.strip()
    if token is not None:
        principal = await accounts.authenticate_token(token, workspace_id=workspace)
        if principal is None:
            raise AuthenticationError("the API token is unknown, expired or revoked")
        return principal
    secret = websocket.cookies.get(SESSION_COOKIE)
    if secret:
        principal = await accounts.authenticate_session(secret, workspace_id=workspace)
        if principal is not None:
            return principal
    raise AuthenticationError("sign in, or send an API token (header or ?token=)")


def close_code(exc: NexusError) -> int:
    for cls, code in CLOSE_CODES:
        if isinstance(exc, cls):
            return code
    return 4400


def close_reason(message: str) -> str:
    """A close frame's reason holds at most 123 bytes of UTF-8."""
    return message.encode()[:123].decode("utf-8", "ignore")


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services: RunServices = websocket.app.state.services
    uses_cookie = (
        SESSION_COOKIE in websocket.cookies
        and "authorization" not in websocket.headers
        and not websocket.query_params.get("token")
    )
    if uses_cookie and not origin_allowed(websocket, services.settings.cors_origins):
        await websocket.close(code=4403, reason="cross-origin WebSocket refused")
        return
    try:
        principal = await authenticate(websocket)
    except NexusError as exc:
        await websocket.accept()
        await websocket.close(code=close_code(exc), reason=close_reason(exc.message))
        return
    await websocket.accept()
    connection = Connection(websocket, principal, services, websocket.app.state.workflow_runs)
    await connection.serve()


# ------------------------------------------------------------------ one connection


class Connection:
    """The subscriptions and test runs of one socket; all end when it closes."""

    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        services: RunServices,
        workflow_runs: WorkflowRuns,
    ) -> None:
        self.ws = websocket
        self.principal = principal
        self.services = services
        self.access = Access(services.db)
        self.node_tests = NodeTests(workflow_runs)
        self.subscriptions: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.tests: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._limit = services.settings.max_body_bytes

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame; ``SocketGone`` once the client has left."""
        text = json.dumps(frame, default=str)
        async with self._send_lock:
            if self.ws.application_state is not WebSocketState.CONNECTED:
                raise SocketGone()
            try:
                await self.ws.send_text(text)
            except Exception as exc:  # the server's own "disconnected" error, whichever it is
                raise SocketGone() from exc

    def _spawn(
        self, work: Coroutine[Any, Any, None], what: str, key: tuple[str, str] | None = None
    ) -> asyncio.Task[None]:
        """A task of this socket: a defect ends it with an ``internal_error`` frame (and frees
        its subscription ``key``) instead of going unnoticed."""

        async def guarded() -> None:
            try:
                await work
            except SocketGone:
                pass
            except Exception as exc:
                log.exception("/ws: %s stopped", what)
                if key is not None and self.subscriptions.get(key) is asyncio.current_task():
                    del self.subscriptions[key]
                message = f"{what} stopped: {type(exc).__name__}; subscribe again"
                with contextlib.suppress(SocketGone):
                    await self.send({"type": "error", "code": "internal_error", "message": message})

        return asyncio.get_running_loop().create_task(guarded())

    async def serve(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self.handle(message.get("text"))
        except SocketGone:
            return
        finally:
            tasks = [*self.subscriptions.values(), *self.tests]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def handle(self, text: str | None) -> None:
        request_id: str | int | None = None
        try:
            if text is None:
                raise ProtocolError("invalid_message", "send JSON text frames, not binary ones")
            if len(text) > self._limit:
                raise ProtocolError("too_large", f"a message is at most {self._limit} characters")
            message = parse_message(text)
            request_id = message.id
            if isinstance(message, Ping):
                await self.send(self._answer({"type": "pong"}, request_id))
            elif isinstance(message, Subscribe):
                await self.subscribe(message)
            elif isinstance(message, Unsubscribe):
                await self.unsubscribe(message)
            else:
                await self.execute_node(message)
        except ProtocolError as exc:
            await self.send(exc.frame)
        except NexusError as exc:
            await self.send(self._answer({"type": "error", **exc.to_dict()}, request_id))

    @staticmethod
    def _answer(frame: dict[str, Any], request_id: str | int | None) -> dict[str, Any]:
        return frame if request_id is None else {**frame, "id": request_id}

    # -------------------------------------------------------------- subscriptions

    async def subscribe(self, message: Subscribe) -> None:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ProtocolError(
                "too_many_subscriptions",
                f"a socket holds at most {MAX_SUBSCRIPTIONS} subscriptions; unsubscribe first",
                request_id=message.id,
            )
        if message.run_id is not None:
            run = await self.access.lookup_run(self.principal, message.run_id, "read")
            key = ("run_id", run.id)
            self._check_new(key, message.id)
            await self.send(
                self._answer(
                    {"type": "subscribed", "run_id": run.id, "after_seq": message.after_seq},
                    message.id,
                )
            )
            work = self._follow_run(key, run.id, message.after_seq)
        else:
            assert message.workflow_id is not None
            workflow = await self.access.lookup_workflow(
                self.principal, message.workflow_id, "read"
            )
            key = ("workflow_id", workflow.id)
            self._check_new(key, message.id)
            since = _utc(datetime.now(UTC))
            await self.send(
                self._answer({"type": "subscribed", "workflow_id": workflow.id}, message.id)
            )
            work = self._follow_workflow(key, workflow.id, since)
        self.subscriptions[key] = self._spawn(work, f"the subscription to {key[0]} {key[1]}", key)

    def _check_new(self, key: tuple[str, str], request_id: str | int | None) -> None:
        if key in self.subscriptions:
            raise ProtocolError(
                "already_subscribed",
                f"this socket is already subscribed to {key[0]} {key[1]!r}",
                request_id=request_id,
            )

    async def unsubscribe(self, message: Unsubscribe) -> None:
        kind, ref = (
            ("run_id", message.run_id)
            if message.run_id is not None
            else ("workflow_id", message.workflow_id)
        )
        assert ref is not None
        task = self.subscriptions.pop((kind, ref), None)
        if task is None:
            raise ProtocolError(
                "not_subscribed",
                f"this socket is not subscribed to {kind} {ref!r}",
                request_id=message.id,
            )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self.send(self._answer({"type": "unsubscribed", kind: ref}, message.id))

    async def _follow_run(self, key: tuple[str, str], run_id: str, after_seq: int) -> None:
        async for event in self.services.events.follow(run_id, after_seq):
            await self.send(event_frame(event))
        if self.subscriptions.get(key) is asyncio.current_task():
            del self.subscriptions[key]
            await self.send({"type": "unsubscribed", "run_id": run_id, "reason": "completed"})

    async def _follow_workflow(
        self, key: tuple[str, str], workflow_id: str, since: datetime
    ) -> None:
        """Stream every run of the workflow the caller may see that was active when the
        subscription began or started since; new runs are looked for every poll interval."""
        followed: dict[str, asyncio.Task[None]] = {}
        seen: dict[str, datetime] = {}
        mark = since
        visible = self.access.run_filter(self.principal)
        try:
            recent = sa.or_(RunRow.status.in_(ACTIVE), RunRow.created_at >= since)
            while True:
                where = sa.and_(visible, recent)
                runs, _ = await self.services.runs.list(
                    where=where, workflow_id=workflow_id, limit=MAX_FOLLOWED_RUNS
                )
                for run in reversed(runs):  # oldest first
                    created = _utc(run.created_at)
                    mark = max(mark, created)
                    if run.id in seen:
                        continue
                    seen[run.id] = created
                    if len(followed) >= MAX_FOLLOWED_RUNS:
                        log.warning("workflow %s: too many live runs to stream", workflow_id)
                        continue
                    task = self._spawn(
                        self._stream_run(run.id, workflow_id), f"streaming run {run.id}"
                    )
                    followed[run.id] = task
                    task.add_done_callback(lambda _t, rid=run.id: followed.pop(rid, None))
                floor = mark - CREATION_SLACK
                seen = {rid: at for rid, at in seen.items() if at >= floor}
                recent = RunRow.created_at >= floor
                await asyncio.sleep(POLL_INTERVAL_S)
        finally:
            tasks = list(followed.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.subscriptions.get(key) is asyncio.current_task():
                del self.subscriptions[key]

    async def _stream_run(self, run_id: str, workflow_id: str) -> None:
        async for event in self.services.events.follow(run_id, 0):
            await self.send(event_frame(event, workflow_id))

    # -------------------------------------------------------------- test runs

    async def execute_node(self, message: ExecuteNode) -> None:
        if len(self.tests) >= MAX_TESTS:
            raise ProtocolError(
                "too_many_tests",
                f"at most {MAX_TESTS} node tests run at once on one socket",
                request_id=message.id,
            )
        workflow = await self.access.lookup_workflow(self.principal, message.workflow_id, "run")
        ip = self.ws.client.host if self.ws.client is not None else "unknown"
        self.ws.app.state.rate_limits.check_run(self.principal, ip)
        test = await self.node_tests.start(
            workflow,
            message.node_id,
            message.input_data,
            owner_id=self.principal.user_id,
            workspace_id=self.principal.workspace_id,
        )
        task = self._spawn(self._watch_test(test, message.id), f"the test run {test.run.id}")
        self.tests.add(task)
        task.add_done_callback(self.tests.discard)

    async def _watch_test(self, test: NodeTest, request_id: str | int | None) -> None:
        """Stream the test run's events (without its feeder nodes'), then the node's result."""
        started = ended = None

        async def forward() -> None:
            nonlocal started, ended
            async for event in self.services.events.follow(test.run.id, 0):
                node = event.data.get("node_id")
                if node in test.feeders:
                    continue
                if node == test.node_id:
                    if event.type == "node_started":
                        started = event.created_at
                    elif event.type in ("node_completed", "node_failed", "node_waiting"):
                        ended = event.created_at
                await self.send(event_frame(event))
                if event.type == RUN_COMPLETED:
                    return

        follower = asyncio.get_running_loop().create_task(forward())
        try:
            result = await self.node_tests.finish(test)
            await follower
        except NexusError as exc:
            await self.send(self._answer({"type": "error", **exc.to_dict()}, request_id))
            return
        finally:
            follower.cancel()
        elapsed = result.duration_ms
        if elapsed is None and started is not None and ended is not None:
            elapsed = (ended - started) * 1000
        frame: dict[str, Any] = {
            "type": "node_result",
            "run_id": test.run.id,
            "node_id": test.node_id,
            "status": result.status,
            "execution_time_ms": elapsed,
        }
        if result.status == "completed":
            frame["output"] = result.outputs
        elif result.status == "waiting":
            frame["waiting"] = result.waiting
        else:
            frame["error"] = result.error
        await self.send(self._answer(frame, request_id))


class SocketGone(Exception):
    """The client left while a frame was being sent."""


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a backend may hand back naive UTC values)."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
