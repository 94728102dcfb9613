"""The inbound e-mail parser on a corpus of real-world shapes, written here, and on noise.

Each message is built by the test (``email.message.EmailMessage`` where the library
writes what real clients write, literal bytes where the exact wire form matters: soft
line breaks, 8-bit bodies, a mislabelled charset, a DSN as Postfix sends it).
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.inbound import Contact
from domain.values import Identity
from workers.email_inbound import (
    MAX_HTML,
    MAX_TEXT,
    UNREADABLE,
    Attachment,
    MailError,
    ParsedMail,
    mail_contact,
    parse_mail,
)

BRAND = "support@brand.example"
WHEN = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40  # 10,249 bytes
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02" * 1000  # 3,008 bytes


def mail(
    body: str = "Hello, my parcel never arrived.",
    *,
    sender: str = "Jane Doe <jane@customer.example>",
    subject: str | None = "Where is my order?",
    message_id: str | None = "<CAF1234@mail.customer.example>",
    date: datetime | None = WHEN,
    **headers: str,
) -> EmailMessage:
    """A plain-text message as a mail client writes it; ``headers`` with "_" for "-"."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = BRAND
    if subject is not None:
        message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def wire(*lines: str, body: bytes = b"") -> bytes:
    """A message as bytes on the wire: header lines, a blank line, the body."""
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def b_word(text: str) -> str:
    """``text`` as an RFC 2047 encoded word, UTF-8 and base64 ("B")."""
    return f"=?utf-8?B?{base64.b64encode(text.encode()).decode()}?="


def parse(message: EmailMessage | bytes) -> ParsedMail:
    return parse_mail(message if isinstance(message, bytes) else message.as_bytes())


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (b_word("Réclamation \u2013 commande 123"), "Réclamation \u2013 commande 123"),
        ("=?UTF-8?Q?R=C3=A9clamation_commande?=", "Réclamation commande"),
        ("=?iso-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?utf-8?q?Hello_?= =?utf-8?q?World?=", "Hello World"),
        ("Re: =?utf-8?b?w5xiZXJ3ZWlzdW5n?= fehlt", "Re: Überweisung fehlt"),
    ],
)
def test_an_encoded_subject_is_decoded(subject: str, expected: str) -> None:
    raw = wire("From: jane@customer.example", f"Subject: {subject}", body=b"Hello")
    assert parse(raw).subject == expected


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        (b_word("Zoë Ångström") + " <zoe@x.example>", "Zoë Ångström"),
        ("=?utf-8?Q?Jos=C3=A9_Garc=C3=ADa?= <jose@x.example>", "José García"),
        ("=?iso-8859-1?Q?Fran=E7ois?= Dupont <francois@x.example>", "François Dupont"),
        ('"Doe, Jane" <jane@x.example>', "Doe, Jane"),
        ("<bare@x.example>", None),
        ("bare@x.example (Bare Person)", None),
    ],
)
def test_the_sender_name_is_decoded(sender: str, name: str | None) -> None:
    parsed = parse(wire(f"From: {sender}", "Subject: hi", body=b"Hello"))
    assert parsed.sender_name == name
    assert parsed.sender.endswith("@x.example")


def test_the_sender_is_kept_as_written_and_to_holds_to_and_cc() -> None:
    parsed = parse(
        mail(
            sender="Jane <Jane.Doe@Customer.Example>",
            Cc="Bob <bob@customer.example>, undisclosed-recipients:;",
        )
    )
    assert parsed.sender == "Jane.Doe@Customer.Example"
    assert parsed.to == (BRAND, "bob@customer.example")


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    raw = "From: José <jose@x.example>\r\nSubject: Café fermé\r\n\r\nBonjour".encode()
    parsed = parse(raw)
    assert (parsed.subject, parsed.sender_name) == ("Café fermé", "José")


def test_the_date_is_utc() -> None:
    parsed = parse(wire("From: a@x.example", "Date: Mon, 3 Nov 2025 10:30:00 +0100", body=b"hi"))
    assert parsed.date == WHEN
    assert parsed.date.tzinfo is not None


@pytest.mark.parametrize("date", [None, "yesterday, around noon", "Mon, 99 Foo 20251 99:99"])
def test_a_missing_or_unreadable_date_is_none(date: str | None) -> None:
    lines = ["From: a@x.example", "Subject: hi"] + ([f"Date: {date}"] if date else [])
    parsed = parse(wire(*lines, body=b"Hello there"))
    assert parsed.date is None
    assert parsed.text == "Hello there"


