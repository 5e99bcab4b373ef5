"""The one error type that carries a Kling code, so every layer fails in the wire's terms."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from openkling.errors import OpenKlingError


class Code(IntEnum):
    """Kling service codes (see kling-api.md, "Error codes")."""

    AUTH_FAILED = 1000
    AUTH_MISSING = 1001
    AUTH_INVALID = 1002
    TOKEN_NOT_YET_VALID = 1003
    TOKEN_EXPIRED = 1004
    ACCOUNT_EXCEPTION = 1100
    ACCOUNT_ARREARS = 1101
    QUOTA_EXHAUSTED = 1102
    NO_ACCESS = 1103
    INVALID_REQUEST = 1200
    INVALID_PARAMETER = 1201
    METHOD_NOT_VALID = 1202
    NOT_FOUND = 1203
    PLATFORM_POLICY = 1300
    CONTENT_POLICY = 1301
    RATE_LIMITED = 1302
    CONCURRENCY_LIMITED = 1303
    IP_POLICY = 1304
    INTERNAL = 5000
    UNAVAILABLE = 5001
    TIMEOUT = 5002


HTTP_STATUS: dict[Code, int] = {
    Code.AUTH_FAILED: 401,
    Code.AUTH_MISSING: 401,
    Code.AUTH_INVALID: 401,
    Code.TOKEN_NOT_YET_VALID: 401,
    Code.TOKEN_EXPIRED: 401,
    Code.ACCOUNT_EXCEPTION: 429,
    Code.ACCOUNT_ARREARS: 429,
    Code.QUOTA_EXHAUSTED: 429,
    Code.NO_ACCESS: 403,
    Code.INVALID_REQUEST: 400,
    Code.INVALID_PARAMETER: 400,
    Code.METHOD_NOT_VALID: 404,
    Code.NOT_FOUND: 404,
    Code.PLATFORM_POLICY: 400,
    Code.CONTENT_POLICY: 400,
    Code.RATE_LIMITED: 429,
    Code.CONCURRENCY_LIMITED: 429,
    Code.IP_POLICY: 429,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.TIMEOUT: 504,
}


class KlingError(OpenKlingError):
    """A failure the caller sees as a Kling envelope: HTTP status, code and message."""

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS[code]
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"KlingError({int(self.code)}, {self.message!r})"

    @classmethod
    def invalid(cls, field: str, reason: str) -> KlingError:
        """400/1201 naming the field, the shape every validation failure takes."""
        return cls(Code.INVALID_PARAMETER, f"{field}: {reason}")

    @classmethod
    def not_found(cls, what: str = "task") -> KlingError:
        return cls(Code.NOT_FOUND, f"{what} not found")

    def to_dict(self, request_id: str) -> dict[str, Any]:
        return {"code": int(self.code), "message": self.message, "request_id": request_id,
                "data": None}
