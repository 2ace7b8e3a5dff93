"""Stored workflows: the editable draft (``workflows``) and its immutable versions
(``workflow_versions``). Names are unique within a workspace; version numbers count from 1 per
workflow. Who may see or change a workflow is ``nexus.security.access``'s job.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.core.errors import ConflictError, NotFoundError
from nexus.core.ids import new_id
from nexus.engine.spec import WorkflowSpec
from nexus.store.db import Database
from nexus.store.tables import WorkflowRow, WorkflowVersionRow, utcnow


@dataclass(frozen=True)
class StoredWorkflow:
    id: str
    spec: WorkflowSpec
    """The draft: what the editor shows and what ``PUT`` replaces."""
    owner_id: str | None
    workspace_id: str | None
    visibility: str
    published_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow as lists show it: no graph, only its size (read without validating the spec,
    so listing workflows of thousands of nodes stays cheap)."""

    id: str
    name: str
    description: str
    node_count: int
    owner_id: str | None
    workspace_id: str | None
    visibility: str
    published_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredWorkflowVersion:
    workflow_id: str
    version: int
    label: str | None
    spec: WorkflowSpec
    created_by: str | None
    created_at: datetime


def _stored(row: WorkflowRow) -> StoredWorkflow:
    return StoredWorkflow(
        id=row.id,
        spec=WorkflowSpec.model_validate(row.spec),
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        visibility=row.visibility,
        published_version=row.published_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _summary(row: WorkflowRow) -> WorkflowSummary:
    spec = row.spec if isinstance(row.spec, dict) else {}
    nodes = spec.get("nodes")
    return WorkflowSummary(
        id=row.id,
        name=row.name,
        description=str(spec.get("description") or ""),
        node_count=len(nodes) if isinstance(nodes, list) else 0,
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        visibility=row.visibility,
        published_version=row.published_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _stored_version(row: WorkflowVersionRow) -> StoredWorkflowVersion:
    return StoredWorkflowVersion(
        workflow_id=row.workflow_id,
        version=row.version,
        label=row.label,
        spec=WorkflowSpec.model_validate(row.spec),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _same_workspace(workspace_id: str | None) -> sa.ColumnElement[bool]:
    if workspace_id is None:
        return WorkflowRow.workspace_id.is_(None)
    return WorkflowRow.workspace_id == workspace_id


def visible_clause(
    user_id: str, workspace_ids: Collection[str], admin_workspace_ids: Collection[str]
) -> sa.ColumnElement[bool]:
    """Rows a user may see (the same rule as for agents)."""
    return sa.or_(
        WorkflowRow.owner_id == user_id,
        WorkflowRow.visibility == "public",
        sa.and_(WorkflowRow.workspace_id.in_(workspace_ids), WorkflowRow.visibility == "workspace"),
        WorkflowRow.workspace_id.in_(admin_workspace_ids),
    )


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a workflow named {name!r} already exists in this workspace; choose another name",
        field="name",
    )


class WorkflowRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _check_name(
        self, session: AsyncSession, name: str, workspace_id: str | None, except_id: str | None
    ) -> None:
        query = sa.select(WorkflowRow.id).where(
            WorkflowRow.name == name, _same_workspace(workspace_id)
        )
        if except_id is not None:
            query = query.where(WorkflowRow.id != except_id)
        if await session.scalar(query.limit(1)) is not None:
            raise _name_taken(name)

    async def create(
        self,
        spec: WorkflowSpec,
        *,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        visibility: str = "workspace",
    ) -> StoredWorkflow:
        now = utcnow()
        row = WorkflowRow(
            id=new_id("wf"),
            name=spec.name,
            spec=spec.to_json(),
            owner_id=owner_id,
            workspace_id=workspace_id,
            visibility=visibility,
            published_version=None,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.sessions.begin() as session:
                await self._check_name(session, spec.name, workspace_id, None)
                session.add(row)
        except IntegrityError as exc:
            raise _name_taken(spec.name) from exc
        return _stored(row)

    async def get(self, workflow_id: str) -> StoredWorkflow | None:
        async with self.db.sessions() as session:
            row = await session.get(WorkflowRow, workflow_id)
        return _stored(row) if row is not None else None

    async def by_name(self, name: str, workspace_id: str | None) -> StoredWorkflow | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                sa.select(WorkflowRow).where(
                    WorkflowRow.name == name, _same_workspace(workspace_id)
                )
            )
        return _stored(row) if row is not None else None

    async def list(
        self, *, where: sa.ColumnElement[bool] | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[StoredWorkflow], int]:
        query = sa.select(WorkflowRow)
        if where is not None:
            query = query.where(where)
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(WorkflowRow.name, WorkflowRow.id).offset(offset).limit(limit)
            )
            return [_stored(r) for r in rows], total or 0

    async def list_summaries(
        self,
        *,
        where: sa.ColumnElement[bool] | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[WorkflowSummary], int]:
        """Like ``list``, as summaries; ``search`` matches the name, case-insensitively."""
        query = sa.select(WorkflowRow)
        if where is not None:
            query = query.where(where)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(WorkflowRow.name.ilike(f"%{escaped}%", escape="\\"))
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(WorkflowRow.name, WorkflowRow.id).offset(offset).limit(limit)
            )
            return [_summary(r) for r in rows], total or 0

    async def update(
        self, workflow_id: str, spec: WorkflowSpec, *, visibility: str | None = None
    ) -> StoredWorkflow:
        try:
            async with self.db.sessions.begin() as session:
                row = await session.get(WorkflowRow, workflow_id)
                if row is None:
                    raise ConflictError(f"workflow {workflow_id!r} was deleted meanwhile")
                await self._check_name(session, spec.name, row.workspace_id, workflow_id)
                row.name = spec.name
                row.spec = spec.to_json()
                if visibility is not None:
                    row.visibility = visibility
                row.updated_at = utcnow()
        except IntegrityError as exc:
            raise _name_taken(spec.name) from exc
        return _stored(row)

    async def delete(self, workflow_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(sa.delete(WorkflowRow).where(WorkflowRow.id == workflow_id))

    async def publish(
        self,
        workflow_id: str,
        *,
        label: str | None = None,
        created_by: str | None = None,
        spec: WorkflowSpec | None = None,
    ) -> StoredWorkflowVersion:
        """Store ``spec`` (default: the draft) as the next version and make it the published
        one. Concurrent publishes collide on the unique version and one gets a conflict."""
        try:
            async with self.db.sessions.begin() as session:
                row = await session.get(WorkflowRow, workflow_id)
                if row is None:
                    raise NotFoundError(f"workflow {workflow_id!r} not found")
                last = await session.scalar(
                    sa.select(sa.func.max(WorkflowVersionRow.version)).where(
                        WorkflowVersionRow.workflow_id == workflow_id
                    )
                )
                number = (last if last is not None else 0) + 1
                body = spec.to_json() if spec is not None else row.spec
                version = WorkflowVersionRow(
                    workflow_id=workflow_id,
                    version=number,
                    label=label,
                    spec={**body, "version": number},
                    created_by=created_by,
                    created_at=utcnow(),
                )
                session.add(version)
                row.published_version = number
                row.updated_at = utcnow()
        except IntegrityError as exc:
            raise ConflictError(
                f"workflow {workflow_id!r} was published concurrently; try again"
            ) from exc
        return _stored_version(version)

    async def versions(self, workflow_id: str) -> list[StoredWorkflowVersion]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(WorkflowVersionRow)
                .where(WorkflowVersionRow.workflow_id == workflow_id)
                .order_by(WorkflowVersionRow.version)
            )
            return [_stored_version(r) for r in rows]

    async def version(self, workflow_id: str, version: int) -> StoredWorkflowVersion:
        async with self.db.sessions() as session:
            row = await session.scalar(
                sa.select(WorkflowVersionRow).where(
                    WorkflowVersionRow.workflow_id == workflow_id,
                    WorkflowVersionRow.version == version,
                )
            )
        if row is None:
            raise NotFoundError(
                f"workflow {workflow_id!r} has no version {version}", field="options.version"
            )
        return _stored_version(row)
