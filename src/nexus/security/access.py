"""The ownership helper: every lookup of an object by id goes through ``Access.lookup``.

An object the caller may not see is reported as not found (404), never as forbidden, so
existence is not confirmed. An object the caller may see but not change in the way asked is
``PermissionDeniedError`` (403) — e.g. a public agent of another workspace, or a viewer editing.
"""

from __future__ import annotations

from typing import Literal, Protocol

import sqlalchemy as sa

from nexus.core.errors import NotFoundError, PermissionDeniedError
from nexus.security.principal import Principal, Role, Visibility
from nexus.store.agent_repository import AgentRepository, StoredAgent, visible_clause
from nexus.store.db import Database
from nexus.store.run_repository import RunRepository, StoredRun
from nexus.store.tables import AgentRow, RunRow
from nexus.store.workflow_repository import StoredWorkflow, WorkflowRepository
from nexus.store.workflow_repository import visible_clause as workflow_visible_clause

# "run" needs no more than "read": every role runs what it may see (viewers included, issue 3);
# the run is the caller's own, in the caller's workspace. Kept apart so call sites say why.
Need = Literal["read", "run", "edit"]
AgentScope = Literal["all", "mine", "workspace", "community"]


def _admin_workspaces(p: Principal) -> list[str]:
    return [ws for ws, role in p.memberships.items() if role is Role.ADMIN]


class Shareable(Protocol):
    """An object with an owner, a workspace and a visibility (agents, workflows)."""

    owner_id: str | None
    workspace_id: str | None
    visibility: str


def can_see(p: Principal, obj: Shareable) -> bool:
    """Own, public, shared in a workspace of the caller, or anything in a workspace they
    administer."""
    if obj.owner_id == p.user_id or obj.visibility == Visibility.PUBLIC:
        return True
    role = p.role_in(obj.workspace_id)
    if role is None:
        return False
    return obj.visibility == Visibility.WORKSPACE or role is Role.ADMIN


def can_edit(p: Principal, obj: Shareable) -> bool:
    """Workspace admins; developers for their own and workspace-shared objects."""
    role = p.role_in(obj.workspace_id)
    if role is Role.ADMIN:
        return True
    if role is not Role.DEVELOPER:
        return False
    return obj.owner_id == p.user_id or obj.visibility == Visibility.WORKSPACE


# One rule for every shareable kind; the names say what the call sites check.
can_see_agent = can_see_workflow = can_see
can_edit_agent = can_edit_workflow = can_edit


def can_see_run(p: Principal, run: StoredRun) -> bool:
    return run.owner_id == p.user_id or p.role_in(run.workspace_id) is Role.ADMIN


class Access:
    def __init__(self, db: Database) -> None:
        self.agents = AgentRepository(db)
        self.runs = RunRepository(db)
        self.workflows = WorkflowRepository(db)

    async def lookup_agent(self, p: Principal, ref: str, need: Need = "read") -> StoredAgent:
        """An agent by id, or by name in the caller's workspace."""
        agent = await self.agents.get(ref)
        if agent is None:
            agent = await self.agents.by_name(ref, p.workspace_id)
        if agent is None or not can_see_agent(p, agent):
            raise NotFoundError(f"agent {ref!r} not found")
        if need == "edit" and not can_edit_agent(p, agent):
            raise PermissionDeniedError(
                f"you may read and clone agent {agent.spec.name!r} but not change it"
            )
        return agent

    async def lookup_run(self, p: Principal, run_id: str, need: Need = "read") -> StoredRun:
        run = await self.runs.find(run_id)
        if run is None or not can_see_run(p, run):
            raise NotFoundError(f"run {run_id!r} not found")
        return run

    async def lookup_workflow(self, p: Principal, ref: str, need: Need = "read") -> StoredWorkflow:
        """A workflow by id, or by name in the caller's workspace."""
        workflow = await self.workflows.get(ref)
        if workflow is None:
            workflow = await self.workflows.by_name(ref, p.workspace_id)
        if workflow is None or not can_see_workflow(p, workflow):
            raise NotFoundError(f"workflow {ref!r} not found")
        if need == "edit" and not can_edit_workflow(p, workflow):
            raise PermissionDeniedError(
                f"you may read workflow {workflow.spec.name!r} but not change it"
            )
        return workflow

    def workflow_filter(self, p: Principal) -> sa.ColumnElement[bool]:
        return workflow_visible_clause(p.user_id, list(p.memberships), _admin_workspaces(p))

    def agent_filter(self, p: Principal, scope: AgentScope = "all") -> sa.ColumnElement[bool]:
        if scope == "mine":
            return AgentRow.owner_id == p.user_id
        if scope == "workspace":
            return sa.and_(
                AgentRow.workspace_id == p.workspace_id,
                visible_clause(p.user_id, list(p.memberships), _admin_workspaces(p)),
            )
        if scope == "community":
            return AgentRow.visibility == Visibility.PUBLIC.value
        return visible_clause(p.user_id, list(p.memberships), _admin_workspaces(p))

    def run_filter(self, p: Principal) -> sa.ColumnElement[bool]:
        return sa.or_(RunRow.owner_id == p.user_id, RunRow.workspace_id.in_(_admin_workspaces(p)))

    def require_create(self, p: Principal) -> None:
        if not p.role.can_create:
            raise PermissionDeniedError("viewers cannot create or change objects")
