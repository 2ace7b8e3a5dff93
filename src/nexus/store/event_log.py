"""The append-only run event log and its in-process bus.

A run executing in this process writes through a ``RunEventWriter``: ``emit`` assigns the next
sequence number, keeps the event in memory, publishes it to subscribers at once, and schedules
a batched insert (the events of the next ``FLUSH_INTERVAL_S`` share one transaction; ``flush``
and ``close`` insert what is pending at once, without waiting for the timer). Readers replay
from the live writer's memory (or from the table for runs not live here), then tail the bus —
subscription and snapshot happen with no ``await`` between them, so nothing is lost or doubled.

A batch is one committed transaction through the database's direct SQLite connection when it
has one (``nexus.store.direct_sqlite``); on PostgreSQL, or when another connection holds the
write lock, through the async engine. A writer's batches are inserted one after the other, so
the table never holds a later event without every earlier one of its run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa

from nexus.core.events import RUN_COMPLETED, RunEvent
from nexus.core.status import FINAL_STATUSES, RunStatus
from nexus.store.db import Database
from nexus.store.direct_sqlite import encode_json
from nexus.store.tables import RunEventRow, RunRow

POLL_INTERVAL_S = 0.25
WAITING_POLL_S = 2.0
"""A waiting run resumed by another process is noticed this late (one resumed here at once)."""
# Events reach live readers at once (bus + memory); the table is written in batches at most this
# often, so a turn's handful of events costs a fraction of one transaction.
FLUSH_INTERVAL_S = 0.05


class EventBus:
    """In-process fan-out of run events to subscriber queues."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[RunEvent]]] = defaultdict(set)

    def subscribe(self, run_id: str) -> asyncio.Queue[RunEvent]:
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        self._subscribers[run_id].add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[RunEvent]) -> None:
        queues = self._subscribers.get(run_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[run_id]

    def publish(self, event: RunEvent) -> None:
        for queue in self._subscribers.get(event.run_id, ()):
            queue.put_nowait(event)


class RunEventWriter:
    """The ``EventSink`` of one run executing in this process."""

    def __init__(self, log: RunEventLog, run_id: str, last_seq: int) -> None:
        self._log = log
        self.run_id = run_id
        self._seq = last_seq
        self.events: list[RunEvent] = []
        self._pending: list[RunEvent] = []
        self._timer: asyncio.TimerHandle | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._inserting = asyncio.Lock()  # batches are inserted one after the other, in order
        self._flush_error: BaseException | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def emit(self, type: str, data: dict[str, Any]) -> RunEvent:
        self._seq += 1
        event = RunEvent(self.run_id, self._seq, type, data, time.time())
        self.events.append(event)
        self._pending.append(event)
        self._log.bus.publish(event)
        if self._timer is None and self._drain_task is None:
            # more events may share the transaction; a running drain picks them up anyway
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(FLUSH_INTERVAL_S, self._drain_soon)
        return event

    def _drain_soon(self) -> None:
        self._timer = None
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            await self._insert_pending()
        except BaseException as exc:  # surfaced by flush()/close()
            self._flush_error = exc
        finally:
            self._drain_task = None

    async def _insert_pending(self) -> None:
        async with self._inserting:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._log.insert(batch)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def flush(self) -> None:
        """Insert every event emitted so far (a run that ends flushes at once, without
        waiting for the batching timer)."""
        self._cancel_timer()
        while self._drain_task is not None:
            await asyncio.shield(self._drain_task)
        self._cancel_timer()
        await self._insert_pending()
        if self._flush_error is not None:
            error, self._flush_error = self._flush_error, None
            raise error

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            self._log.forget(self)

    @asynccontextmanager
    async def last_batch(self, type: str, data: dict[str, Any]) -> AsyncIterator[list[RunEvent]]:
        """The pending events and a last one (``type``, ``data``), for the caller to insert in
        its own transaction (``RunRepository.finish``): the run's final state and its
        ``run_completed`` then commit together. No other batch is inserted meanwhile, so the
        table still holds a run's events in order. The last event is published (and kept in
        memory) only when the block exits without an error; on an error every event of the
        batch is pending again."""
        self._cancel_timer()
        while self._drain_task is not None:
            await asyncio.shield(self._drain_task)
        async with self._inserting:
            self._seq += 1
            last = RunEvent(self.run_id, self._seq, type, data, time.time())
            batch, self._pending = [*self._pending, last], []
            try:
                yield batch
            except BaseException:
                self._pending[:0] = batch[:-1]
                if self._seq == last.seq:
                    self._seq -= 1
                raise
        self.events.append(last)
        self._log.bus.publish(last)


class RunEventLog:
    def __init__(self, db: Database, bus: EventBus | None = None) -> None:
        self.db = db
        self.bus = bus if bus is not None else EventBus()
        self._live: dict[str, RunEventWriter] = {}

    async def open(self, run_id: str) -> RunEventWriter:
        """A writer continuing after the last stored event of ``run_id``."""
        async with self.db.sessions() as session:
            last = await session.scalar(
                sa.select(sa.func.max(RunEventRow.seq)).where(RunEventRow.run_id == run_id)
            )
        return self.open_new(run_id, last if last is not None else 0)

    def open_new(self, run_id: str, last_seq: int = 0) -> RunEventWriter:
        """A writer for a run with no stored events yet (its row was just inserted): no query."""
        writer = RunEventWriter(self, run_id, last_seq)
        self._live[run_id] = writer
        return writer

    def forget(self, writer: RunEventWriter) -> None:
        if self._live.get(writer.run_id) is writer:
            del self._live[writer.run_id]

    async def insert(self, events: list[RunEvent]) -> None:
        if self.db.direct is not None:
            rows = [(e.run_id, e.seq, e.type, encode_json(e.data), e.created_at) for e in events]
            try:
                if self.db.direct.transaction([(_DIRECT_INSERT, rows)]) is not None:
                    return
            except sqlite3.IntegrityError:
                pass  # the engine raises its own error for it
        async with self.db.sessions.begin() as session:
            await session.execute(
                sa.insert(RunEventRow),
                [
                    {
                        "run_id": e.run_id,
                        "seq": e.seq,
                        "type": e.type,
                        "data": e.data,
                        "created_at": e.created_at,
                    }
                    for e in events
                ],
            )

    async def read(self, run_id: str, after_seq: int = 0) -> list[RunEvent]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(RunEventRow)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
                .order_by(RunEventRow.seq)
            )
            return [RunEvent(r.run_id, r.seq, r.type, r.data, r.created_at) for r in rows]

    async def follow(self, run_id: str, after_seq: int = 0) -> AsyncIterator[RunEvent]:
        """Every event after ``after_seq``, in order, ending with ``run_completed``."""
        writer = self._live.get(run_id)
        if writer is None:
            async for event in self._follow_stored(run_id, after_seq):
                yield event
            return
        queue = self.bus.subscribe(run_id)
        try:
            last = after_seq
            for event in [e for e in writer.events if e.seq > after_seq]:
                last = event.seq
                yield event
                if event.type == RUN_COMPLETED:
                    return
            while True:
                event = await queue.get()
                if event.seq <= last:
                    continue
                last = event.seq
                yield event
                if event.type == RUN_COMPLETED:
                    return
        finally:
            self.bus.unsubscribe(run_id, queue)

    async def _follow_stored(self, run_id: str, after_seq: int) -> AsyncIterator[RunEvent]:
        """Replay from the table, polling while the run is not final (run live elsewhere).

        A run that starts executing here (an approval resumes it) wakes the reader at once
        through the bus; so a waiting run, which only another process could resume, is
        polled slowly."""
        last = after_seq
        wake = self.bus.subscribe(run_id)
        try:
            while True:
                for event in await self.read(run_id, last):
                    last = event.seq
                    yield event
                    if event.type == RUN_COMPLETED:
                        return
                if run_id in self._live:  # the run started here meanwhile: switch to the bus
                    async for event in self.follow(run_id, last):
                        yield event
                    return
                async with self.db.sessions() as session:
                    status = await session.scalar(
                        sa.select(RunRow.status).where(RunRow.id == run_id)
                    )
                if status is None or status in FINAL_STATUSES:
                    for event in await self.read(run_id, last):
                        yield event
                    return
                interval = WAITING_POLL_S if status == RunStatus.WAITING else POLL_INTERVAL_S
                try:  # what woke us is replayed from the writer's memory or the table
                    await asyncio.wait_for(wake.get(), interval)
                except TimeoutError:
                    pass
                while not wake.empty():
                    wake.get_nowait()
        finally:
            self.bus.unsubscribe(run_id, wake)


_DIRECT_INSERT = (
    "INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)"
)
