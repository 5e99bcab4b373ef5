"""Operator routes at /admin/v1: accounts, keys, quotas (resource packs), what this server runs
(models, providers, relay channels) and its figures at a glance. Only an admin account's key
passes (`openkling keys create --admin`).

Authentication is the Kling routes' own: a bad key is 401/1002; a good key of an account that is
not an admin is 403/1103 ("no access to the requested resource"). Revoking a key or disabling an
account takes effect in every API process within `auth_cache_seconds`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator
from starlette.responses import JSONResponse, Response

from openkling import __version__
from openkling.api.admin_metrics import at_a_glance
from openkling.api.bodies import JsonBodyRoute
from openkling.api.deps import BEARER_SCHEME, authenticate, context
from openkling.api.envelope import envelope
from openkling.api.schemas import ERROR_RESPONSES
from openkling.api.services import ApiServices
from openkling.clock import now_ms
from openkling.config import Settings
from openkling.core.auth import Principal
from openkling.core.costs import pack_to_wire
from openkling.core.errors import Code, KlingError
from openkling.core.provider import DescribesChannels, DescribesModels
from openkling.core.registry import ModelRegistry
from openkling.core.secrets import (
    MasterKey,
    api_key_hint,
    generate_callback_secret,
    generate_credential,
    hash_api_key,
)
from openkling.store import migrate
from openkling.store.accounts import AccountStore
from openkling.store.admin import AccountQuotas, AccountSummary, AdminStore, KeySummary
from openkling.store.quotas import QuotaStore

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ERROR_RESPONSES,
                   route_class=JsonBodyRoute, dependencies=[Security(BEARER_SCHEME)])


async def _admin(request: Request) -> tuple[Principal, ApiServices, AdminStore, str]:
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


DAY_MS = 86_400_000


class QuotaCreate(BaseModel):
    """A resource pack for an account, as `openkling quota add` makes one."""

    model_config = ConfigDict(extra="forbid")

    units: StrictFloat = Field(..., gt=0, le=1e12, description="Units in the pack.")
    name: str | None = Field(None, max_length=128, description="Pack name shown to the account "
                             "(default: '<units> units').")
    effective_at: StrictInt | None = Field(None, ge=0, description="In effect from (Unix ms; "
                                           "default now).")
    expires_at: StrictInt | None = Field(None, ge=0, description="Expiry (Unix ms); or `days`.")
    days: StrictInt | None = Field(None, ge=1, le=36_500, description="Or: valid for this "
                                   "many days from the start.")

    @field_validator("name")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        if value is not None and ("\x00" in value or not value.strip()):
            raise ValueError("must be non-blank text without NUL characters")
        return value.strip() if value is not None else None


@router.get("/accounts", summary="Every account with its active keys and unfinished tasks",
            response_class=JSONResponse)
async def list_accounts(request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    return envelope([_account(a) for a in await store.list_accounts()], request_id)


@router.post("/accounts/{account_id}/disable",
             summary="Suspend an account: its requests get 429/1100 until enabled",
             response_class=JSONResponse)
async def disable_account(account_id: int, request: Request) -> Response:
    principal, _, store, request_id = await _admin(request)
    if account_id == principal.account_id:
        raise KlingError.invalid("account_id", "an admin cannot disable their own account")
    return await _set_disabled(store, account_id, True, request_id)


@router.post("/accounts/{account_id}/enable", summary="Lift a suspension",
             response_class=JSONResponse)
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


@router.get("/quotas",
            summary="Every account's resource packs and the units left in those in effect",
            response_class=JSONResponse)
async def list_quotas(request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    now = now_ms()
    return envelope([_quotas(q, now) for q in await store.quotas()], request_id)


@router.post("/accounts/{account_id}/quotas",
             summary="Give an account a resource pack; from then on its creates draw on its packs",
             response_class=JSONResponse)
async def add_quota(
    account_id: int,
    admin: Annotated[tuple[Principal, ApiServices, AdminStore, str], Depends(_admin)],
    body: QuotaCreate,
) -> Response:
    _, runtime, store, request_id = admin
    if await store.account_by_id(account_id) is None:
        raise KlingError.not_found("account")
    if body.expires_at is not None and body.days is not None:
        raise KlingError.invalid("days", "give expires_at or days, not both")
    now = now_ms()
    effective = now if body.effective_at is None else body.effective_at
    expires = effective + body.days * DAY_MS if body.days is not None else body.expires_at
    if expires is not None and expires <= effective:
        raise KlingError.invalid("expires_at", "must be after the start (effective_at, or now)")
    pack = await QuotaStore(runtime.db).add_pack(
        account_id, name=body.name or f"{body.units:g} units", units=body.units, now=now,
        effective_at=effective, expires_at=expires,
    )
    return envelope({"account_id": account_id, **pack_to_wire(pack, now)}, request_id)


@router.get("/keys", summary="Every credential (never its secrets)",
            response_class=JSONResponse)
async def list_keys(request: Request) -> Response:
    _, _, store, request_id = await _admin(request)
    return envelope([_key(k) for k in await store.list_keys()], request_id)


@router.post("/keys", summary="Create a credential; its secrets are in this answer only",
             response_class=JSONResponse)
async def create_key(
    admin: Annotated[tuple[Principal, ApiServices, AdminStore, str], Depends(_admin)],
    body: KeyCreate,
) -> Response:
    # `_admin` as a dependency runs before the body is validated: a bad key is 401 first.
    _, runtime, store, request_id = admin
    now = now_ms()
    callback_secret = generate_callback_secret()
    account, created = await _accounts(runtime).get_or_create(
        body.account, now=now, callback_secret_enc=_master(runtime).encrypt(callback_secret)
    )
    cred = generate_credential()
    record = await _accounts(runtime).add_credential(
        account.id, label=body.label or body.account, api_key_hash=hash_api_key(cred.api_key),
        api_key_hint=api_key_hint(cred.api_key), access_key=cred.access_key,
        secret_key_enc=_master(runtime).encrypt(cred.secret_key), now=now,
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
             response_class=JSONResponse)
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
            response_class=JSONResponse)
async def system(request: Request) -> Response:
    _, runtime, store, request_id = await _admin(request)
    try:
        database = "ok" if await migrate.is_current(runtime.db) else "migrations pending"
    except Exception as exc:
        database = f"unavailable: {str(exc)[:200]}"
    by_route = await store.unfinished_by_route()
    providers = []
    # The embedded worker knows each provider's state (loading / ready / failed), as readiness
    # says it; an API process without one knows only whether it could build the provider.
    running = runtime.worker.provider_status() if runtime.worker is not None else {}
    for name in _models(runtime).providers:
        state = (running[name].describe() if name in running
                 else "ready" if name in runtime.providers
                 else f"unavailable: {runtime.unavailable[name]}" if name in runtime.unavailable
                 else "not built in this process")
        unfinished = sum(n for (provider, _), n in by_route.items() if provider == name)
        providers.append({"name": name, "state": state, "unfinished_tasks": unfinished})
    models = []
    for name in _models(runtime).names:
        resolved = _models(runtime).resolve(name)
        models.append({"name": name, "provider": resolved.provider,
                       "durations": [str(d) for d in resolved.durations],
                       "default": name == _models(runtime).default_model})
    data = {
        "version": __version__,
        "database": database,
        "embedded_worker": _settings(runtime).embedded_worker,
        "providers": providers,
        "models": models,
        "channels": _channels(runtime, by_route),
        "local_models": _local_models(runtime),
    }
    return envelope(data, request_id)


@router.get("/metrics",
            summary="At a glance: tasks by status, the queue, creates and polls, callback "
            "failures, relay tasks in flight",
            response_class=JSONResponse)
async def metrics_at_a_glance(request: Request) -> Response:
    _, runtime, store, request_id = await _admin(request)
    return envelope(await at_a_glance(runtime.db, store, now=now_ms()), request_id)


def _local_models(runtime: ApiServices) -> list[dict[str, Any]]:
    """Each provider's model catalogue (the local one's), with the Kling names routed to it."""
    models: list[dict[str, Any]] = []
    registry = _models(runtime)
    for name, provider in sorted(runtime.providers.items()):
        if isinstance(provider, DescribesModels):
            routes = {model: resolved.options for model in registry.names
                      if (resolved := registry.resolve(model)).provider == name}
            models.extend({**row, "provider": name} for row in provider.describe_models(routes))
    return models


def _channels(runtime: ApiServices, by_route: dict[tuple[str, str | None], int]) -> dict[str, Any]:
    """The relay's channels as configured (no secrets), and unfinished tasks on each."""
    if "kling" not in _models(runtime).providers:
        return {"configured": False, "items": [], "error": None}
    relay = runtime.providers.get("kling")
    if not isinstance(relay, DescribesChannels):
        why = runtime.unavailable.get("kling") or "the relay provider is not loaded"
        return {"configured": True, "items": [], "error": why[:500]}
    items = [{**channel, "in_flight": by_route.get(("kling", channel["name"]), 0)}
             for channel in relay.describe_channels()]
    waiting = by_route.get(("kling", None), 0)
    return {"configured": True, "items": items, "error": None, "waiting_for_channel": waiting}


