"""task change notifications: NOTIFY openkling_tasks '<id>' on every change a poll can see

The API processes keep recently polled task rows in memory (store/pgread.py) and drop one
when its id arrives on this channel. PostgreSQL only; SQLite has a single process.

Revision ID: 0006
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# json has no equality operator, hence the casts to text.
FUNCTION = """
CREATE OR REPLACE FUNCTION openkling_notify_task_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('openkling_tasks', OLD.id);
        RETURN OLD;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       OR NEW.status_msg IS DISTINCT FROM OLD.status_msg
       OR NEW.progress IS DISTINCT FROM OLD.progress
       OR NEW.updated_at IS DISTINCT FROM OLD.updated_at
       OR NEW.external_task_id IS DISTINCT FROM OLD.external_task_id
       OR NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.result::text IS DISTINCT FROM OLD.result::text THEN
        PERFORM pg_notify('openkling_tasks', NEW.id);
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
TRIGGER = """
CREATE TRIGGER tasks_notify_change AFTER UPDATE OR DELETE ON tasks
FOR EACH ROW EXECUTE FUNCTION openkling_notify_task_change()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tasks_notify_change ON tasks")
    op.execute("DROP FUNCTION IF EXISTS openkling_notify_task_change()")
