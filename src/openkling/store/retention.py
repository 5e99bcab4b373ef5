"""Retention: finished tasks older than `retention_days` lose their files (input images and
results), then their rows.

Kling keeps results for 30 days; so do we by default. Deletion runs in small batches, each its
own short transaction, so the poll path (reads) and creates (short writes) never wait long
behind it. A task whose files cannot be deleted keeps its row and is tried again next round.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select

from openkling.store.database import Database
from openkling.store.tables import callback_deliveries, relay_events, tasks
from openkling.vocabulary import FINISHED, ResultKind

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


class DeletesFiles(Protocol):
    """Where a task's files are (the `Storage`, which the store does not import)."""

    async def delete(self, key: str) -> None: ...


@dataclass
class RetentionResult:
    tasks: int = 0
    files: int = 0
    kept: int = 0  # tasks whose files could not be deleted this round


def storage_keys(request: dict[str, Any] | None, result: dict[str, Any] | None) -> list[str]:
    """Every storage key a task refers to: its input images (stored with the task at create)
    and its results' videos and images (relay results have URLs only)."""
    inputs = (request or {}).get("inputs") or {}
    keys = [str(meta["key"]) for meta in inputs.values()
            if isinstance(meta, dict) and meta.get("key")]
    for kind in (ResultKind.VIDEOS, ResultKind.IMAGES):
        keys += [str(item["storage_key"]) for item in (result or {}).get(kind) or []
                 if isinstance(item, dict) and item.get("storage_key")]
    for audio in (result or {}).get(ResultKind.AUDIOS) or []:
        formats = audio.get("formats") if isinstance(audio, dict) else None
        keys += [str(item["storage_key"]) for item in (formats or {}).values()
                 if isinstance(item, dict) and item.get("storage_key")]
    return keys


#: A stored video's previews (thumbnail, spritesheet; made on request by the OpenAI door) live
#: next to it, under its key plus a suffix, so whoever removes a video's files removes its
#: previews by the same rule. Preview name -> that suffix.
PREVIEW_SUFFIXES = {"thumbnail": ".thumbnail.webp", "spritesheet": ".spritesheet.jpg"}


def preview_key(video_key: str, name: str) -> str:
    return video_key + PREVIEW_SUFFIXES[name]


def preview_keys(video_key: str) -> list[str]:
    return [video_key + suffix for suffix in PREVIEW_SUFFIXES.values()]


def result_previews(result: dict[str, Any] | None) -> list[str]:
    """The keys of the previews a task's stored videos may have (made on request, so any of
    them may be missing; see `PREVIEW_SUFFIXES`)."""
    return [preview for item in (result or {}).get(ResultKind.VIDEOS) or []
            if isinstance(item, dict) and item.get("storage_key")
            for preview in preview_keys(str(item["storage_key"]))]


async def delete_expired(
    db: Database, storage: DeletesFiles, *, now_ms: int, retention_days: float, batch: int = 200,
    pause: float = 0.05, max_batches: int | None = None,
) -> RetentionResult:
    """Delete finished tasks last updated before `now - retention_days`, `batch` at a time."""
    cutoff = now_ms - int(retention_days * DAY_MS)
    outcome = RetentionResult()
    skip: set[str] = set()
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        query = (select(tasks.c.id, tasks.c.request, tasks.c.result)
                 .where(tasks.c.status.in_(FINISHED), tasks.c.updated_at < cutoff)
                 .order_by(tasks.c.updated_at).limit(batch + len(skip)))
        async with db.read() as conn:
            rows = [(str(i), req, res) for i, req, res in await conn.execute(query)
                    if str(i) not in skip]
        rows = rows[:batch]
        if not rows:
            break
        removable: list[str] = []
        for task_id, request, result in rows:
            try:
                for key in storage_keys(request, result):
                    await storage.delete(key)
                    outcome.files += 1
                for key in result_previews(result):
                    await storage.delete(key)
            except Exception as exc:
                log.warning("retention: files of task %s not deleted, kept for the next round "
                            "(%s: %s)", task_id, type(exc).__name__, exc)
                skip.add(task_id)
                outcome.kept += 1
                continue
            removable.append(task_id)
        if removable:
            async with db.write() as conn:
                await conn.execute(delete(callback_deliveries)
                                   .where(callback_deliveries.c.task_id.in_(removable)))
                await conn.execute(delete(relay_events)
                                   .where(relay_events.c.task_id.in_(removable)))
                await conn.execute(delete(tasks).where(tasks.c.id.in_(removable),
                                                       tasks.c.status.in_(FINISHED)))
            outcome.tasks += len(removable)
        if len(rows) < batch:
            break
        await asyncio.sleep(pause)  # let polls and creates in between
    return outcome
