"""Outages: an incident, the book of live ones, and the cases linked to each.

An :class:`Incident` is what a supervisor declares when many customers complain of one
thing at once (the app is down): a title, the public summary and links the brand posts,
and keywords that link new cases to it as they open. It keeps its general public
updates (each posted once, from the brand account, as a reply is delivered: the attempt
recorded before the channel is called), the acknowledgement standing for cases linked
from now on, and its resolution.

Which cases are linked, and which were acknowledged and followed up by the incident, is
kept apart, in :class:`IncidentCases` aggregates: ``SHARDS`` per incident, a case in the
shard its id falls in. A case opening during an outage writes its link to one shard in
its own save, so openings racing each other rarely touch the same aggregate, and no
aggregate grows with the whole outage.

The :class:`IncidentBook` (one aggregate, fixed id) lists the live incidents with their
keywords and standing acknowledgement: what an opening reads (cached while its version
is unchanged) to decide, in the same save, which incidents the case belongs to.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import values as v
from domain.exceptions import InvalidTransitionError, InvalidValueError
from domain.indexes import key_id

SHARDS = 16  # IncidentCases aggregates per incident (recorded on each incident)
MAX_KEYWORDS = 20
KEYWORD_MAX = 60  # characters
MAX_LINKS = 10  # links in the public summary (a status page, a help article)
LIVE, RESOLVED = "live", "resolved"
HOW = ("hand", "keyword")

# An update's delivery, as a reply's: queued, sending (an attempt started), delivered, failed.
UPDATE_STATUSES = (v.QUEUED, v.SENDING, v.DELIVERED, v.FAILED)


def folded(text: str) -> str:
    """Text as keywords are matched in it: case-folded, a typographic apostrophe as '."""
    return text.casefold().replace("\u2019", "'")


def normalise_keyword(word: str) -> str:
    """A keyword as it is matched: folded, inner whitespace as single spaces."""
    return folded(" ".join(word.split()))


def check_keywords(keywords: list[str]) -> list[str]:
    """The keywords, normalised and de-duplicated in order; refused if unusable."""
    found = list(dict.fromkeys(normalise_keyword(k) for k in keywords))
    if len(found) > MAX_KEYWORDS:
        raise InvalidValueError(f"at most {MAX_KEYWORDS} keywords", field="keywords")
    for word in found:
        if not word or len(word) > KEYWORD_MAX:
            raise InvalidValueError(
                f"a keyword has 1 to {KEYWORD_MAX} characters besides spaces", field="keywords"
            )
        if not any(ch.isalnum() for ch in word):
            raise InvalidValueError(
                f"{word!r} has no letter or digit: it would match nearly anything",
                field="keywords",
            )
    return found


def keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One regex matching any keyword as a whole word (or phrase) in case-folded text.

    "Whole word": not inside a longer word, so ``down`` matches "is it down?" and
    "#down" but not "download"; a phrase's words may be apart by any whitespace.
    """
    if not keywords:
        return None
    alternatives = [r"\s+".join(re.escape(p) for p in k.split(" ")) for k in keywords]
    # Longest first: "app down" is reported rather than "app" when both are keywords.
    ordered = sorted(zip(alternatives, keywords, strict=True), key=lambda a: -len(a[1]))
    body = "|".join(f"(?P<k{keywords.index(k)}>{a})" for a, k in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


def matching_keyword(pattern: re.Pattern[str] | None, keywords: list[str], text: str) -> str | None:
    """The keyword ``text`` mentions first, if any."""
    if pattern is None:
        return None
    found = pattern.search(folded(text))
    if found is None:
        return None
    name = next(n for n, x in found.groupdict().items() if x is not None)
    return keywords[int(name[1:])]


def update_body(public_summary: str, links: list[str]) -> str:
    """The general update's text: the public summary, then its links, one a line."""
    return "\n".join([public_summary, *links])


