"""Operator routes at /admin/v1: accounts, keys, and what this server runs (models, providers,
relay channels). Only an admin account's key passes (`openkling keys create --admin`).

Authentication is the Kling routes' own: a bad key is 401/1002; a good key of an account that is
not an admin is 403/1103 ("no access to the requested resource"). Revoking a key or disabling an
account takes effect in every API process within `auth_cache_seconds`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import JSONResponse, Response

from openkling import __version__
from openkling.api.deps import BEARER, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.routes_text2video import parse_body
from openkling.api.schemas import ERROR_RESPONSES
from openkling.core.auth import Principal
from openkling.core.clock import now_ms
from openkling.core.errors import Code, KlingError
from openkling.core.secrets import (
    api_key_hint,
    generate_callback_secret,
    generate_credential,
    hash_api_key,
)
from openkling.providers.kling.options import KlingOptions
from openkling.runtime import Runtime
from openkling.store import migrate
from openkling.store.admin import AccountSummary, AdminStore, KeySummary

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ERROR_RESPONSES)


async def _admin(request: Request) -> tuple[Principal, Runtime, AdminStore, str]:
    principal = await authenticate(request)
    runtime, request_id = context(request)
    store = AdminStore(runtime.db)
    if not await store.is_admin(principal.account_id):
        raise KlingError(Code.NO_ACCESS, "this route needs an admin key "
                         "(openkling keys create --admin)")
    return principal, runtime, store, request_id


class KeyCreate(BaseModel):
    """A new credential; the account is created when the name is new."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(..., min_length=1, max_length=128)
    label: str | None = Field(None, max_length=128)
    admin: bool = Field(False, description="Make the account an admin (operator).")

    @field_validator("account", "label")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        if value is not None and ("\x00" in value or not value.strip()):
            raise ValueError("must be non-blank text without NUL characters")
        return value.strip() if value is not None else None


@router.get("/accounts", summary="Every account with its active keys and unfinished tasks",
            response_class=JSONResponse, openapi_extra=BEARER)
