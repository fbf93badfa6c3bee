"""The score log names what it scored: the deal's or lead's id, its dataset, and the inputs.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("score_log") as batch:
        batch.add_column(sa.Column("subject_id", sa.String(200)))
        batch.add_column(sa.Column("dataset", sa.String(100)))
        batch.add_column(sa.Column("inputs", sa.JSON))
    op.create_index("ix_score_log_subject", "score_log", ["kind", "dataset", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_score_log_subject", "score_log")
    with op.batch_alter_table("score_log") as batch:
        batch.drop_column("inputs")
        batch.drop_column("dataset")
        batch.drop_column("subject_id")
