"""Personal data, sealed per customer: what is personal, whose key it is, and the mapper
that seals it on the way into the store and opens it (or reads it as erased) on the way out.

Every personal field of an event (a message's body, a sender's address, a customer's
name...) is stored as ``"\u0000sealed"``, and their values together, as one AES-GCM
ciphertext bound to the event (``_sealed_fields_``: nonce + ciphertext, base64), under a
data key of the event's customer; the event names that customer (``key_owner``, or the
``customer_id`` / id it carries already). One ciphertext per event, not per field: the
write path pays for one encryption, a load for one decryption per event. Data keys are kept apart from the events (a
table of their own, written in the same transaction as the events that first use them),
each wrapped by the master key from configuration. Erasing a customer destroys their keys:
the events stay as they are (so the audit chain, which covers the stored bytes, still
verifies), and every field sealed under those keys reads as erased from then on, in every
view that decodes events (conversations, events, exports, replays, as-of views, rebuilds).

The library's own ``AESCipher`` encrypts whole events with one application key, which
cannot forget one person; this seals only the personal fields, one key per customer.

For whoever writes the next upcaster: upcasting runs before sealed fields are opened,
and each ciphertext is bound to its field's name; an upcaster must neither read a
sealed field nor rename one (add a new field instead).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

ERASED = "[erased]"  # what an erased text field reads as
ERASED_FLAG = "personal_data_erased"  # set on a decoded event whose sealed fields are erased
OWNER = "key_owner"  # the field naming whose key seals an event's personal fields
NONCE = 12
KEY_CACHE_SECONDS = 5.0  # how long a process keeps a data key it read from the store


class PersonalDataError(Exception):
    """The store holds sealed data no key opens: a wrong master key, or a key row lost."""


@dataclass(frozen=True)
class Sealing:
    """Which fields of one event type are personal, and where its key owner is named.

    A path is a field (``body``: the whole value), a dict field's values but its
    ``kind`` (``sender.*``), or those of every dict in a list field (``identities[].*``).
    ``owner`` is the field naming the customer (``originator_id``: the event's own
    aggregate). ``erased`` is what a whole-value path reads as once erased.
    """

    paths: tuple[str, ...]
    owner: str = OWNER
    erased: tuple[tuple[str, Any], ...] = ()

    def erased_value(self, path: str) -> Any:
        return dict(self.erased).get(path, ERASED)


_INBOUND = ("body", "sender.*", "details")
_NO_DETAILS = (("details", None),)

# Every event type that carries personal data; every other field of every event type is
# named in tests/application/test_personal_data.py as not personal, so a new field must
# be put in one list or the other.
SEALINGS: dict[str, Sealing] = {
    "parley.Conversation.Opened": Sealing(
        ("subject", *_INBOUND), owner="customer_id", erased=_NO_DETAILS
    ),
    "parley.Conversation.MessageReceived": Sealing(_INBOUND, erased=_NO_DETAILS),
    "parley.Conversation.AutomatedMessageReceived": Sealing(_INBOUND, erased=_NO_DETAILS),
    "parley.Conversation.ReplyQueued": Sealing(("body", "subject", "recipient.*")),
    "parley.Conversation.ReplyDeliveryFailed": Sealing(("reason",)),
    "parley.Conversation.ReplyBounced": Sealing(("reason",)),
    "parley.Conversation.CallLogged": Sealing(("summary", "number")),
    "parley.Conversation.NoteAdded": Sealing(("body",)),
    "parley.Conversation.ChannelSwitched": Sealing(("reason",)),
    "parley.Conversation.Reopened": Sealing(("reason",)),
    "parley.Conversation.ChatEnded": Sealing(("reason",)),
    "parley.Customer.Registered": Sealing(("name", "identities[].*"), owner="originator_id"),
    "parley.Customer.IdentityAdded": Sealing(("identity.*",), owner="originator_id"),
    "parley.IdentityIndex.Claimed": Sealing(("key",), owner="customer_id"),
}

ERASURE_TOPIC = "parley.Customer.Erased"


def is_erased(event: Any) -> bool:
    """Whether this decoded event's personal fields read as erased."""
    return bool(getattr(event, ERASED_FLAG, False))


def key_owners(events: Iterable[Any]) -> set[UUID]:
    """Whose data keys open these decoded events' personal fields."""
    owners = set()
    for event in events:
        sealing = SEALINGS.get(_topic(type(event)))
        if sealing is not None:
            owner = _as_owner(vars(event).get(sealing.owner))
            if owner is not None:
                owners.add(owner)
    return owners


