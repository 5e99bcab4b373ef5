"""Units per task from the price table, and /account/costs in Kling's shape."""

from __future__ import annotations

from openkling.config import DEFAULT_UNIT_PRICES
from openkling.core.costs import costs_to_wire, task_units, unit_price
from openkling.store.quotas import QuotaPack

DAY = 86_400_000


def pack(**overrides: object) -> QuotaPack:
    values: dict[str, object] = {
        "id": "p1", "account_id": 1, "name": "pack", "total_units": 10.0,
        "remaining_units": 4.0, "created_at": 1000, "effective_at": 1000,
        "expires_at": 1000 + 30 * DAY,
    }
    values.update(overrides)
    return QuotaPack(**values)  # type: ignore[arg-type]


def test_most_specific_price_wins_then_family_then_default() -> None:
    prices = {"videos/text2video/pro": 0.7, "videos/text2video": 0.3, "default": 2.0}
    assert unit_price(prices, "videos/text2video", "pro") == 0.7
    assert unit_price(prices, "videos/text2video", "std") == 0.3
    assert unit_price(prices, "videos/effects", None) == 2.0
    assert unit_price({}, "videos/effects", None) == 0.0


def test_videos_cost_per_second_images_per_image_others_per_task() -> None:
    prices = DEFAULT_UNIT_PRICES
    assert task_units(prices, "videos/text2video", {"mode": "std", "duration": 5}) == 1.0
    assert task_units(prices, "videos/text2video", {"mode": "pro", "duration": 10}) == 7.0
    assert task_units(prices, "videos/image2video", {"mode": "std", "duration": 5}) == 1.0
    assert task_units(prices, "images/generations", {"n": 4}) == 1.0
    assert task_units(prices, "videos/lip-sync", {}) == 1.0


def test_pack_states_on_both_sides_of_each_time() -> None:
    p = pack(effective_at=2000, expires_at=3000)
    assert p.status(1999) == "toBeOnline"
    assert p.status(2000) == "online" and p.status(2999) == "online"
    assert p.status(3000) == "expired"
    assert pack(remaining_units=0.0).status(2000) == "runOut"
    assert pack(expires_at=None).status(10**15) == "online"


def test_costs_shape_and_filters() -> None:
    data = costs_to_wire([pack()], now=2000)
    assert data == {"code": 0, "msg": "", "resource_pack_subscribe_infos": [{
        "resource_pack_name": "pack", "resource_pack_id": "p1",
        "resource_pack_type": "decreasing_total", "total_quantity": 10.0,
        "remaining_quantity": 4.0, "purchase_time": 1000, "effective_time": 1000,
        "invalid_time": 1000 + 30 * DAY, "status": "online"}]}
    assert costs_to_wire([], now=0) == {"code": 0, "msg": "",
                                        "resource_pack_subscribe_infos": []}
    packs = [pack(), pack(id="p2", name="other", effective_at=50 * DAY, expires_at=None)]
    assert len(costs_to_wire(packs, 0, name="other")["resource_pack_subscribe_infos"]) == 1
    # A window that ends before p2 starts, or starts after p1 ends, leaves the other one.
    ended = costs_to_wire(packs, 0, end_time=40 * DAY)["resource_pack_subscribe_infos"]
    assert [i["resource_pack_id"] for i in ended] == ["p1"]
    later = costs_to_wire(packs, 0, start_time=40 * DAY)["resource_pack_subscribe_infos"]
    assert [i["resource_pack_id"] for i in later] == ["p2"]


def test_a_price_is_a_float_and_an_empty_mode_is_no_mode() -> None:
    prices = {"videos/text2video/": 5.0, "videos/text2video": 2, "default": 1.0}
    price = unit_price(prices, "videos/text2video", "")
    assert price == 2.0 and isinstance(price, float)
    assert task_units(prices, "videos/text2video", {"mode": "", "duration": 5}) == 10.0


def test_units_without_duration_or_n_are_the_price_once() -> None:
    prices = DEFAULT_UNIT_PRICES
    assert task_units(prices, "videos/text2video", {"mode": "std"}) == 0.2
    assert task_units(prices, "images/generations", {}) == 0.25
    assert task_units(prices, "images/kolors-virtual-try-on", {"human_image": "x"}) == 1.0
    # A relayed video family with a duration costs per second like the others.
    assert task_units(prices, "videos/effects", {"duration": "10"}) == 10.0


def test_units_are_rounded_to_millionths() -> None:
    prices = {"images/generations": 0.1, "videos/text2video": 0.1}
    assert task_units(prices, "images/generations", {"n": 3}) == 0.3
    assert task_units(prices, "videos/text2video", {"duration": 3}) == 0.3
    third = {"videos/text2video": 1 / 3, "images/generations": 1 / 3}
    assert task_units(third, "videos/text2video", {"duration": 1}) == 0.333333
    assert task_units(third, "images/generations", {"n": 1}) == 0.333333


def test_remaining_is_never_shown_below_zero_and_status_is_as_of_now() -> None:
    info = costs_to_wire([pack(remaining_units=-0.5, total_units=3)], now=500)[
        "resource_pack_subscribe_infos"][0]
    assert info["remaining_quantity"] == 0.0 and info["total_quantity"] == 3.0
    assert isinstance(info["total_quantity"], float) and info["status"] == "toBeOnline"


def test_a_window_lists_the_packs_valid_during_it() -> None:
    p = pack(effective_at=2000, expires_at=3000)  # online from 2000 up to 2999 (status above)

    def listed(**window: int) -> bool:
        return bool(costs_to_wire([p], 0, **window)[  # type: ignore[arg-type]
            "resource_pack_subscribe_infos"])

    assert listed(end_time=2000) and not listed(end_time=1999)
    assert listed(start_time=2999) and not listed(start_time=3001)
    assert listed(start_time=2500, end_time=2600)
    assert listed(start_time=10**15) is False
    assert costs_to_wire([pack(expires_at=None)], 0, start_time=10**15)[
        "resource_pack_subscribe_infos"][0]["invalid_time"] is None


def test_the_name_filter_is_exact() -> None:
    packs = [pack(id="a", name="monthly"), pack(id="b", name="monthly-2"),
             pack(id="c", name="annual")]
    chosen = costs_to_wire(packs, 0, name="monthly")["resource_pack_subscribe_infos"]
    assert [i["resource_pack_id"] for i in chosen] == ["a"]