def test_in_reply_to_and_references_with_folding_and_comments() -> None:
    raw = wire(
        "From: jane@customer.example",
        "Subject: Re: order",
        "Message-ID: <  reply-3@customer.example >",
        "In-Reply-To: <out-2@brand.example> (Support's message of Mon, 3 Nov 2025 <fake@x>)",
        "References: <root-1@customer.example> (the first one)\r\n"
        "\t<out-2@brand.example>\r\n <root-1@customer.example>\r\n  <out-2\r\n @brand.example>",
        body=b"Thanks!",
    )
    parsed = parse(raw)
    assert parsed.message_id == "reply-3@customer.example"
    assert parsed.derived_id is False
    assert parsed.in_reply_to == "out-2@brand.example"
    assert parsed.references == ("root-1@customer.example", "out-2@brand.example")


def test_ids_without_brackets_from_a_broken_mailer() -> None:
    raw = wire(
        "From: a@x.example",
        "Message-ID: 1234.5678@old.example",
        "In-Reply-To: out-9@brand.example",
        "References: root@x.example out-9@brand.example",
        body=b"hi",
    )
    parsed = parse(raw)
    assert parsed.message_id == "1234.5678@old.example"
    assert parsed.in_reply_to == "out-9@brand.example"
    assert parsed.references == ("root@x.example", "out-9@brand.example")


# ---------------------------------------------------------------- a missing Message-ID


def test_a_missing_message_id_is_derived_stably() -> None:
    first = parse(mail(message_id=None))
    again = parse(mail(message_id=None))
    assert first.derived_id is True
    assert first.message_id.startswith("derived-")
    assert first.message_id.endswith("@parley.invalid")
    assert len(first.message_id) == len("derived-") + 32 + len("@parley.invalid")
    assert again.message_id == first.message_id
    relayed = mail(message_id=None)
    relayed["Received"] = "from mx1.relay.example by mx2.brand.example; Mon, 3 Nov 2025 09:31"
    assert parse(relayed).message_id == first.message_id
    assert parse(mail("Another text", message_id=None)).message_id != first.message_id
    assert parse(mail(message_id=None, sender="bob@x.example")).message_id != first.message_id


@pytest.mark.parametrize("value", ["", "<>", "< >", "<<<>>>", "two words"])
def test_an_unusable_message_id_is_derived(value: str) -> None:
    parsed = parse(wire("From: a@x.example", f"Message-ID: {value}", body=b"Hello"))
    assert parsed.derived_id is True
    assert parsed.message_id.startswith("derived-")


# ---------------------------------------------------------------- bodies


def test_quoted_printable_with_soft_line_breaks() -> None:
    raw = wire(
        "From: claire@x.example",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"Bonjour, je voudrais un rembourse=\r\nment pour ma commande. C'est tr=C3=A8s=\r\n"
        b" urgent. Caf=C3=A9 =3D bon.\r\n",
    )
    assert parse(raw).text == (
        "Bonjour, je voudrais un remboursement pour ma commande. C'est très urgent. Café = bon."
    )


def test_base64_body() -> None:
    text = "Hello, the parcel never arrived. Order #4521.\nKind regards, Ümit"
    encoded = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    raw = wire(
        "From: umit@x.example",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: base64",
        body=encoded,
    )
    assert parse(raw).text == text


def test_damaged_base64_gives_what_it_can() -> None:
    encoded = base64.b64encode(b"Please call me back today")[:-3] + b"!!"
    raw = wire("From: a@x.example", "Content-Transfer-Encoding: base64", body=encoded)
    assert parse(raw).text.startswith("Please call me back")


HTML = """<!DOCTYPE html><html><head><title>Newsletter title</title>
<style>p { color: red }</style><script>alert("x")</script></head>
<body><div>Hello&nbsp;team,</div><p>My order &#35;4521 is <b>late</b> &amp; the box was
   damaged &lt;again&gt;.</p><ul><li>first item</li><li>second item</li></ul>
<p>Line one<br>Line two</p><!-- a comment --><table><tr><td>Size</td><td>XL</td></tr></table>
</body></html>"""


def test_an_html_only_message_is_rendered_as_text() -> None:
    message = mail()
    message.set_content(HTML, subtype="html")
    parsed = parse(message)
    assert parsed.html is not None and "<b>late</b>" in parsed.html
    text = parsed.text
    assert "My order #4521 is late & the box was damaged <again>." in text
    assert "Hello team," in text
    assert "- first item\n- second item" in text
    assert "Line one\nLine two" in text
    assert "Size XL" in text
    for absent in ("<", "alert", "color: red", "Newsletter title", "a comment", "&amp;"):
        assert absent not in text.replace("<again>", "")


