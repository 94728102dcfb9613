"""What an SLA policy promises a case: targets, the calendar they run on, and which cases.

:class:`Terms` is what a case is promised. It is copied whole into the case's
``SlaApplied`` event when its clock starts, so the log says what was promised then, and
no later edit of the policy can rewrite it. :class:`Conditions` say which cases a policy
is for; :class:`PolicySpec` is a policy as a supervisor writes it (name, rank,
conditions, terms), one version of an :class:`~domain.sla_policy.SlaPolicy`.

Everything here is a plain value built from, and turned back into, JSON-able dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from domain import values as v
from domain.business_hours import ALWAYS_OPEN, BusinessCalendar
from domain.exceptions import InvalidValueError

FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION = "first_response", "next_response", "resolution"
METRICS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)
MAX_TARGET_SECONDS = 366 * 86400
MAX_TARGETS = 200
DEFAULT_AT_RISK_SHARE = 0.8
MAX_PARSED_TERMS = 1024  # distinct terms kept parsed (policy versions in use)
DEFAULT_POLICY_ID = "default"  # the built-in policy: cases no policy's conditions match


@dataclass(frozen=True)
class Target:
    """How long ``metric`` may take, for cases on ``channel`` at ``priority`` (``None``:
    any), counted round the clock or only in the policy's business hours."""

    metric: str
    seconds: int
    channel: str | None = None
    priority: str | None = None
    business_hours: bool = False

    def __post_init__(self) -> None:
        v.check_in(self.metric, METRICS, "targets.metric")
        if self.channel is not None:
            v.check_in(self.channel, v.CHANNELS, "targets.channel")
        if self.priority is not None:
            v.check_in(self.priority, v.PRIORITIES, "targets.priority")
        if not isinstance(self.seconds, int) or not 0 < self.seconds <= MAX_TARGET_SECONDS:
            raise InvalidValueError(
                f"a target is 1 to {MAX_TARGET_SECONDS} seconds", field="targets.seconds"
            )

    @property
    def specificity(self) -> int:
        """Channel and priority named beat channel named beat priority named beat neither."""
        return 2 * (self.channel is not None) + (self.priority is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "seconds": self.seconds, "channel": self.channel,
            "priority": self.priority, "business_hours": self.business_hours,
        }  # fmt: skip


