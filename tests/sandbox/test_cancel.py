"""Cancelling the task that awaits ``BubblewrapSandbox.execute`` kills the sandbox at once (not
at its wall-clock timeout), leaves none of its processes behind and gives its slot back."""

from __future__ import annotations

import asyncio
import secrets
import subprocess

import pytest

from nexus.core.sandbox_types import ExecRequest
from nexus.sandbox.bubblewrap import BubblewrapSandbox


def _survivors(marker: str) -> str:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout


async def _until_running(marker: str, task: asyncio.Task[object]) -> None:
    for _ in range(400):
        if _survivors(marker):
            return
        assert not task.done(), task.result()
        await asyncio.sleep(0.025)
    raise AssertionError("the sandboxed `sleep` never started")


@pytest.mark.parametrize("kind", ["cold", "warm"])
async def test_cancel_kills_the_sandboxed_process(
    kind: str,
    cold_sandbox: BubblewrapSandbox,
    warm_sandbox: BubblewrapSandbox,
    wait_for_pool,  # type: ignore[no-untyped-def]
) -> None:
    box = cold_sandbox if kind == "cold" else warm_sandbox
    if kind == "warm":
        wait_for_pool(box, "bash")
    before = dict(box.runs)
    marker = f"cancelme{secrets.token_hex(4)}"
    request = ExecRequest(language="bash", code=f"exec -a {marker} sleep 30", timeout_s=20)
    task = asyncio.create_task(box.execute(request))
    await _until_running(marker, task)

    task.cancel()
    # Well below the 20 s wall clock: only the cancellation can have ended it.
    done, _ = await asyncio.wait([task], timeout=10)
    assert task in done and task.cancelled()
    assert _survivors(marker) == ""
    assert box.runs[kind] == before[kind] + 1  # it ran where the test meant it to

    # The slot and its uid are free again: the sandbox still runs code, every slot at once.
    requests = [ExecRequest(language="bash", code="echo ok")] * box.config.max_concurrency
    results = await asyncio.wait_for(
        asyncio.gather(*(box.execute(r) for r in requests)), timeout=60
    )
    assert [r.stdout for r in results] == ["ok\n"] * len(requests)


async def test_cancel_while_waiting_for_a_slot_starts_nothing(
    cold_sandbox: BubblewrapSandbox,
) -> None:
    box = cold_sandbox
    marker = f"busy{secrets.token_hex(4)}"
    busy = [
        asyncio.create_task(
            box.execute(
                ExecRequest(language="bash", code=f"exec -a {marker}{i} sleep 30", timeout_s=20)
            )
        )
        for i in range(box.config.max_concurrency)
    ]
    for i, task in enumerate(busy):
        await _until_running(f"{marker}{i}", task)
    queued_marker = f"queued{secrets.token_hex(4)}"
    cold_before = box.runs["cold"]
    queued = asyncio.create_task(
        box.execute(
            ExecRequest(language="bash", code=f"exec -a {queued_marker} sleep 30", timeout_s=20)
        )
    )
    await asyncio.sleep(0.2)
    queued.cancel()
    for task in busy:
        task.cancel()
    done, _ = await asyncio.wait([queued, *busy], timeout=15)
    assert len(done) == len(busy) + 1
    assert all(task.cancelled() for task in done)
    assert box.runs["cold"] == cold_before  # the queued call never started a sandbox
    assert _survivors(marker) == "" and _survivors(queued_marker) == ""


async def test_stopping_a_workflow_kills_its_code_node(client) -> None:
    """``POST /api/v1/executions/{id}/stop`` on a run inside a ``code`` node (the app's real
    sandbox): the run ends ``cancelled`` and its sandboxed process is gone."""
    marker = f"wfstop{secrets.token_hex(4)}"
    flow = {
        "name": "sleeper",
        "nodes": [
            {"id": "start", "type": "input"},
            {
                "id": "nap",
                "type": "code",
                "properties": {
                    "language": "bash",
                    "code": f"exec -a {marker} sleep 30",
                    "timeout_s": 20,
                },
            },
            {"id": "out", "type": "output", "properties": {"name": "out"}},
        ],
        "edges": [
            {"id": "e1", "source": {"node": "start", "port": "output"},
             "target": {"node": "nap", "port": "input"}},
            {"id": "e2", "source": {"node": "nap", "port": "output"},
             "target": {"node": "out", "port": "input"}},
        ],
    }  # fmt: skip
    created = await client.post("/api/v1/workflows", json=flow)
    assert created.status_code == 201, created.text
    started = await client.post(
        f"/api/v1/workflows/{created.json()['id']}/execute",
        json={"input_data": {}, "options": {"async": True}},
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["execution_id"]
    for _ in range(400):
        if _survivors(marker):
            break
        await asyncio.sleep(0.025)
    else:
        raise AssertionError("the code node's `sleep` never started")

    stopped = await client.post(f"/api/v1/executions/{run_id}/stop")
    assert stopped.status_code == 200, stopped.text

    async def ended() -> dict[str, object]:
        while True:
            execution = (await client.get(f"/api/v1/executions/{run_id}")).json()
            if execution["status"] not in ("queued", "running"):
                return execution
            await asyncio.sleep(0.05)

    # Well below the node's 20 s wall clock.
    execution = await asyncio.wait_for(ended(), timeout=10)
    assert execution["status"] == "cancelled"
    for _ in range(200):  # the run may be recorded a moment before its thread has reaped
        if not _survivors(marker):
            break
        await asyncio.sleep(0.025)
    assert _survivors(marker) == ""
