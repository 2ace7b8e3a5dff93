"""Queries over ``data_keys`` and ``credentials``. Only ciphertext passes through here: the
encryption is ``nexus.security.vault``'s, and so is the transaction (every function takes the
caller's session)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.tables import CredentialRow, DataKeyRow


async def data_key_for(session: AsyncSession, workspace_id: str | None) -> DataKeyRow | None:
    """The workspace's data key (``None``: the instance's); the oldest if a race made two."""
    column = DataKeyRow.workspace_id
    query = (
        sa.select(DataKeyRow)
        .where(column.is_(None) if workspace_id is None else column == workspace_id)
        .order_by(DataKeyRow.created_at, DataKeyRow.id)
        .limit(1)
    )
    return await session.scalar(query)


async def data_key(session: AsyncSession, data_key_id: str) -> DataKeyRow | None:
    return await session.get(DataKeyRow, data_key_id)


async def all_data_keys(session: AsyncSession) -> Sequence[DataKeyRow]:
    """Every data key, locked for update where the backend can (rotation)."""
    query = sa.select(DataKeyRow).order_by(DataKeyRow.id).with_for_update()
    return (await session.scalars(query)).all()


async def credential(session: AsyncSession, credential_id: str) -> CredentialRow | None:
    return await session.get(CredentialRow, credential_id)


async def credentials(
    session: AsyncSession,
    *,
    owner_id: str | None = None,
    workspace_id: str | None = None,
    scope: str | None = None,
    provider: str | None = None,
) -> Sequence[CredentialRow]:
    """Credentials matching every filter given (``None`` filters nothing), newest first."""
    query = sa.select(CredentialRow)
    if owner_id is not None:
        query = query.where(CredentialRow.owner_id == owner_id)
    if workspace_id is not None:
        query = query.where(CredentialRow.workspace_id == workspace_id)
    if scope is not None:
        query = query.where(CredentialRow.scope == scope)
    if provider is not None:
        query = query.where(CredentialRow.provider == provider)
    query = query.order_by(CredentialRow.created_at.desc(), CredentialRow.id.desc())
    return (await session.scalars(query)).all()


async def candidates(
    session: AsyncSession, provider: str, *, user_id: str | None, workspace_id: str | None
) -> Sequence[CredentialRow]:
    """Keys for ``provider`` a run of ``user_id`` in ``workspace_id`` may use: the user's own in
    that workspace, the workspace's, and the instance's; newest first (the caller orders levels)."""
    levels = [CredentialRow.scope == "instance"]
    if workspace_id is not None:
        levels.append(
            sa.and_(CredentialRow.scope == "workspace", CredentialRow.workspace_id == workspace_id)
        )
        if user_id is not None:
            levels.append(
                sa.and_(
                    CredentialRow.scope == "user",
                    CredentialRow.owner_id == user_id,
                    CredentialRow.workspace_id == workspace_id,
                )
            )
    query = (
        sa.select(CredentialRow)
        .where(CredentialRow.provider == provider, sa.or_(*levels))
        .order_by(CredentialRow.created_at.desc(), CredentialRow.id.desc())
    )
    return (await session.scalars(query)).all()


async def delete_credential(session: AsyncSession, credential_id: str) -> bool:
    result = await session.execute(
        sa.delete(CredentialRow).where(CredentialRow.id == credential_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
