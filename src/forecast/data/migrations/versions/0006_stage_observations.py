"""Stage observations and a deterministic tie-break: any arrival order gives the same store.

`stage_history.seen_only` marks a sighting (a push or export said the deal was in a stage at a
time) apart from an entry (a dated stage, an outcome, a history file's row); every row stored
so far was written as an entry. `opportunities.state_key` breaks a tie between two states of
the same `updated_at`; rows stored so far have none (any new state of that time wins once).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stage_history") as batch:
        batch.add_column(
            sa.Column("seen_only", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("opportunities") as batch:
        batch.add_column(sa.Column("state_key", sa.String(80)))


def downgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.drop_column("state_key")
    with op.batch_alter_table("stage_history") as batch:
        batch.drop_column("seen_only")
