"""Hot-path statements on a SQLite file through a private ``sqlite3`` connection.

The async driver (aiosqlite) hands every statement to its own thread and back, several times
per transaction, each hand-off waiting for the event loop's scheduler: a few milliseconds per
short transaction. The writes a run makes on every step (its row, its status, its event
batches, its checkpoints) instead go through one ``sqlite3`` connection per database file, in
autocommit mode, called synchronously on the event loop's thread: one statement is one short
transaction (``transaction`` groups several), with no thread hand-off. Reads by id go the same
way; WAL readers never wait for writers.

The connection uses the pragmas of ``nexus.store.db`` (WAL, ``synchronous=NORMAL``, foreign
keys), so a committed write is in the WAL when the call returns and survives the process being
killed, exactly like a write through the engine (only an OS crash or power loss can drop the
last commits). It never waits for a lock (busy timeout 0): when another connection holds the
write lock, the call returns ``None`` and the caller goes through the async engine instead,
which waits for the lock without blocking the loop. Values are stored exactly as SQLAlchemy
stores them (``encode_json``, ``encode_datetime``) and read back as it reads them
(``decode_json``, ``decode_datetime``), so every other reader is unchanged.

``Database.direct`` (``nexus.store.db``) holds the one instance of a SQLite file database;
other databases (PostgreSQL, ``:memory:``) have none and stay on the async engine.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import URL

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy's SQLite dialect stores a ``DateTime`` (UTC here, like ``UTCDateTime``)."""

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

Params = Sequence[Any]


class DirectSqlite:
    """The private connection to one SQLite database file (opened on first use)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def for_url(cls, url: URL) -> DirectSqlite | None:
        """An instance for a SQLite file URL; ``None`` for other databases and ``:memory:``."""
        if url.get_backend_name() != "sqlite" or url.query:
            return None
        path = url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return cls(path)

    def connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            # Used from the event loop's thread only; check_same_thread=False lets a loop
            # started in another thread (a test client's portal) use it too.
            conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            try:
                # WAL is a property of the file (the engine's connections set it too); asking
                # for it again would need the write lock.
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def execute(self, sql: str, params: Params = ()) -> int | None:
        """Run one statement as its own transaction: the rows it changed, or ``None`` when
        another connection holds the write lock (nothing was written)."""
        try:
            cursor = self.connection().execute(sql, params)
        except sqlite3.OperationalError as exc:
            if is_locked(exc):
                return None
            raise
        count = cursor.rowcount
        cursor.close()
        return count

    def transaction(
        self, statements: Iterable[tuple[str, Params | list[Params]]]
    ) -> list[int] | None:
        """Run statements in one transaction (a list of parameter tuples runs the statement
        once per tuple): the rows each changed, or ``None`` when the write lock is held by
        another connection (nothing was written). Any error rolls everything back."""
        try:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock now, or fails at once
        except sqlite3.OperationalError as exc:
            if is_locked(exc):
                return None
            raise
        counts: list[int] = []
        try:
            for sql, params in statements:
                if isinstance(params, list):
                    cursor = conn.executemany(sql, params)
                else:
                    cursor = conn.execute(sql, params)
                counts.append(cursor.rowcount)
                cursor.close()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return counts

    def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]] | None:
        """The rows of a query, or ``None`` in the rare case the file is locked even for
        readers (WAL recovery by another connection)."""
        try:
            cursor = self.connection().execute(sql, params)
            rows = cursor.fetchall()
        except sqlite3.OperationalError as exc:
            if is_locked(exc):
                return None
            raise
        cursor.close()
        return rows


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """Whether the statement failed only because another connection holds a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    message = str(exc)
    return "locked" in message or "busy" in message


def encode_json(value: Any) -> str:
    """A ``sa.JSON`` value as SQLAlchemy binds it (``None`` becomes JSON ``null``)."""
    return json.dumps(value)


def decode_json(text: str | None) -> Any:
    """A ``sa.JSON`` column as SQLAlchemy reads it (``None`` for SQL NULL and JSON ``null``)."""
    return None if text is None else json.loads(text)


def encode_datetime(value: datetime | None) -> str | None:
    """A ``UTCDateTime`` as SQLAlchemy's SQLite dialect stores it (UTC, no offset)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(SQLITE_DATETIME)


def decode_datetime(text: str | None) -> datetime | None:
    """A stored ``UTCDateTime`` as ``UTCDateTime`` reads it (timezone-aware UTC)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