def test_multipart_alternative_prefers_the_plain_text_and_keeps_the_html() -> None:
    message = mail("The plain version: refund please.")
    message.add_alternative("<p>The <i>HTML</i> version: refund please.</p>", subtype="html")
    parsed = parse(message)
    assert parsed.text == "The plain version: refund please."
    assert parsed.html is not None and "<i>HTML</i>" in parsed.html
    assert parsed.attachments == ()


def test_an_empty_plain_alternative_falls_back_to_the_html() -> None:
    message = mail(" \n")
    message.add_alternative("<p>Only the HTML says <b>something</b>.</p>", subtype="html")
    assert parse(message).text == "Only the HTML says something."


def test_multipart_mixed_with_a_pdf_and_an_image() -> None:
    message = mail("Please see the invoice and the photo.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="damaged box.png")
    parsed = parse(message)
    assert parsed.text == "Please see the invoice and the photo."
    assert parsed.attachments == (
        Attachment("invoice.pdf", "application/pdf", len(PDF)),
        Attachment("damaged box.png", "image/png", len(PNG)),
    )


def test_an_encoded_attachment_name_is_decoded() -> None:
    message = mail("See attached.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="résumé.pdf")
    assert parse(message).attachments[0].filename == "résumé.pdf"


def test_multipart_related_with_an_inline_image() -> None:
    message = mail("Plain: the label is torn.")
    message.add_alternative('<p>HTML: the label is torn.<img src="cid:label1"></p>', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(
        PNG, maintype="image", subtype="png", cid="<label1>", filename="label.png"
    )
    parsed = parse(message)
    assert parsed.text == "Plain: the label is torn."
    assert parsed.html is not None and "cid:label1" in parsed.html
    assert parsed.attachments == (Attachment("label.png", "image/png", len(PNG)),)


def test_an_html_only_related_message() -> None:
    message = mail()
    message.set_content("<div>Look at <b>this</b> scratch</div>", subtype="html")
    message.add_related(PNG, maintype="image", subtype="png", cid="<s1>")
    parsed = parse(message)
    assert parsed.text == "Look at this scratch"
    assert parsed.attachments == (Attachment(None, "image/png", len(PNG)),)


def test_nested_multiparts() -> None:
    inner = EmailMessage()
    inner.set_content("Deep plain text about a broken zipper.")
    inner.add_alternative("<p>Deep HTML about a broken zipper.</p>", subtype="html")
    inner.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<z>")
    outer = mail()
    outer.set_content("placeholder")
    outer.make_mixed()
    outer.get_payload()[0] = inner
    outer.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
    parsed = parse(outer)
    assert parsed.text == "Deep plain text about a broken zipper."
    assert parsed.html is not None and "Deep HTML" in parsed.html
    assert [a.content_type for a in parsed.attachments] == ["image/png", "application/pdf"]


def test_several_inline_text_parts_are_joined() -> None:
    message = mail("First part of the text.")
    message.add_attachment("Second part, after a picture.", disposition="inline")
    assert parse(message).text == "First part of the text.\nSecond part, after a picture."


def test_a_text_attachment_is_an_attachment() -> None:
    message = mail("The log is attached.")
    message.add_attachment("ERROR line 1\n", filename="app.log")
    parsed = parse(message)
    assert parsed.text == "The log is attached."
    assert parsed.attachments == (Attachment("app.log", "text/plain", 13),)


def test_a_forwarded_message_is_an_attachment_named_by_its_subject() -> None:
    forwarded = mail("The original complaint.", subject="Broken kettle", sender="bob@x.example")
    message = mail("Forwarding my husband's mail.")
    message.add_attachment(forwarded)
    parsed = parse(message)
    assert parsed.text == "Forwarding my husband's mail."
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.content_type) == ("Broken kettle", "message/rfc822")
    assert attachment.size > len("The original complaint.")
    nameless = mail("Fwd.")
    nameless.add_attachment(mail("no subject here", subject=None))
    assert parse(nameless).attachments[0].filename == "forwarded message"


def test_an_attachment_only_message_says_so() -> None:
    message = mail()
    message.clear_content()
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="scan.pdf")
    parsed = parse(message)
    assert parsed.text == "(no text; 1 attachment)"
    assert parsed.attachments == (Attachment("scan.pdf", "application/pdf", len(PDF)),)
    message.add_attachment(PNG, maintype="image", subtype="png", filename="b.png")
    assert parse(message).text == "(no text; 2 attachments)"


def test_a_single_part_non_text_message_is_an_attachment() -> None:
    raw = wire(
        "From: scanner@x.example",
        "Content-Type: application/pdf; name=scan.pdf",
        "Content-Transfer-Encoding: base64",
        body=base64.encodebytes(PDF),
    )
    parsed = parse(raw)
    assert parsed.attachments == (Attachment("scan.pdf", "application/pdf", len(PDF)),)


# ---------------------------------------------------------------- charsets


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("windows-1252", b"Caf\xe9 \x93quoted\x94 costs \x805", "Café “quoted” costs €5"),
        ("iso-8859-1", b"Fran\xe7ais, s'il vous pla\xeet", "Français, s'il vous plaît"),
        ("iso-8859-1", b"It\x92s \x93late\x94", "It\u2019s “late”"),  # Latin-1 is Windows-1252
        ("koi8-r", "Привет, где мой заказ?".encode("koi8-r"), "Привет, где мой заказ?"),
        ("gb2312", "你好, 我的订单在哪里?".encode("gb2312"), "你好, 我的订单在哪里?"),
        ("gb2312", "𠀀 汉字".encode("gb18030"), "𠀀 汉字"),  # beyond GB 2312: GB 18030
        ("x-unknown", "Grüße aus Köln".encode(), "Grüße aus Köln"),
        ("x-unknown", b"Caf\xe9 cr\xe8me", "Café crème"),
        ("utf-8", b"Caf\xe9 cr\xe8me", "Café crème"),  # mislabelled: Windows-1252 in fact
        ("iso-8859-1", "Café crème".encode(), "Café crème"),  # mislabelled: UTF-8 in fact
        ("us-ascii", "naïve".encode(), "naïve"),
        ("utf-8", "Grüße".encode() + b"\xff and more", "Grüße\ufffd and more"),
        ('"UTF-8"', "quoted label ✓".encode(), "quoted label ✓"),
        ("rot13", b"not a text codec", "not a text codec"),
        ("utf-16", b"odd", "odd"),  # an odd number of bytes is no UTF-16
    ],
)  # fmt: skip
def test_charsets_declared_unknown_and_mislabelled(
    charset: str, payload: bytes, expected: str
) -> None:
    raw = wire(
        "From: a@x.example",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
        body=payload,
    )
    assert parse(raw).text == expected


