"""Token use cases: issue, authenticate, list, revoke (by id), optionally expiring."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.access import ROLES, ApiToken, TokenRegistry, hash_token
from domain.exceptions import InvalidValueError, NotFoundError
from domain.service import Service
from domain.values import check_in

ISSUED_TOPIC = "parley.ApiToken.Issued"


class TokenDirectory(Service):
    """The API tokens of the people and systems serving customers."""

    def issue_token(
        self,
        *,
        name: str,
        role: str,
        token: str,
        actor: str,
        expires_at: datetime | None = None,
    ) -> ApiToken:
        """Record a new API token; only its hash is stored. The caller shows it once."""
        check_in(role, ROLES, "role")
        if not name.strip():
            raise InvalidValueError("a token needs the name of who holds it", field="name")
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidValueError("a token must expire in the future", field="expires_at")
        api_token = ApiToken(
            token_hash=hash_token(token), name=name, role=role, expires_at=expires_at,
            actor=actor, timestamp=now,
        )  # fmt: skip
        for _ in range(5):  # another token issued at the same moment: list this one after it
            registry = self._registry(actor, now)
            registry.add(token_id=api_token.id, actor=actor, timestamp=now)
            try:
                self.save(api_token, registry)
                return api_token
            except IntegrityError:
                continue
        raise InvalidValueError("tokens are being issued too fast; retry", field="name")

    def authenticate(self, token: str) -> ApiToken | None:
        """The live token with this secret, or None (unknown, revoked or expired)."""
        try:
            api_token: ApiToken = self.repository.get(ApiToken.create_id(hash_token(token)))
        except AggregateNotFoundError:
            return None
        return api_token if api_token.live(self.clock()) else None

    def token_is_live(self, token_id: UUID) -> bool:
        try:
            api_token: ApiToken = self.repository.get(token_id)
        except AggregateNotFoundError:
            return False
        return isinstance(api_token, ApiToken) and api_token.live(self.clock())

    def list_tokens(self) -> list[ApiToken]:
        """Every token issued, oldest first, revoked and expired ones included."""
        registry = self._registry("system", self.clock())
        if registry.pending_events:
            self.save(registry)  # the first listing records the tokens issued before it
        return [self.repository.get(token_id) for token_id in registry.token_ids]

    def find_token(self, token_id: str) -> ApiToken:
        """A token by its id, or by a unique prefix of it (at least 8 characters)."""
        wanted = token_id.strip().lower()
        matches = [t for t in self.list_tokens() if str(t.id).startswith(wanted)]
        if len(wanted) < 8 or len(matches) != 1:
            raise NotFoundError(
                f"no token {token_id!r}" if not matches else f"{token_id!r} names several tokens"
            )
        return matches[0]

    def revoke_token(self, token_id: str, *, actor: str) -> bool:
        """Revoke a token by id: requests carrying it get 401 from then on. False if it
        was revoked already."""
        api_token = self.find_token(token_id)
        if not api_token.revoke(actor=actor, timestamp=self.clock()):
            return False
        self.save(api_token)
        return True

    def _registry(self, actor: str, now: datetime) -> TokenRegistry:
        """The registry; made on first use, holding every token the log already has."""
        try:
            registry: TokenRegistry = self.repository.get(TokenRegistry.create_id())
            return registry
        except AggregateNotFoundError:
            pass
        registry = TokenRegistry(actor=actor, timestamp=now)
        after = 0
        while batch := self.recorder.select_notifications(
            start=after, limit=1000, inclusive_of_start=False, topics=[ISSUED_TOPIC]
        ):
            for notification in batch:
                registry.add(
                    token_id=UUID(str(notification.originator_id)), actor=actor, timestamp=now
                )
            after = batch[-1].id
        return registry