class Incident(Aggregate):
    """One outage, from its declaration to its resolution."""

    TOPIC = "parley.Incident"

    class Created(Aggregate.Created):
        TOPIC = "parley.Incident.Created"

    @event("Declared", topic="parley.Incident.Declared")
    def __init__(
        self,
        title: str,
        public_summary: str,
        links: list[str],
        keywords: list[str],
        shards: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.title = title
        self.public_summary = public_summary
        self.links = list(links)
        self.keywords = list(keywords)
        self.shards = shards
        self.status = LIVE
        self.declared_at = timestamp
        self.declared_by = actor
        self.acknowledgement: str | None = None  # the standing acknowledgement, once asked
        self.acknowledgement_by: str | None = None
        self.acknowledgement_at: datetime | None = None
        self.updates: dict[str, dict[str, Any]] = {}
        self.resolved_at: datetime | None = None
        self.resolved_by: str | None = None
        self.summary: str | None = None
        self.follow_up: str | None = None

    @property
    def live(self) -> bool:
        return self.status == LIVE

    # ------------------------------------------------------------------ editing
    def revise(
        self,
        *,
        title: str,
        public_summary: str,
        links: list[str],
        keywords: list[str],
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """New terms for a live incident (the outage turned out wider, the status page
        moved). Cases linked stay linked; new keywords link the cases opening from now
        on. False (nothing recorded) when nothing changes."""
        if not self.live:
            raise InvalidTransitionError(
                "the incident is resolved: its terms are part of the record", field="status"
            )
        if (title, public_summary, links, keywords) == (
            self.title, self.public_summary, self.links, self.keywords,
        ):  # fmt: skip
            return False
        self._revise(
            title=title, public_summary=public_summary, links=list(links),
            keywords=list(keywords), actor=actor, timestamp=timestamp,
        )  # fmt: skip
        return True

    @event("Revised", topic="parley.Incident.Revised")
    def _revise(
        self,
        title: str,
        public_summary: str,
        links: list[str],
        keywords: list[str],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.title = title
        self.public_summary = public_summary
        self.links = list(links)
        self.keywords = list(keywords)

    # ------------------------------------------------------------------ acknowledgements
    def request_acknowledgements(self, *, body: str, actor: str, timestamp: datetime) -> bool:
        """Ask for every linked case to be acknowledged with ``body``, and every case
        linked from now on. False (nothing recorded) when ``body`` stands already."""
        if not self.live:
            raise InvalidTransitionError(
                "the incident is resolved: its cases were followed up instead", field="status"
            )
        if body == self.acknowledgement:
            return False
        self._request_acknowledgements(body=body, actor=actor, timestamp=timestamp)
        return True

    @event("AcknowledgementsRequested", topic="parley.Incident.AcknowledgementsRequested")
    def _request_acknowledgements(self, body: str, actor: str, timestamp: datetime) -> None:
        self.acknowledgement = body
        self.acknowledgement_by = actor
        self.acknowledgement_at = timestamp

    # ------------------------------------------------------------------ general updates
    def queue_update(
        self,
        *,
        update_id: UUID,
        body: str,
        channel: str,
        from_account: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """A general public update, to be posted once by a worker (not in reply to
        anyone). The same text twice is refused: X would refuse it too."""
        for earlier in self.updates.values():
            if earlier["body"] == body and earlier["status"] != v.FAILED:
                raise InvalidTransitionError(
                    f"update {earlier['id']} has this text already ({earlier['status']})",
                    field="body",
                )
        self._queue_update(
            update_id=update_id, body=body, channel=channel, from_account=from_account,
            actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event("UpdateQueued", topic="parley.Incident.UpdateQueued")
    def _queue_update(
        self,
        update_id: UUID,
        body: str,
        channel: str,
        from_account: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.updates[str(update_id)] = {
            "id": update_id, "body": body, "channel": channel, "from_account": from_account,
            "author": actor, "queued_at": timestamp, "status": v.QUEUED, "attempts": 0,
            "external_id": None, "delivered_at": None, "dispatched_at": None,
            "uncertain": False, "retry_at": None, "last_error": None, "failure_code": None,
        }  # fmt: skip

    def update(self, update_id: UUID) -> dict[str, Any]:
        try:
            return self.updates[str(update_id)]
        except KeyError:
            raise InvalidValueError(
                f"no update {update_id} in this incident", field="update_id"
            ) from None

    def dispatch_update(
        self, *, update_id: UUID, attempt: int, actor: str, timestamp: datetime
    ) -> None:
        """An attempt starts, before the channel is called (as for a reply)."""
        update = self.update(update_id)
        if update["status"] in (v.DELIVERED, v.FAILED):
            raise InvalidTransitionError(f"update {update_id} is {update['status']}")
        if attempt != update["attempts"] + 1:
            raise InvalidTransitionError(
                f"attempt {attempt} of update {update_id}: {update['attempts']} were made"
            )
        self._dispatch_update(
            update_id=update_id, attempt=attempt, actor=actor, timestamp=timestamp
        )

    @event("UpdateDispatched", topic="parley.Incident.UpdateDispatched")
    def _dispatch_update(
        self, update_id: UUID, attempt: int, actor: str, timestamp: datetime
    ) -> None:
        self.updates[str(update_id)].update(
            status=v.SENDING, attempts=attempt, uncertain=True, retry_at=None,
            dispatched_at=timestamp,
        )  # fmt: skip

    def record_update_delivery(
        self,
        *,
        update_id: UUID,
        external_id: str,
        attempt: int | None,
        found: bool,
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """The update is on the channel as ``external_id``; a repeat is a no-op."""
        update = self.update(update_id)
        if update["status"] == v.DELIVERED:
            if update["external_id"] == external_id:
                return False
            raise InvalidTransitionError(
                f"update {update_id} was delivered already as {update['external_id']}"
            )
        self._deliver_update(
            update_id=update_id, external_id=external_id, attempt=attempt, found=found,
            actor=actor, timestamp=timestamp,
        )  # fmt: skip
        return True

    @event("UpdateDelivered", topic="parley.Incident.UpdateDelivered")
    def _deliver_update(
        self,
        update_id: UUID,
        external_id: str,
        attempt: int | None,
        found: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.updates[str(update_id)].update(
            status=v.DELIVERED, external_id=external_id, delivered_at=timestamp,
            uncertain=False, retry_at=None,
        )  # fmt: skip

    def record_update_failure(
        self,
        *,
        update_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        code: str,
        retry_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        v.check_in(code, v.FAILURE_CODES, "code")
        if self.update(update_id)["status"] == v.DELIVERED:
            raise InvalidTransitionError(f"update {update_id} was delivered already")
        self._fail_update(
            update_id=update_id, reason=reason, attempt=attempt, retryable=retryable,
            code=code, retry_at=retry_at if retryable else None, actor=actor,
            timestamp=timestamp,
        )  # fmt: skip

    @event("UpdateDeliveryFailed", topic="parley.Incident.UpdateDeliveryFailed")
    def _fail_update(
        self,
        update_id: UUID,
        reason: str,
        attempt: int,
        retryable: bool,
        code: str,
        retry_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        update = self.updates[str(update_id)]
        update.update(
            status=v.QUEUED if retryable else v.FAILED,
            attempts=max(attempt, update["attempts"]),
            last_error=reason,
            failure_code=code,
            retry_at=retry_at,
            # As for replies: a failure that never reached the channel keeps what was known.
            uncertain=code == "uncertain" or (update["uncertain"] and code in v.OFF_CHANNEL),
        )

    # ------------------------------------------------------------------ resolution
    def resolve(self, *, summary: str, follow_up: str, actor: str, timestamp: datetime) -> None:
        if not self.live:
            raise InvalidTransitionError("the incident is resolved already", field="status")
        self._resolve(summary=summary, follow_up=follow_up, actor=actor, timestamp=timestamp)

    @event("Resolved", topic="parley.Incident.Resolved")
    def _resolve(self, summary: str, follow_up: str, actor: str, timestamp: datetime) -> None:
        self.status = RESOLVED
        self.summary = summary
        self.follow_up = follow_up
        self.resolved_at = timestamp
        self.resolved_by = actor


class IncidentBook(Aggregate):
    """The live incidents: ``{incident id: {"keywords", "acknowledgement", "shards"}}``."""

    TOPIC = "parley.IncidentBook"

    class Created(Aggregate.Created):
        TOPIC = "parley.IncidentBook.Created"

    @staticmethod
    def create_id() -> UUID:
        return key_id("registry", "incidents")

    @event("Opened", topic="parley.IncidentBook.Opened")
    def __init__(self, actor: str, timestamp: datetime) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    @event("Entered", topic="parley.IncidentBook.Entered")
    def enter(
        self,
        incident_id: str,
        keywords: list[str],
        acknowledgement: str | None,
        shards: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """An incident is live (again, with new terms): it links the cases it matches."""
        self.entries[incident_id] = {
            "keywords": list(keywords), "acknowledgement": acknowledgement, "shards": shards,
        }  # fmt: skip
        self._patterns: dict[str, re.Pattern[str] | None] = {}

    @event("Removed", topic="parley.IncidentBook.Removed")
    def remove(self, incident_id: str, actor: str, timestamp: datetime) -> None:
        self.entries.pop(incident_id, None)
        self._patterns = {}

    def matches(self, text: str) -> list[tuple[str, str]]:
        """(incident id, keyword) for every live incident whose keywords ``text`` names."""
        patterns: dict[str, re.Pattern[str] | None] = getattr(self, "_patterns", None) or {}
        self._patterns = patterns
        found = []
        for incident_id, entry in self.entries.items():
            if incident_id not in patterns:
                patterns[incident_id] = keyword_pattern(entry["keywords"])
            keyword = matching_keyword(patterns[incident_id], entry["keywords"], text)
            if keyword is not None:
                found.append((incident_id, keyword))
        return found


def shard_of(conversation_id: UUID, shards: int) -> int:
    return conversation_id.int % shards


class IncidentCases(Aggregate):
    """The cases of one shard of an incident: how each was linked, and the reply the
    incident queued for it to acknowledge it and to follow it up (or why it could not).

    ``cases[str(conversation_id)]``: ``customer_id``, ``how`` (hand, keyword), ``keyword``,
    ``linked_at``, ``acknowledgement`` and ``follow_up`` (each None, or ``{"reply_id",
    "skipped"}``: a reply queued, or the reason none could be).
    """

    TOPIC = "parley.IncidentCases"

    class Created(Aggregate.Created):
        TOPIC = "parley.IncidentCases.Created"

    @staticmethod
    def create_id(incident_id: UUID, shard: int) -> UUID:
        return key_id("incident-cases", f"{incident_id}/{shard}")

    @event("Started", topic="parley.IncidentCases.Started")
    def __init__(self, incident_id: UUID, shard: int, actor: str, timestamp: datetime) -> None:
        self.incident_id = incident_id
        self.shard = shard
        self.cases: dict[str, dict[str, Any]] = {}

    def link(
        self,
        *,
        conversation_id: UUID,
        customer_id: UUID,
        how: str,
        keyword: str | None,
        actor: str,
        timestamp: datetime,
    ) -> bool:
        """Link a case; False (nothing recorded) if it is linked already."""
        v.check_in(how, HOW, "how")
        if str(conversation_id) in self.cases:
            return False
        self._link(
            conversation_id=conversation_id, customer_id=customer_id, how=how, keyword=keyword,
            actor=actor, timestamp=timestamp,
        )  # fmt: skip
        return True

    @event("Linked", topic="parley.IncidentCases.Linked")
    def _link(
        self,
        conversation_id: UUID,
        customer_id: UUID,
        how: str,
        keyword: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.cases[str(conversation_id)] = {
            "conversation_id": conversation_id, "customer_id": customer_id, "how": how,
            "keyword": keyword, "linked_at": timestamp, "linked_by": actor,
            "acknowledgement": None, "follow_up": None,
        }  # fmt: skip

    def unlink(self, *, conversation_id: UUID, actor: str, timestamp: datetime) -> bool:
        if str(conversation_id) not in self.cases:
            return False
        self._unlink(conversation_id=conversation_id, actor=actor, timestamp=timestamp)
        return True

    @event("Unlinked", topic="parley.IncidentCases.Unlinked")
    def _unlink(self, conversation_id: UUID, actor: str, timestamp: datetime) -> None:
        del self.cases[str(conversation_id)]

    def acknowledge(
        self,
        *,
        conversation_id: UUID,
        reply_id: UUID | None,
        skipped: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """The incident queued ``reply_id`` to acknowledge the case, or ``skipped`` says
        why it could not (the customer was erased, the case began by phone...)."""
        case = self._case(conversation_id)
        if case["acknowledgement"] is not None:
            raise InvalidTransitionError(f"case {conversation_id} was acknowledged already")
        self._acknowledge(
            conversation_id=conversation_id, reply_id=reply_id, skipped=skipped, actor=actor,
            timestamp=timestamp,
        )  # fmt: skip

    @event("Acknowledged", topic="parley.IncidentCases.Acknowledged")
    def _acknowledge(
        self,
        conversation_id: UUID,
        reply_id: UUID | None,
        skipped: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.cases[str(conversation_id)]["acknowledgement"] = {
            "reply_id": reply_id,
            "skipped": skipped,
            "at": timestamp,
        }

    def follow_up(
        self,
        *,
        conversation_id: UUID,
        reply_id: UUID | None,
        skipped: str | None,
        resolved_case: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        """The incident's resolution queued ``reply_id`` to follow the case up (and
        resolved it first, ``resolved_case``), or ``skipped`` says why it could not."""
        case = self._case(conversation_id)
        if case["follow_up"] is not None:
            raise InvalidTransitionError(f"case {conversation_id} was followed up already")
        self._follow_up(
            conversation_id=conversation_id, reply_id=reply_id, skipped=skipped,
            resolved_case=resolved_case, actor=actor, timestamp=timestamp,
        )  # fmt: skip

    @event("FollowedUp", topic="parley.IncidentCases.FollowedUp")
    def _follow_up(
        self,
        conversation_id: UUID,
        reply_id: UUID | None,
        skipped: str | None,
        resolved_case: bool,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.cases[str(conversation_id)]["follow_up"] = {
            "reply_id": reply_id, "skipped": skipped, "at": timestamp,
            "resolved_case": resolved_case,
        }  # fmt: skip

    def _case(self, conversation_id: UUID) -> dict[str, Any]:
        try:
            return self.cases[str(conversation_id)]
        except KeyError:
            raise InvalidTransitionError(
                f"case {conversation_id} is not linked to the incident", field="conversation_id"
            ) from None
