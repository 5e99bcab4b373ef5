"""SQLAlchemy Core tables. Times are integer milliseconds since the epoch everywhere.

The task row is the source of truth: its queue state (attempts, run_after, lease_owner,
lease_expires_at, cancel_requested, last_error) lives in the same row as what clients see.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import JSON

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    # Operators: may call the admin routes (/admin/v1) and see the console's admin pages.
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    # Encrypted with the server's master key; signs this account's callback deliveries.
    Column("callback_secret_enc", LargeBinary, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("label", String(128), nullable=False),
    # SHA-256 of the API key (high-entropy random secret, so a fast hash is enough).
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("api_key_hint", String(16), nullable=False),
    Column("access_key", String(64), nullable=False, unique=True),
    # The JWT secret must be usable for HMAC verification, so it is encrypted, not hashed.
    Column("secret_key_enc", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("external_task_id", String(128), nullable=True),
    Column("model_name", String(64), nullable=False),
    Column("provider", String(128), nullable=False),
    Column("request", JSON, nullable=False),
    Column("callback_url", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_msg", Text, nullable=False, server_default=""),
    Column("progress", Integer, nullable=False, server_default=text("0")),
    Column("result", JSON, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Queue state.
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("last_error", Text, nullable=True),
    Column("provider_state", JSON, nullable=True),
    UniqueConstraint("account_id", "kind", "external_task_id", name="uq_tasks_external_id"),
    Index("ix_tasks_account_created", "account_id", "created_at"),
    # The unfinished-task cap counts (account, status) inside every create transaction.
    Index("ix_tasks_account_status", "account_id", "status"),
    Index("ix_tasks_queue", "status", "lease_owner", "run_after"),
    Index("ix_tasks_lease", "lease_owner", "lease_expires_at"),
)

callback_deliveries = Table(
    "callback_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(24), ForeignKey("tasks.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# Upstream callbacks to the Kling relay, recorded by the API for the worker tracking the task
# (see store/relay_events.py).
relay_events = Table(
    "relay_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(24), nullable=False, index=True),
    Column("payload", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
)

# Per-account request-rate token buckets shared by every API process on PostgreSQL (see
# store/rate_buckets.py). No foreign key: its check would lock the account row that every
# create transaction locks too.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("tokens", Float, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("granted", Integer, nullable=False),
)

# One row per worker process (its id is new at each start): when it last said it is alive,
# whether or not it runs a task (see store/workers.py).
worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", String(300), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)

# When each account last had a task of a provider claimed: the claim serves accounts in turn
# (store/tasks.py `claim`). No foreign key, as for rate_buckets: its check would lock the
# account row that create transactions lock.
claim_turns = Table(
    "claim_turns",
    metadata,
    Column("provider", String(128), primary_key=True),
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("claimed_at", BigInteger, nullable=False),
)

# Quotas: resource packs of units per account (shown by GET /account/costs), and one charge
# per task that draws on them (see store/quotas.py). An account without packs is unmetered.
quota_packs = Table(
    "quota_packs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("total_units", Float(53), nullable=False),
    Column("remaining_units", Float(53), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("effective_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
)

quota_charges = Table(
    "quota_charges",
    metadata,
    Column("task_id", String(24), primary_key=True),
    Column("pack_id", String(32), ForeignKey("quota_packs.id"), nullable=False, index=True),
    Column("units", Float(53), nullable=False),
    Column("state", String(16), nullable=False),  # held | spent | refunded
    Column("created_at", BigInteger, nullable=False),
    Column("settled_at", BigInteger, nullable=True),
)
