"""What a task costs in units, and the `GET /account/costs` answer in Kling's shape.

Prices are a setting (`unit_prices`), keyed `<family>/<mode>` or `<family>`: the most specific
key that exists wins, then `default`. Videos cost the price per second of video (Kling's
tables count 5 s clips: 1 unit per 5 s in std is 0.2 per second); images cost the price per
image times `n`; other families the price once per task. The defaults are in
`openkling.config.DEFAULT_UNIT_PRICES`.
"""

from __future__ import annotations

from typing import Any

from openkling.store.quotas import QuotaPack


def unit_price(prices: dict[str, float], family: str, mode: str | None) -> float:
    for key in ((f"{family}/{mode}",) if mode else ()) + (family, "default"):
        if key in prices:
            return float(prices[key])
    return 0.0


def task_units(prices: dict[str, float], family: str, request: dict[str, Any]) -> float:
    """Units a task of `family` with this (normalized) request costs."""
    mode = request.get("mode")
    price = unit_price(prices, family, str(mode) if mode else None)
    if family.startswith("videos/") and request.get("duration") is not None:
        return round(price * float(request["duration"]), 6)
    if family.startswith("images/") and request.get("n") is not None:
        return round(price * int(request["n"]), 6)
    return price


def pack_to_wire(pack: QuotaPack, now: int) -> dict[str, Any]:
    return {
        "resource_pack_name": pack.name,
        "resource_pack_id": pack.id,
        "resource_pack_type": "decreasing_total",
        "total_quantity": float(pack.total_units),
        "remaining_quantity": float(max(0.0, pack.remaining_units)),
        "purchase_time": pack.created_at,
        "effective_time": pack.effective_at,
        "invalid_time": pack.expires_at,
        "status": pack.status(now),
    }


def costs_to_wire(packs: list[QuotaPack], now: int, *, start_time: int | None = None,
                  end_time: int | None = None, name: str | None = None) -> dict[str, Any]:
    """The `data` of GET /account/costs: packs whose validity overlaps the asked window."""
    chosen = [
        pack for pack in packs
        if (name is None or pack.name == name)
        and (end_time is None or pack.effective_at <= end_time)
        and (start_time is None or pack.expires_at is None or pack.expires_at >= start_time)
    ]
    return {"code": 0, "msg": "",
            "resource_pack_subscribe_infos": [pack_to_wire(p, now) for p in chosen]}
