"""Datasets, opportunities, stage history and leads.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("stages", sa.JSON, nullable=True),
        sa.Column("leak_columns", sa.JSON, nullable=True),
        sa.Column("options", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "opportunities",
        sa.Column("dataset", sa.String(100), primary_key=True),
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("account", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("region", sa.String(100)),
        sa.Column("product", sa.String(200)),
        sa.Column("product_series", sa.String(100)),
        sa.Column("list_price", sa.Float),
        sa.Column("amount", sa.Float),
        sa.Column("amount_estimated", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("created_estimated", sa.Boolean, nullable=False),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("expected_close_at", sa.DateTime),
        sa.Column("rep_probability", sa.Float),
        sa.Column("forecast_category", sa.String(20)),
        sa.Column("csat", sa.Float),
        sa.Column("sector", sa.String(100)),
        sa.Column("account_employees", sa.Float),
        sa.Column("account_revenue", sa.Float),
        sa.Column("account_country", sa.String(100)),
    )
    op.create_index("ix_opportunities_dataset_status", "opportunities", ["dataset", "status"])
    op.create_table(
        "stage_history",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("opportunity_id", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("entered_at", sa.DateTime, nullable=False),
        # Also serves lookups of one deal's history (its leading columns).
        sa.UniqueConstraint(
            "dataset", "opportunity_id", "stage", "entered_at", name="uq_stage_history"
        ),
    )
    op.create_table(
        "leads",
        sa.Column("dataset", sa.String(100), primary_key=True),
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("converted", sa.Integer),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leads")
    op.drop_table("stage_history")
    op.drop_table("opportunities")
    op.drop_table("datasets")
