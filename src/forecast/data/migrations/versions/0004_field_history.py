"""Field history: every value a deal's changeable fields took, and when it was observed.

Back-filled from the stored deals: each deal's current fields, observed at its `updated_at` (the
export date or push time its content last changed at), which is all the store knew until now.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The tracked fields as they stood when this revision was written (a migration never reads
# the application's current lists).
FIELDS = (
    ("account", sa.String(200)), ("owner", sa.String(200)), ("team", sa.String(200)),
    ("region", sa.String(100)), ("product", sa.String(200)), ("product_series", sa.String(100)),
    ("list_price", sa.Float), ("amount", sa.Float), ("amount_estimated", sa.Boolean),
    ("currency", sa.String(3)), ("expected_close_at", sa.DateTime),
    ("rep_probability", sa.Float), ("forecast_category", sa.String(20)), ("csat", sa.Float),
    ("sector", sa.String(100)), ("account_employees", sa.Float), ("account_revenue", sa.Float),
    ("account_country", sa.String(100)),
)


def upgrade() -> None:
    op.create_table(
        "field_history",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("opportunity_id", sa.String(100), nullable=False),
        sa.Column("observed_at", sa.DateTime, nullable=False),
        *[sa.Column(name, kind) for name, kind in FIELDS],
        sa.UniqueConstraint("dataset", "opportunity_id", "observed_at", name="uq_field_history"),
    )
    names = ", ".join(name for name, _ in FIELDS)
    op.execute(
        f"INSERT INTO field_history (dataset, opportunity_id, observed_at, {names}) "
        f"SELECT dataset, id, updated_at, {names} FROM opportunities"
    )


def downgrade() -> None:
    op.drop_table("field_history")
