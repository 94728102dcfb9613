"""Inbound e-mail as one kind of contact: the raw bytes of a message in, plain values out.

:func:`parse_mail` reads an RFC 5322 message (MIME of any shape, quoted-printable or
base64, any declared, unknown or mislabelled charset, bounces and auto-replies) into a
:class:`ParsedMail`; :func:`mail_contact` makes that a :class:`domain.inbound.Contact`.
Nothing here touches the network, the store or the clock.

Mail is hostile input: relays mangle it, spammers craft it, and the standard library's
parser raises on some of it (``IndexError``, ``RecursionError``...) and takes quadratic
time on some more (40 kB of quoted strings in a From: 11 s; ``html.parser`` on 120 kB
of unclosed tags: minutes). Whatever the bytes, ``parse_mail`` returns or raises
:class:`MailError`, naming the field at fault; it never raises anything else. Its work is
bounded: each header is parsed from at most a few kilobytes, MIME parts are followed 24
levels deep, HTML is rendered by a linear scanner of our own, ``text`` is cut at 20,000
characters and ``html`` at 200,000.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html as html_entities
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, message_from_bytes
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from typing import Any, TypeVar

from domain import values as v
from domain.inbound import Contact
from domain.values import Identity, Origin

log = logging.getLogger(__name__)

MAX_TEXT = 20_000
MAX_HTML = 200_000
MAX_DEPTH = 24  # MIME nesting followed; real mail nests 4 or 5 deep
MAX_PARTS = 500  # MIME parts read; the rest of a message is ignored
MAX_REFERENCES = 100  # the first (the thread's root) and the latest 99
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
UNREADABLE = "the message could not be read"

T = TypeVar("T")


class MailError(ValueError):
    """A message that cannot be recorded; `field` names what is wrong (e.g. "from", "body")."""

    def __init__(self, reason: str, field: str = "message") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int  # bytes, decoded


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None  # the Message-ID of the mail that bounced
    recipient: str | None  # Final-Recipient / Original-Recipient address
    status: str | None  # e.g. "5.1.1"
    diagnostic: str | None  # Diagnostic-Code text, or the human-readable part's first lines
    permanent: bool  # Action: failed / status 5.x.x ("delayed", 4.x.x, is not permanent)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # without angle brackets; derived if missing or unusable
    derived_id: bool  # True when the message had no usable Message-ID
    sender: str  # the From address (addr-spec), as written
    sender_name: str | None  # display name, decoded; None if empty
    to: tuple[str, ...]  # To + Cc addresses
    subject: str | None  # decoded; None if absent or blank
    date: datetime | None  # tz-aware UTC; None if absent or unparseable
    in_reply_to: str | None  # first id of In-Reply-To, no brackets
    references: tuple[str, ...]  # ids of References, oldest first, no brackets, no repeats
    text: str  # the plain-text body (text/plain; else rendered from the HTML); never empty
    html: str | None  # the HTML part, if any
    attachments: tuple[Attachment, ...]
    quoted_at: int | None  # offset in `text` where quoted earlier correspondence begins
    automated: str | None  # None, "auto_reply" or "bounce"
    bounce: Bounce | None


# ---------------------------------------------------------------- the library, bounded


def _attempt(call: Callable[[], T], fallback: T) -> T:
    """``call()``, or ``fallback`` where the email package fails on hostile input.

    It raises far more than its documented errors on malformed messages (``IndexError``,
    ``AttributeError``, ``RecursionError``, ``UnicodeError``...), and which ones depends on
    the Python version: every call into it on a parsed message goes through here.
    """
    try:
        return call()
    except Exception:
        return fallback


# How much of a header the parser reads (characters, unfolded). Its parser of structured
# headers is quadratic in places and recursive in others; no real header comes near these.
# Unstructured headers (Subject, References...) parse in linear time: the default applies.
_HEADER_LIMITS = {
    "from": 2_000,
    "sender": 2_000,
    "reply-to": 2_000,
    "to": 4_000,
    "cc": 4_000,
    "bcc": 4_000,
    "message-id": 2_000,
    "content-type": 4_000,
    "content-disposition": 4_000,
    "content-transfer-encoding": 200,
    "date": 500,
}
_HEADER_LIMIT = 32_000
_ADDRESS_LISTS = frozenset({"to", "cc", "bcc", "reply-to"})
_PrintedHeader = type("_PrintedHeader", (UnstructuredHeader, BaseHeader), {})


class _BoundedHeaders(HeaderRegistry):
    """``policy.default``'s headers, each read from a bounded value, never raising.

    A header the structured parser fails on becomes unstructured text (a From that is
    then no address at all is refused later, as one without an address). The parser asks
    for a part's Content-Type five times over: short values are parsed once, and each
    kind of header has one class, not one made per call.
    """

    def __init__(self) -> None:
        super().__init__()
        self.classes: dict[str, type[BaseHeader]] = {}
        self.recent = functools.lru_cache(maxsize=4096)(self.make)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower() if name.lower() in self.registry else ""
        if key not in self.classes:
            self.classes[key] = super().__getitem__(key or "x-unknown")
        return self.classes[key]

    def __call__(self, name: str, value: str) -> Any:
        key = name.lower()
        limit = _HEADER_LIMITS.get(key, _HEADER_LIMIT)
        if len(value) > limit:
            # An address list is cut between two addresses, not inside one.
            cut = value.rfind(",", 0, limit) if key in _ADDRESS_LISTS else -1
            value = value[: cut if cut > 0 else limit]
        return self.recent(name, value) if len(value) <= 1_000 else self.make(name, value)

    def make(self, name: str, value: str) -> Any:
        try:
            return super().__call__(name, value)
        except Exception:
            pass
        try:
            return _PrintedHeader(name, value)
        except Exception:
            return _PrintedHeader(name, "")


_POLICY = default_policy.clone(header_factory=_BoundedHeaders())


# ---------------------------------------------------------------- text and headers

_SURROGATES = re.compile("[\ud800-\udfff]")
_NOT_ESCAPES = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
# Labels that often mean something else: a superset the sender's software really used.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "utf8": "utf-8",
}
# Single-byte Latin labels: mail declaring them is often UTF-8 in fact, and Latin-1 is
# nearly always Windows-1252 (its curly quotes and euro sign), as browsers assume.
_LATIN_LABELS = frozenset(
    {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
)


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes as text: the declared charset if it fits, else UTF-8, else Windows-1252."""
    label = (charset or "").strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    if label and label not in _LATIN_LABELS:
        try:
            return data.decode(label)
        except Exception:  # LookupError, UnicodeError, or whatever a codec raises
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    mostly = data.decode("utf-8", errors="replace")
    if any(ord(char) > 127 and char != "\ufffd" for char in mostly):
        return mostly  # UTF-8 with a few damaged bytes (a line cut inside a character)
    try:
        return data.decode("windows-1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _repair(value: str) -> str:
    """A parsed string as storable text: 8-bit bytes the parser kept as surrogate escapes
    (raw UTF-8 in a header) read as text, other surrogates and NULs dropped."""
    value = _NOT_ESCAPES.sub("", value)
    if _SURROGATES.search(value):
        value = _decode(value.encode("utf-8", "surrogateescape"), None)
    return _SURROGATES.sub("", value).replace("\x00", "")


def _clean_text(value: str) -> str:
    """A body as storable text: LF line ends, no NULs, no lone surrogates, no BOM."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _SURROGATES.sub("", value).lstrip("\ufeff")


def _one_line(value: str) -> str:
    return _SPACES.sub(" ", _CONTROLS.sub("", value.replace("\t", " "))).strip()


def _header(msg: Message, name: str) -> str | None:
    """A header's decoded value on one line; None if absent."""
    value = _attempt(lambda: msg.get(name), None)
    if value is None:
        return None
    return _one_line(_repair(_attempt(lambda: str(value), "")))


def _raw_header(msg: Message, name: str) -> str | None:
    """A header's value as written (unfolded, undecoded); None if absent."""
    wanted = name.lower()
    items: list[tuple[str, Any]] = _attempt(lambda: list(msg.raw_items()), [])
    for key, value in items:
        if str(key).lower() == wanted:
            return _one_line(_repair(str(value)))[:_HEADER_LIMIT]
    return None


# An address within text; it starts only where a word does, so that a long run without
# an @ is scanned once, not once per character (quadratic on 20,000 of them).
_ADDRESS = re.compile(r"(?<![^\s<>@,;:\"()\[\]])[^\s<>@,;:\"()\[\]]+@[^\s<>@,;:\"()\[\]]+")
_EMAIL_PATTERN = re.compile(v.IDENTITY_PATTERNS[v.IDENTITY_EMAIL][0])


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, addr-spec) of each usable address of an address header."""
    header: Any = _attempt(lambda: msg.get(name), None)
    if header is None:
        return []

    def parsed() -> list[tuple[str, str]]:
        return [(str(a.display_name), str(a.addr_spec)) for a in header.addresses]

    found = _attempt(parsed, None)
    if found is None:  # read as plain text after the parser failed: pick addresses out
        found = [("", address) for address in _ADDRESS.findall(str(header))]
    usable = []
    for display, address in found:
        address = _repair(address).strip()
        if _EMAIL_PATTERN.fullmatch(address):
            usable.append((_display_name(display), address))
    return usable


def _display_name(value: str) -> str:
    value = _one_line(_repair(value))
    if "=?" in value:  # an encoded word the parser left alone (inside quotes, say)
        value = _attempt(lambda: _one_line(str(make_header(decode_header(value)))), value)
    return value


def _strip_comments(value: str) -> str:
    """A header value without its (possibly nested) parenthesised comments."""
    kept, depth, escaped = [], 0, False
    for char in value:
        if depth:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        elif char == "(":
            depth = 1
        else:
            kept.append(char)
    return "".join(kept)


_BRACKETED = re.compile(r"<([^<>]*)>")
# Printable ASCII only: an id is echoed back in our replies' In-Reply-To and References,
# which a 7-bit message cannot carry otherwise (a non-ASCII one is no id: derived instead).
_USABLE_ID = re.compile(r"[\x21-\x7e]{1,998}")
_NO_ID_CHARS = frozenset("<>()")


def _ids(value: str | None, *, bare: bool = False) -> list[str]:
    """The message ids of a Message-ID, In-Reply-To or References value, in order.

    Ids are taken from angle brackets (folding inside one is undone); without any, a
    broken mailer's bare ids: tokens with an @, or the single token if ``bare``.
    """
    if not value:
        return []
    text = _strip_comments(value)
    found = [_SPACES.sub("", inside) for inside in _BRACKETED.findall(text)]
    if not found:
        tokens = text.split()
        found = tokens if bare and len(tokens) == 1 else [t for t in tokens if "@" in t]
    return [i for i in found if _USABLE_ID.fullmatch(i) and not _NO_ID_CHARS & set(i)]


def _message_id(msg: Message) -> str | None:
    return _first(_ids(_header(msg, "Message-ID"), bare=True))


def _references(value: str | None) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(_ids(value)))
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _date(msg: Message) -> datetime | None:
    header: Any = _attempt(lambda: msg.get("Date"), None)
    when = _attempt(lambda: header.datetime, None) if header is not None else None
    if not isinstance(when, datetime):
        return None
    if when.tzinfo is None:  # "-0000": the time is UTC, its zone unknown
        when = when.replace(tzinfo=UTC)
    return _attempt(lambda: when.astimezone(UTC), None)


def _derived_id(sender: str, date: str | None, subject: str | None, text: str) -> str:
    """A stable Message-ID for a message without one: from what a relay does not change
    (not the raw bytes: relays add Received headers, and a mail posted twice must land
    once)."""
    material = json.dumps([sender.strip().lower(), date or "", subject or "", text])
    return f"derived-{hashlib.sha256(material.encode()).hexdigest()[:32]}@parley.invalid"


# ---------------------------------------------------------------- the MIME tree


@dataclass
class _Body:
    """What a walk over the MIME tree found."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    statuses: list[Message] = field(default_factory=list)  # a DSN's per-recipient blocks
    originals: list[str] = field(default_factory=list)  # Message-IDs of returned mail
    report: str | None = None  # the report-type of a multipart/report
    parts: int = 0

    def absorb(self, other: _Body) -> None:
        self.attachments += other.attachments
        self.statuses += other.statuses
        self.originals += other.originals
        self.report = self.report or other.report
        self.parts = other.parts


