"""The connection cap stays below the open-file limit (docs/configuration.md,
OPENKLING_MAX_CONNECTIONS): three quarters of it, at least 128 files left for the rest."""

from __future__ import annotations

import resource

import pytest

from openkling.api.http_protocol import connection_cap


@pytest.mark.parametrize(("soft_limit", "cap"), [
    (1024, 768),  # a quarter (256) is more than 128
    (512, 384),  # a quarter is exactly 128
    (511, 383),  # a quarter is less than 128: 128 are left
    (256, 128),
    (100, 16),  # never below 16
    (1_048_576, 786_432),
])
def test_automatic_cap(soft_limit: int, cap: int) -> None:
    assert connection_cap(0, soft_limit) == cap


def test_a_setting_only_lowers_the_cap() -> None:
    assert connection_cap(100, 1024) == 100
    assert connection_cap(768, 1024) == 768
    assert connection_cap(769, 1024) == 768
    assert connection_cap(50_000, 1024) == 768


def test_the_process_limit_is_read_when_not_given() -> None:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        pytest.skip("no open-file limit")
    assert connection_cap(0) == connection_cap(0, soft) < soft