def test_a_quoted_printable_windows_1252_html_part() -> None:
    raw = wire(
        "From: a@x.example",
        "Content-Type: text/html; charset=windows-1252",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"<p>Caf=E9 =93cr=E8me=94 &eacute;t=E9</p>",
    )
    assert parse(raw).text == "Café “crème” été"


# ---------------------------------------------------------------- storable text


def test_crlf_line_ends_become_lf() -> None:
    raw = wire("From: a@x.example", body=b"line one\r\nline two\r\n\r\nline four\rline five\r\n")
    assert parse(raw).text == "line one\nline two\n\nline four\nline five"


def test_nul_bytes_are_stripped() -> None:
    raw = wire("From: a@x.example", "Subject: nul\x00here", body=b"before\x00after \x00end")
    parsed = parse(raw)
    assert parsed.text == "beforeafter end"
    assert parsed.subject == "nulhere"


def test_lone_surrogates_are_stripped() -> None:
    raw = wire(
        "From: a@x.example",
        "Content-Type: text/plain; charset=unicode_escape",
        body=b"half \\ud83d a pair",  # a lone high surrogate
    )
    assert parse(raw).text == "half  a pair"


def test_a_1_mb_body_is_cut_at_20_000_characters() -> None:
    body = ("All work and no play makes Jack a dull boy. " * 24_000)[:1_000_000]
    parsed = parse(mail(body))
    assert len(parsed.text) == MAX_TEXT
    assert parsed.text == body[:MAX_TEXT]


def test_a_large_html_part_is_cut_at_200_000_characters() -> None:
    message = mail()
    message.set_content("<p>" + "word " * 100_000 + "</p>", subtype="html")
    parsed = parse(message)
    assert parsed.html is not None and len(parsed.html) == MAX_HTML
    assert len(parsed.text) == MAX_TEXT
    assert parsed.text.startswith("word word")


# ---------------------------------------------------------------- quoted correspondence


def quoted_at(parsed: ParsedMail, marker: str) -> None:
    assert parsed.quoted_at == parsed.text.index(marker)


def test_a_gmail_style_quote() -> None:
    parsed = parse(
        mail(
            "Thanks, but it still does not work.\n\n"
            "On Mon, 3 Nov 2025 at 10:00, Parley Support <support@brand.example> wrote:\n\n"
            "> Have you tried switching it off and on again?\n> \n> Kind regards\n"
        )
    )
    quoted_at(parsed, "On Mon")
    assert parsed.text.startswith("Thanks, but it still does not work.")
    assert parsed.text.endswith("> Kind regards")  # the text is kept whole


