"""When a converted lead converted (a mapping's `converted_at`, e.g. Salesforce's "Converted
Date" or HubSpot's "Became a Customer Date"): training counts a lead's outcome only once it has
had time to convert (null: not given).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("converted_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("converted_at")
