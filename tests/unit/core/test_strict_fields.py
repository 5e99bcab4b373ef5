"""Fields Kling types strictly: `duration` is ASCII digits, `cfg_scale` a JSON number."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from openkling.api.errors import validation_to_kling
from openkling.core.errors import Code
from openkling.core.models import Text2VideoRequest


def error_for(**body: Any) -> tuple[int, str]:
    with pytest.raises(ValidationError) as info:
        Text2VideoRequest.model_validate(body)
    err = validation_to_kling([dict(e) for e in info.value.errors()])
    return int(err.code), err.message


@pytest.mark.parametrize("value", [" 5", "5 ", "\t10", "\u0665", "\uff15", "1\u200b0", "+5", "5.0"])
def test_duration_other_than_ascii_digits_is_1201(value: str) -> None:
    code, message = error_for(prompt="x", duration=value)
    assert code == Code.INVALID_PARAMETER
    assert message.startswith("duration:")


@pytest.mark.parametrize("value", ["5", "10", "3", "15"])
def test_duration_ascii_digits_are_accepted(value: str) -> None:
    assert Text2VideoRequest.model_validate({"prompt": "x", "duration": value}).duration == value


@pytest.mark.parametrize("value", ["0.5", "1", "", "NaN"])
def test_cfg_scale_as_a_string_is_1201(value: str) -> None:
    code, message = error_for(prompt="x", cfg_scale=value)
    assert code == Code.INVALID_PARAMETER
    assert message.startswith("cfg_scale:")


@pytest.mark.parametrize("value", [0, 0.5, 1, 1.0])
def test_cfg_scale_numbers_in_range_are_accepted(value: float) -> None:
    assert Text2VideoRequest.model_validate({"prompt": "x", "cfg_scale": value}).cfg_scale == value
