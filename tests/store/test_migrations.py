"""Alembic migrations build exactly the schema ``nexus.store.tables`` declares, and undo it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from nexus.store.migrate import alembic_config, upgrade, upgrade_async
from nexus.store.tables import Base


def urls(tmp_path: Path) -> tuple[str, str]:
    file = (tmp_path / "schema.db").resolve()
    return f"sqlite+aiosqlite:///{file}", f"sqlite:///{file}"


def diff_against_tables(sync_url: str) -> list:
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def table_names(sync_url: str) -> set[str]:
    engine = sa.create_engine(sync_url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_tables(tmp_path) -> None:
    url, sync_url = urls(tmp_path)
    upgrade(url)
    assert diff_against_tables(sync_url) == []
    assert table_names(sync_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_upgrade_is_idempotent(tmp_path) -> None:
    url, sync_url = urls(tmp_path)
    upgrade(url)
    upgrade(url)
    assert diff_against_tables(sync_url) == []


async def test_upgrade_from_async_code(tmp_path) -> None:
    url, sync_url = urls(tmp_path)
    await upgrade_async(url)
    assert diff_against_tables(sync_url) == []


def test_downgrade_to_base_and_back(tmp_path) -> None:
    url, sync_url = urls(tmp_path)
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    assert table_names(sync_url) == {"alembic_version"}
    upgrade(url)
    assert diff_against_tables(sync_url) == []


def test_one_head_and_a_linear_history(tmp_path) -> None:
    url, _ = urls(tmp_path)
    scripts = ScriptDirectory.from_config(alembic_config(url))
    assert len(scripts.get_heads()) == 1
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(isinstance(r.down_revision, str | None) for r in revisions)


def test_current_revision_is_head_after_upgrade(tmp_path) -> None:
    url, sync_url = urls(tmp_path)
    upgrade(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = sa.create_engine(sync_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
    finally:
        engine.dispose()