def test_a_wrapped_gmail_attribution() -> None:
    parsed = parse(
        mail(
            "Still broken.\n\nOn Mon, Nov 3, 2025 at 10:00 AM Parley Support Team <\n"
            "support@brand.example> wrote:\n\n> Did it help?\n"
        )
    )
    quoted_at(parsed, "On Mon")


def test_an_outlook_original_message() -> None:
    parsed = parse(
        mail(
            "Please cancel the order.\n\nJane\n\n-----Original Message-----\n"
            "From: Parley Support <support@brand.example>\n"
            "Sent: Monday, November 3, 2025 10:00 AM\nTo: Jane Doe <jane@customer.example>\n"
            "Subject: RE: order\n\nYour order has shipped."
        )
    )
    quoted_at(parsed, "-----Original")


def test_an_outlook_header_block() -> None:
    parsed = parse(
        mail(
            "Yes, that is my address.\n\n________________________________\n"
            "From: Parley Support <support@brand.example>\nSent: Monday, 3 November 2025 10:00\n"
            "To: Jane Doe\nSubject: Your address\n\nCan you confirm your address?"
        )
    )
    quoted_at(parsed, "________")
    plain = parse(mail("Fine.\n\nFrom: Support\nSent: Monday\nTo: Jane\n\nOld text"))
    quoted_at(plain, "From: Support")


def test_a_from_line_in_the_text_itself_is_not_a_quote() -> None:
    parsed = parse(mail("Hi,\n\nFrom: my new address, nothing else changed.\n\nThanks"))
    assert parsed.quoted_at is None


def test_gt_quoting_to_the_end() -> None:
    parsed = parse(
        mail(
            "I sent the photos yesterday.\n\n> Could you send photos\n>of the damage?\n>\n"
            ">> earlier still\n\n-- \nJane Doe\nCustomer since 2019\n"
        )
    )
    quoted_at(parsed, "> Could")


def test_interleaved_replies_mark_only_the_final_quote() -> None:
    parsed = parse(mail("> Which size?\nXL.\n> Which colour?\nBlue.\n\n> Anything else?\n> Bye"))
    quoted_at(parsed, "> Anything")


def test_a_quote_above_the_reply_is_not_the_end() -> None:
    parsed = parse(mail("> Which size?\n\nXL please."))
    assert parsed.quoted_at is None


@pytest.mark.parametrize(
    "attribution",
    [
        "Le lun. 3 nov. 2025 à 10:00, Parley Support <support@brand.example> a écrit :",
        "Am Mo., 3. Nov. 2025 um 10:00 Uhr schrieb Parley Support <support@brand.example>:",
        "Am 03.11.25 um 10:00 schrieb Parley Support:",
        "El lun, 3 nov 2025 a las 10:00, Parley Support (<support@brand.example>) escribió:",
        "Il giorno lun 3 nov 2025 alle ore 10:00 Parley Support ha scritto:",
        "Op ma 3 nov. 2025 om 10:00 schreef Parley Support <support@brand.example>:",
    ],
)
def test_attributions_in_other_languages(attribution: str) -> None:
    parsed = parse(mail(f"Merci / Danke.\n\n{attribution}\n> Ancien message\n"))
    quoted_at(parsed, attribution[:6])


def test_no_quote() -> None:
    assert parse(mail("On Monday I will be home all day.\nPlease deliver then.")).quoted_at is None


def test_an_html_reply_quotes_its_blockquote() -> None:
    message = mail()
    message.set_content(
        '<div dir="ltr">New answer here.</div><br><div class="gmail_quote">'
        '<div class="gmail_attr">On Mon, 3 Nov 2025 at 10:00, Support &lt;support@brand.example'
        '&gt; wrote:<br></div><blockquote class="gmail_quote">Old question?<br>Second line'
        "</blockquote></div>",
        subtype="html",
    )
    parsed = parse(message)
    assert parsed.text.startswith("New answer here.")
    assert "> Old question?\n> Second line" in parsed.text
    quoted_at(parsed, "On Mon")


# ---------------------------------------------------------------- automated mail


@pytest.mark.parametrize(
    "header",
    [
        ("Auto_Submitted", "auto-replied"),
        ("Auto_Submitted", "auto-generated; owner-email=it@x.example"),
        ("Precedence", "bulk"),
        ("Precedence", "junk"),
        ("Precedence", "list"),
        ("X_Autoreply", "yes"),
        ("X_Autorespond", "Out of office"),
        ("List_Id", "<news.x.example>"),
        ("List_Unsubscribe", "<mailto:unsubscribe@x.example>"),
    ],
)
def test_auto_replies(header: tuple[str, str]) -> None:
    parsed = parse(mail("I am away until Monday.", **dict([header])))
    assert parsed.automated == "auto_reply"
    assert parsed.bounce is None
    assert parsed.text == "I am away until Monday."