def _raw_payload(part: Message) -> Any:
    """A part's payload as parsed: a list of parts, a message, or text (or None)."""
    try:
        return part.get_payload()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    """A leaf's content, transfer encoding undone (damaged base64 as far as it goes)."""
    data = _attempt(lambda: part.get_payload(decode=True), None)
    if isinstance(data, bytes):
        if any(isinstance(d, errors.InvalidBase64LengthDefect) for d in part.defects):
            return _unbase64(data)  # the library gives such base64 back undecoded
        return data
    raw = _raw_payload(part)
    if isinstance(raw, str):
        return _attempt(lambda: raw.encode("utf-8", "surrogateescape"), b"")
    return b""


def _unbase64(data: bytes) -> bytes:
    """Base64 cut short or damaged, decoded as far as it goes."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    data = data[: len(data) - 1] if len(data) % 4 == 1 else data
    return _attempt(lambda: base64.b64decode(data + b"=" * (-len(data) % 4)), b"")


def _text_of(part: Message) -> str:
    charset = _attempt(part.get_content_charset, None)
    return _clean_text(_decode(_payload(part), charset if isinstance(charset, str) else None))


def _filename(part: Message) -> str | None:
    name = _attempt(part.get_filename, None)
    if not isinstance(name, str):
        return None
    name = _display_name(name)
    return name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def _headers_of(text: str) -> Message:
    """Header blocks inside a body (a DSN's fields, an original's headers), parsed."""
    return _attempt(lambda: HeaderParser(policy=_POLICY).parsestr(text), Message())


def _collect(part: Message, body: _Body, depth: int = 0, machine: bool = False) -> None:
    """Walk a MIME (sub)tree into ``body``. ``machine``: a report's machine-readable part,
    read for the bounce, neither text nor attachment."""
    body.parts += 1
    if depth > MAX_DEPTH or body.parts > MAX_PARTS:
        return
    ctype = _attempt(part.get_content_type, "application/octet-stream")
    if ctype in ("message/rfc822", "message/global"):
        inner = _attempt(lambda: part.get_payload(0), None)
        inner = inner if isinstance(inner, Message) else None
        if machine:
            if inner is not None and (found := _message_id(inner)):
                body.originals.append(found)
        else:
            body.attachments.append(_forwarded(part, inner))
    elif ctype == "message/delivery-status":
        body.statuses += _status_blocks(part)
    elif ctype == "text/rfc822-headers":
        if found := _message_id(_headers_of(_text_of(part))):
            body.originals.append(found)
    elif part.is_multipart():
        payload = _raw_payload(part)
        children = [c for c in payload or () if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            _alternative(children, body, depth)
        elif ctype == "multipart/report":
            report = _attempt(lambda: part.get_param("report-type"), None)
            kind = report.lower() if isinstance(report, str) else "unknown"
            body.report = body.report or kind
            for index, child in enumerate(children):
                _collect(child, body, depth + 1, machine=index > 0)
        else:  # mixed, related, signed, digest, or a kind we do not know: each part
            for child in children:
                _collect(child, body, depth + 1, machine)
    elif not machine:
        _leaf(part, ctype, body)


def _leaf(part: Message, ctype: str, body: _Body) -> None:
    disposition = _attempt(part.get_content_disposition, None)
    # A multipart leaf is one whose boundary the parser did not find: its content is text.
    if disposition != "attachment" and (
        ctype in ("text/plain", "text/html") or ctype.startswith("multipart/")
    ):
        (body.html if ctype == "text/html" else body.plain).append(_text_of(part))
    else:
        body.attachments.append(Attachment(_filename(part), ctype, len(_payload(part))))


def _alternative(children: list[Message], body: _Body, depth: int) -> None:
    """The first alternative with plain text gives the text, the first with HTML the
    HTML; every alternative's attachments count (a calendar invite, inline images)."""
    branches = []
    for child in children:
        branch = _Body(parts=body.parts)
        _collect(child, branch, depth + 1)
        body.absorb(branch)
        branches.append(branch)
    body.plain += next((b.plain for b in branches if "".join(b.plain).strip()), [])
    body.html += next((b.html for b in branches if "".join(b.html).strip()), [])


