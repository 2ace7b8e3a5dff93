"""code projects and their versioned files

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_projects",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=True),
        sa.Column("workspace_id", sa.String(length=40), nullable=True),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("code_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_projects_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_code_projects_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "code_file_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("author_kind", sa.String(length=10), nullable=False),
        sa.Column("author_id", sa.String(length=40), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["code_projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "project_id", "path", "version", name="uq_code_file_versions_project_path_version"
        ),
    )
    with op.batch_alter_table("code_file_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_code_file_versions_project_created", ["project_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("code_file_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_code_file_versions_project_created")
    op.drop_table("code_file_versions")
    with op.batch_alter_table("code_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_projects_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_code_projects_owner_id"))
    op.drop_table("code_projects")
