"""Group commit: the saves that arrive while one is committing are committed together.

On PostgreSQL every save takes the events table's exclusive lock (so positions commit in
order, which the follower relies on) and then waits for its own commit to reach the disk.
Concurrent requests in one process therefore take turns, one lock and one fsync each.
Here the first save to arrive commits at once, alone; the saves that arrive meanwhile
queue, and the next of them to get its turn (the *leader*) commits the whole queue in one
transaction: one lock, one commit, one ``NOTIFY``, and a savepoint per save, so a
conflict in one save rolls back only that save and each caller still gets its own answer
(its positions, or its own ``IntegrityError``). Nobody waits for a timer: a quiet
process commits each save as it comes, a busy one in groups as large as the queue
(at most :data:`MAX_GROUP` saves).

The order is kept: a group's saves get their positions in queue order, and the lock is
held until the group commits, so positions still commit in order. A failure of the
transaction itself (the connection, the commit) fails every save of the group, none of
which is then stored: the same all-or-nothing each save had alone.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import StoredEvent

MAX_GROUP = 200  # saves per transaction: bounds the leader's wait and the lock's hold


@dataclass(eq=False)
class PendingSave:
    """One caller's save, waiting for its group's commit."""

    stored_events: Sequence[StoredEvent]
    created_keys: dict[UUID, bytes] = field(default_factory=dict)
    destroyed_keys: list[UUID] = field(default_factory=list)
    done: bool = False
    ids: Sequence[int] | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Outcomes:
    """What committing a group gave each of its saves: positions, or its own error."""

    ids: Mapping[int, Sequence[int]]  # by index in the group
    errors: Mapping[int, BaseException]


class GroupCommit:
    """Commits queued saves in groups through ``commit`` (one transaction per group).

    ``commit(group)`` writes every save of the group in one transaction and answers each
    save's outcome; if it raises, nothing of the group was stored and every save of it
    fails with that error.
    """

    def __init__(
        self, commit: Callable[[list[PendingSave]], Outcomes], max_group: int = MAX_GROUP
    ) -> None:
        self._commit = commit
        self._max_group = max_group
        self._queue: list[PendingSave] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()  # held by the leader while its group commits
        self.groups = 0  # transactions committed (or tried); for tests and ops
        self.saves = 0  # saves they held

    @property
    def waiting(self) -> int:
        """Saves queued and not yet taken into a group."""
        with self._queue_lock:
            return len(self._queue)

    def submit(self, save: PendingSave) -> Sequence[int] | None:
        """Queue the save, commit groups until it is done, answer its positions."""
        with self._queue_lock:
            self._queue.append(save)
        while not save.done:
            with self._turn:
                if save.done:  # an earlier leader took it into its group
                    break
                with self._queue_lock:
                    group = self._queue[: self._max_group]
                    del self._queue[: self._max_group]
                self._run(group)
        if save.error is not None:
            raise save.error
        return save.ids

    def _run(self, group: list[PendingSave]) -> None:
        self.groups += 1
        self.saves += len(group)
        try:
            outcomes = self._commit(group)
        except BaseException as error:
            for i, save in enumerate(group):
                # Each caller raises its own copy: one exception object raised in many
                # threads at once would have its traceback rewritten under it.
                save.error = error if i == 0 else _copy(error)
                save.done = True
            return
        for i, save in enumerate(group):
            save.ids = outcomes.ids.get(i)
            save.error = outcomes.errors.get(i)
            save.done = True


def _copy(error: BaseException) -> BaseException:
    try:
        duplicate = copy.copy(error)
    except Exception:
        return error
    duplicate.__cause__ = error
    return duplicate
