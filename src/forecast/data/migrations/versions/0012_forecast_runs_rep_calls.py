"""The reps' own call beside each tracked forecast line: won to date plus their probability-
weighted open deals expected in the period, and plus their Commit deals (null where the data
held no call known on that date).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecast_runs") as batch:
        batch.add_column(sa.Column("rep_call", sa.Float))
        batch.add_column(sa.Column("rep_commit", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("forecast_runs") as batch:
        batch.drop_column("rep_commit")
        batch.drop_column("rep_call")
