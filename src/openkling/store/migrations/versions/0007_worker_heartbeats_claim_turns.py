"""worker heartbeats and claim turns

worker_heartbeats: one row per worker process, its last sign of life. An idle worker holds no
task, so task leases cannot tell whether any worker is alive; this row can (`/readyz`
`workers`, `/metrics` `openkling_worker_heartbeat_age_seconds`).

claim_turns: when each account last had a task of a provider claimed, so the claim can serve
accounts in turn (store/tasks.py `claim`).

Revision ID: 0007
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    op.create_table(
        "claim_turns",
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "account_id"),
    )


def downgrade() -> None:
    op.drop_table("claim_turns")
    op.drop_table("worker_heartbeats")