def test_x_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    # Outlook sets it on ordinary mail: it asks *us* not to answer automatically.
    normal = parse(mail("A real question.", X_Auto_Response_Suppress="All"))
    assert normal.automated is None
    out_of_office = mail(
        "Away.", subject="Automatic reply: Your order", X_Auto_Response_Suppress="All"
    )
    assert parse(out_of_office).automated == "auto_reply"
    assert parse(mail("Hi", Auto_Submitted="no")).automated is None
    assert parse(mail("Hi", Precedence="first-class")).automated is None


DSN = b"""\
From: Mail Delivery System <MAILER-DAEMON@mx.brand.example>
To: support@brand.example
Subject: Undelivered Mail Returned to Sender
Date: Mon,  3 Nov 2025 09:31:02 +0000 (UTC)
Message-ID: <20251103093102.4ABC@mx.brand.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4ABC.1762162262/mx.brand.example"

This is a MIME-encapsulated message.

--4ABC.1762162262/mx.brand.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.brand.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@customer.example>: host mx.customer.example said: 550 5.1.1
    <nobody@customer.example>: Recipient address rejected: User unknown

--4ABC.1762162262/mx.brand.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.brand.example
X-Postfix-Queue-ID: 4ABC
Arrival-Date: Mon,  3 Nov 2025 09:31:01 +0000 (UTC)

Final-Recipient: rfc822; nobody@customer.example
Original-Recipient: rfc822;nobody@customer.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.customer.example
Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.example>: Recipient address
    rejected: User unknown in virtual mailbox table

--4ABC.1762162262/mx.brand.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: support@brand.example
To: nobody@customer.example
Subject: Re: your order
Message-ID: <reply-42@brand.example>
Date: Mon, 3 Nov 2025 09:31:00 +0000

--4ABC.1762162262/mx.brand.example--
"""


def test_a_dsn_bounce() -> None:
    parsed = parse(DSN)
    assert parsed.automated == "bounce"
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == "reply-42@brand.example"
    assert parsed.bounce.recipient == "nobody@customer.example"
    assert parsed.bounce.status == "5.1.1"
    assert parsed.bounce.permanent is True
    assert parsed.bounce.diagnostic is not None
    assert parsed.bounce.diagnostic.startswith("550 5.1.1 <nobody@customer.example>")
    assert "User unknown in virtual mailbox table" in parsed.bounce.diagnostic
    assert "could not\nbe delivered" in parsed.text
    assert "Reporting-MTA" not in parsed.text and "reply-42" not in parsed.text
    assert parsed.attachments == ()


DELAYED_DSN = b"""\
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@brand.example
Subject: Delivery Status Notification (Delay)
Message-ID: <dsn-delay-1@mx.google.example>
Content-Type: multipart/report; report-type="delivery-status"; boundary="delay"

--delay
Content-Type: text/plain; charset="UTF-8"

Delivery to nobody@slow.example is delayed. We will keep trying.

--delay
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Arrival-Date: Mon, 03 Nov 2025 09:31:00 -0000

Final-Recipient: rfc822; nobody@slow.example
Action: delayed
Status: 4.4.7
Diagnostic-Code: smtp; 421 4.4.7 Connection timed out
Will-Retry-Until: Thu, 06 Nov 2025 09:31:00 -0000

--delay
Content-Type: message/rfc822

From: support@brand.example
To: nobody@slow.example
Subject: Your refund
Message-ID: <out-77@brand.example>

Your refund is on its way.

--delay--
"""


def test_a_delayed_dsn_is_not_permanent() -> None:
    parsed = parse(DELAYED_DSN)
    assert parsed.automated == "bounce"
    assert parsed.bounce is not None
    assert parsed.bounce.status == "4.4.7"
    assert parsed.bounce.permanent is False
    assert parsed.bounce.recipient == "nobody@slow.example"
    assert parsed.bounce.original_message_id == "out-77@brand.example"
    assert parsed.bounce.diagnostic == "421 4.4.7 Connection timed out"
    assert parsed.text == "Delivery to nobody@slow.example is delayed. We will keep trying."
    assert parsed.attachments == ()


def test_a_plain_bounce_from_the_mailer_daemon() -> None:
    raw = wire(
        "From: MAILER-DAEMON@mail.customer.example",
        "Subject: failure notice",
        body=b"Hi. This is the qmail-send program at mail.customer.example.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        b"<gone@customer.example>:\r\n550 5.1.1 mailbox unavailable\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"Message-ID: <out-5@brand.example>\r\nSubject: Re: hi\r\n",
    )
    parsed = parse(raw)
    assert parsed.automated == "bounce"
    assert parsed.bounce is not None
    assert parsed.bounce.status == "5.1.1"
    assert parsed.bounce.permanent is True
    assert parsed.bounce.recipient == "gone@customer.example"
    assert parsed.bounce.original_message_id == "out-5@brand.example"
    assert parsed.bounce.diagnostic is not None and "qmail-send" in parsed.bounce.diagnostic


