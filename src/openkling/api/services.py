"""What the routes work with, handed to the application once by the assembly."""

from __future__ import annotations

from dataclasses import dataclass

from openkling.api.limits import RateLimiter
from openkling.core.auth import Authenticator
from openkling.core.service import TaskService
from openkling.storage.base import Storage
from openkling.store.database import Database


@dataclass(frozen=True)
class ApiServices:
    auth: Authenticator
    limiter: RateLimiter
    tasks: TaskService
    storage: Storage
    #: For readiness and the relay's upstream callbacks (`openkling.store.relay_events`).
    db: Database
