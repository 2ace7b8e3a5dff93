"""The same migrations on PostgreSQL (the scale-out backend): schema equals the models, and
the repositories work there too. CI must run this: the server is on this machine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from nexus.agents.spec import AgentSpec
from nexus.store.agent_repository import AgentRepository
from nexus.store.db import connect
from nexus.store.tables import Base


async def test_migrations_match_the_models_on_postgres(migrated_pg: str) -> None:
    engine = create_async_engine(migrated_pg)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_repositories_work_on_postgres(migrated_pg: str) -> None:
    db = connect(migrated_pg)
    try:
        repo = AgentRepository(db)
        created = await repo.create(AgentSpec(name="pg-agent"), workspace_id="ws_1")
        fetched = await repo.get(created.id)
        assert fetched is not None
        assert fetched.spec == created.spec
        assert fetched.created_at.tzinfo is not None
        assert fetched.created_at == created.created_at
    finally:
        await db.dispose()