def test_a_customer_writing_to_postmaster_is_not_a_bounce() -> None:
    parsed = parse(mail("Your server is down", sender="postmaster@customer.example"))
    assert parsed.automated is None


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n  ",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        bytes(range(256)) * 4,
        b"\r\n\r\nFrom: a@x.example\r\n\r\nheaders after a blank line are body",
    ],
)
def test_garbage_is_not_a_message(raw: bytes) -> None:
    with pytest.raises(MailError) as refused:
        parse_mail(raw)
    assert refused.value.field == "message"
    assert refused.value.reason == "not an RFC 5322 message"


@pytest.mark.parametrize(
    "sender",
    [None, "", "Jane Doe", "<>", "undisclosed-recipients:;", "jane@", "@x.example", "a@b@c"],
)
def test_a_message_without_a_usable_from_is_refused(sender: str | None) -> None:
    lines = ["To: support@brand.example", "Subject: hi"] + (
        [f"From: {sender}"] if sender is not None else []
    )
    with pytest.raises(MailError) as refused:
        parse_mail(wire(*lines, body=b"Hello"))
    assert refused.value.field == "from"


def test_a_message_without_text_or_attachments_is_refused() -> None:
    for body in ("", " \n\n \t\n"):
        with pytest.raises(MailError) as refused:
            parse(mail(body))
        assert (refused.value.field, refused.value.reason) == ("body", "the message has no text")
    with pytest.raises(MailError):
        parse(wire("From: a@x.example", "Content-Type: text/html", body=b"<p> </p><br>"))


def test_not_bytes_is_refused() -> None:
    with pytest.raises(MailError):
        parse_mail("From: a@x.example\n\nhi")  # type: ignore[arg-type]


# ---------------------------------------------------------------- hostile input, bounded


@pytest.mark.parametrize(
    "sender",
    [
        "(" * 20_000 + "a@x.example",  # the stdlib parser recurses once per "("
        '"a' * 20_000 + " <a@x.example>",  # ...and is quadratic in quoted strings (11 s)
        "\\" * 20_000,
        "=?utf-8?q?" + "=FF" * 5_000 + "?= <a@x.example>",
        "a@x.example, " * 5_000,
    ],
)
@pytest.mark.timeout(60)  # a hang guard, not a speed figure: these took minutes once
def test_hostile_from_headers_are_read_quickly(sender: str) -> None:
    try:
        parsed = parse_mail(wire(f"From: {sender}", body=b"Hello"))
        assert parsed.sender == "a@x.example"
    except MailError as refused:
        assert refused.field == "from"


