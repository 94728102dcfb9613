"""The group-commit queue on its own: who commits, in what groups, and who is told what.

The store's side (one transaction, savepoints, positions) is tested on PostgreSQL in
tests/application/test_group_commit.py; here ``commit`` is the test's own function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from app.group_commit import GroupCommit, Outcomes, PendingSave


def a_save(n: int) -> PendingSave:
    return PendingSave([StoredEvent(f"agg-{n}", 1, "topic", b"")])  # type: ignore[arg-type]


class Store:
    """Numbers each save's events, group by group; the first group waits for ``go``."""

    def __init__(self, fail_group: int | None = None) -> None:
        self.go = threading.Event()
        self.groups: list[list[str]] = []
        self.fail_group = fail_group
        self.next_id = 1

    def commit(self, group: list[PendingSave]) -> Outcomes:
        if not self.groups:
            self.go.wait(5)
        self.groups.append([str(s.stored_events[0].originator_id) for s in group])
        if len(self.groups) == self.fail_group:
            raise ConnectionError("the connection dropped")
        ids: dict[int, Sequence[int]] = {}
        errors: dict[int, BaseException] = {}
        for i, save in enumerate(group):
            if save.stored_events[0].originator_id == "agg-bad":
                errors[i] = ValueError("conflict")
                continue
            ids[i] = list(range(self.next_id, self.next_id + len(save.stored_events)))
            self.next_id += len(save.stored_events)
        return Outcomes(ids, errors)


def submit_all(queue: GroupCommit, store: Store, saves: list[PendingSave]) -> list[Any]:
    """The first save commits alone and waits; the rest queue; then it is let go."""
    results: list[Any] = [None] * len(saves)

    def run(i: int) -> None:
        try:
            results[i] = queue.submit(saves[i])
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(0,))]
    threads[0].start()
    while not queue.groups:
        time.sleep(0.001)
    threads += [threading.Thread(target=run, args=(i,)) for i in range(1, len(saves))]
    for thread in threads[1:]:
        thread.start()
    while queue.waiting < len(saves) - 1:
        time.sleep(0.001)
    store.go.set()
    for thread in threads:
        thread.join(5)
    return results


def test_the_saves_queued_meanwhile_commit_as_one_group_each_told_its_own_outcome() -> None:
    store = Store()
    queue = GroupCommit(store.commit)
    saves = [a_save(0), a_save(1), PendingSave([StoredEvent("agg-bad", 1, "t", b"")]), a_save(3)]  # type: ignore[arg-type]

    results = submit_all(queue, store, saves)

    assert [len(g) for g in store.groups] == [1, 3]
    assert results[0] == [1]
    assert isinstance(results[2], ValueError)  # only the bad save failed
    assert sorted(results[1] + results[3]) == [2, 3]
    assert (queue.groups, queue.saves) == (2, 4)


def test_a_failed_transaction_fails_every_save_of_its_group_and_no_other() -> None:
    store = Store(fail_group=2)
    queue = GroupCommit(store.commit)
    saves = [a_save(i) for i in range(4)]

    results = submit_all(queue, store, saves)

    assert results[0] == [1]
    failed = results[1:]
    assert all(isinstance(r, ConnectionError) for r in failed)
    assert len({id(r) for r in failed}) == 3  # each caller raises its own copy
    assert queue.submit(a_save(9)) == [2]  # the next group commits as usual


def test_groups_are_bounded_and_every_queued_save_is_committed() -> None:
    store = Store()
    queue = GroupCommit(store.commit, max_group=2)

    results = submit_all(queue, store, [a_save(i) for i in range(6)])

    assert [len(g) for g in store.groups] == [1, 2, 2, 1]
    assert sorted(r[0] for r in results) == [1, 2, 3, 4, 5, 6]
