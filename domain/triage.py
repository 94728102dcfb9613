"""Triage use cases: assign, tag, prioritise, note, snooze, resolve, reopen.

A mixin of the one application (:class:`domain.application.Conversations`), so the rules
of each command (what ``None`` means, which order tags change in) live here, once, for
the API, workers and webhooks alike, and not in a view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid4

from domain.conversation import Conversation
from domain.idempotency import Claim
from domain.outcome import Outcome
from domain.roster_service import ROUND_ROBIN_ACTOR, Rosters


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()  # an assignment field left as it is


class Triage(Rosters):
    def _conversation(self, conversation_id: UUID, expected_version: int | None) -> Conversation:
        conversation = self._load(Conversation, conversation_id)
        self._check_version(conversation, expected_version)
        return conversation

    def update(
        self,
        conversation_id: UUID,
        command: Callable[[Conversation, datetime], Any],
        *,
        expected_version: int | None = None,
        claim: Claim | None = None,
        **extra: Any,
    ) -> Outcome:
        """Run one command on a conversation: assign, tag, note, snooze, resolve, reopen...

        ``command`` receives the loaded conversation and the time, and calls one of its
        public methods; rules are the aggregate's, so this stays a thin use case.
        """
        conversation = self._conversation(conversation_id, expected_version)
        team, now = conversation.team, self.clock()
        command(conversation, now)
        rosters = []
        if conversation.pending_events:  # a case resolved or given away frees its agent
            actor = getattr(conversation.pending_events[-1], "actor", ROUND_ROBIN_ACTOR)
            rosters = self._released(conversation, team, actor, now)
        return self._save(
            conversation,
            *rosters,
            claim=claim,
            expected_version=expected_version,
            response=self._outcome(conversation, **extra),
        )

    def assign(
        self,
        conversation_id: UUID,
        *,
        agent: str | _Unchanged | None = UNCHANGED,
        team: str | _Unchanged | None = UNCHANGED,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """A name assigns, ``None`` unassigns, ``UNCHANGED`` leaves that side as it is."""

        def command(c: Conversation, now: datetime) -> None:
            c.unassign(agent=agent is None, team=team is None, actor=actor, timestamp=now)
            named = {k: x for k, x in (("agent", agent), ("team", team)) if isinstance(x, str)}
            if named:
                c.assign(
                    agent=named.get("agent"), team=named.get("team"), actor=actor, timestamp=now
                )

        return self.update(conversation_id, command, expected_version=expected_version, claim=claim)

    def change_tags(
        self,
        conversation_id: UUID,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Add, then remove (a tag in both ends up removed)."""

        def command(c: Conversation, now: datetime) -> None:
            for tag in add:
                c.tag(tag=tag, actor=actor, timestamp=now)
            for tag in remove:
                c.untag(tag=tag, actor=actor, timestamp=now)

        return self.update(conversation_id, command, expected_version=expected_version, claim=claim)

    def change_priority(
        self,
        conversation_id: UUID,
        *,
        priority: str,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        return self.update(
            conversation_id,
            lambda c, now: c.change_priority(priority=priority, actor=actor, timestamp=now),
            expected_version=expected_version,
            claim=claim,
        )

    def add_note(
        self,
        conversation_id: UUID,
        *,
        body: str,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        note_id = uuid4()
        self._check_not_erased(self._load(Conversation, conversation_id).customer_id)
        return self.update(
            conversation_id,
            lambda c, now: c.add_note(note_id=note_id, body=body, actor=actor, timestamp=now),
            note_id=note_id,
            expected_version=expected_version,
            claim=claim,
        )

    def snooze(
        self,
        conversation_id: UUID,
        *,
        until: datetime | None,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Snooze until a moment; ``None`` wakes the conversation now."""

        def command(c: Conversation, now: datetime) -> None:
            if until is None:
                c.unsnooze(actor=actor, timestamp=now)
            else:
                c.snooze(until=until, actor=actor, timestamp=now)

        return self.update(conversation_id, command, expected_version=expected_version, claim=claim)

    def resolve(
        self,
        conversation_id: UUID,
        *,
        resolution: str,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        return self.update(
            conversation_id,
            lambda c, now: c.resolve(resolution=resolution, actor=actor, timestamp=now),
            expected_version=expected_version,
            claim=claim,
        )

    def reopen(
        self,
        conversation_id: UUID,
        *,
        reason: str,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        return self.update(
            conversation_id,
            lambda c, now: c.reopen(reason=reason, actor=actor, timestamp=now),
            expected_version=expected_version,
            claim=claim,
        )