def erased_text(event: Any, text: str) -> str:
    """``text`` derived from an event's personal fields, or :data:`ERASED` if they are:
    a read model writes the same whether it saw the event before or after the erasure."""
    return ERASED if is_erased(event) else text


# ---------------------------------------------------------------------- keys
def decode_master_key(text: str) -> bytes:
    """A master key as configured: 32 bytes, base64 (standard or URL-safe alphabet)."""
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_") + "==")
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise ValueError("the master key must be 32 bytes, base64-encoded (44 characters)")
    return key


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def derive(master: bytes, purpose: str) -> bytes:
    """A key for one purpose, derived from the master key (HMAC-SHA256)."""
    return hmac.new(master, f"parley/{purpose}".encode(), hashlib.sha256).digest()


class KeyStorage(Protocol):
    """Where wrapped data keys live: the event store's recorder (app.keystore)."""

    def select_data_key(self, owner: UUID) -> tuple[bool, bytes | None]:
        """(exists, wrapped key or None once destroyed)."""

    def select_data_keys(self, owners: Sequence[UUID]) -> dict[UUID, bytes | None]:
        """Of these owners, those with a key: owner -> wrapped key, or None once destroyed."""

    def insert_data_key(self, owner: UUID, wrapped: bytes) -> None:
        """Store a key in a transaction of its own, unless the owner has one already."""

    def attach_key_ring(self, ring: KeyRing) -> None: ...


DESTROY = "destroy_keys"  # the save keyword naming the owners whose keys an erasure destroys


class KeyRing:
    """Customers' data keys: created on first use, cached a few seconds, destroyed on erasure.

    A key for a customer created by the save in progress is pending until the recorder
    writes it in that save's transaction (:meth:`take_pending`): stored exactly when its
    first ciphertext is, and no extra commit on the write path. Pending state lives for
    one save (:meth:`saving`), on its thread. A key for a customer written before keys
    existed is stored at once, in a transaction of its own, so that two processes making
    one at the same moment end up with the one stored. An erasure's destructions are
    named in its save (``destroy_keys``) and committed with its ``Erased`` event.
    """

    def __init__(self, master: bytes, storage: KeyStorage) -> None:
        self._wrap = AESGCM(derive(master, "key-wrapping"))
        self.storage = storage
        self._cache: dict[UUID, tuple[float, bytes | None]] = {}
        self._local = threading.local()
        storage.attach_key_ring(self)

    def _created(self) -> dict[UUID, tuple[bytes, bytes]]:
        """owner -> (data key, wrapped): keys the save in progress must store."""
        created = getattr(self._local, "created", None)
        if created is None:
            created = self._local.created = {}
        return created

    def _new_owners(self) -> set[UUID]:
        return getattr(self._local, "new_owners", None) or set()

    # -- reading and writing
    def lookup(self, owner: UUID) -> tuple[bool, bytes | None]:
        """(whether the owner has a key, the key or None once destroyed)."""
        created = getattr(self._local, "created", None)
        if created and owner in created:
            return True, created[owner][0]
        cached = self._cache.get(owner)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return True, cached[1]
        began = time.monotonic()
        exists, wrapped = self.storage.select_data_key(owner)
        if not exists:
            return False, None
        key = None if wrapped is None else self._unwrap(owner, wrapped)
        current = self._cache.get(owner)
        if current is not None and current[0] >= began:
            return True, current[1]  # set while this was read (an erasure's None): it stands
        self._cache[owner] = (time.monotonic(), key)
        return True, key

    def prefetch(self, owners: Iterable[UUID]) -> None:
        """Read the keys of these owners that :meth:`lookup` would read one by one, in a
        few statements: a page of the log about to be opened. Owners without a key are
        left to ``lookup``."""
        created = getattr(self._local, "created", None) or {}
        now = time.monotonic()
        wanted = [
            o for o in set(owners)
            if o not in created
            and ((cached := self._cache.get(o)) is None or now - cached[0] >= KEY_CACHE_SECONDS)
        ]  # fmt: skip
        if not wanted:
            return
        began = time.monotonic()
        found = self.storage.select_data_keys(wanted)
        opened = {o: None if w is None else self._unwrap(o, w) for o, w in found.items()}
        now = time.monotonic()
        for owner, key in opened.items():
            current = self._cache.get(owner)
            if current is not None and current[0] >= began:
                continue  # set while these were read (an erasure's None): that one stands
            self._cache[owner] = (now, key)

    def key_for_sealing(self, owner: UUID) -> bytes | None:
        """The owner's data key, made now if they have none; None once destroyed."""
        new = owner in self._new_owners()  # created by this save: no key anywhere yet
        created = self._created()
        if new and owner in created:
            return created[owner][0]
        exists, key = (False, None) if new else self.lookup(owner)
        if exists:
            return key
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE)
        wrapped = nonce + self._wrap.encrypt(nonce, key, owner.bytes)
        if new:
            created[owner] = (key, wrapped)
            return key
        # An owner from before keys existed: another process may be making one right now.
        self.storage.insert_data_key(owner, wrapped)
        self._cache.pop(owner, None)
        exists, stored = self.lookup(owner)
        assert exists
        return stored

    def _unwrap(self, owner: UUID, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:NONCE], wrapped[NONCE:], owner.bytes)
        except InvalidTag:
            raise PersonalDataError(
                f"the data key of {owner} does not open with this master key"
            ) from None

    def forget(self, owners: Iterable[UUID]) -> None:
        """Drop cached keys (an erasure seen in the log, maybe by another process)."""
        for owner in owners:
            self._cache.pop(owner, None)

    # -- one save
    @contextmanager
    def saving(self, new_owners: Iterable[UUID], destroyed: Iterable[UUID]) -> Iterator[None]:
        """The scope of one save: ``new_owners`` are customers it creates (their keys
        are stored with it), ``destroyed`` the keys it destroys."""
        self._local.created, self._local.new_owners = {}, set(new_owners)
        destroyed = list(destroyed)
        try:
            yield
            now = time.monotonic()
            for owner, (key, _) in self._created().items():
                self._cache[owner] = (now, key)
            for owner in destroyed:
                self._cache[owner] = (now, None)
        finally:
            self._local.created, self._local.new_owners = None, None

    def take_pending(self) -> dict[UUID, bytes]:
        """The recorder's side: new wrapped keys the transaction being written stores."""
        return {o: w for o, (_, w) in self._created().items()}


