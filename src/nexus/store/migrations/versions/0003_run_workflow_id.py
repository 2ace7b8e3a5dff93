"""runs.workflow_id: which stored workflow a workflow run belongs to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("workflow_id", sa.String(length=40), nullable=True))
        batch.create_index("ix_runs_workflow_created", ["workflow_id", "created_at"])
    runs = sa.table("runs", sa.column("id"), sa.column("kind"), sa.column("workflow_id"))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, spec_snapshot FROM runs WHERE kind = 'workflow'")
    ).fetchall()
    for run_id, snapshot in rows:
        data = snapshot if isinstance(snapshot, dict) else _loads(snapshot)
        workflow_id = (data or {}).get("workflow_id")
        if workflow_id:
            bind.execute(runs.update().where(runs.c.id == run_id).values(workflow_id=workflow_id))


def _loads(text: str | None) -> dict | None:
    import json

    return json.loads(text) if text else None


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_workflow_created")
        batch.drop_column("workflow_id")
