"""Domain errors. The HTTP edge maps each to a status in one place (app/errors.py)."""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """A command was refused by a business rule; nothing was recorded.

    ``field`` names the command's argument at fault, in the domain's words; the edge
    that took the request translates it into its own (a JSON field, a header).
    """

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class NotFoundError(DomainError):
    """No such aggregate."""


class ConversationNotFoundError(NotFoundError):
    pass


class CustomerNotFoundError(NotFoundError):
    pass


class ConversationResolvedError(DomainError):
    """The conversation is resolved: reopen it before replying or switching."""


class UnknownReplyError(DomainError):
    field = "reply_id"


class ChannelIdentityMissingError(DomainError):
    """A switch to a channel the customer cannot be reached on, and no identity given."""

    field = "identity"


class IdentityTakenError(DomainError):
    """The identity already belongs to another customer."""

    field = "identity"


class InvalidValueError(DomainError):
    """A value outside the vocabulary (an unknown channel, priority, ...)."""


class InvalidTransitionError(DomainError):
    """The command makes no sense in the aggregate's current state."""


class MergeError(DomainError):
    """A merge or unmerge that would lose or tangle customers."""


class CustomerErasedError(DomainError):
    """The customer's personal data was erased: nothing more is written about them, and
    nothing is sent to them."""


class VersionConflictError(DomainError):
    """Someone else changed the aggregate first (optimistic concurrency)."""

    def __init__(self, aggregate_id: UUID, current_version: int, expected: int | None = None):
        self.aggregate_id = aggregate_id
        self.current_version = current_version
        self.expected = expected
        super().__init__(
            f"{aggregate_id} is at version {current_version}"
            + (f", not {expected}" if expected is not None else "")
        )


class PreconditionFailedError(VersionConflictError):
    """The client's If-Match named a version that is no longer current."""


class IdempotencyKeyReusedError(DomainError):
    """The same idempotency key was sent with a different request."""

    field = "idempotency_key"


class NotPermittedError(DomainError):
    """The actor's role may not do this part of the command (e.g. attach an identity);
    ``permission`` names what it would need (``domain.access``)."""

    def __init__(self, message: str, *, permission: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.permission = permission


class UnorderedStoreError(Exception):
    """The event store is configured in a way that breaks the log's commit order."""
