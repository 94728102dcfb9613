"""Business hours: open time added and measured across weekends, holidays, zones and DST.

Worked examples first, then properties checked against a slow reference written here,
which walks minute by minute over UTC instants and asks the local clock whether each is
open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.business_hours import ALWAYS_OPEN, WEEKDAYS, BusinessCalendar
from domain.exceptions import InvalidValueError

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
WORKDAYS = WEEKDAYS[:5]
OFFICE = BusinessCalendar(
    "Europe/London",
    dict.fromkeys(WORKDAYS, ("09:00-12:30", "13:30-18:00")),  # 40 hours a week
    holidays=[date(2026, 12, 29)],  # the company's own
    holiday_lists={"uk-2026": [date(2026, 12, 25), date(2026, 12, 28)]},
)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An unambiguous local wall-clock time, as the UTC instant it is."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Worked examples.


def test_a_target_set_on_friday_afternoon_runs_on_into_monday() -> None:
    friday = local(LONDON, 2026, 11, 6, 17, 0)

    assert OFFICE.add(friday, 2 * HOUR) == local(LONDON, 2026, 11, 9, 10, 0)
    assert OFFICE.open_between(friday, local(LONDON, 2026, 11, 9, 10, 0)) == 2 * HOUR


def test_the_lunch_break_stops_the_clock() -> None:
    tuesday_noon = local(LONDON, 2026, 11, 10, 12, 0)

    assert OFFICE.add(tuesday_noon, HOUR) == local(LONDON, 2026, 11, 10, 14, 0)
    assert OFFICE.open_between(tuesday_noon, local(LONDON, 2026, 11, 10, 14, 0)) == HOUR


def test_holidays_from_every_list_are_skipped_whole() -> None:
    christmas_eve = local(LONDON, 2026, 12, 24, 17, 0)

    # Thursday 17:00-18:00, then 25th (uk-2026), the weekend, 28th (uk-2026), 29th (own).
    assert OFFICE.add(christmas_eve, 2 * HOUR) == local(LONDON, 2026, 12, 30, 10, 0)
    assert not OFFICE.is_open(local(LONDON, 2026, 12, 29, 10, 0))


def test_a_start_outside_opening_hours_waits_for_the_opening() -> None:
    saturday, early = local(LONDON, 2026, 11, 7, 11, 0), local(LONDON, 2026, 11, 9, 7, 30)

    assert OFFICE.add(saturday, 30 * MINUTE) == local(LONDON, 2026, 11, 9, 9, 30)
    assert OFFICE.add(early, 30 * MINUTE) == local(LONDON, 2026, 11, 9, 9, 30)
    assert OFFICE.open_between(saturday, early) == timedelta()


def test_a_start_inside_opening_hours_counts_at_once() -> None:
    monday = local(LONDON, 2026, 11, 9, 10, 15)

    assert OFFICE.add(monday, 30 * MINUTE) == local(LONDON, 2026, 11, 9, 10, 45)


def test_a_duration_used_up_at_closing_time_ends_then() -> None:
    monday = local(LONDON, 2026, 11, 9, 9, 0)

    assert OFFICE.add(monday, 8 * HOUR) == local(LONDON, 2026, 11, 9, 18, 0)


def test_a_zero_duration_is_the_start_itself_open_or_not() -> None:
    saturday, monday = local(LONDON, 2026, 11, 7, 11, 0), local(LONDON, 2026, 11, 9, 10, 0)

    assert OFFICE.add(saturday, timedelta()) == saturday
    assert OFFICE.add(monday, timedelta()) == monday


def test_a_period_ending_at_midnight_runs_on_into_the_next_days_period() -> None:
    nights = BusinessCalendar("UTC", {"mon": ("18:00-24:00",), "tue": ("00:00-02:00",)})

    assert nights.add(utc(2026, 11, 9, 23, 0), 2 * HOUR) == utc(2026, 11, 10, 1, 0)
    assert nights.add(utc(2026, 11, 10, 1, 0), 2 * HOUR) == utc(2026, 11, 16, 19, 0)
    assert nights.open_between(utc(2026, 11, 9), utc(2026, 11, 11)) == 8 * HOUR


def test_opening_hours_follow_the_local_clock_across_a_dst_change() -> None:
    office = BusinessCalendar("America/New_York", dict.fromkeys(WORKDAYS, ("09:00-18:00",)))
    friday = local(NEW_YORK, 2026, 3, 6, 17, 0)  # EST; clocks go forward on Sunday

    assert OFFICE.add(friday, 2 * HOUR) != office.add(friday, 2 * HOUR)
    assert office.add(friday, 2 * HOUR) == utc(2026, 3, 9, 14, 0)  # 10:00 EDT


def test_london_spring_forward_shortens_periods_in_the_skipped_hour() -> None:
    # 29 March 2026: at 01:00 GMT the clocks read 02:00 BST.
    def open_on_the_day(period: str) -> timedelta:
        calendar = BusinessCalendar("Europe/London", {"sun": (period,)})
        return calendar.open_between(utc(2026, 3, 28, 12), utc(2026, 3, 30))

    assert open_on_the_day("00:00-04:00") == 3 * HOUR
    assert open_on_the_day("01:00-03:00") == HOUR
    assert open_on_the_day("01:15-01:45") == timedelta()
    assert open_on_the_day("00:30-02:30") == HOUR

    calendar = BusinessCalendar("Europe/London", {"sun": ("00:30-02:30",)})
    assert calendar.add(utc(2026, 3, 29, 0, 0), 45 * MINUTE) == utc(2026, 3, 29, 1, 15)


def test_london_fall_back_lengthens_periods_in_the_repeated_hour() -> None:
    # 25 October 2026: at 02:00 BST the clocks read 01:00 GMT again.
    def open_on_the_day(period: str) -> timedelta:
        calendar = BusinessCalendar("Europe/London", {"sun": (period,)})
        return calendar.open_between(utc(2026, 10, 24, 12), utc(2026, 10, 26))

    assert open_on_the_day("00:00-04:00") == 5 * HOUR
    assert open_on_the_day("01:00-03:00") == 3 * HOUR
    assert open_on_the_day("01:15-01:45") == HOUR  # twice half an hour

    calendar = BusinessCalendar("Europe/London", {"sun": ("01:15-01:45",)})
    # 30 minutes from 01:15 BST, then 15 from 01:15 GMT.
    assert calendar.add(utc(2026, 10, 25), 45 * MINUTE) == utc(2026, 10, 25, 1, 30)


def test_new_york_spring_forward_and_fall_back() -> None:
    calendar = BusinessCalendar("America/New_York", {"sun": ("00:00-04:00",)})

    # 8 March 2026, 02:00 EST (07:00 UTC) reads 03:00 EDT: a four-hour period lasts three.
    assert calendar.open_between(utc(2026, 3, 8), utc(2026, 3, 9)) == 3 * HOUR
    assert calendar.add(local(NEW_YORK, 2026, 3, 8, 1, 0), 90 * MINUTE) == utc(2026, 3, 8, 7, 30)
    # 1 November 2026, 02:00 EDT (06:00 UTC) reads 01:00 EST: the period lasts five.
    assert calendar.open_between(utc(2026, 11, 1), utc(2026, 11, 2)) == 5 * HOUR
    assert calendar.add(utc(2026, 11, 1, 4), 5 * HOUR) == utc(2026, 11, 1, 9)


def test_thirty_days_of_open_time_are_eighteen_working_weeks() -> None:
    monday = local(LONDON, 2026, 1, 5, 9, 0)  # through the March change to BST
    due = OFFICE.add(monday, timedelta(days=30))  # 90 working days of 8 hours

    assert due == local(LONDON, 2026, 5, 8, 18, 0)
    assert OFFICE.open_between(monday, due) == timedelta(days=30)


def test_years_of_open_time_are_added_and_measured() -> None:
    start = local(LONDON, 2026, 1, 5, 9, 0)
    due = OFFICE.add(start, timedelta(days=2000))  # 6,000 working days of 8 hours

    # Counted by hand (by a date loop): the 6,000th weekday that is no holiday.
    assert due == local(LONDON, 2049, 1, 6, 18, 0)
    assert OFFICE.open_between(start, due) == timedelta(days=2000)


def test_the_always_open_calendar_is_the_clock() -> None:
    start = local(NEW_YORK, 2026, 3, 7, 12, 0)

    assert ALWAYS_OPEN.add(start, timedelta(days=30)) == start + timedelta(days=30)
    assert ALWAYS_OPEN.open_between(start, start + timedelta(days=45)) == timedelta(days=45)
    assert ALWAYS_OPEN.open_between(start, start - HOUR) == timedelta()


def test_instants_come_out_in_utc_whatever_zone_they_went_in() -> None:
    start = datetime(2026, 11, 9, 10, 0, tzinfo=NEW_YORK)

    due = OFFICE.add(start, HOUR)

    assert due.tzinfo is UTC
    assert due == datetime(2026, 11, 9, 16, 0, tzinfo=UTC)


def test_calendars_spelled_differently_but_open_alike_are_equal() -> None:
    touching = BusinessCalendar("UTC", {"mon": ("12:00-17:00", "09:00-12:00")})
    whole = BusinessCalendar("UTC", {"mon": ["09:00-17:00"], "tue": []})

    assert touching == whole
    assert hash(touching) == hash(whole)
    assert touching.add(utc(2026, 11, 9, 11), 2 * HOUR) == utc(2026, 11, 9, 13)
    assert BusinessCalendar(holidays=[date(2026, 1, 1)]) != ALWAYS_OPEN


# Validation.


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"time_zone": "../etc/passwd"}, "time_zone"),
        ({"hours": {"monday": ["09:00-17:00"]}}, "hours"),
        ({"hours": ["09:00-17:00"]}, "hours"),
        ({"hours": {}}, "hours"),
        ({"hours": {"mon": [], "sun": []}}, "hours"),
        ({"hours": {"mon": "09:00-17:00"}}, "hours.mon"),
        ({"hours": {"tue": ["09:00-17:00", "12:00-13:00"]}}, "hours.tue"),
        ({"hours": {"tue": ["09:00-17:00", "09:00-17:00"]}}, "hours.tue"),
        ({"hours": {"wed": ["17:00-09:00"]}}, "hours.wed"),
        ({"hours": {"wed": ["09:00-09:00"]}}, "hours.wed"),
        ({"hours": {"thu": ["09:00-24:30"]}}, "hours.thu"),
        ({"hours": {"thu": ["24:00-24:00"]}}, "hours.thu"),
        ({"hours": {"fri": ["09:60-10:00"]}}, "hours.fri"),
        ({"hours": {"fri": ["9:00-17:00"]}}, "hours.fri"),
        ({"hours": {"sat": [(9, 17)]}}, "hours.sat"),
        ({"holidays": [datetime(2026, 12, 25, tzinfo=UTC)]}, "holidays"),
        ({"holidays": ["2026-12-25"]}, "holidays"),
        ({"holiday_lists": {"uk-2026": ["2026-12-25"]}}, "holiday_lists.uk-2026"),
        ({"holiday_lists": {"uk-2026": date(2026, 12, 25)}}, "holiday_lists.uk-2026"),
        ({"holiday_lists": [date(2026, 12, 25)]}, "holiday_lists"),
        ({"holiday_lists": {"": [date(2026, 12, 25)]}}, "holiday_lists"),
    ],
)
def test_an_unusable_calendar_is_refused_naming_the_field(
    arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidValueError) as refused:
        BusinessCalendar(**arguments)  # type: ignore[arg-type]

    assert refused.value.field == field


def test_naive_instants_and_negative_durations_are_refused_naming_the_argument() -> None:
    naive, aware = datetime(2026, 11, 9, 10, 0), utc(2026, 11, 9, 10, 0)

    for call, field in [
        (lambda: OFFICE.add(naive, HOUR), "start"),
        (lambda: OFFICE.add(aware, -MINUTE), "duration"),
        (lambda: OFFICE.open_between(naive, aware), "start"),
        (lambda: OFFICE.open_between(aware, naive), "end"),
        (lambda: OFFICE.is_open(naive), "at"),
    ]:
        with pytest.raises(InvalidValueError) as refused:
            call()
        assert refused.value.field == field


# Properties, against a reference that asks the local clock about every minute.

ZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour DST, southern hemisphere
    "Asia/Kathmandu",  # +05:45, no DST
    "America/Sao_Paulo",  # changed at midnight: a day began at 01:00, or twice at 23:00
    "Pacific/Apia",  # skipped 30 December 2011 whole
)
# Instants the clocks changed, so that starts gather round them.
CHANGES = {
    "Europe/London": (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)),
    "America/New_York": (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)),
    "Australia/Lord_Howe": (utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)),
    "America/Sao_Paulo": (utc(2018, 11, 4, 3), utc(2019, 2, 17, 2)),
    "Pacific/Apia": (utc(2011, 9, 24, 14), utc(2011, 12, 30, 10)),
}
HORIZON = 8 * 24 * 60  # minutes the reference looks at: more than a week


def test_the_changes_the_properties_gather_round_are_real() -> None:
    for name, instants in CHANGES.items():
        for instant in instants:
            before, after = (
                (instant - MINUTE).astimezone(ZoneInfo(name)),
                instant.astimezone(ZoneInfo(name)),
            )
            assert before.utcoffset() != after.utcoffset(), (name, instant)


Week = list[list[tuple[int, int]]]  # periods in minutes, Monday first


@st.composite
def weeks(draw: st.DrawFn) -> Week:
    boundary = st.one_of(
        st.integers(0, 96).map(lambda quarter: quarter * 15),  # often on a DST change
        st.integers(0, 1440),
        st.sampled_from([0, 1440]),
    )
    week = []
    for _ in WEEKDAYS:
        edges = sorted(draw(st.sets(boundary, max_size=6)))
        week.append(list(zip(edges[0::2], edges[1::2], strict=False)))
    return week


def spelled(week: Week) -> dict[str, list[str]]:
    def clock(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        day: [f"{clock(a)}-{clock(b)}" for a, b in periods]
        for day, periods in zip(WEEKDAYS, week, strict=True)
        if periods
    }


class Case:
    """A drawn calendar and start, with the reference's verdict on each minute after it."""

    def __init__(self, zone: str, week: Week, holidays: set[date], start: datetime) -> None:
        self.calendar = BusinessCalendar(zone, spelled(week), holidays=holidays)
        self.start = start
        self.open = [
            is_open_reference(ZoneInfo(zone), week, holidays, start + i * MINUTE)
            for i in range(HORIZON)
        ]

    def at(self, minutes: int) -> datetime:
        return self.start + minutes * MINUTE

    def open_minutes(self, first: int, last: int) -> timedelta:
        return sum(self.open[first:last]) * MINUTE


