"""SQLite's inline poll read and its row cache: never older than the last commit."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from sqlalchemy import bindparam, create_engine, select

from openkling.store.fastread import SqliteFastReader
from openkling.store.tables import metadata, tasks

BY_ID = select(tasks).where(tasks.c.id == bindparam("key"),
                            tasks.c.account_id == bindparam("account_id"))


def make_db(path: Path) -> sqlite3.Connection:
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("INSERT INTO accounts (id, name, created_at, disabled, callback_secret_enc) "
                 "VALUES (1, 'a', 1, 0, x'00'), (2, 'b', 1, 0, x'00')")
    conn.execute(
        "INSERT INTO tasks (id, account_id, kind, model_name, provider, request, status, "
        "status_msg, progress, created_at, updated_at, attempts, max_attempts, run_after, "
        "cancel_requested) VALUES ('7', 1, 'text2video', 'kling-v1', 'double', ?, "
        "'submitted', '', 0, 1, 1, 0, 2, 1, 0)", (json.dumps({"prompt": "x"}),))
    return conn


def test_rows_come_from_memory_until_any_connection_commits(tmp_path: Path) -> None:
    writer = make_db(tmp_path / "db.sqlite")
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID, recheck_seconds=0)
    first = reader.fetch_task(key="7", account_id=1)
    assert first is not None and first.status == "submitted"
    assert first.request == {"prompt": "x"}
    assert reader.fetch_task(key="7", account_id=1) is first  # cached: the same record

    writer.execute("UPDATE tasks SET status = 'processing', progress = 30 WHERE id = '7'")
    second = reader.fetch_task(key="7", account_id=1)
    assert second is not None and (second.status, second.progress) == ("processing", 30)

    # A commit to any row (here another table) drops the cache: correctness over hit rate.
    writer.execute("UPDATE accounts SET name = 'c' WHERE id = 2")
    assert reader.fetch_task(key="7", account_id=1) is not second
    reader.close()


def test_cache_is_per_account_and_bounded(tmp_path: Path) -> None:
    make_db(tmp_path / "db.sqlite")
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID, cache_size=1)
    assert reader.fetch_task(key="7", account_id=1) is not None
    assert reader.fetch_task(key="7", account_id=2) is None  # another account's task
    assert reader.fetch_task(key="8", account_id=1) is None
    assert len(reader._cache) == 1
    reader.close()


def test_another_process_commit_is_seen_once_the_recheck_interval_is_over(
        tmp_path: Path) -> None:
    writer = make_db(tmp_path / "db.sqlite")
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID, recheck_seconds=0.2)
    first = reader.fetch_task(key="7", account_id=1)
    writer.execute("UPDATE tasks SET status = 'processing' WHERE id = '7'")
    assert reader.fetch_task(key="7", account_id=1) is first  # inside the interval: not asked
    time.sleep(0.25)
    later = reader.fetch_task(key="7", account_id=1)
    assert later is not None and later.status == "processing"
    reader.close()


def test_this_process_commits_are_seen_at_once(tmp_path: Path) -> None:
    """`local_commits` stands for `Database.commits`: when it moves, SQLite is asked."""
    writer = make_db(tmp_path / "db.sqlite")
    commits = 0
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID, recheck_seconds=3600,
                              local_commits=lambda: commits)
    assert reader.fetch_task(key="7", account_id=1) is not None
    writer.execute("UPDATE tasks SET status = 'processing' WHERE id = '7'")
    commits += 1
    seen = reader.fetch_task(key="7", account_id=1)
    assert seen is not None and seen.status == "processing"
    reader.close()


def test_a_full_cache_drops_the_row_read_longest_ago(tmp_path: Path) -> None:
    writer = make_db(tmp_path / "db.sqlite")
    others = ", ".join(c.name for c in tasks.c if c.name != "id")
    for task_id in ("8", "9"):  # copies of task 7
        writer.execute(f"INSERT INTO tasks (id, {others}) SELECT ?, {others} FROM tasks "
                       "WHERE id = '7'", (task_id,))
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID, cache_size=2,
                              recheck_seconds=3600)
    seven = reader.fetch_task(key="7", account_id=1)
    eight = reader.fetch_task(key="8", account_id=1)
    assert reader.fetch_task(key="7", account_id=1) is seven  # 7 is now the most recent
    assert reader.fetch_task(key="9", account_id=1) is not None  # full: 8 goes
    assert reader.fetch_task(key="7", account_id=1) is seven
    assert reader.fetch_task(key="8", account_id=1) is not eight  # read again
    reader.close()


def test_by_default_another_process_commit_shows_within_milliseconds(tmp_path: Path) -> None:
    writer = make_db(tmp_path / "db.sqlite")
    reader = SqliteFastReader(str(tmp_path / "db.sqlite"), BY_ID)
    assert reader.fetch_task(key="7", account_id=1) is not None
    writer.execute("UPDATE tasks SET status = 'processing' WHERE id = '7'")
    time.sleep(0.02)
    seen = reader.fetch_task(key="7", account_id=1)
    assert seen is not None and seen.status == "processing"
    reader.close()
