"""Batch scores: the latest `forecast score --store` of each dataset and kind, row by row.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_scores",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("as_of", sa.DateTime),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.String(10), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(40)),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("reasons_for", sa.Text, nullable=False),
        sa.Column("reasons_against", sa.Text, nullable=False),
    )
    op.create_index("ix_batch_scores_batch", "batch_scores", ["dataset", "kind", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_scores_batch", "batch_scores")
    op.drop_table("batch_scores")