async def list_accounts(request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    return envelope([_account(a) for a in await store.list_accounts()], request_id)


@router.post("/accounts/{account_id}/disable",
             summary="Suspend an account: its requests get 429/1100 until enabled",
             response_class=JSONResponse, openapi_extra=BEARER)
async def disable_account(account_id: int, request: Request) -> Response:
    principal, _, store, request_id = await _admin(request)
    if account_id == principal.account_id:
        raise KlingError.invalid("account_id", "an admin cannot disable their own account")
    return await _set_disabled(store, account_id, True, request_id)


@router.post("/accounts/{account_id}/enable", summary="Lift a suspension",
             response_class=JSONResponse, openapi_extra=BEARER)
async def enable_account(account_id: int, request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    return await _set_disabled(store, account_id, False, request_id)


async def _set_disabled(store: AdminStore, account_id: int, disabled: bool,
                        request_id: str) -> Response:
    if not await store.set_disabled(account_id, disabled):
        raise KlingError.not_found("account")
    account = await store.account_by_id(account_id)
    assert account is not None
    return envelope(_account(account), request_id)


@router.get("/keys", summary="Every credential (never its secrets)",
            response_class=JSONResponse, openapi_extra=BEARER)
async def list_keys(request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    return envelope([_key(k) for k in await store.list_keys()], request_id)


@router.post("/keys", summary="Create a credential; its secrets are in this answer only",
             response_class=JSONResponse, openapi_extra={**BEARER, "requestBody": {
                 "required": True,
                 "content": {"application/json": {"schema": KeyCreate.model_json_schema()}},
             }})
async def create_key(request: Request) -> Response:
    _, runtime, store, request_id = await _admin(request)
    body = parse_body(await request.body(), KeyCreate)
    now = now_ms()
    callback_secret = generate_callback_secret()
    account, created = await runtime.accounts.get_or_create(
        body.account, now=now, callback_secret_enc=runtime.master.encrypt(callback_secret)
    )
    cred = generate_credential()
    record = await runtime.accounts.add_credential(
        account.id, label=body.label or body.account, api_key_hash=hash_api_key(cred.api_key),
        api_key_hint=api_key_hint(cred.api_key), access_key=cred.access_key,
        secret_key_enc=runtime.master.encrypt(cred.secret_key), now=now,
    )
    if body.admin:
        await store.set_admin(account.id, True)
    data: dict[str, Any] = {
        "account": account.name,
        "account_id": account.id,
        "account_created": created,
        "credential_id": record.id,
        "api_key": cred.api_key,
        "access_key": cred.access_key,
        "secret_key": cred.secret_key,
    }
    if created:
        data["callback_secret"] = callback_secret
    return envelope(data, request_id)


@router.post("/keys/{credential_id}/revoke",
             summary="Revoke a credential: its API key and JWTs stop working",
             response_class=JSONResponse, openapi_extra=BEARER)
async def revoke_key(credential_id: int, request: Request) -> Response:
    principal, _, store, request_id = await _admin(request)
    if credential_id == principal.credential_id:
        raise KlingError.invalid("credential_id", "this is the key you are using; "
                                 "revoke it with another admin key")
    key = await store.revoke_key(credential_id, now=now_ms())
    if key is None:
        raise KlingError.not_found("key")
    return envelope(_key(key), request_id)


@router.get("/system",
            summary="Readiness, models and their providers, relay channels with in-flight tasks",
            response_class=JSONResponse, openapi_extra=BEARER)
async def system(request: Request) -> Response:
    _, runtime, store, request_id = await _admin(request)
    try:
        database = "ok" if await migrate.is_current(runtime.db) else "migrations pending"
    except Exception as exc:
        database = f"unavailable: {str(exc)[:200]}"
    by_route = await store.unfinished_by_route()
    providers = []
    for name in runtime.registry.providers:
        built = runtime.providers.get(name)
        state = ("not built in this process" if built is None
                 else f"unavailable: {built}" if isinstance(built, Exception) else "ready")
        unfinished = sum(n for (provider, _), n in by_route.items() if provider == name)
        providers.append({"name": name, "state": state, "unfinished_tasks": unfinished})
    models = []
    for name in runtime.registry.names:
        resolved = runtime.registry.resolve(name)
        models.append({"name": name, "provider": resolved.provider,
                       "durations": [str(d) for d in resolved.durations],
                       "default": name == runtime.registry.default_model})
    data = {
        "version": __version__,
        "database": database,
        "embedded_worker": runtime.settings.embedded_worker,
        "providers": providers,
        "models": models,
        "channels": _channels(runtime, by_route),
    }
    return envelope(data, request_id)


def _channels(runtime: Runtime, by_route: dict[tuple[str, str | None], int]) -> dict[str, Any]:
    """The relay's channels as configured (no secrets), and unfinished tasks on each."""
    if "kling" not in runtime.registry.providers:
        return {"configured": False, "items": [], "error": None}
    try:
        options = KlingOptions.parse(dict(runtime.settings.provider_options.get("kling", {})))
    except Exception as exc:
        return {"configured": True, "items": [], "error": str(exc)[:500]}
    items = [
        {"name": c.name, "base_url": c.base_url, "path_prefix": c.path_prefix,
         "models": c.models, "max_concurrency": c.max_concurrency, "priority": c.priority,
         "weight": c.weight, "in_flight": by_route.get(("kling", c.name), 0)}
        for c in options.channels
    ]
    waiting = by_route.get(("kling", None), 0)
    return {"configured": True, "items": items, "error": None, "waiting_for_channel": waiting}


def _account(a: AccountSummary) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "created_at": a.created_at, "disabled": a.disabled,
            "is_admin": a.is_admin, "active_keys": a.active_keys,
            "unfinished_tasks": a.unfinished_tasks}


def _key(k: KeySummary) -> dict[str, Any]:
    return {"id": k.id, "account_id": k.account_id, "account": k.account, "label": k.label,
            "api_key_hint": k.api_key_hint, "access_key": k.access_key,
            "created_at": k.created_at, "revoked_at": k.revoked_at}
