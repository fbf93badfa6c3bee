"""Indexes on a dataset's deals by product, account and rep: a CRM's push that leaves out what
the import read from joined tables takes it from the deals naming the same ones
(`forecast.data.catalogs`), in milliseconds however many deals the dataset holds.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_opportunities_dataset_product": ("dataset", "product", "updated_at"),
    "ix_opportunities_dataset_account": ("dataset", "account", "updated_at"),
    "ix_opportunities_dataset_owner": ("dataset", "owner", "updated_at"),
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "opportunities", list(columns))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="opportunities")
