"""When a writer last took a dataset's write lock, apart from its version (`updated_at`): a
write that changes nothing (an export imported again, a push answered unchanged) leaves the
version, and so every cache keyed on it, while the lock still leaves a mark. On SQLite that mark
is how a writer waiting in a queue sees the writers ahead of it finish (`write_lock`); on
PostgreSQL the update takes the row's lock.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("locked_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("locked_at")
