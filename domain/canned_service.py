"""Canned response use cases: keep a team's stock replies, and reply with one.

A reply made from a canned response is an ordinary reply (``ReplyQueued`` with the
rendered text): the customer got that text, and the log says so whatever the canned
response says later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.canned import (
    CASE_LINK,
    CUSTOMER_NAME,
    INCIDENT_LINKS,
    CannedResponse,
    CannedResponseBook,
    check_spec,
    render,
)
from domain.conversation import Conversation
from domain.exceptions import NotFoundError
from domain.idempotency import Claim
from domain.incident import IncidentCases, shard_of
from domain.incidents import Incidents
from domain.outcome import Outcome


class CannedResponseNotFoundError(NotFoundError):
    field = "canned_response_id"


class CannedResponses(Incidents):
    # ------------------------------------------------------------------ keeping them
    def create_canned_response(
        self, spec: dict[str, Any], *, actor: str, claim: Claim | None = None
    ) -> Outcome:
        """A new canned response, version 1, for its team."""
        checked = check_spec(spec)
        now = self.clock()
        canned = CannedResponse(spec=checked, actor=actor, timestamp=now)
        book = self._canned_book_for_edit(actor, now)
        book.enter(canned_response_id=str(canned.id), team=checked["team"], actor=actor,
                   timestamp=now)  # fmt: skip
        return self._save(canned, book, claim=claim, response=self._outcome(canned))

    def revise_canned_response(
        self,
        canned_response_id: UUID,
        spec: dict[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Its next version (the whole of it, its team too)."""
        checked = check_spec(spec)
        canned = self.get_canned_response(canned_response_id)
        self._check_version(canned, expected_version)
        now = self.clock()
        canned.revise(checked, actor, now)
        book = self._canned_book_for_edit(actor, now)
        book.enter(canned_response_id=str(canned.id), team=checked["team"], actor=actor,
                   timestamp=now)  # fmt: skip
        return self._save(
            canned, book, claim=claim, expected_version=expected_version,
            response=self._outcome(canned),
        )  # fmt: skip

    def delete_canned_response(
        self,
        canned_response_id: UUID,
        *,
        actor: str,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """No agent can use it any more; its versions stay readable."""
        canned = self.get_canned_response(canned_response_id)
        self._check_version(canned, expected_version)
        now = self.clock()
        canned.delete(actor, now)
        book = self._canned_book_for_edit(actor, now)
        book.remove(canned_response_id=str(canned.id), actor=actor, timestamp=now)
        return self._save(
            canned, book, claim=claim, expected_version=expected_version,
            response=self._outcome(canned),
        )  # fmt: skip

    def get_canned_response(self, canned_response_id: UUID) -> CannedResponse:
        canned: Any
        try:
            canned = self.repository.get(canned_response_id)
        except AggregateNotFoundError:
            canned = None
        if not isinstance(canned, CannedResponse):
            raise CannedResponseNotFoundError(f"no canned response {canned_response_id}")
        return canned

    def list_canned_responses(self, team: str | None = None) -> list[CannedResponse]:
        """The live canned responses (of ``team``), in the order they were first written."""
        try:
            book: CannedResponseBook = self.repository.get(CannedResponseBook.create_id())
        except AggregateNotFoundError:
            return []
        return [
            self.get_canned_response(UUID(cid))
            for cid, of in book.entries.items()
            if team is None or of == team
        ]

    def _canned_book_for_edit(self, actor: str, now: datetime) -> CannedResponseBook:
        try:
            book: CannedResponseBook = self.repository.get(CannedResponseBook.create_id())
            return book
        except AggregateNotFoundError:
            return CannedResponseBook(actor=actor, timestamp=now)

    # ------------------------------------------------------------------ replying
    def render_canned_response(
        self,
        conversation_id: UUID,
        canned_response_id: UUID,
        variables: Mapping[str, str],
        *,
        case_link: str | None = None,
    ) -> str:
        """The canned response's text for this case: the customer's name, the case's
        link (``case_link``, as the caller addresses cases), the links of every live
        incident the case is linked to (one a line; empty if none), and ``variables``."""
        canned = self.get_canned_response(canned_response_id)
        if canned.deleted:
            raise CannedResponseNotFoundError(f"canned response {canned_response_id} is deleted")
        conversation = self._load(Conversation, conversation_id)
        self._check_not_erased(conversation.customer_id)
        customer = self.customer_of(conversation.customer_id)
        built_in = {
            CUSTOMER_NAME: customer.name or None,
            CASE_LINK: case_link,
            INCIDENT_LINKS: "\n".join(self._incident_links_of(conversation.id)),
        }
        return render(canned.spec["body"], built_in, variables)

    def _incident_links_of(self, conversation_id: UUID) -> list[str]:
        """The links of the live incidents the case is linked to (one shard load each)."""
        book = self.incident_book()
        links: list[str] = []
        for incident_id, entry in (book.entries if book else {}).items():
            shard_id = IncidentCases.create_id(
                UUID(incident_id), shard_of(conversation_id, entry["shards"])
            )
            try:
                shard: IncidentCases = self.repository.get(shard_id)
            except AggregateNotFoundError:
                continue
            if str(conversation_id) in shard.cases:
                links += self.get_incident(UUID(incident_id)).links
        return list(dict.fromkeys(links))

    def queue_canned_reply(
        self,
        conversation_id: UUID,
        *,
        canned_response_id: UUID,
        variables: Mapping[str, str],
        kind: str,
        actor: str,
        channel: str | None = None,
        invite_to_dm: bool = False,
        case_link: str | None = None,
        expected_version: int | None = None,
        claim: Claim | None = None,
    ) -> Outcome:
        """Queue a reply whose text is a canned response rendered for this case (the DM
        invitation, if asked for, appended as to any reply)."""
        body = self.render_canned_response(
            conversation_id, canned_response_id, variables, case_link=case_link
        )
        return self.queue_reply(
            conversation_id, kind=kind, body=body, actor=actor, channel=channel,
            invite_to_dm=invite_to_dm, expected_version=expected_version, claim=claim,
        )  # fmt: skip
