"""One case's SLA clock, folded from its events: what runs, what is due, what was met.

The same fold serves everyone who asks about SLAs, so they cannot disagree: the
application (is a breach owed now?), the ``sla`` and ``inbox`` projections (due times,
the figures a report reads), and a restatement (the same events under other terms).

The rules, in one place (docs/decisions.md, "SLA policies"):

- Three metrics. ``first_response`` runs from the first contact to the first response;
  ``next_response`` from a customer message that found nobody waiting on us to the next
  response; ``resolution`` from the first contact to the (last) resolve.
- A response is a reply **delivered** (at the moment the channel took it: a reply still
  queued has not reached the customer, and one that fails never counts), or a phone call
  (at its start; an inbound call is the customer's contact answered at once). A private
  note never is one. A reply an integration or the system sent counts only where the
  terms say ``count_automated_replies``. Every reply kind counts: an acknowledgement is a
  first response, and the report tells acknowledgements from answers.
- One case, one clock: a channel switch keeps every metric running (a next response is
  then measured against the new channel's target).
- Pauses: snoozed time pauses every metric (until the snooze ends, by event or by its
  own time); a resolved case pauses them all; time waiting on the customer (we answered
  last) pauses ``resolution``.
- A target runs round the clock or in the terms' business hours; elapsed time is counted
  in the calendar of the target that applied while it ran. A change of priority or
  channel, or terms applied again, changes the target from then on; time already counted
  stays counted.
- A measurement, once made, is final: a bounce after delivery does not reopen it, and a
  breach recorded is not undone by a late response (a report shows both).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain import values as v
from domain.awaiting import customer_time
from domain.sla_terms import (
    DEFAULT_POLICY_ID,
    DEFAULT_TERMS,
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    RESOLUTION,
    Target,
    Terms,
)

HUMAN_ROLES = ("agent", "supervisor")  # a reply from any other principal is automated
RESPONSE_METRICS = (FIRST_RESPONSE, NEXT_RESPONSE)


def is_automated(actor: str) -> bool:
    """A reply no person typed: its principal (``role:name``) is no agent or supervisor."""
    return actor.partition(":")[0] not in HUMAN_ROLES


def _topic(event: Any) -> str:
    topic: str = getattr(type(event), "TOPIC", type(event).__qualname__)
    return topic.removeprefix("parley.")


@dataclass
class Timer:
    """A metric being measured: ``elapsed`` seconds counted up to ``running_since``
    (``None``: paused; it may lie ahead, when a snooze ends), ``deadline`` once known to
    have passed."""

    metric: str
    seq: int
    started_at: datetime
    elapsed: float = 0.0
    running_since: datetime | None = None
    deadline: datetime | None = None
    breached: bool = False
    at_risk: bool = False


@dataclass(frozen=True)
class Measurement:
    """A metric measured: how long it took on the policy's clock (``seconds``) and on the
    wall (``wall_seconds``), against which target, and who answered on which channel."""

    metric: str
    seq: int
    started_at: datetime
    ended_at: datetime
    seconds: float
    wall_seconds: float
    target_seconds: int | None
    met: bool | None  # None: no target for it
    deadline: datetime | None  # the real deadline, when it was missed
    breached: bool  # a breach was recorded for it
    response: str  # acknowledgement, answer, follow_up, call or resolved
    channel: str
    priority: str
    agent: str | None
    team: str | None
    policy_id: str
    policy_version: int


@dataclass(frozen=True)
class Owed:
    """A breach (or an at-risk warning) the log does not hold yet."""

    metric: str
    seq: int
    deadline: datetime
    at: datetime  # the deadline itself for a breach; the at-risk moment for a warning


@dataclass
class SlaClock:
    """The clock of one case. ``terms`` (set with ``override``) replace whatever the
    case's ``SlaApplied`` events say: a restatement under another policy."""

    override: Terms | None = None
    override_policy: tuple[str, int] | None = None
    terms: Terms = DEFAULT_TERMS
    policy_id: str = DEFAULT_POLICY_ID
    policy_version: int = 0
    conversation_id: str | None = None
    opened: bool = False
    status: str = v.OPEN
    wake_at: datetime | None = None  # when a snooze ends by itself
    origin_channel: str = v.API
    current_channel: str = v.API
    priority: str = "none"
    assignee: str | None = None
    team: str | None = None
    awaiting_customer: bool = False
    waits: int = 0  # response waits begun (first and next)
    timers: dict[str, Timer] = field(default_factory=dict)
    measurements: dict[tuple[str, int], Measurement] = field(default_factory=dict)
    pending: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # reply: kind, author, channel
    changed: list[Measurement] = field(default_factory=list)  # since the last take_changes

    def __post_init__(self) -> None:
        if self.override is not None:
            self.terms = self.override
            self.policy_id, self.policy_version = self.override_policy or ("restated", 0)

    # ------------------------------------------------------------------ folding
    @classmethod
    def of(cls, events: Iterable[Any], **options: Any) -> SlaClock:
        clock = cls(**options)
        for event in events:
            clock.observe(event)
        return clock

    def observe(self, event: Any) -> None:
        """Fold one event of the case (others are ignored)."""
        handler = getattr(self, "_on_" + _topic(event).replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def _on_Conversation_Opened(self, event: Any) -> None:
        at = customer_time(event.published_at, event.timestamp)
        self.conversation_id = str(event.originator_id)
        self.opened = True
        self.origin_channel = self.current_channel = event.channel
        self.waits = 1
        sla = getattr(event, "sla", None)
        if sla is not None and self.override is None:
            self.terms = Terms.from_dict(sla["terms"])
            self.policy_id, self.policy_version = sla["policy_id"], sla["policy_version"]
        self.timers = {
            FIRST_RESPONSE: Timer(FIRST_RESPONSE, 1, at, running_since=at),
            RESOLUTION: Timer(RESOLUTION, 1, at, running_since=at),
        }

    def _on_Conversation_SlaApplied(self, event: Any) -> None:
        if self.override is not None:
            return
        at = event.timestamp
        self._pause_all(at)
        self.terms = Terms.from_dict(event.terms)
        self.policy_id, self.policy_version = event.policy_id, event.policy_version
        self._settle(at)

    def _on_Conversation_MessageReceived(self, event: Any) -> None:
        self._customer_spoke(customer_time(event.published_at, event.timestamp))

    def _customer_spoke(self, at: datetime) -> None:
        self._pause_all(at)
        if self.status == v.SNOOZED:  # a customer writing wakes a snoozed case
            self.status, self.wake_at = v.OPEN, None
        self.awaiting_customer = False
        if not any(m in self.timers for m in RESPONSE_METRICS):
            self.waits += 1
            self.timers[NEXT_RESPONSE] = Timer(NEXT_RESPONSE, self.waits, at)
        self._settle(at)

    def _on_Conversation_ReplyQueued(self, event: Any) -> None:
        self.pending[str(event.reply_id)] = (event.kind, event.author, event.channel)

    def _on_Conversation_ReplyDelivered(self, event: Any) -> None:
        reply = self.pending.pop(str(event.reply_id), None)
        if reply is None:
            return
        kind, author, _channel = reply
        if is_automated(author) and not self.terms.count_automated_replies:
            return
        self._responded(event.timestamp, kind, author)

    # A failed reply answers nobody, but stays pending: an operator may have it tried
    # again (RedeliveryRequested), and delivered then it counts from that moment.

    def _on_Conversation_ReplyBounced(self, event: Any) -> None:
        self.pending.pop(str(event.reply_id), None)

    def _on_Conversation_CallLogged(self, event: Any) -> None:
        began = customer_time(event.started_at, event.timestamp)
        if event.direction == "inbound":
            self._customer_spoke(began)
        self._responded(began, "call", event.agent or event.actor)

    def _responded(self, at: datetime, kind: str, agent: str | None) -> None:
        self._pause_all(at)
        for metric in RESPONSE_METRICS:
            timer = self.timers.pop(metric, None)
            if timer is not None:
                self._measure(timer, at, kind, agent)
        self.awaiting_customer = True
        self._settle(at)

    def _on_Conversation_ChannelSwitched(self, event: Any) -> None:
        self._retarget(event.timestamp, current_channel=event.to_channel)

    def _on_Conversation_PriorityChanged(self, event: Any) -> None:
        self._retarget(event.timestamp, priority=event.priority)

    def _on_Conversation_Assigned(self, event: Any) -> None:
        self.assignee = event.agent or self.assignee
        self.team = event.team or self.team

    def _on_Conversation_Unassigned(self, event: Any) -> None:
        self.assignee = None if event.agent else self.assignee
        self.team = None if event.team else self.team

    def _on_Conversation_Snoozed(self, event: Any) -> None:
        self._pause_all(event.timestamp)
        self.status, self.wake_at = v.SNOOZED, event.until
        self._settle(event.timestamp)  # they run again when the snooze ends

    def _on_Conversation_Unsnoozed(self, event: Any) -> None:
        self._wake(event.timestamp)

    def _wake(self, at: datetime) -> None:
        if self.status != v.SNOOZED:
            return
        self.status, self.wake_at = v.OPEN, None
        for timer in self.timers.values():
            if timer.running_since is not None and timer.running_since > at:
                timer.running_since = at

    def _on_Conversation_Resolved(self, event: Any) -> None:
        at = event.timestamp
        self._pause_all(at)
        self.status, self.wake_at = v.RESOLVED, None
        timer = self.timers.get(RESOLUTION)
        if timer is not None:  # kept: a reopened case's resolution runs on
            self._measure(timer, at, "resolved", self.assignee or event.actor)

    def _on_Conversation_Reopened(self, event: Any) -> None:
        self.status = v.OPEN
        self._settle(event.timestamp)

    def _on_Conversation_SlaBreached(self, event: Any) -> None:
        self._flag(event.metric, event.seq, breached=True)

    def _on_Conversation_SlaAtRisk(self, event: Any) -> None:
        self._flag(event.metric, event.seq, at_risk=True)

    # ------------------------------------------------------------------ the arithmetic
    def _target(self, metric: str) -> Target | None:
        channel = self.current_channel if metric == NEXT_RESPONSE else self.origin_channel
        return self.terms.target(metric, channel, self.priority)

    def _counted(self, metric: str, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        target = self._target(metric)
        if target is None or not target.business_hours:
            return (end - start).total_seconds()
        return self.terms.calendar_for(target).open_between(start, end).total_seconds()

    def _deadline_from(self, timer: Timer, start: datetime, left: float) -> datetime:
        target = self._target(timer.metric)
        assert target is not None
        calendar = self.terms.calendar_for(target)
        return calendar.add(start, timedelta(seconds=max(left, 0.0)))

    def _should_run(self, metric: str) -> bool:
        if self.status == v.RESOLVED:
            return False
        return metric != RESOLUTION or not self.awaiting_customer

    def _pause(self, timer: Timer, at: datetime) -> None:
        if timer.running_since is None:
            return
        start = timer.running_since
        counted = self._counted(timer.metric, start, at)
        target = self._target(timer.metric)
        if (
            target is not None
            and timer.deadline is None
            and timer.elapsed + counted >= target.seconds
        ):
            timer.deadline = self._deadline_from(timer, start, target.seconds - timer.elapsed)
        timer.elapsed += counted
        timer.running_since = None

    def _pause_all(self, at: datetime) -> None:
        for timer in self.timers.values():
            self._pause(timer, at)

    def _settle(self, at: datetime) -> None:
        """Run every timer that should run (from ``at``, or when a snooze ends), pause
        every other."""
        start = max(at, self.wake_at) if self.status == v.SNOOZED and self.wake_at else at
        for timer in self.timers.values():
            if self._should_run(timer.metric):
                if timer.running_since is None:
                    timer.running_since = start
            else:
                self._pause(timer, at)

    def _retarget(self, at: datetime, **changes: str) -> None:
        self._pause_all(at)
        for name, value in changes.items():
            setattr(self, name, value)
        self._settle(at)
        for timer in self.timers.values():  # a deadline is the current target's
            if timer.deadline is not None and not timer.breached:
                target = self._target(timer.metric)
                if target is None or timer.elapsed < target.seconds:
                    timer.deadline = None

    def _measure(self, timer: Timer, at: datetime, response: str, agent: str | None) -> None:
        self._pause(timer, at)
        snapshot = timer
        target = self._target(timer.metric)
        met = None if target is None else snapshot.elapsed <= target.seconds
        measured = Measurement(
            metric=timer.metric, seq=timer.seq, started_at=timer.started_at, ended_at=at,
            seconds=round(snapshot.elapsed, 6),
            wall_seconds=round(max((at - timer.started_at).total_seconds(), 0.0), 6),
            target_seconds=None if target is None else target.seconds, met=met,
            deadline=snapshot.deadline if met is False else None, breached=timer.breached,
            response=response,
            channel=self.current_channel if timer.metric == NEXT_RESPONSE else self.origin_channel,
            priority=self.priority, agent=agent, team=self.team, policy_id=self.policy_id,
            policy_version=self.policy_version,
        )  # fmt: skip
        self.measurements[(timer.metric, timer.seq)] = measured
        self.changed.append(measured)

    def _flag(self, metric: str, seq: int, **flags: bool) -> None:
        timer = self.timers.get(metric)
        if timer is not None and timer.seq == seq:
            for name, value in flags.items():
                setattr(timer, name, value)
        measured = self.measurements.get((metric, seq))
        if measured is not None and flags.get("breached"):
            self.measurements[(metric, seq)] = replace(measured, breached=True)
            self.changed.append(self.measurements[(metric, seq)])

    # ------------------------------------------------------------------ reading
    def due(self, metric: str) -> datetime | None:
        """When ``metric`` is due, while it runs (or is paused until a snooze ends)."""
        timer = self.timers.get(metric)
        if timer is None or timer.running_since is None:
            return None
        target = self._target(metric)
        if target is None:
            return None
        if timer.deadline is not None:
            return timer.deadline
        return self._deadline_from(timer, timer.running_since, target.seconds - timer.elapsed)

    def response_due(self) -> datetime | None:
        return self.due(FIRST_RESPONSE) or self.due(NEXT_RESPONSE)

    def at_risk_at(self, metric: str) -> datetime | None:
        timer = self.timers.get(metric)
        target = self._target(metric)
        if timer is None or timer.running_since is None or target is None:
            return None
        threshold = target.seconds * self.terms.at_risk_share
        if timer.elapsed >= threshold:
            return timer.running_since
        return self._deadline_from(timer, timer.running_since, threshold - timer.elapsed)

    @property
    def breached(self) -> bool:
        """Whether any breach of the case is on record."""
        return any(t.breached for t in self.timers.values()) or any(
            m.breached for m in self.measurements.values()
        )

    def owed(self, now: datetime) -> tuple[list[Owed], list[Owed]]:
        """Breaches whose deadline has passed by ``now``, and at-risk warnings due by then,
        that the log does not record yet (a warning only while its metric runs)."""
        breaches: list[Owed] = []
        risks: list[Owed] = []
        for metric, timer in self.timers.items():
            if timer.breached:
                continue
            deadline = timer.deadline or self.due(metric)
            if deadline is not None and deadline <= now:
                breaches.append(Owed(metric, timer.seq, deadline, deadline))
                continue
            risky = self.at_risk_at(metric)
            if deadline is not None and not timer.at_risk and risky is not None and risky <= now:
                risks.append(Owed(metric, timer.seq, deadline, max(risky, timer.started_at)))
        for (metric, seq), measured in self.measurements.items():
            if measured.met is False and not measured.breached and measured.deadline is not None:
                if (live := self.timers.get(metric)) is not None and live.seq == seq:
                    continue  # resolution, reopened: the running timer speaks for it
                breaches.append(Owed(metric, seq, measured.deadline, measured.deadline))
        return breaches, risks

    def next_alarm(self) -> datetime | None:
        """The earliest moment something becomes owed (a deadline or an at-risk moment)."""
        moments: list[datetime] = []
        for metric, timer in self.timers.items():
            if timer.breached:
                continue
            deadline = timer.deadline or self.due(metric)
            if deadline is not None:
                moments.append(deadline)
                risky = self.at_risk_at(metric)
                if not timer.at_risk and risky is not None:
                    moments.append(risky)
        for measured in self.measurements.values():
            if measured.met is False and not measured.breached and measured.deadline is not None:
                moments.append(measured.deadline)
        return min(moments, default=None)

    def take_changes(self) -> list[Measurement]:
        changes, self.changed = self.changed, []
        return changes

    def all_measurements(self) -> Iterator[Measurement]:
        return iter(self.measurements.values())

    # ------------------------------------------------------------------ keeping
    def to_state(self) -> dict[str, Any]:
        """The clock as JSON-able data (a projection keeps it beside its row)."""
        return {
            "terms": self.terms.as_dict, "policy": [self.policy_id, self.policy_version],
            "case": [self.conversation_id, self.opened, self.status, _t(self.wake_at),
                     self.origin_channel,
                     self.current_channel, self.priority, self.assignee, self.team,
                     self.awaiting_customer, self.waits],
            "timers": [[t.metric, t.seq, _t(t.started_at), t.elapsed, _t(t.running_since),
                        _t(t.deadline), t.breached, t.at_risk] for t in self.timers.values()],
            "measured": [_measurement_state(m) for m in self.measurements.values()],
            "pending": {k: list(p) for k, p in self.pending.items()},
        }  # fmt: skip

    @classmethod
    def from_state(
        cls, state: dict[str, Any], *, terms: Terms | None = None, **options: Any
    ) -> SlaClock:
        """The clock ``to_state`` gave; ``terms``: its terms, when the caller has them
        already (``state["terms"]`` is then not read)."""
        clock = cls(**options)
        if clock.override is None:
            clock.terms = terms if terms is not None else Terms.from_dict(state["terms"])
            clock.policy_id, clock.policy_version = state["policy"]
        (clock.conversation_id, clock.opened, clock.status, wake, clock.origin_channel,
         clock.current_channel, clock.priority, clock.assignee, clock.team,
         clock.awaiting_customer, clock.waits) = state["case"]  # fmt: skip
        clock.wake_at = _d(wake)
        clock.timers = {
            t[0]: Timer(t[0], t[1], _d(t[2]), t[3], _d(t[4]), _d(t[5]), t[6], t[7])  # type: ignore[arg-type]
            for t in state["timers"]
        }
        for m in state["measured"]:
            measured = _measurement(m)
            clock.measurements[(measured.metric, measured.seq)] = measured
        clock.pending = {k: (p[0], p[1], p[2]) for k, p in state["pending"].items()}
        return clock


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _d(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _measurement_state(m: Measurement) -> dict[str, Any]:
    out = dict(vars(m))  # asdict's deep copy, for flat fields: a projection's hot path
    for key in ("started_at", "ended_at", "deadline"):
        out[key] = _t(out[key])
    return out


def _measurement(data: dict[str, Any]) -> Measurement:
    data = dict(data)
    for key in ("started_at", "ended_at", "deadline"):
        data[key] = _d(data[key])
    return Measurement(**data)
