"""Chat sessions as lists show them: the runs of one agent by one user that share a
``session_id``, grouped (the conversation's history itself is ``nexus.store.conversations``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from nexus.store.db import Database
from nexus.store.tables import RunRow

TITLE_CHARS = 120


@dataclass(frozen=True)
class ChatSession:
    id: str
    title: str
    """The start of the session's first input."""
    runs: int
    started_at: datetime
    last_at: datetime


class ChatSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self, agent_id: str, owner_id: str | None, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[ChatSession], int]:
        """``owner_id``'s sessions with ``agent_id``, the most recently active first."""
        where = sa.and_(
            RunRow.agent_id == agent_id,
            RunRow.owner_id.is_(None) if owner_id is None else RunRow.owner_id == owner_id,
            RunRow.session_id.is_not(None),
        )
        last = sa.func.max(RunRow.created_at).label("last_at")
        grouped = (
            sa.select(
                RunRow.session_id,
                sa.func.count().label("runs"),
                sa.func.min(RunRow.created_at).label("started_at"),
                last,
            )
            .where(where)
            .group_by(RunRow.session_id)
        )
        async with self.db.sessions() as session:
            total = await session.scalar(
                sa.select(sa.func.count(sa.distinct(RunRow.session_id))).where(where)
            )
            rows = (
                await session.execute(
                    grouped.order_by(last.desc(), RunRow.session_id).offset(offset).limit(limit)
                )
            ).all()
            ids = [row.session_id for row in rows]
            firsts: dict[str, str] = {}
            if ids:
                inputs = await session.execute(
                    sa.select(RunRow.session_id, RunRow.input)
                    .where(where, RunRow.session_id.in_(ids))
                    .order_by(RunRow.created_at, RunRow.id)
                )
                for session_id, value in inputs:
                    if session_id not in firsts:
                        text = value.get("input") if isinstance(value, dict) else None
                        firsts[session_id] = str(text or "")[:TITLE_CHARS]
        return [
            ChatSession(
                id=row.session_id,
                title=firsts.get(row.session_id, ""),
                runs=row.runs,
                started_at=row.started_at,
                last_at=row.last_at,
            )
            for row in rows
        ], total or 0
