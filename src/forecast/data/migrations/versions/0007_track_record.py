"""The track record: each forecast of a dataset's latest backtest, by method, beside the actual.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_record",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("freq", sa.String(10), nullable=False),
        sa.Column("run_at", sa.DateTime, nullable=False),
        sa.Column("origin", sa.DateTime, nullable=False),
        sa.Column("horizon_weeks", sa.Float, nullable=False),
        sa.Column("window_label", sa.String(40), nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("window_end", sa.DateTime, nullable=False),
        sa.Column("sealed", sa.Boolean, nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("actual", sa.Float, nullable=False),
        sa.Column("forecast", sa.Float, nullable=False),
        sa.Column("p10", sa.Float),
        sa.Column("p50", sa.Float),
        sa.Column("p90", sa.Float),
    )
    op.create_index("ix_track_record_dataset_freq", "track_record", ["dataset", "freq"])


def downgrade() -> None:
    op.drop_index("ix_track_record_dataset_freq", "track_record")
    op.drop_table("track_record")
