"""Forecast history: each tracked forecast (per period, level and group) as of its date.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("run_at", sa.DateTime, nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("period_start", sa.DateTime, nullable=False),
        sa.Column("period_end", sa.DateTime, nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("p10", sa.Float, nullable=False),
        sa.Column("p50", sa.Float, nullable=False),
        sa.Column("p90", sa.Float, nullable=False),
        sa.Column("won_so_far", sa.Float, nullable=False),
        sa.Column("pipeline_value", sa.Float, nullable=False),
        sa.Column("weighted_pipeline", sa.Float),
        sa.Column("method", sa.String(80), nullable=False),
        sa.Column("models", sa.String(200), nullable=False),
        sa.UniqueConstraint(
            "dataset", "as_of", "period", "level", "group_name", name="uq_forecast_runs"
        ),
    )
    op.create_index("ix_forecast_runs_period", "forecast_runs", ["dataset", "period", "level"])


def downgrade() -> None:
    op.drop_index("ix_forecast_runs_period", "forecast_runs")
    op.drop_table("forecast_runs")
