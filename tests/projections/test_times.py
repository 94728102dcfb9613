"""Stored times as the API shows them: ``iso`` reads what ``timestamp`` writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.db import iso, parse_timestamp, timestamp


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),  # no microseconds: isoformat leaves them out
        datetime(2026, 11, 2, 9, 0, 1, 250, tzinfo=UTC),
        datetime(999, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),  # a padded year
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_iso_shows_a_stored_time_as_parsing_it_would(moment: datetime) -> None:
    stored = timestamp(moment)
    assert stored is not None
    parsed = parse_timestamp(stored)
    assert parsed is not None
    assert iso(stored) == parsed.isoformat() == moment.isoformat()
    assert iso(None) is None


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "2026-11-02T09:00:00.000000Z"),
        (datetime(999, 3, 4, 5, 6, 7, 123456, tzinfo=UTC), "0999-03-04T05:06:07.123456Z"),
        (
            datetime(2026, 11, 2, 1, 30, 0, 5, tzinfo=timezone(timedelta(hours=-3))),
            "2026-11-02T04:30:00.000005Z",
        ),
    ],
)
def test_timestamp_writes_fixed_width_utc_text(moment: datetime, text: str) -> None:
    assert timestamp(moment) == text
    assert len(text) == 27  # parse_timestamp's fast path, and a string sort, rely on it


@given(st.datetimes(timezones=st.just(UTC)))
def test_iso_of_any_stored_time_is_its_isoformat(moment: datetime) -> None:
    """``iso`` rewrites the stored text without parsing it: it must agree with parsing."""
    stored = timestamp(moment)
    assert stored is not None
    assert iso(stored) == moment.isoformat()
