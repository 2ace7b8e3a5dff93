"""The database schema. Alembic migrations in ``store/migrations`` must match it (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: sa.JSON}


class AgentRow(Base):
    __tablename__ = "agents"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_agents_workspace_name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    owner_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    visibility: Mapped[str] = mapped_column(sa.String(20), default="workspace")
    spec: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        sa.Index("ix_runs_agent_created", "agent_id", "created_at"),
        sa.Index("ix_runs_workflow_created", "workflow_id", "created_at"),
        sa.Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="agent")
    owner_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    agent_id: Mapped[str | None] = mapped_column(sa.String(40))
    workflow_id: Mapped[str | None] = mapped_column(sa.String(40))
    session_id: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(30))
    input: Mapped[dict] = mapped_column(sa.JSON)
    output: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[dict | None] = mapped_column(sa.JSON)
    usage: Mapped[dict | None] = mapped_column(sa.JSON)
    spec_snapshot: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(100))
    """The worker process executing this (workflow) run; see ``nexus.worker.workflow_runs``."""
    lease_until: Mapped[datetime | None]
    """When the lease expires unless renewed; another worker may take the run over after."""


class RunEventRow(Base):
    __tablename__ = "run_events"
    __table_args__ = (sa.UniqueConstraint("run_id", "seq", name="uq_run_events_run_seq"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    type: Mapped[str] = mapped_column(sa.String(40))
    data: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[float] = mapped_column(sa.Float)


class TraceSpanRow(Base):
    __tablename__ = "trace_spans"
    __table_args__ = (sa.Index("ix_trace_spans_trace", "trace_id"),)

    id: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    trace_id: Mapped[str] = mapped_column(sa.String(80))
    parent_id: Mapped[str | None] = mapped_column(sa.String(80))
    run_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    started_at: Mapped[str | None] = mapped_column(sa.String(40))
    ended_at: Mapped[str | None] = mapped_column(sa.String(40))
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[dict | None] = mapped_column(sa.JSON)


class ConversationItemRow(Base):
    __tablename__ = "conversation_items"
    __table_args__ = (sa.Index("ix_conversation_items_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(sa.String(200))
    item: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- accounts, access and secrets ------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MembershipRow(Base):
    __tablename__ = "memberships"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(20))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class BrowserSessionRow(Base):
    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class DataKeyRow(Base):
    """A workspace's (or, with no workspace, the instance's) data key, wrapped by a master key."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    master_key_id: Mapped[str] = mapped_column(sa.String(40))
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]


class CredentialRow(Base):
    __tablename__ = "credentials"
    __table_args__ = (sa.Index("ix_credentials_scope", "scope", "owner_id", "workspace_id"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(20))  # user | workspace | instance
    owner_id: Mapped[str | None] = mapped_column(sa.String(40))
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40))
    provider: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(100))
    data_key_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("data_keys.id"))
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    masked: Mapped[str] = mapped_column(sa.String(40))
    verified: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(sa.String(40))
    action: Mapped[str] = mapped_column(sa.String(60))
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(80))
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict | None] = mapped_column(sa.JSON)


class InstanceSettingRow(Base):
    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[dict] = mapped_column(sa.JSON)


# --- workflows ---------------------------------------------------------------------------------


class WorkflowRow(Base):
    """A workflow: its editable draft spec, and which stored version runs by default."""

    __tablename__ = "workflows"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name", name="uq_workflows_workspace_name"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    owner_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    visibility: Mapped[str] = mapped_column(sa.String(20), default="workspace")
    spec: Mapped[dict] = mapped_column(sa.JSON)
    published_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkflowVersionRow(Base):
    """An immutable snapshot of a workflow's spec; runs pin one."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_version"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workflows.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    label: Mapped[str | None] = mapped_column(sa.String(200))
    spec: Mapped[dict] = mapped_column(sa.JSON)
    created_by: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NodeCheckpointRow(Base):
    """The latest record of one node of a workflow run (the engine's ``NodeRecord``)."""

    __tablename__ = "node_checkpoints"

    run_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20))
    attempt: Mapped[int] = mapped_column(sa.Integer)
    outputs: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[dict | None] = mapped_column(sa.JSON)
    waiting: Mapped[dict | None] = mapped_column(sa.JSON)
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    usage: Mapped[dict | None] = mapped_column(sa.JSON)
    """Tokens the node's model calls used (migration 0007)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- code projects -----------------------------------------------------------------------------


class CodeProjectRow(Base):
    """A code project: a set of files whose every save is a stored version."""

    __tablename__ = "code_projects"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    owner_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    visibility: Mapped[str] = mapped_column(sa.String(20), default="workspace")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CodeFileVersionRow(Base):
    """One saved version of one file of a code project (append-only)."""

    __tablename__ = "code_file_versions"
    __table_args__ = (
        sa.UniqueConstraint(
            "project_id", "path", "version", name="uq_code_file_versions_project_path_version"
        ),
        sa.Index("ix_code_file_versions_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("code_projects.id", ondelete="CASCADE")
    )
    path: Mapped[str] = mapped_column(sa.String(300))
    version: Mapped[int] = mapped_column(sa.Integer)
    content: Mapped[str] = mapped_column(sa.Text)
    deleted: Mapped[bool] = mapped_column(default=False)
    author_kind: Mapped[str] = mapped_column(sa.String(10))  # user | agent
    author_id: Mapped[str | None] = mapped_column(sa.String(40))
    message: Mapped[str | None] = mapped_column(sa.String(500))
    diff: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- hosted apps -------------------------------------------------------------------------------


class HostedAppRow(Base):
    """A code project's web app running in a sandbox (mode ``app``), reached at ``/apps/{id}/``.

    The id is unguessable (it is the whole secret of a public app). A row outlives its app:
    stopped, expired and crashed apps stay listed with how they ended."""

    __tablename__ = "hosted_apps"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(40), index=True)
    entry: Mapped[str] = mapped_column(sa.String(300))
    owner_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    workspace_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    access: Mapped[str] = mapped_column(sa.String(20))  # private | workspace | public
    status: Mapped[str] = mapped_column(sa.String(20))  # starting|running|crashed|stopped|expired
    permanent: Mapped[bool] = mapped_column(default=False)
    ttl_s: Mapped[int | None] = mapped_column(sa.Integer)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    exit_code: Mapped[int | None] = mapped_column(sa.Integer)
    killed_reason: Mapped[str | None] = mapped_column(sa.String(40))
    error: Mapped[str | None] = mapped_column(sa.Text)
    stderr_tail: Mapped[str | None] = mapped_column(sa.Text)
