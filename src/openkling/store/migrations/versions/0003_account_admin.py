"""account admin flag: operators who may use the admin routes and console pages

Revision ID: 0003
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: batch mode would recreate `accounts` on SQLite, and dropping it
    # fails once tasks reference it (an upgrade of a database in use).
    op.add_column(
        "accounts",
        sa.Column("is_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("is_admin")
