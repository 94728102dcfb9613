"""A Maildir as an inbound e-mail source: what the mail server delivered to ``new/`` is
recorded by the same path as ``POST /webhooks/email``, then moved to ``cur/``.

For a server that delivers to a mailbox rather than piping to a webhook (Postfix or
Dovecot's ``virtual_mailbox``, fetchmail, offlineimap). Recorded messages are marked
seen (``:2,S``); ones Parley cannot use are marked flagged too (``:2,FS``) and logged,
for a person to look at; one that lost races stays in ``new/`` for the next poll. A
message is recorded once however often it is polled: its Message-ID is its key.
"""

from __future__ import annotations

import logging
import mailbox
from collections import Counter

from domain.application import Conversations
from domain.exceptions import DomainError, VersionConflictError
from workers.email_inbound import MailError
from workers.mail_intake import record_mail

log = logging.getLogger(__name__)

ACTOR = "integration:maildir"


def poll_maildir(app: Conversations, path: str, actor: str = ACTOR) -> Counter[str]:
    """Record every message in ``path``'s ``new/``; counts by outcome."""
    box = mailbox.Maildir(path, factory=None, create=False)
    counts: Counter[str] = Counter()
    for key in list(box.iterkeys()):
        try:
            message = box.get_message(key)
            raw = box.get_bytes(key)
        except (KeyError, FileNotFoundError):  # another poll took it meanwhile
            continue
        if message.get_subdir() != "new":
            continue
        try:
            outcome = record_mail(app, raw, actor)
        except VersionConflictError:
            counts["retry"] += 1  # left in new/: the next poll records it
            continue
        except (MailError, DomainError) as error:  # for a person to look at
            log.warning("maildir message %s refused: %s", key, type(error).__name__)
            _move_to_cur(box, key, message, "FS")
            counts["refused"] += 1
            continue
        except Exception:  # the store went away...: the rest wait for the next poll
            log.exception("maildir message %s could not be recorded; left in new/", key)
            counts["retry"] += 1
            continue
        _move_to_cur(box, key, message, "S")
        counts[outcome.result] += 1
    return counts


def _move_to_cur(
    box: mailbox.Maildir, key: str, message: mailbox.MaildirMessage, flags: str
) -> None:
    message.set_subdir("cur")
    message.set_flags(flags)
    box[key] = message


def describe(counts: Counter[str]) -> str:
    """``2 recorded, 1 seen``, or ``nothing new``."""
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing new"
