"""The openkling Python SDK: a client for openkling, official Kling and `/kling` gateways.

It imports nothing from the server side, so `pip install openkling` users who only call an
API never load the server's dependencies. See docs/client.md.
"""

from openkling.client._async import AsyncKlingClient
from openkling.client._auth import APIKeyAuth, Credentials, JWTAuth
from openkling.client._base import (
    DEFAULT_BASE_URL,
    ENV_ACCESS_KEY,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_PREFIX,
    ENV_SECRET_KEY,
    GenerateResult,
    PollPolicy,
    RetryPolicy,
    normalize_prefix,
)
from openkling.client._errors import (
    AccountError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    InvalidParameterError,
    KlingClientError,
    NotFoundError,
    PolicyError,
    QuotaError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    WaitTimeoutError,
)
from openkling.client._models import (
    AspectRatio,
    CameraConfig,
    CameraControl,
    CameraType,
    Mode,
    Task,
    TaskInfo,
    TaskResult,
    TaskStatus,
    Video,
)
from openkling.client._sync import KlingClient

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_ACCESS_KEY",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_PREFIX",
    "ENV_SECRET_KEY",
    "APIConnectionError",
    "APIError",
    "APIKeyAuth",
    "APITimeoutError",
    "AccountError",
    "AspectRatio",
    "AsyncKlingClient",
    "AuthenticationError",
    "CameraConfig",
    "CameraControl",
    "CameraType",
    "Credentials",
    "GenerateResult",
    "InvalidParameterError",
    "JWTAuth",
    "KlingClient",
    "KlingClientError",
    "Mode",
    "NotFoundError",
    "PolicyError",
    "PollPolicy",
    "QuotaError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "Task",
    "TaskFailedError",
    "TaskInfo",
    "TaskResult",
    "TaskStatus",
    "Video",
    "WaitTimeoutError",
    "normalize_prefix",
]
