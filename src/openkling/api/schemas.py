"""Response shapes, for the OpenAPI document only (handlers serialise directly for speed)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from openkling.vocabulary import TaskStatus


class VideoObject(BaseModel):
    id: str
    url: str = Field(description="Signed download URL; it expires, poll again for a fresh one.")
    duration: str = Field(description="Seconds, as a string (e.g. \"5.1\").")


class TaskResult(BaseModel):
    videos: list[VideoObject] = Field(default_factory=list)


class TaskInfo(BaseModel):
    external_task_id: str | None = None


class TaskObject(BaseModel):
    task_id: str = Field(description="Digits only, as a string.", examples=["866889456698785798"])
    task_status: TaskStatus
    task_status_msg: str = ""
    task_info: TaskInfo
    task_result: TaskResult | dict[str, object] = Field(
        description="{} until the task succeeds."
    )
    created_at: int = Field(description="Unix time in milliseconds.")
    updated_at: int = Field(description="Unix time in milliseconds.")
    progress: int = Field(0, description="openkling extension: percent done, 0..100.")


class CreatedTask(BaseModel):
    task_id: str = Field(description="Digits only, as a string.", examples=["866889456698785798"])
    task_status: TaskStatus = Field(description="submitted")
    task_info: TaskInfo
    created_at: int = Field(description="Unix time in milliseconds.")
    updated_at: int = Field(description="Unix time in milliseconds.")


class _Envelope(BaseModel):
    code: int = Field(0, description="0 on success, else a Kling error code.")
    message: str = Field("SUCCEED")
    request_id: str


class TaskEnvelope(_Envelope):
    data: TaskObject


class CreatedEnvelope(_Envelope):
    data: CreatedTask


class TaskListEnvelope(_Envelope):
    data: list[TaskObject]


class ErrorEnvelope(_Envelope):
    data: None = None


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in (
        (400, "Invalid request (1200) or parameter (1201)"),
        (401, "Authentication failed (1000-1004)"),
        (404, "Task not found (1203)"),
        (413, "Request body too large (1200)"),
        (429, "Rate (1302) or unfinished-task (1303) limit"),
        (500, "Internal error (5000)"),
        # Every other failure is an envelope too; declaring it also keeps FastAPI from
        # documenting a 422 we never send.
        ("default", "Any other failure, with its Kling code"),
    )
}
