"""PostgreSQL for the scale-out tests: a fresh database per module on the machine's server.

The server runs on this machine; if it is down it is started. Locally the tests skip loudly
when it cannot be reached; in CI (``CI`` set) they fail, because CI must run them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from nexus.store.migrate import upgrade

ADMIN_URL = os.environ.get(
    "NEXUS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _server_up() -> bool:
    async def ping() -> None:
        engine = create_async_engine(ADMIN_URL)
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(ping())
    except Exception:
        return False
    return True


def _ensure_server() -> None:
    if _server_up():
        return
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )
    if _server_up():
        return
    message = f"PostgreSQL is not reachable at {ADMIN_URL}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the Postgres tests)")
    pytest.skip(message + " — SKIPPING the Postgres schema tests locally")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    _ensure_server()
    name = f"nexus_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(sql))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def migrated_pg(pg_url: str) -> AsyncIterator[str]:
    await asyncio.to_thread(upgrade, pg_url)
    yield pg_url
