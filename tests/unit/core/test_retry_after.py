"""Retry-After in both RFC 9110 forms (delay-seconds and HTTP-date), and what is unreadable."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime

import pytest

from openkling.core.retry_after import parse_retry_after

NOW = parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()


def test_delay_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5  # not RFC, but seen in the wild


def test_http_date_in_the_future_is_the_seconds_until_then() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=NOW) == 30.0
    # the obsolete RFC 850 form is still to be accepted by recipients
    assert parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now=NOW) == 60.0


def test_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=NOW) == 0.0


def test_date_without_now_uses_the_clock() -> None:
    import time
    from datetime import UTC, datetime

    soon = format_datetime(datetime.fromtimestamp(time.time() + 100, UTC), usegmt=True)
    wait = parse_retry_after(soon)
    assert wait is not None and 90 <= wait <= 100


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf", "Wed, 99 Foo 2015"])
def test_unreadable_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None
