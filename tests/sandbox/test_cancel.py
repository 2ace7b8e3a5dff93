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
