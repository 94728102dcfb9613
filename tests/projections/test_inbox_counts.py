"""The inbox's counts: kept ones follow opens, resolves and reopens; the others are
bounded and say so."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from domain.application import Conversations
from projections.db import ReadStore
from projections.inbox import query_inbox
from projections.inbox_filters import count_keys
from projections.log import NotificationLog
from tests.conftest import Clock
from tests.projections.support import AGENT, follower
from tests.projections.test_inbox import open_chat, open_email, open_tweet


def counts(read_store: ReadStore, bound: int = 100, **filters: Any) -> dict[str, Any]:
    page = query_inbox(read_store, filters, limit=1, count_bound=bound)
    return {"counts": page["counts"], "exact": page["counts_exact"]}


def kept_equal_a_recount(read_store: ReadStore) -> None:
    """Every kept count equals a count of the rows as they are now."""
    rows = read_store.query("SELECT * FROM proj_inbox")
    recount = Counter((r["status"], key) for r in rows for key in count_keys(r))
    kept = read_store.query("SELECT status, filter, n FROM proj_inbox_filter_counts")
    assert {(r["status"], r["filter"]): int(r["n"]) for r in kept} == dict(recount)


def test_kept_counts_follow_opens_resolves_and_reopens(
    application: Conversations, read_store: ReadStore, events: NotificationLog, clock: Clock
) -> None:
    live = follower(read_store, events, batch_size=1)
    mails = [open_email(application, n) for n in range(3)]
    tweet = open_tweet(application, 1)
    live.run_once()
    assert counts(read_store, channel="email")["counts"] == {"open": 3, "snoozed": 0, "resolved": 0}

    def do(case: UUID, act: Any) -> None:
        application.update(case, act)
        live.run_once()

    do(mails[0], lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now))
    do(mails[1], lambda c, now: c.resolve(resolution="answered", actor=AGENT, timestamp=now))
    do(tweet, lambda c, now: c.assign(agent="agent:ann", team="billing", actor=AGENT,
                                      timestamp=now))  # fmt: skip
    do(mails[1], lambda c, now: c.reopen(reason="customer wrote back", actor=AGENT, timestamp=now))
    do(mails[2], lambda c, now: c.tag(tag="vip", actor=AGENT, timestamp=now))

    every = {"exact": {"open": True, "snoozed": True, "resolved": True}}
    assert counts(read_store, channel="email") == {
        "counts": {"open": 2, "snoozed": 0, "resolved": 1}, **every
    }  # fmt: skip
    assert counts(read_store, channel="email", awaiting="acknowledgement")["counts"] == {
        "open": 2, "snoozed": 0, "resolved": 0,
    }  # fmt: skip
    assert counts(read_store, assigned=False)["counts"] == {"open": 2, "snoozed": 0, "resolved": 1}
    assert counts(read_store, assignee="agent:ann")["counts"] == {
        "open": 1, "snoozed": 0, "resolved": 0,
    }  # fmt: skip
    assert counts(read_store, tag="vip")["counts"] == {"open": 1, "snoozed": 0, "resolved": 0}
    assert counts(read_store)["counts"] == {"open": 3, "snoozed": 0, "resolved": 1}
    kept_equal_a_recount(read_store)


def test_kept_counts_of_a_batch_equal_those_of_one_event_at_a_time(
    application: Conversations, read_store: ReadStore, events: NotificationLog
) -> None:
    """No zero rows are left behind, whatever the batches: a rebuild equals the live view."""
    mail = open_email(application, 1)
    application.update(mail, lambda c, now: c.tag(tag="vip", actor=AGENT, timestamp=now))
    application.update(mail, lambda c, now: c.untag(tag="vip", actor=AGENT, timestamp=now))
    application.update(mail, lambda c, now: c.resolve(resolution="answered", actor=AGENT,
                                                      timestamp=now))  # fmt: skip
    follower(read_store, events, batch_size=1).run_once()
    one_by_one = read_store.query("SELECT * FROM proj_inbox_filter_counts ORDER BY filter, status")
    assert not [r for r in one_by_one if int(r["n"]) == 0]
    assert {r["filter"] for r in one_by_one} >= {"channel=email", "sla=ok"}
    assert "tag=vip" not in {r["filter"] for r in one_by_one}
    kept_equal_a_recount(read_store)


def test_counts_not_kept_are_bounded_and_say_so_around_the_bound(
    application: Conversations, read_store: ReadStore, events: NotificationLog
) -> None:
    live = follower(read_store, events)
    mails = [open_email(application, n) for n in range(3)]
    open_chat(application, 1)
    for mail in mails[:2]:
        application.update(mail, lambda c, now: c.assign(agent=None, team="billing",
                                                         actor=AGENT, timestamp=now))  # fmt: skip
    live.run_once()
    # channel + team is no kept combination: counted, up to the bound
    assert counts(read_store, 2, channel="email", team="billing") == {
        "counts": {"open": 2, "snoozed": 0, "resolved": 0},
        "exact": {"open": True, "snoozed": True, "resolved": True},
    }  # at the bound: exact
    application.update(mails[2], lambda c, now: c.assign(agent=None, team="billing",
                                                         actor=AGENT, timestamp=now))  # fmt: skip
    live.run_once()
    assert counts(read_store, 2, channel="email", team="billing") == {
        "counts": {"open": 2, "snoozed": 0, "resolved": 0},
        "exact": {"open": False, "snoozed": True, "resolved": True},
    }  # past it: the bound, not exact
    assert counts(read_store, 3, channel="email", team="billing")["exact"]["open"] is True
    assert counts(read_store, 3, channel="email", team="billing")["counts"]["open"] == 3
    # a kept count is exact whatever the bound
    assert counts(read_store, 2, channel="email") == {
        "counts": {"open": 3, "snoozed": 0, "resolved": 0},
        "exact": {"open": True, "snoozed": True, "resolved": True},
    }