def _forwarded(part: Message, inner: Message | None) -> Attachment:
    """A message/rfc822 part (a forwarded mail), named by its subject."""
    name = (_header(inner, "Subject") if inner is not None else None) or _filename(part)
    # Serialised without refolding: the generator's folding of long headers is slow.
    flat = compat32.clone(max_line_length=0)
    size = _attempt(lambda: len(inner.as_bytes(policy=flat)), 0) if inner is not None else 0
    return Attachment(name or "forwarded message", _attempt(part.get_content_type, ""), size)


def _status_blocks(part: Message) -> list[Message]:
    """A message/delivery-status part's field blocks (per message, then per recipient)."""
    payload = _raw_payload(part)
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # Encoded (base64, say), the parser left it as text: its blocks are read here.
    return [_headers_of(chunk) for chunk in re.split(r"\n[ \t]*\n", _text_of(part))]


# ---------------------------------------------------------------- HTML as text

_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl"}
    | {"hr", "address", "figure"}
)
_LINES = frozenset(
    {"div", "li", "tr", "dt", "dd", "header", "footer", "section", "article", "aside", "nav"}
    | {"main", "figcaption", "center", "form", "fieldset", "caption", "body", "html"}
)
_RAW_TEXT = frozenset({"script", "style", "title", "template"})
_CLOSING = {name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE) for name in _RAW_TEXT}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_HTML_SPACE = re.compile(r"[ \t\n\r\f\xa0]+")


