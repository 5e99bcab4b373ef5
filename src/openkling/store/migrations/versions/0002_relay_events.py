"""relay events: upstream callbacks waiting for the worker that tracks the task

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=24), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_relay_events_task_id", "relay_events", ["task_id"])
    op.create_index("ix_relay_events_created_at", "relay_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_relay_events_created_at", table_name="relay_events")
    op.drop_index("ix_relay_events_task_id", table_name="relay_events")
    op.drop_table("relay_events")
