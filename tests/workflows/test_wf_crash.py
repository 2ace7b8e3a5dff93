"""Crash test: a real ``nexus serve`` process is SIGKILLed mid-run, restarted, and every workflow
run still completes — resumed from its checkpoints, not restarted and not failed.

Bounded to a few kills so it fits in the normal test run (``NEXUS_CRASH_KILLS`` raises it).
Per run it asserts: it succeeded with the right outputs; the side-effect node completed once,
under one idempotency key (every ``node_started`` of it carries the same attempt, so a node
re-run after a kill reuses its key); and the event log is gap-free (sequence numbers 1..n, one
``run_completed``, last).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus.security.accounts import Accounts
from nexus.settings import Settings
from nexus.store.db import connect
from nexus.store.migrate import upgrade_async

KILLS = int(os.environ.get("NEXUS_CRASH_KILLS", "5"))
"""Bounded for the normal test run; ``NEXUS_CRASH_KILLS=20`` for the issue's full count."""
RUNS = 3

SLOW: dict[str, Any] = {
    "name": "slow",
    "inputs": {"type": "object", "properties": {"tag": {"type": "string"}}},
    "nodes": [
        {"id": "start", "type": "input", "properties": {"field": "tag"}},
        {"id": "wait1", "type": "delay", "properties": {"seconds": 0.4}},
        {"id": "effect", "type": "transform", "properties": {"template": "done {{ input.input }}",
                                                              "output_type": "text"}},
        {"id": "wait2", "type": "delay", "properties": {"seconds": 0.4}},
        {"id": "wait3", "type": "delay", "properties": {"seconds": 0.4}},
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [
        {"id": f"e{i}", "source": {"node": a, "port": "output"},
         "target": {"node": b, "port": "input"}}
        for i, (a, b) in enumerate(
            [("start", "wait1"), ("wait1", "effect"), ("effect", "wait2"),
             ("wait2", "wait3"), ("wait3", "out")]
        )
    ],
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _token(settings: Settings) -> str:
    db = connect(settings.resolved_database_url)
    try:
        from datetime import timedelta

        accounts = Accounts(db, session_ttl=timedelta(hours=1))
        user = await accounts.signup("admin@nexus.test", "correct horse battery staple")
        _, token = await accounts.create_token(user.id, "crash")
        return token
    finally:
        await db.dispose()


class Server:
    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "NEXUS_HOME": str(self.home)}
        nexus = Path(sys.executable).parent / "nexus"
        with open(self.home / "server.log", "ab") as log:
            return subprocess.Popen(
                [str(nexus), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def start(self) -> None:
        self.proc = await asyncio.to_thread(self._spawn)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("the server did not start: see server.log")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.mark.timeout(60 + 12 * KILLS)
async def test_runs_survive_sigkill(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, _env_file=None)  # type: ignore[call-arg]
    await upgrade_async(settings.resolved_database_url)
    token = await _token(settings)
    server = Server(tmp_path, _free_port())
    await server.start()
    rng = random.Random(4)
    base = f"http://127.0.0.1:{server.port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            created = await http.post("/api/v1/workflows", json=SLOW)
            assert created.status_code == 201, created.text
            url = f"/api/v1/workflows/{created.json()['id']}/execute"
            runs = []
            for i in range(RUNS):
                body = {"input_data": {"tag": f"t{i}"}, "options": {"async": True}}
                response = await http.post(url, json=body)
                assert response.status_code == 202, response.text
                runs.append(response.json()["execution_id"])
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            server.kill()
            await server.start()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                states = [(await http.get(f"/api/v1/executions/{r}")).json() for r in runs]
                if all(s["status"] not in ("queued", "running") for s in states):
                    break
                assert time.monotonic() < deadline, [s["status"] for s in states]
                await asyncio.sleep(0.1)
            resumed = 0
            for i, (run_id, state) in enumerate(zip(runs, states, strict=True)):
                assert (state["status"], state["output"]) == (
                    "succeeded",
                    {"result": f"done t{i}"},
                ), state
                events = (await http.get(f"/api/v1/runs/{run_id}/events/list")).json()
                assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
                types = [e["type"] for e in events]
                assert types.count("run_completed") == 1 and types[-1] == "run_completed"
                # each (re)start in the engine reports "running" with progress 0 (later
                # reports follow a settled node, so their progress is above 0)
                starts = [
                    e
                    for e in events
                    if e["type"] == "workflow_status"
                    and e["data"]["status"] == "running"
                    and e["data"]["progress"] == 0
                ]
                resumed += len(starts) > 1
                effect = [e["data"] for e in events if e["data"].get("node_id") == "effect"]
                started = {d["attempt"] for d in effect if "attempt" in d and "result" not in d}
                assert started <= {state["nodes"]["effect"]["attempt"]}
                completed = [d for d in effect if "result" in d]
                assert len(completed) <= 1
                assert state["nodes"]["effect"]["status"] == "completed"
            assert resumed >= 1, "no kill landed mid-run: the test proved nothing"
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