class _Renderer:
    """Text as a reader would see it: a line per block, a blank line per paragraph,
    "- " per list item, "> " before each line of a blockquote."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.breaks = 0  # line breaks owed before the next text
        self.line_start = True
        self.quote = self.pre = 0
        self.head = False

    def text(self, data: str) -> None:
        if self.head:
            return
        data = html_entities.unescape(data)
        if not self.pre:
            data = _HTML_SPACE.sub(" ", data)
        if not data:
            return
        if self.breaks and self.out:
            self.out.append("\n" * min(self.breaks, 2))
            self.line_start = True
        self.breaks = 0
        if self.line_start:
            data = data if self.pre else data.lstrip(" ")
            if not data:
                return
            self.out.append("> " * self.quote)
        self.out.append(data)
        self.line_start = data.endswith("\n")

    def start(self, name: str) -> None:
        if name == "br":
            self.breaks += 1
        elif name == "head":
            self.head = True
        elif name in ("td", "th"):
            self.text(" ")
        elif name in _PARAGRAPHS or name in _LINES:
            self.breaks = max(self.breaks, 2 if name in _PARAGRAPHS else 1)
        if name == "body":
            self.head = False
        elif name == "blockquote":
            self.quote += 1
        elif name == "pre":
            self.pre += 1
        elif name == "li":
            self.text("- ")

    def end(self, name: str) -> None:
        if name == "head":
            self.head = False
        elif name in _PARAGRAPHS or name in _LINES:
            self.breaks = max(self.breaks, 2 if name in _PARAGRAPHS else 1)
        if name == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif name == "pre":
            self.pre = max(0, self.pre - 1)

    def result(self) -> str:
        lines = "".join(self.out).split("\n")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def _render_html(source: str) -> str:
    """HTML as plain text, in one pass over the source (linear, whatever the markup).

    ``html.parser`` is not used: on Python 3.11 it rescans to the end of the input for
    each unclosed tag or comment, quadratic time on hostile mail (and it raises
    ``AssertionError`` on some ``<![`` sequences).
    """
    renderer, size, close = _Renderer(), len(source), _Next(source, ">")
    position = run = 0  # run: where the text not yet rendered begins
    while (opening := source.find("<", position)) >= 0:
        tag = None
        if source.startswith("<!--", opening):
            end = source.find("-->", opening + 4)
            after = size if end < 0 else end + 3
        elif source.startswith(("<!", "<?"), opening):  # doctype, CDATA, Office's <![if]>
            end = close(opening + 2)
            after = size if end < 0 else end + 1
        else:
            tag = _TAG.match(source, opening)
            end = close(tag.end()) if tag else -1
            if end < 0:  # a "<" of the text itself
                position = opening + 1
                continue
            after = end + 1
        renderer.text(source[run:opening])
        position = run = after
        if tag is None:
            continue
        name = tag.group(2).lower()
        if tag.group(1):
            renderer.end(name)
            continue
        renderer.start(name)
        if name in _RAW_TEXT and not source.startswith("/>", end - 1):
            closing = _CLOSING[name].search(source, position)
            end = close(closing.end()) if closing else -1
            position = run = size if end < 0 else end + 1
    renderer.text(source[run:])
    return renderer.result()


class _Next:
    """``source.find(needle, start)`` for a start that only grows: the answer is kept
    while it lies ahead, so "<a <a <a..." (no ">" anywhere) is not rescanned per "<"."""

    def __init__(self, source: str, needle: str) -> None:
        self.source, self.needle, self.found = source, needle, -2

    def __call__(self, start: int) -> int:
        if self.found == -1 or self.found >= start:
            return self.found
        self.found = self.source.find(self.needle, start)
        return self.found


# ---------------------------------------------------------------- quoted correspondence

_ATTRIBUTION_START = re.compile(r"(?:On|Le|Am|El|Il|Op|Em)\s")
_ATTRIBUTION = re.compile(
    r"(?:On\s.{1,300}\swrote"  # Gmail, Apple Mail, Thunderbird
    r"|Le\s.{1,300}\sa\s+écrit"
    r"|Am\s.{1,300}\sschrieb(?:\s[^:]{1,300})?"
    r"|El\s.{1,300}\sescribió"
    r"|Il\s.{1,300}\sha\s+scritto"
    r"|Op\s.{1,300}\sschreef(?:\s[^:]{1,300})?"
    r"|Em\s.{1,300}\sescreveu"
    r")\s*:"
)
_SEPARATOR = re.compile(
    r"-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Messaggio originale|Oorspronkelijk bericht|Mensagem original|Forwarded message)\s*-{2,}"
    r"|Begin forwarded message:",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"_{10,}")
_OUTLOOK_FROM = re.compile(r"\*?(?:From|De|Von|Van|Da|Från|Fra)\s?:\*?\s+\S")
_OUTLOOK_FIELD = re.compile(
    r"\*?(?:Sent|Date|To|Cc|Subject|Envoyé|À|Objet|Gesendet|An|Betreff|Datum|Enviado|Para"
    r"|Asunto|Inviato|Oggetto|Verzonden|Aan|Onderwerp)\s?:",
    re.IGNORECASE,
)


def _quoted_at(text: str) -> int | None:
    """Where the quoted earlier correspondence begins in ``text`` (its attribution line
    included), or None: the first attribution, separator or Outlook header block, or the
    run of "> " lines that goes on to the end, whichever comes first."""
    lines = text.split("\n")
    found = [i for i in (_marker(lines), _quote_run(lines)) if i is not None]
    if not found:
        return None
    first = min(found)
    return sum(len(line) + 1 for line in lines[:first])


def _marker(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        if _SEPARATOR.fullmatch(stripped):
            return index
        if _ATTRIBUTION_START.match(stripped):
            for count in (1, 2, 3):  # attributions wrap: "... Jane Doe <jane@example.com>\nwrote:"
                joined = " ".join(part.strip() for part in lines[index : index + count])
                if len(joined) <= 700 and _ATTRIBUTION.fullmatch(joined):
                    return index
        if _OUTLOOK_FROM.match(stripped) and any(
            _OUTLOOK_FIELD.match(after.strip()) for after in lines[index + 1 : index + 6]
        ):
            before = lines[index - 1].strip() if index else ""
            if _UNDERSCORES.fullmatch(before):
                return index - 1
            if not before:
                return index
    return None


def _quote_run(lines: list[str]) -> int | None:
    """The first line of the run of quoted ("> ") lines that ends the text, blank lines
    and a trailing signature ("-- ") aside."""
    end = len(lines)
    delimiters = [i for i, line in enumerate(lines) if line.rstrip() == "--"]
    if delimiters and not any(_quoted(line) for line in lines[delimiters[-1] :]):
        end = delimiters[-1]
    while end and not lines[end - 1].strip():
        end -= 1
    start = None
    while end and (_quoted(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
        if _quoted(lines[end]):
            start = end
    return start


def _quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


# ---------------------------------------------------------------- automated mail

_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|delivery failure|mail delivery failed"
    r"|returned mail|failure notice|delivery has failed|could not be delivered|nondeliver",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"\s*(?:automatic reply|auto[- ]?reply|out of (?:the )?office|abwesenheitsnotiz"
    r"|automatische antwort|réponse automatique|respuesta automática)",
    re.IGNORECASE,
)
_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_INLINE_ID = re.compile(r"^[ \t]*Message-ID:[ \t]*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)


def _automated(msg: Message, body: _Body, sender: str, subject: str | None) -> str | None:
    if body.report == "delivery-status" or (
        sender.rsplit("@", 1)[0].lower() in _DAEMONS and _BOUNCE_SUBJECT.search(subject or "")
    ):
        return BOUNCE
    if body.report is not None:  # a read receipt, an abuse report: made by a machine
        return AUTO_REPLY
    submitted = _header(msg, "Auto-Submitted")
    if submitted and submitted.split(";")[0].strip().lower() != "no":
        return AUTO_REPLY
    if (_header(msg, "Precedence") or "").lower() in _PRECEDENCE:
        return AUTO_REPLY
    if any(
        _raw_header(msg, name) is not None
        for name in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe")
    ):
        return AUTO_REPLY
    # X-Auto-Response-Suppress asks *us* not to answer automatically: Outlook sends it on
    # ordinary mail too. With an out-of-office subject it confirms what the subject says.
    if _raw_header(msg, "X-Auto-Response-Suppress") is not None and _AUTO_SUBJECT.match(
        subject or ""
    ):
        return AUTO_REPLY
    return None


def _bounce(msg: Message, body: _Body, subject: str | None, text: str) -> Bounce:
    """What a bounce says: from its delivery-status part if it has one, else its text."""
    original = (
        _first(body.originals)
        or _first(_ids(_header(msg, "In-Reply-To")))
        or _first(_references(_header(msg, "References"))[-1:])
        or (inline.group(1) if (inline := _INLINE_ID.search(text)) else None)
    )
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    summary = " ".join(lines[:3])[:500] or None
    recipients = [
        block
        for block in body.statuses
        if any(_header(block, name) for name in ("Final-Recipient", "Original-Recipient"))
    ]
    actions = [(_header(block, "Action") or "").lower() for block in recipients]
    chosen = next(
        (recipients[actions.index(a)] for a in ("failed", "delayed") if a in actions),
        _first(recipients),
    )
    if chosen is None:  # no delivery-status part (qmail, Exchange of old): read the text
        found = _STATUS.search(text)
        code = found.group(1) if found else None
        address = _ADDRESS.search(text)
        delayed = re.search(r"delay|warning", subject or "", re.IGNORECASE) is not None
        return Bounce(
            original_message_id=original,
            recipient=address.group() if address else None,
            status=code,
            diagnostic=summary,
            permanent=code.startswith("5") if code else not delayed,
        )
    action = (_header(chosen, "Action") or "").lower()
    diagnostic = _header(chosen, "Diagnostic-Code")
    if diagnostic and ";" in diagnostic:
        diagnostic = diagnostic.split(";", 1)[1].strip()  # "smtp; 550 5.1.1 ..."
    found = _STATUS.search(_header(chosen, "Status") or diagnostic or "")
    code = found.group(1) if found else None
    # An MTA that gave up after days of 4.x.x says "failed": that is permanent too.
    undecided = action not in ("delayed", "delivered", "relayed", "expanded")
    return Bounce(
        original_message_id=original,
        recipient=_recipient(chosen),
        status=code,
        diagnostic=diagnostic or summary,
        permanent=action == "failed" or (undecided and (code or "").startswith("5")),
    )


def _first(items: Iterable[T]) -> T | None:
    return next(iter(items), None)


def _recipient(block: Message) -> str | None:
    for name in ("Final-Recipient", "Original-Recipient"):
        value = _header(block, name)
        if value:
            address = value.split(";", 1)[-1].strip().strip("<>").strip()
            if address:
                return address
    return None


# ---------------------------------------------------------------- the message


def parse_mail(raw: bytes) -> ParsedMail:
    """Read a message; raises :class:`MailError` (only) if it cannot be recorded."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailError("a message is bytes", field="message")
    try:
        return _parse(bytes(raw))
    except MailError:
        raise
    except Exception as error:  # a failure not foreseen: logged, refused as unreadable
        log.exception("an e-mail could not be read")
        raise MailError(f"{UNREADABLE} ({type(error).__name__})", field="message") from error


def _parse(raw: bytes) -> ParsedMail:
    try:
        msg = message_from_bytes(raw, policy=_POLICY)
    except RecursionError:
        raise MailError("the message's parts nest too deeply", field="message") from None
    if not raw.strip() or len(msg) == 0:
        raise MailError("not an RFC 5322 message", field="message")
    senders = _addresses(msg, "From")
    if not senders:
        raise MailError("the message has no usable From address", field="from")
    sender_name, sender = senders[0]
    subject = _header(msg, "Subject") or None
    body = _Body()
    _collect(msg, body)
    html = _clean_text("\n".join(body.html)) if body.html else None
    text = _clean_text("\n".join(part.rstrip() for part in body.plain)).strip()
    if not text and html:
        text = _render_html(html[: 5 * MAX_HTML])
    automated = _automated(msg, body, sender, subject)
    bounce = _bounce(msg, body, subject, text) if automated == BOUNCE else None
    if not text:
        count = len(body.attachments)
        if count:
            text = f"(no text; {count} attachment{'s' if count != 1 else ''})"
        elif bounce is not None:
            text = f"(delivery status notification: {bounce.diagnostic or 'no details'})"
        else:
            raise MailError("the message has no text", field="body")
    text = text[:MAX_TEXT]
    references = _references(_header(msg, "References"))
    message_id = _message_id(msg)
    return ParsedMail(
        message_id=message_id or _derived_id(sender, _raw_header(msg, "Date"), subject, text),
        derived_id=message_id is None,
        sender=sender,
        sender_name=sender_name or None,
        to=tuple(address for name in ("To", "Cc") for _, address in _addresses(msg, name)),
        subject=subject,
        date=_date(msg),
        in_reply_to=_first(_ids(_header(msg, "In-Reply-To"))),
        references=references,
        text=text,
        html=html[:MAX_HTML] if html and html.strip() else None,
        attachments=tuple(body.attachments),
        quoted_at=_quoted_at(text),
        automated=automated,
        bounce=bounce,
    )


def mail_contact(mail: ParsedMail, actor: str, brand_address: str | None = None) -> Contact:
    """A parsed message as a contact on the e-mail channel, threaded by its References."""
    try:
        sender = Identity(v.IDENTITY_EMAIL, mail.sender)
    except ValueError as error:
        raise MailError(str(error), field="from") from error
    return Contact(
        channel=v.EMAIL,
        body=mail.text,
        external_id=mail.message_id,
        sender=sender,
        actor=actor,
        published_at=mail.date,
        origin=Origin(
            sender=sender,
            brand_account=brand_address or (mail.to[0] if mail.to else None),
            thread_id=mail.references[0]
            if mail.references
            else (mail.in_reply_to or mail.message_id),
            in_reply_to=mail.in_reply_to,
        ),
        customer_name=mail.sender_name[:100] if mail.sender_name else None,
        subject=mail.subject[:500] if mail.subject else None,
        references=mail.references,
        details={
            "html": mail.html,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in mail.attachments
            ],
            "quoted_at": mail.quoted_at,
            "derived_message_id": mail.derived_id,
        },
    )
