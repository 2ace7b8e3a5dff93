"""node_checkpoints.usage: the tokens a workflow node's model calls used

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_checkpoints") as batch:
        batch.add_column(sa.Column("usage", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_checkpoints") as batch:
        batch.drop_column("usage")