@pytest.mark.timeout(60)
def test_hostile_structured_headers_degrade() -> None:
    raw = wire(
        "From: a@x.example",
        "Message-ID: <<<<<<<<<<",  # IndexError inside the stdlib parser
        "Content-Type: text/plain; " + "a*0*=x; " * 5_000,  # quadratic parameters
        "Date: " + "Mon, " * 5_000,
        "References: " + "<r@x.example> " * 5_000,
        body=b"Still readable",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Still readable"
    assert parsed.derived_id is True
    assert parsed.references == ("r@x.example",)


@pytest.mark.timeout(60)
def test_hostile_html_renders_in_linear_time() -> None:
    # html.parser on Python 3.11 takes minutes on this (a rescan per unclosed "<a ").
    for markup in ("<a " * 60_000, "<!--" * 60_000, "</script" * 30_000, "<![" * 60_000):
        message = mail()
        message.set_content("<p>Readable start</p>" + markup, subtype="html")
        try:
            parsed = parse(message)
            assert parsed.text.startswith("Readable start")
        except MailError as refused:
            assert refused.field == "body"


@pytest.mark.parametrize("depth", [30, 3_000])
def test_deeply_nested_parts(depth: int) -> None:
    raw = b"From: a@x.example\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for level in range(depth):
        raw += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (level, level + 1)
    raw += b"--b%d\nContent-Type: text/plain\n\ntoo deep to read\n" % depth
    with pytest.raises(MailError) as refused:
        parse_mail(raw)
    assert refused.value.field in ("message", "body")


# ---------------------------------------------------------------- the contact


def test_mail_contact() -> None:
    message = mail(
        "Thanks!\n\nOn Mon, 3 Nov 2025, Support wrote:\n> Shipped.",
        sender="=?utf-8?q?Jos=C3=A9?= <Jose@Customer.Example>",
        subject="Re: " + "x" * 600,
        In_Reply_To="<out-2@brand.example>",
        References="<root-1@customer.example> <out-2@brand.example>",
    )
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    parsed = parse(message)
    contact = mail_contact(parsed, actor="integration:email")
    identity = Identity("email", "Jose@Customer.Example")
    assert contact == Contact(
        channel="email",
        body=parsed.text,
        external_id="CAF1234@mail.customer.example",
        sender=identity,
        actor="integration:email",
        published_at=WHEN,
        origin=contact.origin,
        customer_name="José",
        subject=("Re: " + "x" * 600)[:500],
        references=("root-1@customer.example", "out-2@brand.example"),
        details={
            "html": None,
            "attachments": [
                {"filename": "a.pdf", "content_type": "application/pdf", "size": len(PDF)}
            ],
            "quoted_at": parsed.text.index("On Mon"),
            "derived_message_id": False,
        },
    )
    assert contact.origin.sender == identity
    assert contact.origin.brand_account == BRAND
    assert contact.origin.thread_id == "root-1@customer.example"
    assert contact.origin.in_reply_to == "out-2@brand.example"
    assert mail_contact(parsed, "a", brand_address="care@brand.example").origin.brand_account == (
        "care@brand.example"
    )


def test_mail_contact_threads_by_in_reply_to_then_its_own_id() -> None:
    replying = parse(mail(In_Reply_To="<out-2@brand.example>"))
    assert mail_contact(replying, "a").origin.thread_id == "out-2@brand.example"
    first = parse(mail(sender="N" * 300 + " <n@x.example>"))
    contact = mail_contact(first, "a")
    assert contact.origin.thread_id == "CAF1234@mail.customer.example"
    assert contact.customer_name == "N" * 100


def test_an_address_identity_refuses_is_refused_as_from() -> None:
    with pytest.raises(MailError) as refused:
        parse(mail(sender='"john doe"@x.example'))
    assert refused.value.field == "from"
    parsed = dataclasses.replace(parse(mail()), sender="john doe@x.example")
    with pytest.raises(MailError) as refused:
        mail_contact(parsed, "a")
    assert refused.value.field == "from"


# ---------------------------------------------------------------- noise

SEEDS = [
    mail().as_bytes(),
    DSN,
    DELAYED_DSN,
    wire(
        "From: =?utf-8?q?Jos=C3=A9?= <jose@x.example>",
        "Subject: =?iso-8859-1?Q?Caf=E9?=",
        "References: <a@x> (c) <b@y>",
        "Content-Type: multipart/alternative; boundary=zz",
        body=b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9=\r\n ok\r\n"
        b"--zz\r\nContent-Type: text/html; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"<p>Caf\xe9 <b>ok</b></p>")
        + b"--zz--\r\n",
    ),
]
FRAGMENTS = [
    b"=?", b"?=", b"=?utf-8?b?", b"=?x-unknown?q?", b"(", b")", b"<", b">", b'"', b"\\",
    b"\r\n", b"\n\n", b"\r\n ", b":", b";", b",", b"@", b"\x00", b"\xff", b"\xc3", b"=",
    b"--zz", b"--zz--", b"boundary=", b"charset=", b"base64", b"quoted-printable",
    b"Content-Type: multipart/mixed; boundary=zz\r\n", b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n", b"From: ", b"<html><a ", b"<!--",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "repeat", "truncate"]))
        if kind == "insert":
            raw[at:at] = draw(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        elif kind == "replace":
            raw[at : at + 1] = draw(st.binary(min_size=1, max_size=3))
        elif kind == "repeat":
            raw[at:at] = raw[at : at + draw(st.integers(1, 12))] * draw(st.integers(2, 40))
        else:
            del raw[at:]
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=600), mutated()))
def test_any_bytes_give_a_mail_or_a_mail_error(raw: bytes) -> None:
    try:
        parsed = parse_mail(raw)
    except MailError as refused:
        assert refused.field in ("message", "from", "body")
        assert not refused.reason.startswith(UNREADABLE)  # refused knowingly, not by accident
        return
    assert parsed.text.strip() and len(parsed.text) <= MAX_TEXT
    assert "\x00" not in parsed.text and "\r" not in parsed.text
    assert not any("\ud800" <= char <= "\udfff" for char in parsed.text)
    assert parsed.message_id and "<" not in parsed.message_id
    assert parsed.quoted_at is None or 0 <= parsed.quoted_at < len(parsed.text)
    assert parsed.date is None or parsed.date.tzinfo is not None
    try:
        mail_contact(parsed, "integration:email")
    except MailError as refused:
        assert refused.field == "from"
