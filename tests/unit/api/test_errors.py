"""Unit: how validation failures and errors become Kling envelopes."""

from __future__ import annotations

import json

from openkling.api.envelope import envelope, error_response
from openkling.api.errors import validation_to_kling
from openkling.api.limits import RateLimiter
from openkling.core.errors import HTTP_STATUS, Code, KlingError


def test_envelope_shape() -> None:
    response = envelope({"a": 1}, "rid")
    assert json.loads(response.body) == {"code": 0, "message": "SUCCEED", "request_id": "rid",
                                         "data": {"a": 1}}
    assert response.media_type == "application/json"


def test_error_envelope_carries_status_code_and_headers() -> None:
    error = KlingError(Code.RATE_LIMITED, "slow down", headers={"Retry-After": "2"})
    response = error_response(error, "rid")
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert json.loads(response.body) == {"code": 1302, "message": "slow down",
                                         "request_id": "rid", "data": None}


def test_every_code_has_the_contract_status() -> None:
    expected = {1000: 401, 1001: 401, 1002: 401, 1003: 401, 1004: 401, 1100: 429, 1101: 429,
                1102: 429, 1103: 403, 1200: 400, 1201: 400, 1202: 404, 1203: 404, 1300: 400,
                1301: 400, 1302: 429, 1303: 429, 1304: 429, 5000: 500, 5001: 503, 5002: 504}
    assert {int(code): status for code, status in HTTP_STATUS.items()} == expected


def test_validation_mapping() -> None:
    assert validation_to_kling([{"loc": ("body",), "type": "json_invalid",
                                 "msg": "JSON decode error"}]).code == Code.INVALID_REQUEST
    assert validation_to_kling([{"loc": ("body",), "type": "model_attributes_type",
                                 "msg": "x"}]).code == Code.INVALID_REQUEST
    err = validation_to_kling([{"loc": ("query", "pageSize"), "type": "less_than_equal",
                                "msg": "Input should be less than or equal to 500"}])
    assert (err.code, err.message) == (
        Code.INVALID_PARAMETER, "pageSize: Input should be less than or equal to 500")
    err = validation_to_kling([{"loc": ("camera_control", "config"), "type": "value_error",
                                "msg": "Value error, exactly one"}])
    assert err.message == "camera_control.config: exactly one"


def test_rate_limiter_bucket() -> None:
    limiter = RateLimiter(rate_per_second=1000, burst=2)
    limiter.hit(1)
    limiter.hit(1)
    try:
        for _ in range(5):
            limiter.hit(1)
    except KlingError as exc:
        assert exc.code == Code.RATE_LIMITED and exc.headers["Retry-After"] == "1"
    else:  # pragma: no cover - 5 hits within microseconds must exceed a burst of 2
        raise AssertionError("the bucket never emptied")
    limiter.hit(2)  # accounts have separate buckets
