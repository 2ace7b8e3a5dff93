"""Multi-turn history: an Agents SDK ``Session`` backed by the ``conversation_items`` table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from agents.memory import SessionABC

from nexus.store.db import Database
from nexus.store.tables import ConversationItemRow


class StoredSession(SessionABC):
    def __init__(self, db: Database, session_id: str) -> None:
        self.db = db
        self.session_id = session_id

    async def get_items(self, limit: int | None = None) -> list[Any]:
        query = sa.select(ConversationItemRow.item).where(
            ConversationItemRow.session_id == self.session_id
        )
        async with self.db.sessions() as session:
            if limit is None:
                rows = await session.scalars(query.order_by(ConversationItemRow.id))
                return list(rows)
            rows = await session.scalars(query.order_by(ConversationItemRow.id.desc()).limit(limit))
            return list(reversed(list(rows)))

    async def add_items(self, items: list[Any]) -> None:
        if not items:
            return
        async with self.db.sessions.begin() as session:
            session.add_all(
                ConversationItemRow(session_id=self.session_id, item=dict(item)) for item in items
            )

    async def pop_item(self) -> Any | None:
        async with self.db.sessions.begin() as session:
            row = await session.scalar(
                sa.select(ConversationItemRow)
                .where(ConversationItemRow.session_id == self.session_id)
                .order_by(ConversationItemRow.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            await session.delete(row)
            return row.item

    async def clear_session(self) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                sa.delete(ConversationItemRow).where(
                    ConversationItemRow.session_id == self.session_id
                )
            )
