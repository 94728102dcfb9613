"""A randomized workload: a hypothesis strategy of commands, and an interpreter for it.

Commands name conversations, customers and replies by small indexes, resolved at run
time against what exists (``index % len(existing)``), so every generated sequence can
run and shrinks well. Commands the domain refuses (``DomainError``) change nothing and
are skipped; the clock moves on by some minutes before each command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import strategies as st

from domain import values as v
from domain.application import Conversations
from domain.exceptions import DomainError
from domain.values import Identity
from tests.conftest import Clock
from tests.projections.support import AGENT, CUSTOMER, INTEGRATION, SUPERVISOR, WORKER

Command = tuple[Any, ...]

index = st.integers(min_value=0, max_value=7)
opening_channels = st.sampled_from([v.X_PUBLIC, v.EMAIL, v.CHAT])
message_channels = st.sampled_from([v.X_PUBLIC, v.X_DM, v.EMAIL, v.CHAT])
external_ids = st.one_of(st.none(), st.sampled_from(["e0", "e1", "e2", "e3", "e4"]))
# Minutes before it was recorded that the channel says a message was published.
published_earlier = st.sampled_from([0, 0, 5, 90])

commands: st.SearchStrategy[Command] = st.one_of(
    st.tuples(st.just("open"), opening_channels, index, st.booleans()),
    st.tuples(st.just("message"), index, message_channels, external_ids, published_earlier),
    st.tuples(
        st.just("reply"),
        index,
        st.sampled_from(v.REPLY_KINDS),
        st.sampled_from(["current", "origin"]),
    ),
    st.tuples(st.just("message"), index, message_channels, external_ids, published_earlier),
    st.tuples(
        st.just("reply"),
        index,
        st.sampled_from(v.REPLY_KINDS),
        st.sampled_from(["current", "origin"]),
    ),
    st.tuples(
        st.just("switch"),
        index,
        st.sampled_from([v.X_DM, v.EMAIL, v.CHAT, v.X_PUBLIC]),
        st.one_of(st.none(), index),
    ),
    st.tuples(
        st.just("assign"),
        index,
        st.sampled_from([None, "agent:ann", "agent:bob"]),
        st.sampled_from([None, "billing", "tech"]),
    ),
    st.tuples(st.just("unassign"), index, st.booleans(), st.booleans()),
    st.tuples(st.sampled_from(["tag", "untag"]), index, st.sampled_from(["refund", "vip", "bug"])),
    st.tuples(st.just("priority"), index, st.sampled_from(v.PRIORITIES)),
    st.tuples(st.sampled_from(["snooze", "unsnooze", "reopen", "note"]), index),
    st.tuples(st.just("resolve"), index, st.sampled_from(v.RESOLUTION_CODES)),
    st.tuples(st.just("deliver"), index, index, st.sampled_from(["d0", "d1"])),
    st.tuples(st.just("fail"), index, index, st.booleans()),
    st.tuples(st.sampled_from(["dispatch", "redeliver"]), index, index, st.booleans()),
    st.tuples(st.just("register"), st.sampled_from(["x", "email"]), index),
    st.tuples(st.just("merge"), index, index),
    st.tuples(st.just("unmerge"), index),
)

# 0: the next command happens at the same instant (a reply and a message alike timed).
minutes = st.one_of(st.just(0), st.integers(min_value=1, max_value=120))
openings = st.tuples(st.just("open"), opening_channels, index, st.booleans())

# (minutes the clock moves on, command): a few contacts first, then anything.
workloads: st.SearchStrategy[list[tuple[int, Command]]] = st.builds(
    lambda first, then: first + then,
    st.lists(st.tuples(minutes, openings), min_size=2, max_size=4),
    st.lists(st.tuples(minutes, commands), min_size=10, max_size=40),
)


def x_identity(i: int) -> Identity:
    return Identity("x", f"10{i % 6}", handle=f"user{i % 6}")


def email_identity(i: int) -> Identity:
    return Identity("email", f"person{i % 6}@example.com")


@dataclass
class Workload:
    """Runs commands against an application, remembering what they created."""

    application: Conversations
    clock: Clock
    conversations: list[UUID] = field(default_factory=list)
    origins: dict[UUID, str] = field(default_factory=dict)
    customers: list[UUID] = field(default_factory=list)
    replies: dict[UUID, list[UUID]] = field(default_factory=dict)
    applied: int = 0
    refused: int = 0

    def run(self, steps: list[tuple[int, Command]]) -> None:
        for minutes, command in steps:
            self.clock.advance(minutes=minutes)
            try:
                done = self.do(command)
            except DomainError:
                self.refused += 1
            else:
                self.applied += int(done)

    # ------------------------------------------------------------------ helpers
    def _conversation(self, i: int) -> UUID | None:
        return self.conversations[i % len(self.conversations)] if self.conversations else None

    def _customer(self, i: int) -> UUID | None:
        return self.customers[i % len(self.customers)] if self.customers else None

    def _remember_customer(self, customer_id: UUID) -> None:
        if customer_id not in self.customers:
            self.customers.append(customer_id)

    def _update(self, i: int, command: Any) -> bool:
        conversation = self._conversation(i)
        if conversation is None:
            return False
        self.application.update(conversation, command)
        return True

    # ------------------------------------------------------------------ commands
    def do(self, command: Command) -> bool:
        app, name = self.application, command[0]
        if name == "open":
            _, channel, i, with_external = command
            identity: Identity | None = None
            customer_id = None
            if channel == v.X_PUBLIC:
                identity = x_identity(i)
            elif channel == v.EMAIL:
                identity = email_identity(i)
            else:
                customer_id = self._customer(i)
                identity = None if customer_id else email_identity(i)
            external = f"open-{i % 5}" if with_external else None
            opened = app.open_conversation(
                channel=channel,
                body=f"help #{i} on {channel}",
                actor=INTEGRATION,
                identity=identity,
                customer_id=customer_id,
                external_id=external,
            )
            if opened.id not in self.origins:
                self.conversations.append(opened.id)
                self.origins[opened.id] = channel
            self._remember_customer(opened.extra["customer_id"])
            return True
        if name == "message":
            _, i, channel, external, earlier = command
            conversation = self._conversation(i)
            if conversation is None:
                return False
            app.receive_message(
                conversation, channel=channel, body=f"again on {channel}", actor=CUSTOMER,
                external_id=external, published_at=self.clock() - timedelta(minutes=earlier),
            )  # fmt: skip
            return True
        if name == "reply":
            _, i, kind, where = command
            conversation = self._conversation(i)
            if conversation is None:
                return False
            queued = app.queue_reply(
                conversation,
                kind=kind,
                body=f"a {kind}",
                actor=AGENT,
                channel=self.origins[conversation] if where == "origin" else None,
            )
            self.replies.setdefault(conversation, []).append(queued.extra["reply_id"])
            return True
        if name == "switch":
            _, i, to, identity_index = command
            conversation = self._conversation(i)
            if conversation is None:
                return False
            identity = None
            if identity_index is not None and to in (v.X_DM, v.X_PUBLIC):
                identity = x_identity(identity_index)
            elif identity_index is not None and to == v.EMAIL:
                identity = email_identity(identity_index)
            app.switch_channel(
                conversation, to=to, reason="details", actor=AGENT, identity=identity
            )
            return True
        if name == "assign":
            _, i, agent, team = command
            return self._update(
                i, lambda c, now: c.assign(agent=agent, team=team, actor=AGENT, timestamp=now)
            )
        if name == "unassign":
            _, i, agent, team = command
            return self._update(
                i, lambda c, now: c.unassign(agent=agent, team=team, actor=AGENT, timestamp=now)
            )
        if name == "tag":
            _, i, tag = command
            return self._update(i, lambda c, now: c.tag(tag=tag, actor=AGENT, timestamp=now))
        if name == "untag":
            _, i, tag = command
            return self._update(i, lambda c, now: c.untag(tag=tag, actor=AGENT, timestamp=now))
        if name == "priority":
            _, i, priority = command
            return self._update(
                i, lambda c, now: c.change_priority(priority=priority, actor=AGENT, timestamp=now)
            )
        if name == "snooze":
            until = self.clock() + timedelta(hours=1)
            return self._update(
                command[1], lambda c, now: c.snooze(until=until, actor=AGENT, timestamp=now)
            )
        if name == "unsnooze":
            return self._update(command[1], lambda c, now: c.unsnooze(actor=AGENT, timestamp=now))
        if name == "resolve":
            _, i, code = command
            return self._update(
                i, lambda c, now: c.resolve(resolution=code, actor=AGENT, timestamp=now)
            )
        if name == "reopen":
            return self._update(
                command[1], lambda c, now: c.reopen(reason="not done", actor=AGENT, timestamp=now)
            )
        if name == "note":
            note = uuid4()
            return self._update(
                command[1],
                lambda c, now: c.add_note(note_id=note, body="psst", actor=AGENT, timestamp=now),
            )
        if name in ("deliver", "fail", "dispatch", "redeliver"):
            _, i, j, detail = command
            conversation = self._conversation(i)
            replies = self.replies.get(conversation, []) if conversation else []
            if conversation is None or not replies:
                return False
            reply = replies[j % len(replies)]
            if name == "dispatch":
                attempt = app.find_reply(conversation, reply)["attempts"] + 1
                app.dispatch_reply(conversation, reply_id=reply, attempt=attempt, actor=WORKER)
            elif name == "redeliver":
                app.request_redelivery(conversation, reply_id=reply, actor=SUPERVISOR)
            elif name == "deliver":
                app.record_delivery(
                    conversation, reply_id=reply, external_id=f"{reply}-{detail}", actor=WORKER
                )
            else:
                app.record_delivery_failure(
                    conversation, reply_id=reply, reason="channel said no", attempt=j + 1,
                    retryable=detail, actor=WORKER,
                )  # fmt: skip
            return True
        if name == "register":
            _, kind, i = command
            identity = x_identity(i) if kind == "x" else email_identity(i)
            registered = app.register_customer(
                name=f"person {i}", identities=[identity], actor=SUPERVISOR
            )
            self._remember_customer(registered.id)
            return True
        if name == "merge":
            _, i, j = command
            source, target = self._customer(i), self._customer(j)
            if source is None or target is None:
                return False
            app.merge_customers(source, target, actor=SUPERVISOR)
            return True
        if name == "unmerge":
            customer = self._customer(command[1])
            if customer is None:
                return False
            app.unmerge_customer(customer, actor=SUPERVISOR)
            return True
        raise AssertionError(f"unknown command {command!r}")
