"""A batch score's notes (the API's: a deal older than any the model learnt from, a lead's value
the model could not use), as a JSON list of text; a batch stored before them has none ('[]').

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_scores") as batch:
        batch.add_column(sa.Column("notes", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("batch_scores") as batch:
        batch.drop_column("notes")
