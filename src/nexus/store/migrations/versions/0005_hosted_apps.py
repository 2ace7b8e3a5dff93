"""hosted apps (sandbox mode app)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosted_apps",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("entry", sa.String(length=300), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=True),
        sa.Column("workspace_id", sa.String(length=40), nullable=True),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("ttl_s", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("killed_reason", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stderr_tail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hosted_apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hosted_apps_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hosted_apps_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hosted_apps_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hosted_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hosted_apps_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_hosted_apps_project_id"))
        batch_op.drop_index(batch_op.f("ix_hosted_apps_owner_id"))
    op.drop_table("hosted_apps")
