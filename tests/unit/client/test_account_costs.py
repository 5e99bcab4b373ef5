"""`client.account.costs`: the query it sends and Kling's resource-pack shape it reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openkling.client import AccountError, InvalidParameterError, KlingClient, ResourcePack

from .doubles import RecordingServerDouble

#: Kling's documented `data` (docs: /account/costs), with a pack id as Kling sends it.
KLING_COSTS = {
    "code": 0, "msg": "string",
    "resource_pack_subscribe_infos": [{
        "resource_pack_name": "Video Generation - 10,000 entries",
        "resource_pack_id": "509f3fd3d4f84f8f8a5a4e1a1a1a1a1a",
        "resource_pack_type": "decreasing_total",
        "total_quantity": 200.0, "remaining_quantity": 118.0,
        "purchase_time": 1726124664368, "effective_time": 1726124664368,
        "invalid_time": 1727366400000, "status": "online",
    }],
}


def _client(server: RecordingServerDouble) -> KlingClient:
    return KlingClient(base_url="http://127.0.0.1:1", api_key="k", transport=server)


def test_costs_sends_the_window_in_ms_and_reads_the_packs() -> None:
    server = RecordingServerDouble(KLING_COSTS)
    with _client(server) as client:
        costs = client.account.costs(start_time=datetime(2024, 9, 1, tzinfo=UTC),
                                     end_time=1727366400000, resource_pack_name="video")
    [request] = server.requests
    assert (request.method, request.url.path) == ("GET", "/v1/account/costs")
    assert dict(request.url.params) == {"start_time": "1725148800000",
                                        "end_time": "1727366400000",
                                        "resource_pack_name": "video"}
    [pack] = costs.packs
    assert isinstance(pack, ResourcePack)
    assert (pack.total_quantity, pack.remaining_quantity, pack.status) == (200.0, 118.0,
                                                                           "online")
    assert pack.expires == datetime(2024, 9, 26, 16, 0, tzinfo=UTC)
    assert costs.to_wire() == KLING_COSTS


def test_openkling_s_numeric_id_and_a_pack_that_never_expires() -> None:
    data = {"code": 0, "msg": "", "resource_pack_subscribe_infos": [
        {"resource_pack_name": "5 units", "resource_pack_id": 3,
         "resource_pack_type": "decreasing_total", "total_quantity": 5.0,
         "remaining_quantity": 5.0, "purchase_time": 1, "effective_time": 1,
         "invalid_time": None, "status": "toBeOnline", "new_kling_field": True}]}
    with _client(RecordingServerDouble(data)) as client:
        [pack] = client.account.costs().packs
    assert pack.resource_pack_id == "3" and pack.expires is None
    assert pack.status == "toBeOnline"  # a plain string: states Kling adds later still parse


def test_no_window_sends_no_query_and_an_empty_list_is_empty() -> None:
    server = RecordingServerDouble({"code": 0, "msg": "",
                                    "resource_pack_subscribe_infos": None})
    with _client(server) as client:
        assert client.account.costs().packs == []
    assert server.requests[0].url.query == b""


def test_a_code_nested_in_the_data_is_raised_like_the_envelope_s() -> None:
    server = RecordingServerDouble({"code": 1103, "msg": "no access to costs"})
    with _client(server) as client, pytest.raises(AccountError) as caught:
        client.account.costs()
    assert caught.value.code == 1103 and caught.value.message == "no access to costs"


@pytest.mark.parametrize("bad", [-1, True, 1.5, "yesterday"])
def test_a_time_that_is_not_ms_or_a_datetime_is_refused_unsent(bad: object) -> None:
    server = RecordingServerDouble(KLING_COSTS)
    with _client(server) as client, pytest.raises(InvalidParameterError, match="start_time"):
        client.account.costs(start_time=bad)  # type: ignore[arg-type]
    assert server.requests == []