@dataclass(frozen=True)
class Terms:
    """Targets, the business hours they may run on, when a case is at risk (a share of
    its target gone), and whether replies nobody typed (an integration's, the system's)
    count as responses."""

    targets: tuple[Target, ...]
    calendar: Mapping[str, Any] | None = None  # BusinessCalendar's arguments, as JSON
    at_risk_share: float = DEFAULT_AT_RISK_SHARE
    count_automated_replies: bool = False

    def __post_init__(self) -> None:
        if len(self.targets) > MAX_TARGETS:
            raise InvalidValueError(f"at most {MAX_TARGETS} targets", field="targets")
        seen: set[tuple[str, str | None, str | None]] = set()
        for target in self.targets:
            key = (target.metric, target.channel, target.priority)
            if key in seen:
                raise InvalidValueError(
                    f"two targets for {target.metric} on channel {target.channel} at priority"
                    f" {target.priority}",
                    field="targets",
                )
            seen.add(key)
        if not 0 < self.at_risk_share < 1:
            raise InvalidValueError("at_risk_share is between 0 and 1", field="at_risk_share")
        if any(t.business_hours for t in self.targets) and self.calendar is None:
            raise InvalidValueError(
                "a target in business hours needs the policy's calendar", field="calendar"
            )
        if self.calendar is not None:
            self.business_calendar  # noqa: B018 - checks the calendar now, not at first use

    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        if self.calendar is None:
            return ALWAYS_OPEN
        return calendar_from_dict(self.calendar)

    def target(self, metric: str, channel: str, priority: str) -> Target | None:
        """The most specific target for ``metric`` matching the channel and priority."""
        key = (metric, channel, priority)
        found = self._targets_found
        if key not in found:
            found[key] = self._find_target(metric, channel, priority)
        return found[key]

    @cached_property
    def _targets_found(self) -> dict[tuple[str, str, str], Target | None]:
        """Targets already looked up (a case's clock asks on every event it folds)."""
        return {}

    def _find_target(self, metric: str, channel: str, priority: str) -> Target | None:
        best: Target | None = None
        for t in self.targets:
            if t.metric != metric or t.channel not in (None, channel):
                continue
            if t.priority not in (None, priority):
                continue
            if best is None or t.specificity > best.specificity:
                best = t
        return best

    def calendar_for(self, target: Target) -> BusinessCalendar:
        return self.business_calendar if target.business_hours else ALWAYS_OPEN

    @cached_property
    def as_dict(self) -> dict[str, Any]:
        """``to_dict`` made once, for writing the terms often (never to be changed)."""
        return self.to_dict()

    @cached_property
    def as_json(self) -> str:
        """``as_dict`` as compact JSON, made once: every case's kept clock holds it."""
        return json.dumps(self.as_dict, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [t.to_dict() for t in self.targets],
            "calendar": dict(self.calendar) if self.calendar is not None else None,
            "at_risk_share": self.at_risk_share,
            "count_automated_replies": self.count_automated_replies,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Terms:
        """Terms from their JSON form. Every case under one policy version holds the same
        terms, and a projection reads them back for each case it touches: equal JSON gives
        the one (immutable) ``Terms``, built and checked once."""
        key = repr(data)  # equal terms read back from JSON come in one order
        terms = _PARSED_TERMS.get(key)
        if terms is None:
            if len(_PARSED_TERMS) >= MAX_PARSED_TERMS:
                _PARSED_TERMS.clear()
            terms = _PARSED_TERMS[key] = cls._parse(data)
        return terms

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> Terms:
        targets = tuple(
            Target(
                metric=t["metric"],
                seconds=t["seconds"],
                channel=t.get("channel"),
                priority=t.get("priority"),
                business_hours=bool(t.get("business_hours")),
            )
            for t in data.get("targets") or ()
        )
        calendar = data.get("calendar")
        return cls(
            targets=targets,
            calendar=_calendar_json(calendar) if calendar is not None else None,
            at_risk_share=float(data.get("at_risk_share", DEFAULT_AT_RISK_SHARE)),
            count_automated_replies=bool(data.get("count_automated_replies", False)),
        )


_PARSED_TERMS: dict[str, Terms] = {}


def calendar_from_dict(data: Mapping[str, Any]) -> BusinessCalendar:
    """A :class:`BusinessCalendar` from its JSON form: ``time_zone``, ``hours`` (weekday ->
    ``["HH:MM-HH:MM", ...]``), ``holidays`` and ``holiday_lists`` (ISO dates)."""

    def dates(values: Any, name: str) -> list[date]:
        try:
            return [date.fromisoformat(d) if isinstance(d, str) else d for d in values or ()]
        except (TypeError, ValueError) as error:
            raise InvalidValueError(f"{name}: {error}", field=name) from None

    hours = data.get("hours")
    lists = data.get("holiday_lists") or {}
    if not isinstance(lists, Mapping):
        raise InvalidValueError("holiday_lists maps names to dates", field="holiday_lists")
    return BusinessCalendar(
        time_zone=data.get("time_zone", "UTC"),
        **({"hours": hours} if hours is not None else {}),
        holidays=dates(data.get("holidays"), "holidays"),
        holiday_lists={name: dates(d, f"holiday_lists.{name}") for name, d in lists.items()},
    )


def _calendar_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The calendar as stored on events: dates as ISO text, weekdays as lists."""
    out: dict[str, Any] = {"time_zone": data.get("time_zone", "UTC")}
    if data.get("hours") is not None:
        out["hours"] = {day: list(periods) for day, periods in data["hours"].items()}
    out["holidays"] = [str(d) for d in data.get("holidays") or ()]
    out["holiday_lists"] = {
        name: [str(d) for d in dates] for name, dates in (data.get("holiday_lists") or {}).items()
    }
    return out


@dataclass(frozen=True)
class CaseFacts:
    """What the rules see of a case when they choose its policy."""

    channel: str
    priority: str = "none"
    tags: Sequence[str] = ()
    team: str | None = None
    customer_tags: Sequence[str] = ()


@dataclass(frozen=True)
class Conditions:
    """Which cases a policy is for: each list left empty matches every case; a case
    matches when it matches every list given (``tags``, the case's, and
    ``customer_tags``, its customer's: any one of them)."""

    channels: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    customer_tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for channel in self.channels:
            v.check_in(channel, v.CHANNELS, "conditions.channels")
        for priority in self.priorities:
            v.check_in(priority, v.PRIORITIES, "conditions.priorities")

    def matches(self, case: CaseFacts) -> bool:
        return (
            (not self.channels or case.channel in self.channels)
            and (not self.priorities or case.priority in self.priorities)
            and (not self.tags or any(t in self.tags for t in case.tags))
            and (not self.teams or case.team in self.teams)
            and (not self.customer_tags or any(t in self.customer_tags for t in case.customer_tags))
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "channels": list(self.channels), "priorities": list(self.priorities),
            "tags": list(self.tags), "teams": list(self.teams),
            "customer_tags": list(self.customer_tags),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Conditions:
        data = data or {}
        names = ("channels", "priorities", "tags", "teams", "customer_tags")
        return cls(**{k: tuple(data.get(k) or ()) for k in names})


@dataclass(frozen=True)
class PolicySpec:
    """One version of a policy: its name, where it stands among the policies (``rank``:
    lowest first; the first whose conditions match a case applies), its conditions, its
    terms, and who hears of a breach (``notify``: e-mail addresses)."""

    name: str
    terms: Terms
    conditions: Conditions = field(default_factory=Conditions)
    rank: int = 100
    description: str = ""
    notify: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidValueError("a policy has a name", field="name")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "rank": self.rank,
            "conditions": self.conditions.to_dict(), **self.terms.to_dict(),
            "notify": list(self.notify),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicySpec:
        return cls(
            name=str(data.get("name", "")),
            description=str(data.get("description") or ""),
            rank=int(data.get("rank", 100)),
            conditions=Conditions.from_dict(data.get("conditions")),
            terms=Terms.from_dict(data),
            notify=tuple(data.get("notify") or ()),
        )


def _default_targets() -> tuple[Target, ...]:
    """The built-in promise: an hour on X and the phone, five minutes in chat, eight hours
    by e-mail, four through the API; urgent cases in half that, high in three quarters."""
    base = {
        v.X_PUBLIC: 3600,
        v.X_DM: 3600,
        v.CHAT: 300,
        v.PHONE: 3600,
        v.EMAIL: 8 * 3600,
        v.API: 4 * 3600,
    }
    factors = {None: 1.0, "high": 0.75, "urgent": 0.5}
    return tuple(
        Target(metric, round(seconds * factor), channel, priority)
        for metric in (FIRST_RESPONSE, NEXT_RESPONSE)
        for channel, seconds in base.items()
        for priority, factor in factors.items()
    )


DEFAULT_TERMS = Terms(targets=_default_targets())
DEFAULT_SPEC = PolicySpec(
    name="Built-in default",
    description="Applies to every case no policy's conditions match.",
    rank=2**31 - 1,
    terms=DEFAULT_TERMS,
)


def seconds_of(target: Target) -> timedelta:
    return timedelta(seconds=target.seconds)
