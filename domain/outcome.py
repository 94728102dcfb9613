"""What every command answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass
class Outcome:
    """What a command did: the aggregate, its new version, the position of its last event."""

    id: UUID
    version: int
    position: int | None  # None when the command changed nothing (a no-op)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "position": self.position, **self.extra}
