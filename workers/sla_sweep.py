"""The SLA sweep: record the breaches and at-risk warnings whose moment has come.

A deadline passing is no event, so nothing in the log wakes anyone when it does. The
``sla`` projection keeps, per case, ``next_alarm``: the earliest moment the case owes a
breach or a warning. The sweep reads the cases whose ``next_alarm`` is past (one range
of an index, a page at a time) and asks the application to record what each owes.

The read model may lag (a reply delivered a moment ago, a breach another worker has just
recorded): it only says where to look. While it is being built (a deploy of a new
version rebuilds it) the sweep waits: it records nothing and says so. The sweep reads
the view through its own query (``projections.sla.due_alarms``) and writes no table. :meth:`SlaUseCases.record_sla_alarms` folds the
case's own events and records what they owe now, at most once however many sweeps run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from domain.application import Conversations
from projections import positions
from projections.db import ReadStore
from projections.sla import SlaCases, due_alarms
from projections.status import state

log = logging.getLogger(__name__)

PAGE = 100  # cases per query
MOST = 2000  # cases per sweep: a backlog is worked off over the next sweeps


@dataclass
class Swept:
    cases: int = 0  # cases looked at
    breaches: int = 0  # breaches recorded
    warnings: int = 0  # at-risk warnings recorded
    failed: int = 0  # cases that raised (logged; the next sweep tries again)
    waiting: str | None = None  # why nothing was looked at: the view is not there yet

    def describe(self) -> str:
        if self.waiting:
            return self.waiting
        text = f"{self.cases} case(s) due: {self.breaches} breach(es), {self.warnings} warning(s)"
        return text + (f", {self.failed} failed" if self.failed else "")


def sweep_sla(
    application: Conversations, store: ReadStore, *, page: int = PAGE, most: int = MOST
) -> Swept:
    """Record what every case due by now owes (at most ``most`` cases, ``page`` per query)."""
    now = application.clock()
    swept = Swept()
    view = state(SlaCases(), positions.statuses(store).get(SlaCases.name))
    if view in ("missing", "outdated"):
        swept.waiting = f"the sla view is {view} (being built?): nothing swept"
        return swept
    after: tuple[str, str] | None = None
    while swept.cases < most:
        due = due_alarms(store, now, min(page, most - swept.cases), after)
        for _, conversation_id in due:
            swept.cases += 1
            try:
                breaches, warnings = application.record_sla_alarms(UUID(conversation_id))
            except Exception:  # one case must not hold up the others
                log.exception("SLA sweep: case %s failed", conversation_id)
                swept.failed += 1
                continue
            swept.breaches += breaches
            swept.warnings += warnings
        if len(due) < page:
            break
        after = due[-1]
    return swept
