"""User rows and the instance settings that govern accounts (``signup_open``, ``first_admin``).

Methods run inside the caller's transaction (``session``), so a service can combine several in
one commit. The rules (who may sign up, lock-out) live in ``nexus.security.accounts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.tables import InstanceSettingRow, UserRow


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    is_admin: bool
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime


def _record(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        is_admin=row.is_admin,
        is_active=row.is_active,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        created_at=row.created_at,
    )


class UserRepository:
    async def count(self, session: AsyncSession) -> int:
        return await session.scalar(sa.select(sa.func.count()).select_from(UserRow)) or 0

    async def count_active_admins(self, session: AsyncSession) -> int:
        query = sa.select(sa.func.count()).where(UserRow.is_admin, UserRow.is_active)
        return await session.scalar(query) or 0

    async def get(self, session: AsyncSession, user_id: str) -> UserRecord | None:
        row = await session.get(UserRow, user_id)
        return _record(row) if row is not None else None

    async def by_email(self, session: AsyncSession, email: str) -> UserRecord | None:
        row = await session.scalar(sa.select(UserRow).where(UserRow.email == email))
        return _record(row) if row is not None else None

    async def list(self, session: AsyncSession) -> list[UserRecord]:
        rows = await session.scalars(sa.select(UserRow).order_by(UserRow.created_at, UserRow.id))
        return [_record(r) for r in rows]

    async def insert(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        email: str,
        password_hash: str,
        is_admin: bool,
        created_at: datetime,
    ) -> UserRecord:
        """Flushes at once, so a duplicate email raises ``IntegrityError`` here."""
        row = UserRow(
            id=user_id,
            email=email,
            password_hash=password_hash,
            is_admin=is_admin,
            is_active=True,
            failed_logins=0,
            locked_until=None,
            created_at=created_at,
        )
        session.add(row)
        await session.flush()
        return _record(row)

    async def record_failed_login(
        self, session: AsyncSession, user_id: str, *, reset_first: bool
    ) -> int:
        """Add one consecutive failure (starting from zero when ``reset_first``); the new count."""
        count = sa.literal(1) if reset_first else UserRow.failed_logins + 1
        await session.execute(
            sa.update(UserRow)
            .where(UserRow.id == user_id)
            .values(failed_logins=count, locked_until=None if reset_first else UserRow.locked_until)
        )
        return (
            await session.scalar(sa.select(UserRow.failed_logins).where(UserRow.id == user_id)) or 0
        )

    async def lock(self, session: AsyncSession, user_id: str, until: datetime) -> None:
        await session.execute(
            sa.update(UserRow).where(UserRow.id == user_id).values(locked_until=until)
        )

    async def record_successful_login(
        self, session: AsyncSession, user_id: str, *, new_password_hash: str | None = None
    ) -> None:
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if new_password_hash is not None:
            values["password_hash"] = new_password_hash
        await session.execute(sa.update(UserRow).where(UserRow.id == user_id).values(**values))

    async def set_active(self, session: AsyncSession, user_id: str, active: bool) -> None:
        await session.execute(
            sa.update(UserRow).where(UserRow.id == user_id).values(is_active=active)
        )

    async def set_password_hash(self, session: AsyncSession, user_id: str, value: str) -> None:
        await session.execute(
            sa.update(UserRow).where(UserRow.id == user_id).values(password_hash=value)
        )

    # --- instance settings ---------------------------------------------------------------

    async def get_setting(self, session: AsyncSession, key: str) -> Any:
        row = await session.get(InstanceSettingRow, key)
        return row.value.get("value") if row is not None else None

    async def put_setting(self, session: AsyncSession, key: str, value: Any) -> None:
        row = await session.get(InstanceSettingRow, key)
        if row is None:
            session.add(InstanceSettingRow(key=key, value={"value": value}))
        else:
            row.value = {"value": value}
        await session.flush()

    async def claim_setting(self, session: AsyncSession, key: str, value: Any) -> None:
        """Insert ``key`` as the transaction's first write; ``IntegrityError`` if it exists.

        Used as a sentinel that serialises racing transactions: on SQLite the insert takes the
        write lock before anything is read, on Postgres the primary key decides the winner.
        """
        session.add(InstanceSettingRow(key=key, value={"value": value}))
        await session.flush()
