"""A batch score's grade may be null: a fallback with one rate for every row (a lead's base
rate) ranks nothing, so its scores have no grade (`scoring.NO_GRADE`).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_scores") as batch:
        batch.alter_column("grade", existing_type=sa.String(10), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM batch_scores WHERE grade IS NULL")
    with op.batch_alter_table("batch_scores") as batch:
        batch.alter_column("grade", existing_type=sa.String(10), nullable=False)