def is_open_reference(zone: ZoneInfo, week: Week, holidays: set[date], instant: datetime) -> bool:
    clock = instant.astimezone(zone)
    minute = clock.hour * 60 + clock.minute
    return clock.date() not in holidays and any(a <= minute < b for a, b in week[clock.weekday()])


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone = draw(st.sampled_from(ZONES))
    week = draw(weeks().filter(any))
    anywhere = st.integers(0, 4 * 365 * 1440).map(lambda m: utc(2024, 1, 1) + m * MINUTE)
    if zone in CHANGES:
        near_a_change = st.tuples(
            st.sampled_from(CHANGES[zone]), st.integers(-5 * 1440, 2 * 1440)
        ).map(lambda change: change[0] + change[1] * MINUTE)
        start = draw(st.one_of(near_a_change, anywhere))
    else:
        start = draw(anywhere)
    first_day = start.astimezone(ZoneInfo(zone)).date()
    holidays = {
        first_day + timedelta(days=d) for d in draw(st.sets(st.integers(-1, 8), max_size=3))
    }
    return Case(zone, week, holidays, start)


EXAMPLES = settings(max_examples=120, deadline=None)


@EXAMPLES
@given(cases(), st.floats(0, 1))
def test_add_agrees_with_the_minute_by_minute_reference(case: Case, share: float) -> None:
    minutes = round(share * sum(case.open))
    # The instant the reference's ``minutes``-th open minute ends (the start, for none).
    expected = case.start
    if minutes:
        ends = [i + 1 for i, is_open in enumerate(case.open) if is_open]
        expected = case.at(ends[minutes - 1])

    assert case.calendar.add(case.start, minutes * MINUTE) == expected


