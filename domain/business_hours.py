"""Business hours: when the clock of a service target runs.

A :class:`BusinessCalendar` says when a team is open, in its own time zone: periods per
weekday, and holidays (whole local days closed). ``add`` finds the instant at which a
duration of open time has passed; ``open_between`` measures the open time between two
instants. Instants go in and come out as aware UTC datetimes.

An instant is open when the local clock then reads a time inside one of that local day's
periods, on a day that is no holiday. So a period on a day the clocks change lasts as long
as it really does: an hour the clocks skip is never open, an hour they repeat is open twice.
The work is done in stretches of constant UTC offset, where a wall-clock reading and an
instant differ by that offset; nothing adds a timedelta to a wall-clock time across a change.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from domain.exceptions import InvalidValueError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in date.weekday() order
ROUND_THE_CLOCK = ("00:00-24:00",)
DAY, WEEK = timedelta(days=1), timedelta(weeks=1)
# A zone's UTC offset is probed once a day and a change found by bisection: no two changes
# of offset in the tz database are less than four days apart, so a daily probe sees each.
PROBE = DAY
SPAN = timedelta(weeks=4)  # the most looked at in one stretch, change or not
_PERIOD = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")

Periods = tuple[tuple[int, int], ...]  # (first, last) minutes after local midnight, sorted


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in an IANA time zone, e.g. ``BusinessCalendar("Europe/London",
    {"mon": ("09:00-12:30", "13:30-18:00"), ...}, holiday_lists={"uk-2026": [...]})``.

    ``hours`` maps ``mon`` .. ``sun`` to periods ``HH:MM-HH:MM`` (a period may end at
    ``24:00``); a day left out is closed; left out altogether, every day is open round the
    clock. ``holidays`` are local dates closed all day; ``holiday_lists`` are named lists
    of such dates (a country's public holidays, say), all merged with ``holidays``.
    Calendars with the same zone, opening minutes and closed dates are equal, however
    they were spelled.
    """

    time_zone: str = "UTC"
    hours: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: dict.fromkeys(WEEKDAYS, ROUND_THE_CLOCK), compare=False
    )
    holidays: Collection[date] = field(default=(), compare=False)
    holiday_lists: Mapping[str, Collection[date]] = field(default_factory=dict, compare=False)
    _week: tuple[Periods, ...] = field(init=False, repr=False)
    _closed: tuple[date, ...] = field(init=False, repr=False)  # sorted
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekly: timedelta = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        week = _weekly_hours(self.hours)
        weekly = sum((timedelta(minutes=b - a) for day in week for a, b in day), timedelta())
        if not weekly:
            raise InvalidValueError("hours: the calendar is never open", field="hours")
        object.__setattr__(self, "_week", week)
        object.__setattr__(self, "_weekly", weekly)
        object.__setattr__(self, "_zone", _time_zone(self.time_zone))
        object.__setattr__(self, "_closed", _closed_days(self.holidays, self.holiday_lists))
        # Open every minute of every day: open time is elapsed time, in any zone.
        always = not self._closed and all(day == ((0, 1440),) for day in week)
        object.__setattr__(self, "_always_open", always)

    def is_open(self, at: datetime) -> bool:
        """Whether the local clock at ``at`` reads an opening time on a working day."""
        local = _instant(at, "at").astimezone(self._zone).replace(tzinfo=None)
        since = local - datetime.combine(local.date(), time())
        return not self._is_holiday(local.date()) and any(
            timedelta(minutes=a) <= since < timedelta(minutes=b)
            for a, b in self._week[local.weekday()]
        )

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of open time has passed since ``start``.

        It may be a closing time (the duration used up exactly as a period ends). A zero
        duration gives ``start`` itself, open or not.
        """
        start = _instant(start, "start")
        if duration < timedelta():
            raise InvalidValueError("duration: must not be negative", field="duration")
        left = duration
        if not left:
            return start
        if self._always_open:
            return start + duration
        for span in self._spans(start):
            wall, wall_end = span.wall(span.start), span.wall(span.end)
            weeks = min(
                self._clear_weeks(wall, wall_end), (left - timedelta.resolution) // self._weekly
            )
            wall, left = wall + weeks * WEEK, left - weeks * self._weekly
            for first, last in self._open_wall(wall, wall_end):
                if last - first >= left:
                    return span.instant(first + left)
                left -= last - first
        raise AssertionError("the spans never end")

    def open_between(self, start: datetime, end: datetime) -> timedelta:
        """The open time from ``start`` to ``end`` (none if ``end`` is not later)."""
        start, end = _instant(start, "start"), _instant(end, "end")
        total = timedelta()
        if end <= start:
            return total
        if self._always_open:
            return end - start
        for span in self._spans(start, until=end):
            wall, wall_end = span.wall(span.start), span.wall(span.end)
            weeks = self._clear_weeks(wall, wall_end)
            total += weeks * self._weekly
            total += sum(
                (last - first for first, last in self._open_wall(wall + weeks * WEEK, wall_end)),
                timedelta(),
            )
        return total

    def _spans(self, start: datetime, until: datetime | None = None) -> Iterator[_Span]:
        """Consecutive stretches of one UTC offset from ``start`` (to ``until`` if given)."""
        at = start
        while until is None or at < until:
            offset = self._offset(at)
            limit = at + SPAN if until is None else min(at + SPAN, until)
            end = self._change(at, limit, offset)
            yield _Span(at, end, offset)
            at = end

    def _change(self, at: datetime, limit: datetime, offset: timedelta) -> datetime:
        """The first instant after ``at`` with an offset other than ``offset``, or ``limit``."""
        low = at
        while low < limit:
            high = min(low + PROBE, limit)
            if self._offset(high) != offset:
                while high - low > timedelta.resolution:
                    middle = low + (high - low) // 2
                    low, high = (middle, high) if self._offset(middle) == offset else (low, middle)
                return high
            low = high
        return limit

    def _offset(self, at: datetime) -> timedelta:
        return at.astimezone(self._zone).utcoffset() or timedelta()

    def _open_wall(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open stretches of wall-clock time (naive local readings) in [start, end)."""
        day = start.date()
        while (midnight := datetime.combine(day, time())) < end:
            if not self._is_holiday(day):
                for a, b in self._week[day.weekday()]:
                    first = max(start, midnight + timedelta(minutes=a))
                    last = min(end, midnight + timedelta(minutes=b))
                    if first < last:
                        yield first, last
            day += DAY

    def _clear_weeks(self, start: datetime, end: datetime) -> int:
        """How many whole weeks of wall-clock time from ``start`` fit before ``end`` and the
        next holiday: each holds exactly one week's opening hours."""
        next_holiday = bisect_left(self._closed, start.date())
        if next_holiday < len(self._closed):
            end = min(end, datetime.combine(self._closed[next_holiday], time()))
        return max(0, (end - start) // WEEK)

    def _is_holiday(self, day: date) -> bool:
        i = bisect_left(self._closed, day)
        return i < len(self._closed) and self._closed[i] == day


class _Span(NamedTuple):
    """Instants [start, end) of one UTC offset: a wall-clock reading is instant + offset."""

    start: datetime
    end: datetime
    offset: timedelta

    def wall(self, instant: datetime) -> datetime:
        return (instant + self.offset).replace(tzinfo=None)

    def instant(self, wall: datetime) -> datetime:
        return (wall - self.offset).replace(tzinfo=UTC)


def _instant(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValueError(f"{name}: an aware datetime is needed", field=name)
    return value.astimezone(UTC)


def _time_zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(name)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError, OSError):
        raise InvalidValueError(
            f"time_zone: {name!r} is no IANA time zone (such as 'Europe/London')",
            field="time_zone",
        ) from None


def _weekly_hours(hours: object) -> tuple[Periods, ...]:
    if not isinstance(hours, Mapping) or not set(hours) <= set(WEEKDAYS):
        raise InvalidValueError(
            f"hours: a mapping of {', '.join(WEEKDAYS)} to periods", field="hours"
        )
    return tuple(_periods(day, hours.get(day, ())) for day in WEEKDAYS)


def _periods(day: str, texts: object) -> Periods:
    name = f"hours.{day}"
    if isinstance(texts, str) or not isinstance(texts, Collection):
        raise InvalidValueError(f"{name}: a list of periods such as '09:00-17:00'", field=name)
    periods: list[tuple[int, int]] = []
    previous = ""
    for a, b, text in sorted((*_period(name, text), text) for text in texts):
        if periods and a < periods[-1][1]:
            raise InvalidValueError(f"{name}: {previous!r} overlaps {text!r}", field=name)
        if periods and a == periods[-1][1]:
            periods[-1] = (periods[-1][0], b)  # touching periods are one
        else:
            periods.append((a, b))
        previous = text
    return tuple(periods)


def _period(name: str, text: object) -> tuple[int, int]:
    """``HH:MM-HH:MM`` as minutes after midnight, 00:00 to 24:00, start before end."""
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if match:
        start_h, start_m, end_h, end_m = map(int, match.groups())
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        if max(start_m, end_m) < 60 and end <= 1440:
            if start >= end:
                raise InvalidValueError(f"{name}: {text!r} ends before it starts", field=name)
            return start, end
    raise InvalidValueError(
        f"{name}: {text!r} is no period between 00:00 and 24:00 such as '09:00-17:00'",
        field=name,
    )


def _closed_days(holidays: object, lists: object) -> tuple[date, ...]:
    if not isinstance(lists, Mapping) or not all(isinstance(k, str) and k for k in lists):
        raise InvalidValueError(
            "holiday_lists: a mapping of names to lists of dates", field="holiday_lists"
        )
    sources = [("holidays", holidays)] + [(f"holiday_lists.{k}", v) for k, v in lists.items()]
    closed: set[date] = set()
    for name, days in sources:
        if isinstance(days, str) or not isinstance(days, Collection):
            raise InvalidValueError(f"{name}: a list of dates", field=name)
        for day in days:
            # A datetime is a date too, but a holiday is a whole local day.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise InvalidValueError(f"{name}: {day!r} is not a date", field=name)
            closed.add(day)
    return tuple(sorted(closed))


ALWAYS_OPEN = BusinessCalendar()
"""24/7 in UTC: targets that run on the clock."""
