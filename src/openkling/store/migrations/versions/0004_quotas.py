"""quotas (resource packs of units per account, the charge each task holds on one) and task
families (a task's kind is its family path: 'text2video' becomes 'videos/text2video')

Revision ID: 0004
Revises: 0005 (rate buckets landed first; console's 0003 is to be chained in when it lands)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_packs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("total_units", sa.Float(precision=53), nullable=False),
        sa.Column("remaining_units", sa.Float(precision=53), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quota_packs_account_id", "quota_packs", ["account_id"])
    op.create_table(
        "quota_charges",
        sa.Column("task_id", sa.String(length=24), nullable=False),
        sa.Column("pack_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Float(precision=53), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["pack_id"], ["quota_packs.id"]),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index("ix_quota_charges_pack_id", "quota_charges", ["pack_id"])
    op.execute("UPDATE tasks SET kind = 'videos/text2video' WHERE kind = 'text2video'")


def downgrade() -> None:
    op.execute("UPDATE tasks SET kind = 'text2video' WHERE kind = 'videos/text2video'")
    op.drop_index("ix_quota_charges_pack_id", table_name="quota_charges")
    op.drop_table("quota_charges")
    op.drop_index("ix_quota_packs_account_id", table_name="quota_packs")
    op.drop_table("quota_packs")