@EXAMPLES
@given(cases(), st.integers(0, HORIZON), st.integers(0, HORIZON))
def test_open_between_agrees_with_the_reference_and_undoes_add(
    case: Case, minutes: int, later: int
) -> None:
    assert case.calendar.open_between(case.start, case.at(minutes)) == case.open_minutes(0, minutes)

    duration = case.open_minutes(0, later)
    assert (
        case.calendar.open_between(case.start, case.calendar.add(case.start, duration)) == duration
    )


@EXAMPLES
@given(cases(), st.lists(st.integers(0, HORIZON), min_size=3, max_size=3))
def test_open_between_is_additive(case: Case, points: list[int]) -> None:
    a, b, c = (case.at(minutes) for minutes in sorted(points))
    between = case.calendar.open_between

    assert between(a, c) == between(a, b) + between(b, c)
    assert between(c, a) == timedelta()
    assert between(a, b) == case.open_minutes(*sorted(points)[:2])


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(1, 60), st.floats(0.05, 1))
def test_weeks_skipped_at_once_agree_with_small_steps(case: Case, steps: int, share: float) -> None:
    """A long duration (whole weeks skipped) lands where as many short ones, each less than
    a week's opening hours (no skipping), do; and measures back to itself."""
    calendar = case.calendar
    weekly = calendar.open_between(utc(2030, 1, 7), utc(2030, 1, 14))
    step = max(MINUTE, (weekly * share) // MINUTE * MINUTE)

    due = calendar.add(case.start, steps * step)

    assert due == reduce(lambda at, _: calendar.add(at, step), range(steps), case.start)
    assert calendar.open_between(case.start, due) == steps * step


@pytest.mark.parametrize("zone", ZONES)
def test_a_calendar_open_round_the_clock_counts_elapsed_time_across_every_change(
    zone: str,
) -> None:
    """Such a calendar takes a shortcut (open time is elapsed time): it must agree with
    the minute-by-minute reference, and with the general walk, over each zone's changes."""
    week = [[(0, 1440)] for _ in WEEKDAYS]
    starts = [c - 48 * HOUR for c in CHANGES.get(zone, ())] or [utc(2026, 3, 1)]
    for start in starts:
        case = Case(zone, week, set(), start)
        walked = BusinessCalendar(zone, spelled(week))
        object.__setattr__(walked, "_always_open", False)  # the general walk, for comparison
        for minutes in (0, 1, 59, 24 * 60, 2 * 24 * 60 + 7, 5 * 24 * 60):
            expected = case.at(minutes)
            assert case.open_minutes(0, minutes) == minutes * MINUTE
            assert case.calendar.add(start, minutes * MINUTE) == expected
            assert walked.add(start, minutes * MINUTE) == expected
            assert case.calendar.open_between(start, expected) == minutes * MINUTE
            assert walked.open_between(start, expected) == minutes * MINUTE