# ---------------------------------------------------------------------- the mapper
class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, sealing the personal fields of :data:`SEALINGS` per customer."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.keys: KeyRing | None = None  # attached by the application once it has a recorder

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        sealing = SEALINGS.get(_topic(type(domain_event)))
        if sealing is None or self.keys is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        owner = _owner(state, sealing)
        values: dict[str, Any] = {}
        for path, holder, name in _fields(state, sealing.paths, copy=True):
            if holder[name] is not None:
                values[path] = holder[name]
                holder[name] = PLACEHOLDER
        key = self.keys.key_for_sealing(owner)
        if key is None:  # written after the erasure: stored erased
            state[SEALED_BLOB] = None
        elif values:
            nonce = os.urandom(NONCE)
            sealed = _aead(key).encrypt(nonce, _pack(values), _aad(state))
            state[SEALED_BLOB] = base64.b64encode(nonce + sealed).decode()
        shadow = object.__new__(type(domain_event))
        object.__setattr__(shadow, "__dict__", state)
        return super().to_stored_event(shadow)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        if self.keys is not None:
            self._opened(stored_event.topic, event)
        return event

    def to_domain_events(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        """``to_domain_event`` of each, in order, with the data keys they open with read
        first, together (``KeyRing.prefetch``): one statement for a page of the log, not
        one per customer whose key has left the cache."""
        decode = super().to_domain_event
        events = [decode(s) for s in stored_events]
        if self.keys is None:
            return events
        owners = set()
        for stored, event in zip(stored_events, events, strict=True):
            sealing = SEALINGS.get(stored.topic)
            if sealing is not None and (owner := _as_owner(vars(event).get(sealing.owner))):
                owners.add(owner)
        self.keys.prefetch(owners)
        for stored, event in zip(stored_events, events, strict=True):
            self._opened(stored.topic, event)  # in order: an erasure forgets its keys first
        return events

    def _opened(self, topic: str, event: Any) -> None:
        assert self.keys is not None
        sealing = SEALINGS.get(topic)
        if sealing is not None:
            self._open(event, sealing)
        elif topic == ERASURE_TOPIC:
            # Later events of these customers must not open with a key cached here.
            self.keys.forget(getattr(event, "owners", ()))

    def _open(self, event: Any, sealing: Sealing) -> None:
        """Open the sealed fields; if the owner's key is destroyed, read every personal
        field as erased and flag the event (whether or not it held a value)."""
        assert self.keys is not None
        state = vars(event)
        owner = _as_owner(state.get(sealing.owner))
        if owner is None:
            return  # stored before events named their key owner: plain
        blob = state.pop(SEALED_BLOB, None)
        sealed = [
            (path, holder, name)
            for path, holder, name in _fields(state, sealing.paths, copy=False)
            if holder[name] == PLACEHOLDER
        ]
        exists, key = self.keys.lookup(owner)
        if not exists:
            if sealed:
                raise PersonalDataError(f"no data key for {owner}: the key store is incomplete")
            return  # plain, from before sealing
        if key is None or (sealed and blob is None):
            for path, holder, name in sealed:
                holder[name] = sealing.erased_value(path.split(".")[0])
            state[ERASED_FLAG] = True
            return
        if not sealed:
            return
        raw = base64.b64decode(blob)
        try:
            packed = _aead(key).decrypt(raw[:NONCE], raw[NONCE:], _aad(state))
        except InvalidTag:
            raise PersonalDataError(
                f"the personal fields of {state['originator_id']} v{state['originator_version']}"
                " do not open: they were altered"
            ) from None
        values = _unpack(packed, [path for path, _, _ in sealed])
        for (_, holder, name), value in zip(sealed, values, strict=True):
            holder[name] = value


# Where a sealed value was (NUL: no text Parley takes holds one); the values are in
# SEALED_BLOB. A string, not a marker dict: each dict costs the transcoder a hook call.
PLACEHOLDER = "\x00sealed"
SEALED_BLOB = "_sealed_fields_"  # nonce + AES-GCM of {path: value}, base64


def _pack(values: dict[str, Any]) -> bytes:
    """An event's personal values, to seal. Mostly they are all text (a body, a sender's
    handle): then ``S`` and each value's UTF-8 with its length, in path order, which a
    load reads back far faster than JSON; else ``J`` and a JSON object by path (plain
    JSON: a typed value here is a mistake to hear about)."""
    if all(isinstance(x, str) for x in values.values()):
        parts = [x.encode("utf-8", "surrogatepass") for x in values.values()]
        return b"S" + b"".join(len(b).to_bytes(4, "big") + b for b in parts)
    return b"J" + json.dumps(values, separators=(",", ":")).encode()


def _unpack(packed: bytes, paths: list[str]) -> list[Any]:
    """The values :func:`_pack` sealed, in the order of ``paths``."""
    if packed[:1] == b"J":
        by_path = json.loads(packed[1:])
        try:
            return [by_path[p] for p in paths]
        except KeyError as missing:
            raise PersonalDataError(f"the sealed fields do not say {missing}") from None
    values, at = [], 1
    while at < len(packed):
        size = int.from_bytes(packed[at : at + 4], "big")
        values.append(packed[at + 4 : at + 4 + size].decode("utf-8", "surrogatepass"))
        at += 4 + size
    if len(values) != len(paths):
        raise PersonalDataError("the sealed fields do not match the event's personal fields")
    return values


@lru_cache(maxsize=8192)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


_TOPICS: dict[type, str] = {}


def _topic(cls: type) -> str:
    topic = _TOPICS.get(cls)
    if topic is None:
        topic = _TOPICS[cls] = get_topic(cls)
    return topic


def _aad(state: dict[str, Any]) -> bytes:
    """What a ciphertext is bound to: its event (pasted into another, it does not open)."""
    return state["originator_id"].bytes + state["originator_version"].to_bytes(8, "big")


def _owner(state: dict[str, Any], sealing: Sealing) -> UUID:
    owner = _as_owner(state.get(sealing.owner))
    if owner is None:
        raise PersonalDataError(f"an event with personal data names no key owner ({sealing})")
    return owner


def _as_owner(value: Any) -> UUID | None:
    """The key owner an event names: a UUID, or its text (``key_owner``)."""
    if isinstance(value, UUID) or value is None:
        return value
    return _parse_uuid(value) if isinstance(value, str) else None


@lru_cache(maxsize=65536)
def _parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


@cache
def _parsed(paths: tuple[str, ...]) -> tuple[tuple[str, str, bool, bool], ...]:
    """(path, field, whether a list of dicts, whether its dicts' values) per path."""
    parsed = []
    for path in paths:
        head, _, rest = path.partition(".")
        parsed.append((path, head.removesuffix("[]"), head.endswith("[]"), bool(rest)))
    return tuple(parsed)


def _fields(
    state: dict[str, Any], paths: tuple[str, ...], *, copy: bool
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(path, the dict holding the value, its key) for every personal value present.
    ``copy`` replaces nested containers with copies first, so sealing never changes the
    domain event itself."""
    for path, name, listed, nested in _parsed(paths):
        value = state.get(name)
        if value is None:
            continue
        if not nested:
            yield path, state, name
            continue
        holders = value if listed else [value]
        if copy:
            holders = [dict(h) if isinstance(h, dict) else h for h in holders]
            state[name] = holders if listed else holders[0]
        for index, holder in enumerate(holders):
            if not isinstance(holder, dict):
                continue
            for key in list(holder):
                if key != "kind":
                    yield f"{name}[{index}].{key}" if listed else f"{name}.{key}", holder, key
