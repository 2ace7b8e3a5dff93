"""The async engine and session factory; SQLite gets WAL and foreign keys on every connection,
and a SQLite file the direct connection of its hot-path statements (``store.direct_sqlite``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from nexus.store.direct_sqlite import DirectSqlite


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    direct: DirectSqlite | None = field(default=None)
    """The synchronous connection of a SQLite file's hot-path statements; ``None`` otherwise."""

    async def dispose(self) -> None:
        if self.direct is not None:
            self.direct.close()
        await self.engine.dispose()


def connect(url: str) -> Database:
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return Database(
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
        direct=DirectSqlite.for_url(engine.url),
    )
