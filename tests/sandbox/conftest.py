"""Real bubblewrap sandboxes for the sandbox suite, with small limits so attacks end fast.

``sandbox``/``run`` use the default configuration (a warm python pool, cold otherwise);
``any_run`` runs a test twice, once on a cold-only sandbox and once on a warm sandbox taken
from the pool (and fails if the call did not get one).

bwrap is required: CI installs it (``.ci/run``), and a missing bwrap must fail these tests
rather than skip them, since the escape battery is the proof that the sandbox holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nexus.core.sandbox_types import ExecRequest, ExecResult, SandboxLimits
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox

TEST_LIMITS = SandboxLimits(
    timeout_s=10.0,
    cpu_s=2,
    memory_mb=256,
    processes=32,
    file_size_mb=8,
    open_files=64,
    output_bytes=100_000,
    workspace_mb=32,
)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=TEST_LIMITS, max_concurrency=8))
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="session")
def run(sandbox: BubblewrapSandbox):  # type: ignore[no-untyped-def]
    """``run(code, language="python", **request fields)`` -> ``ExecResult``."""

    def _run(code: str, language: str = "python", **fields: object) -> ExecResult:
        return sandbox.execute_sync(ExecRequest(language=language, code=code, **fields))  # type: ignore[arg-type]

    return _run


@pytest.fixture(scope="session")
def cold_sandbox() -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=TEST_LIMITS, warm_pool={}))
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="session")
def warm_sandbox() -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(
        BubblewrapConfig(defaults=TEST_LIMITS, warm_pool={"python": 2, "bash": 2})
    )
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


def wait_for_pool(box: BubblewrapSandbox, language: str = "python", size: int = 1) -> None:
    deadline = time.monotonic() + 20
    while box.pool_sizes().get(language, 0) < size:
        assert time.monotonic() < deadline, "the warm pool was not refilled"
        time.sleep(0.01)


def run_warm(
    box: BubblewrapSandbox, code: str, language: str = "python", **fields: object
) -> ExecResult:
    """Run ``code`` in a warm sandbox of ``box`` (waiting for one if needed)."""
    wait_for_pool(box, language)
    before = box.runs["warm"]
    result = box.execute_sync(ExecRequest(language=language, code=code, **fields))  # type: ignore[arg-type]
    assert box.runs["warm"] == before + 1, "the call did not run in a warm sandbox"
    return result


@pytest.fixture(name="wait_for_pool", scope="session")
def _wait_for_pool():  # type: ignore[no-untyped-def]
    return wait_for_pool


@pytest.fixture(name="run_warm", scope="session")
def _run_warm():  # type: ignore[no-untyped-def]
    return run_warm


@pytest.fixture(scope="session")
def test_limits() -> SandboxLimits:
    return TEST_LIMITS


@pytest.fixture(params=["cold", "warm"])
def any_run(request: pytest.FixtureRequest, cold_sandbox, warm_sandbox):  # type: ignore[no-untyped-def]
    """``any_run(code, language="python", **request fields)``: cold and then warm."""
    if request.param == "warm":
        return lambda code, language="python", **fields: run_warm(
            warm_sandbox, code, language, **fields
        )

    def _cold(code: str, language: str = "python", **fields: object) -> ExecResult:
        return cold_sandbox.execute_sync(ExecRequest(language=language, code=code, **fields))  # type: ignore[arg-type]

    return _cold
