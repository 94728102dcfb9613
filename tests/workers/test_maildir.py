"""A Maildir as an inbound e-mail source: new mail recorded once, then moved to cur/."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path
from uuid import uuid4

from click.testing import CliRunner

from app.cli import main
from domain.application import Conversations
from workers.maildir import poll_maildir


def _mail(sender: str, body: str, message_id: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "care@parley.localhost"
    message["Subject"] = "Charged twice"
    message["Message-ID"] = f"<{message_id or uuid4().hex}@example.com>"
    message.set_content(body)
    return message.as_bytes()


def test_new_mail_is_recorded_once_and_moved_to_cur(
    application: Conversations, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    same = _mail("bea@example.com", "Charged twice for order 77", "bea-1")
    box.add(same)
    box.add(same)  # delivered twice by the server
    box.add(b"Subject: nobody sent this\r\n\r\nhello\r\n")

    first = poll_maildir(application, str(tmp_path / "inbox"))
    again = poll_maildir(application, str(tmp_path / "inbox"))

    assert first == {"recorded": 1, "seen": 1, "refused": 1}
    assert again == {}
    moved = {box.get_message(k).get_flags() for k in box.iterkeys()}
    assert moved == {"S", "FS"}
    assert all(box.get_message(k).get_subdir() == "cur" for k in box.iterkeys())
    assert list((tmp_path / "inbox" / "new").iterdir()) == []


def test_parley_mail_import_records_a_maildir(store: dict[str, str], tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    box.add(_mail("cy@example.com", "Where is my refund?"))

    done = CliRunner().invoke(
        main, ["mail", "import", str(tmp_path / "inbox")],
        env={**store, "PARLEY_CREATE_TABLES": "yes"},
    )  # fmt: skip

    assert done.exit_code == 0, done.output
    assert done.output.strip() == "1 recorded"
