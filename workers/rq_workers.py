"""RQ's workers, with a pubsub thread that cannot hold a worker's end for a minute.

An RQ worker listens for its commands (shutdown, stop or kill a job) on a pubsub thread
that RQ starts with ``sleep_time=60`` and, to stop it, wakes with the reply to its
``UNSUBSCRIBE``. When the thread reads that reply before the worker has cleared the
thread's running flag (a race lost now and then), it goes back to a 60 s read, and
redis-py 8's ``PubSubWorkerThread.stop()`` waits for it: the worker's teardown (the end
of a burst, a warm shutdown) took a minute more. The workers here wake their thread every
``PUBSUB_SLEEP`` seconds, which bounds that wait; a wake costs one ``poll``.
"""

from __future__ import annotations

from rq.worker import BaseWorker, SimpleWorker, Worker

PUBSUB_SLEEP = 1.0  # seconds: the longest a teardown can wait for the pubsub thread


class PromptPubSub(BaseWorker):
    """Mixed in before an RQ worker class: RQ's ``subscribe``, with a short sleep."""

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name,
                      self.pubsub_channel_name)  # fmt: skip
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_SLEEP, daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )  # fmt: skip


class ParleyWorker(PromptPubSub, Worker):
    """``parley worker``: RQ's forking worker."""


class BurstWorker(PromptPubSub, SimpleWorker):
    """Jobs run in this process (the tests, the bench): RQ's ``SimpleWorker``."""
