"""Task queries: the create transaction, reads, and the queue (claim, lease, finish, sweep).

Every write a worker makes is compare-and-set on (lease_owner, attempts), so a worker whose
lease was swept and handed to another can no longer change the task. Status only moves
forward: terminal writes require an unfinished status.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openkling.errors import OpenKlingError
from openkling.observability.failures import without_paths
from openkling.store.database import Database
from openkling.store.fastread import SqliteFastReader
from openkling.store.pgread import PostgresTaskReader
from openkling.store.quotas import QuotaStore
from openkling.store.records import TaskRecord
from openkling.store.tables import (
    accounts,
    callback_deliveries,
    claim_turns,
    relay_events,
    tasks,
)
from openkling.vocabulary import UNFINISHED, DeliveryState, FamilyKind, TaskStatus

_HEARTBEAT_CHUNK = 500
#: The family of tasks created before families existed, and the default of every query.
TEXT2VIDEO = FamilyKind.TEXT2VIDEO
CANCELLED_MESSAGE = "cancelled by the user"

#: Builds the callback body for a task that just changed status (None: nothing to send for
#: this change).
PayloadFn = Callable[[TaskRecord], str | None]


class StoreConflict(OpenKlingError):
    """A write the store refused because of what is already stored."""


class DuplicateExternalId(StoreConflict):
    pass


class DuplicateTaskId(StoreConflict):
    pass


class TooManyUnfinished(StoreConflict):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} unfinished tasks")
        self.limit = limit


# Two index lookups instead of one OR: the primary key, then the (account, kind, external id)
# unique index. Polls by task id, the common case, cost a single primary-key probe.
# A task belongs to its family (kind): asked for under another family it does not exist.
_GET_BY_ID = select(tasks).where(
    tasks.c.id == bindparam("key"), tasks.c.account_id == bindparam("account_id"),
    tasks.c.kind == bindparam("kind"),
)
_GET_BY_EXTERNAL = select(tasks).where(
    tasks.c.account_id == bindparam("account_id"),
    tasks.c.kind == bindparam("kind"),
    tasks.c.external_task_id == bindparam("key"),
)


class TaskStore:
    """`callback_payload` builds the body of the callback each status change enqueues (in the
    same transaction), so no caller has to pass it along."""

    def __init__(self, db: Database, *, callback_payload: PayloadFn) -> None:
        self.db = db
        self._payload = callback_payload
        self._fast = (
            {q: SqliteFastReader(db.sqlite_path, q, local_commits=lambda: db.commits)
             for q in (_GET_BY_ID, _GET_BY_EXTERNAL)}
            if db.sqlite_path else None
        )
        # PostgreSQL: the poll's primary-key read on raw asyncpg, with a NOTIFY-kept cache.
        self._pg = (PostgresTaskReader(db.url, _GET_BY_ID, convert=TaskRecord.from_mapping)
                    if not db.is_sqlite else None)

    @asynccontextmanager
    async def _write(self, written: list[str]) -> AsyncIterator[AsyncConnection]:
        """`db.write()` for a transaction that changes what a poll shows of the tasks whose
        ids are in (or added by the body to) `written`. Once it ends, PostgreSQL's poll cache
        forgets them: this process's next poll sees the write without waiting for its
        NOTIFY to come back. (SQLite's cache watches `db.commits` instead.)"""
        try:
            async with self.db.write() as conn:
                yield conn
        finally:  # also after a failed COMMIT, which may have committed
            if self._pg is not None:
                self._pg.forget(written)

    async def close(self) -> None:
        for reader in (self._fast or {}).values():
            reader.close()
        if self._pg is not None:
            await self._pg.close()

    # ----- clients' side -------------------------------------------------------------------

    async def insert(self, values: dict[str, Any], *, max_unfinished: int,
                     units: float = 0.0) -> TaskRecord:
        """One transaction: per-account serialisation, uniqueness, the cap, the quota hold
        of `units` (QuotaExhausted when no pack can pay), one INSERT."""
        account_id = values["account_id"]
        try:
            async with self.db.write() as conn:
                if not self.db.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises
                    await conn.execute(
                        select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
                    )
                ext = values.get("external_task_id")
                if ext is not None and await self._find_external(conn, account_id,
                                                                 values["kind"], ext):
                    raise DuplicateExternalId(ext)
                unfinished = await conn.scalar(
                    select(func.count())
                    .select_from(tasks)
                    .where(tasks.c.account_id == account_id, tasks.c.status.in_(UNFINISHED))
                )
                if (unfinished or 0) >= max_unfinished:
                    raise TooManyUnfinished(max_unfinished)
                await QuotaStore.hold(conn, account_id=account_id, task_id=values["id"],
                                      units=units, now=values["created_at"])
                row = (await conn.execute(insert(tasks).values(**values).returning(tasks))).one()
        except IntegrityError as exc:  # another create won a unique index: which one?
            ext = values.get("external_task_id")
            if ext is not None and await self.get_by_external(
                    account_id, ext, kind=values["kind"]) is not None:
                raise DuplicateExternalId(ext) from exc
            raise DuplicateTaskId(values["id"]) from exc
        return TaskRecord.from_row(row)

    async def get(self, account_id: int, key: str, *, kind: str = TEXT2VIDEO) -> (
            TaskRecord | None):
        """By task id, else by the account's external_task_id; within one family."""
        found = await self._lookup(_GET_BY_ID, account_id, key, kind)
        if found is None:
            found = await self._lookup(_GET_BY_EXTERNAL, account_id, key, kind)
        return found

    async def get_by_id(self, account_id: int, task_id: str, *, kind: str = TEXT2VIDEO) -> (
            TaskRecord | None):
        """By task id only, within one family (the cached read of the poll path)."""
        return await self._lookup(_GET_BY_ID, account_id, task_id, kind)

    async def get_by_external(self, account_id: int, external_task_id: str, *,
                              kind: str = TEXT2VIDEO) -> TaskRecord | None:
        return await self._lookup(_GET_BY_EXTERNAL, account_id, external_task_id, kind)

    async def _lookup(self, query: Any, account_id: int, key: str, kind: str) -> (
            TaskRecord | None):
        params = {"account_id": account_id, "key": key, "kind": kind}
        if self._pg is not None and query is _GET_BY_ID:
            return await self._pg.fetch_task(**params)
        if self._fast is not None:
            try:
                return self._fast[query].fetch_task(**params)
            except sqlite3.OperationalError:
                pass  # busy or locked: the async path below waits properly
        async with self.db.read() as conn:
            row = (await conn.execute(query, params)).first()
        return TaskRecord.from_row(row) if row is not None else None

    async def list_page(self, account_id: int, *, offset: int, limit: int,
                        kind: str = TEXT2VIDEO) -> list[TaskRecord]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(tasks)
                .where(tasks.c.account_id == account_id, tasks.c.kind == kind)
                .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [TaskRecord.from_row(r) for r in rows]

    async def list_prefixed(self, account_id: int, *, prefix: str, kinds: Collection[str],
                            after: str | None, limit: int, ascending: bool) -> list[TaskRecord]:
        """Keyset page of the account's tasks whose id starts with `prefix` (ids that sort in
        creation order), after the id `after` in the chosen direction."""
        where = [tasks.c.account_id == account_id, tasks.c.kind.in_(list(kinds)),
                 tasks.c.id.startswith(prefix, autoescape=True)]
        if after is not None:
            where.append(tasks.c.id > after if ascending else tasks.c.id < after)
        order = tasks.c.id.asc() if ascending else tasks.c.id.desc()
        async with self.db.read() as conn:
            rows = await conn.execute(select(tasks).where(*where).order_by(order).limit(limit))
            return [TaskRecord.from_row(r) for r in rows]

    async def find_video(self, account_id: int, video_id: str) -> (
            tuple[TaskRecord, dict[str, Any]] | None):
        """The account's succeeded task whose result lists a video of id `video_id`, and that
        video's stored record (`id`, `duration`, `storage_key` or `url`); None when no task of
        the account made it. The JSON text is searched for the quoted id (either dialect),
        each candidate then checked field by field."""
        if not video_id or any(c in video_id for c in '"\\') or not video_id.isprintable():
            return None  # never in a stored id: JSON would have escaped it
        quoted = f'"{video_id}"'
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(tasks)
                .where(tasks.c.account_id == account_id,
                       tasks.c.status == TaskStatus.SUCCEED,
                       cast(tasks.c.result, Text).contains(quoted, autoescape=True))
                .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            )
            for row in rows:
                task = TaskRecord.from_row(row)
                for video in (task.result or {}).get("videos") or []:
                    if isinstance(video, dict) and video.get("id") == video_id:
                        return task, video
        return None

    async def delete_finished(self, account_id: int, task_id: str, *,
                              kinds: Collection[str]) -> TaskRecord | None:
        """Remove a finished task of the account (and its outbox and relay events); None when
        there is no such finished task. Its files are the caller's to remove."""
        finished = (TaskStatus.SUCCEED, TaskStatus.FAILED)
        async with self._write([task_id]) as conn:
            row = (await conn.execute(
                select(tasks)
                .where(tasks.c.id == task_id, tasks.c.account_id == account_id,
                       tasks.c.kind.in_(list(kinds)), tasks.c.status.in_(finished))
                .with_for_update()
            )).first()
            if row is None:
                return None
            # The rows that refer to the task first (PostgreSQL checks foreign keys at once).
            await conn.execute(delete(callback_deliveries)
                               .where(callback_deliveries.c.task_id == task_id))
            await conn.execute(delete(relay_events).where(relay_events.c.task_id == task_id))
            await conn.execute(delete(tasks).where(tasks.c.id == task_id))
            return TaskRecord.from_row(row)

    async def request_cancel(self, account_id: int, key: str, *, now: int,
                             kind: str = TEXT2VIDEO) -> TaskRecord | None:
        """Fail an unclaimed task at once; flag a running one for its worker to stop."""
        written: list[str] = []
        async with self._write(written) as conn:
            row = (
                await conn.execute(
                    select(tasks)
                    .where(
                        tasks.c.account_id == account_id,
                        tasks.c.kind == kind,
                        or_(tasks.c.id == key, tasks.c.external_task_id == key),
                    )
                    .order_by(case((tasks.c.id == key, 0), else_=1))
                    .limit(1)
                )
            ).first()
            if row is None:
                return None
            task = TaskRecord.from_row(row)
            if task.status not in UNFINISHED:
                return task
            written.append(task.id)
            if task.lease_owner is None:
                changed = await self._finish(
                    conn, task.id, holder=None, status=TaskStatus.FAILED,
                    message=CANCELLED_MESSAGE, now=now,
                )
                if changed is not None:
                    return changed
            result = await conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id)
                .values(cancel_requested=True)
                .returning(tasks)
            )
            return TaskRecord.from_row(result.one())

    # ----- workers' side -------------------------------------------------------------------

    async def claim(
        self, owner: str, provider: str, limit: int, *, now: int, lease_ms: int
    ) -> list[TaskRecord]:
        """Lease up to `limit` runnable tasks of one provider, fairly between accounts
        (SKIP LOCKED on PostgreSQL).

        Fair: the next task is the one with the fewest tasks of its account running or
        waiting ahead of it (in the account's own order: oldest `run_after` first); between
        equals, the account served least recently (`claim_turns`) goes first, then the
        oldest task. So accounts take turns, and another account's first task waits for at
        most one render per slot, however many tasks the first account queued."""
        if limit <= 0:
            return []
        queued = (
            tasks.c.provider == provider,
            tasks.c.status.in_(UNFINISHED),
            tasks.c.lease_owner.is_(None),
            tasks.c.cancel_requested.is_(False),
            tasks.c.run_after <= now,
        )
        turns = select(
            tasks.c.id,
            func.row_number().over(partition_by=tasks.c.account_id,
                                   order_by=(tasks.c.run_after, tasks.c.id)).label("turn"),
        ).where(*queued).subquery("turns")
        running = select(tasks.c.account_id, func.count().label("tasks")).where(
            tasks.c.provider == provider,
            tasks.c.status.in_(UNFINISHED),
            tasks.c.lease_owner.is_not(None),
        ).group_by(tasks.c.account_id).subquery("running")
        served = select(claim_turns.c.account_id, claim_turns.c.claimed_at).where(
            claim_turns.c.provider == provider).subquery("served")
        # Only `tasks` is locked (the window and the count are computed in subqueries,
        # which PostgreSQL does not allow to lock); the conditions are repeated on it so that
        # a row claimed meanwhile by another worker is checked again once locked.
        runnable = (
            select(tasks.c.id)
            .select_from(tasks.join(turns, turns.c.id == tasks.c.id)
                         .outerjoin(running, running.c.account_id == tasks.c.account_id)
                         .outerjoin(served, served.c.account_id == tasks.c.account_id))
            .where(*queued)
            .order_by(turns.c.turn + func.coalesce(running.c.tasks, 0),
                      func.coalesce(served.c.claimed_at, 0), tasks.c.run_after, tasks.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=tasks)
        )
        async with self.db.write() as conn:
            rows = await conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(runnable.scalar_subquery()))
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + lease_ms,
                    attempts=tasks.c.attempts + 1,
                )
                .returning(tasks)
            )
            claimed = [TaskRecord.from_row(r) for r in rows]
            if claimed:
                await self._served(conn, provider, {t.account_id for t in claimed}, now)
        claimed.sort(key=lambda t: (t.run_after, t.id))
        return claimed

    async def _served(self, conn: AsyncConnection, provider: str, account_ids: set[int],
                      now: int) -> None:
        """Record that these accounts were just served. In account order, so that two
        workers claiming for the same accounts lock their rows in the same order."""
        upsert = (sqlite_insert if self.db.is_sqlite else postgresql_insert)(claim_turns)
        rows = [{"provider": provider, "account_id": account_id, "claimed_at": now}
                for account_id in sorted(account_ids)]
        await conn.execute(upsert.values(rows).on_conflict_do_update(
            index_elements=[claim_turns.c.provider, claim_turns.c.account_id],
            set_={"claimed_at": func.max(upsert.excluded.claimed_at, claim_turns.c.claimed_at)
                  if self.db.is_sqlite else func.greatest(upsert.excluded.claimed_at,
                                                          claim_turns.c.claimed_at)},
        ))

    async def heartbeat(
        self, owner: str, task_ids: Collection[str], *, now: int, lease_ms: int
    ) -> dict[str, bool]:
        """Renew the leases of the tasks this worker is running (one statement per 500);
        map each task id still held -> its cancel flag.

        Only the named tasks are renewed: a run that ended without reaching the database
        (a crash between claim and launch, a failed final write) lets its lease expire, so
        the sweeper can hand the task to someone else.
        """
        held: dict[str, bool] = {}
        ids = list(task_ids)
        async with self.db.write() as conn:
            for start in range(0, len(ids), _HEARTBEAT_CHUNK):
                rows = await conn.execute(
                    update(tasks)
                    .where(
                        tasks.c.id.in_(ids[start:start + _HEARTBEAT_CHUNK]),
                        tasks.c.lease_owner == owner,
                        tasks.c.status.in_(UNFINISHED),
                    )
                    .values(lease_expires_at=now + lease_ms)
                    .returning(tasks.c.id, tasks.c.cancel_requested)
                )
                held.update({r.id: bool(r.cancel_requested) for r in rows})
        return held

    async def cancel_requested(self, owner: str) -> list[str]:
        """Ids of this worker's tasks whose cancellation was asked for (cheap, indexed)."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(tasks.c.id).where(
                    tasks.c.lease_owner == owner, tasks.c.cancel_requested.is_(True)
                )
            )
            return [r.id for r in rows]

    async def start_processing(self, task: TaskRecord, *, progress: int, now: int) -> bool:
        """submitted -> processing (a status change, with callback); a task that is already
        processing (a retried run) only gets the progress. False: the lease is gone."""
        async with self._write([task.id]) as conn:
            row = (
                await conn.execute(
                    update(tasks)
                    .where(_held(task), tasks.c.status == TaskStatus.SUBMITTED)
                    .values(status=TaskStatus.PROCESSING, progress=progress, updated_at=now)
                    .returning(tasks)
                )
            ).first()
            if row is not None:
                await self._enqueue_callback(conn, TaskRecord.from_row(row), now)
                return True
            return await self._save_progress(conn, task, progress=progress, now=now)

    async def save_progress(self, task: TaskRecord, *, progress: int, now: int) -> bool:
        """Progress of a processing task (no status change, no callback)."""
        async with self._write([task.id]) as conn:
            return await self._save_progress(conn, task, progress=progress, now=now)

    async def _save_progress(
        self, conn: AsyncConnection, task: TaskRecord, *, progress: int, now: int
    ) -> bool:
        result = await conn.execute(
            update(tasks)
            .where(_held(task), tasks.c.status == TaskStatus.PROCESSING)
            .values(progress=progress, updated_at=now)
        )
        return bool(result.rowcount)

    async def save_state(self, task: TaskRecord, state: dict[str, Any]) -> bool:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(tasks).where(_held(task)).values(provider_state=state)
            )
            return bool(result.rowcount)

    async def succeed(
        self, task: TaskRecord, *, result: dict[str, Any], now: int
    ) -> TaskRecord | None:
        """Terminal compare-and-set; None when this worker no longer holds the task."""
        async with self._write([task.id]) as conn:
            return await self._finish(conn, task.id, holder=task, status=TaskStatus.SUCCEED,
                                      result=result, now=now)

    async def fail(self, task: TaskRecord, *, message: str, now: int) -> TaskRecord | None:
        """Terminal compare-and-set; None when this worker no longer holds the task."""
        async with self._write([task.id]) as conn:
            return await self._finish(conn, task.id, holder=task, status=TaskStatus.FAILED,
                                      message=message, now=now)

    async def release(
        self,
        task: TaskRecord,
        *,
        run_after: int,
        error: str | None,
        count_attempt: bool = True,
    ) -> bool:
        """Give the task back to the queue (retry later, or shutdown): `submitted` again, so
        that no task is `processing` without a worker."""
        values: dict[str, Any] = {
            "status": TaskStatus.SUBMITTED,
            "progress": 0,
            "updated_at": int(time.time() * 1000),
            "lease_owner": None,
            "lease_expires_at": None,
            "run_after": run_after,
            "last_error": error,
        }
        if not count_attempt:
            values["attempts"] = tasks.c.attempts - 1
        async with self._write([task.id]) as conn:
            result = await conn.execute(
                update(tasks).where(_held(task), tasks.c.status.in_(UNFINISHED)).values(**values)
            )
            return bool(result.rowcount)

    async def sweep(self, *, now: int) -> tuple[int, int]:
        """Re-queue tasks whose lease expired; fail those out of attempts or cancelled."""
        expired = and_(
            tasks.c.status.in_(UNFINISHED),
            tasks.c.lease_owner.is_not(None),
            tasks.c.lease_expires_at < now,
        )
        written: list[str] = []
        async with self._write(written) as conn:
            doomed = (
                await conn.execute(
                    select(tasks).where(
                        expired,
                        or_(
                            tasks.c.attempts >= tasks.c.max_attempts,
                            tasks.c.cancel_requested.is_(True),
                        ),
                    )
                )
            ).all()
            failed = 0
            for row in doomed:
                task = TaskRecord.from_row(row)
                msg = (
                    CANCELLED_MESSAGE
                    if task.cancel_requested
                    else f"the worker stopped responding (attempt {task.attempts} of "
                    f"{task.max_attempts}); giving up"
                )
                # Still expired at write time: a heartbeat in between means the worker lives.
                if await self._finish(conn, task.id, holder=task, status=TaskStatus.FAILED,
                                      message=msg, now=now,
                                      also=tasks.c.lease_expires_at < now):
                    failed += 1
                    written.append(task.id)
            requeued = await conn.execute(
                update(tasks)
                .where(expired, tasks.c.attempts < tasks.c.max_attempts)
                .values(
                    status=TaskStatus.SUBMITTED,  # never `processing` without a worker
                    progress=0,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    run_after=now,
                    last_error="lease expired (worker stopped or stalled)",
                )
                .returning(tasks.c.id)
            )
            requeued_ids = list(requeued.scalars())
            written.extend(requeued_ids)
            return len(requeued_ids), failed

    async def fail_unclaimed_cancelled(self, *, now: int) -> int:
        written: list[str] = []
        async with self._write(written) as conn:
            rows = (
                await conn.execute(
                    select(tasks).where(
                        tasks.c.status.in_(UNFINISHED),
                        tasks.c.lease_owner.is_(None),
                        tasks.c.cancel_requested.is_(True),
                    )
                )
            ).all()
            for row in rows:
                if await self._finish(conn, row.id, holder=None, status=TaskStatus.FAILED,
                                      message=CANCELLED_MESSAGE, now=now):
                    written.append(row.id)
            return len(written)

    async def next_run_after(self, providers: list[str]) -> int | None:
        """When the earliest waiting task becomes runnable (to sleep just long enough)."""
        async with self.db.read() as conn:
            value = await conn.scalar(
                select(func.min(tasks.c.run_after)).where(
                    tasks.c.provider.in_(providers),
                    tasks.c.status.in_(UNFINISHED),
                    tasks.c.lease_owner.is_(None),
                )
            )
            return int(value) if value is not None else None

    # ----- helpers -------------------------------------------------------------------------

    async def _find_external(
        self, conn: AsyncConnection, account_id: int, kind: str, external_task_id: str
    ) -> TaskRecord | None:
        row = (
            await conn.execute(
                select(tasks).where(
                    tasks.c.account_id == account_id,
                    tasks.c.kind == kind,
                    tasks.c.external_task_id == external_task_id,
                )
            )
        ).first()
        return TaskRecord.from_row(row) if row is not None else None

    async def _finish(
        self,
        conn: AsyncConnection,
        task_id: str,
        *,
        holder: TaskRecord | None,
        status: TaskStatus,
        message: str = "",
        result: dict[str, Any] | None = None,
        now: int,
        also: Any = None,
    ) -> TaskRecord | None:
        """The one terminal write. `holder`: the claim that must still hold the task, or None
        for a task nobody holds; `also`: one more condition of the compare-and-set."""
        where = [tasks.c.id == task_id, tasks.c.status.in_(UNFINISHED)]
        where.append(_held(holder) if holder is not None else tasks.c.lease_owner.is_(None))
        if also is not None:
            where.append(also)
        values: dict[str, Any] = {
            "status": status,
            "status_msg": without_paths(message),  # clients read it: no server paths
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if status == TaskStatus.SUCCEED:
            values.update(progress=100, result=result)
        row = (
            await conn.execute(update(tasks).where(*where).values(**values).returning(tasks))
        ).first()
        if row is None:
            return None
        record = TaskRecord.from_row(row)
        # The one terminal write, so the quota charge settles here, once.
        await QuotaStore.settle(conn, task_id=task_id, succeeded=status == TaskStatus.SUCCEED,
                                now=now)
        await self._enqueue_callback(conn, record, now)
        return record

    async def _enqueue_callback(self, conn: AsyncConnection, task: TaskRecord, now: int) -> None:
        """The outbox row for a status change, written in the same transaction as the change."""
        if not task.callback_url:
            return
        payload = self._payload(task)
        if payload is None:
            return
        await conn.execute(
            insert(callback_deliveries).values(
                task_id=task.id,
                account_id=task.account_id,
                url=task.callback_url,
                payload=payload,
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


def _held(task: TaskRecord) -> Any:
    """The compare-and-set guard: still leased by the same claim of the same worker."""
    return and_(
        tasks.c.id == task.id,
        tasks.c.lease_owner == task.lease_owner,
        tasks.c.attempts == task.attempts,
    )