def _account(a: AccountSummary) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "created_at": a.created_at, "disabled": a.disabled,
            "is_admin": a.is_admin, "active_keys": a.active_keys,
            "unfinished_tasks": a.unfinished_tasks}


def _quotas(q: AccountQuotas, now: int) -> dict[str, Any]:
    packs = [pack_to_wire(p, now) for p in q.packs]
    return {"account_id": q.account_id, "account": q.account, "metered": bool(packs),
            "remaining_units": sum(p["remaining_quantity"] for p in packs
                                   if p["status"] == "online"),
            "packs": packs}


def _key(k: KeySummary) -> dict[str, Any]:
    return {"id": k.id, "account_id": k.account_id, "account": k.account, "label": k.label,
            "api_key_hint": k.api_key_hint, "access_key": k.access_key,
            "created_at": k.created_at, "revoked_at": k.revoked_at}


def _models(services: ApiServices) -> ModelRegistry:
    assert services.models is not None, "build_api always sets the model registry"
    return services.models


def _settings(services: ApiServices) -> Settings:
    assert services.settings is not None, "ApiServices.from_parts always sets the settings"
    return services.settings


def _accounts(services: ApiServices) -> AccountStore:
    assert services.accounts is not None, "build_api always sets the account store"
    return services.accounts


def _master(services: ApiServices) -> MasterKey:
    assert services.master is not None, "build_api always sets the master key"
    return services.master
