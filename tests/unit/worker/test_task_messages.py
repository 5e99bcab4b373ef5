"""Issue 20 (6): a task's `task_status_msg` is the client's to read, so it never shows the
server's file-system paths, whatever the failure said."""

from __future__ import annotations

from pathlib import Path

from openkling.core.models import GenerationSpec
from openkling.core.provider import GenerationResult, ProviderError, TaskContext
from openkling.vocabulary import TaskStatus
from tests.unit.worker.test_engine_outcomes import scripted


async def test_a_provider_error_naming_a_file_fails_the_task_without_the_path(
    tmp_path: Path,
) -> None:
    async def fail(spec: GenerationSpec, ctx: TaskContext) -> GenerationResult:
        raise ProviderError(f"could not read '{ctx.work_dir}/frame.png': [Errno 5] I/O error "
                            "at /var/lib/openkling/models/wan/unet.bin")

    async with scripted(tmp_path, fail) as (h, _):
        task = await h.create("x")
        done = await h.wait_finished(task.id)
    assert done.status == TaskStatus.FAILED
    assert done.status_msg == ("could not read '<path>': [Errno 5] I/O error at <path>")
    assert str(tmp_path) not in done.status_msg
