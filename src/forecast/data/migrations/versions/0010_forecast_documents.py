"""Stored forecasts: the whole forecast (per period and grouping) of each tracked date, served
to the API, the dashboard and the CLI while the data it was made from is unchanged.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_documents",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("grouping", sa.String(20), nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("run_at", sa.DateTime, nullable=False),
        sa.Column("data_version", sa.String(64), nullable=False),
        sa.Column("data_end", sa.DateTime, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.UniqueConstraint("dataset", "period", "grouping", "as_of", name="uq_forecast_documents"),
    )


def downgrade() -> None:
    op.drop_table("forecast_documents")
