"""A deal's own columns beyond the canonical ones (a mapping's `features:`), kept as a JSON object
so a CRM's custom fields can be model inputs under the user's names (null: none).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.drop_column("attributes")
