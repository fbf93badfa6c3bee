"""Targets (quotas) per group and period.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("dataset", sa.String(100), primary_key=True),
        sa.Column("level", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("targets")
