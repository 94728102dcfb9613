"""Personal data, sealed per customer: what is personal, whose key it is, and the mapper
that seals it on the way into the store and opens it (or reads it as erased) on the way out.

Every personal field of an event (a message's body, a sender's address, a customer's
name...) is stored as ``{"_sealed_": "<nonce + AES-GCM ciphertext, base64>"}`` under a
data key of its own customer; the event names that customer (``key_owner``, or the
``customer_id`` / id it carries already). Data keys are kept apart from the events (a
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
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

ERASED = "[erased]"  # what an erased text field reads as
ERASED_FLAG = "personal_data_erased"  # set on a decoded event whose sealed fields are erased
OWNER = "key_owner"  # the field naming whose key seals an event's personal fields
SEALED = "_sealed_"
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
        created = self._created()
        if owner in created:
            return True, created[owner][0]
        cached = self._cache.get(owner)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return True, cached[1]
        exists, wrapped = self.storage.select_data_key(owner)
        if not exists:
            return False, None
        key = None if wrapped is None else self._unwrap(owner, wrapped)
        self._cache[owner] = (time.monotonic(), key)
        return True, key

    def key_for_sealing(self, owner: UUID) -> bytes | None:
        """The owner's data key, made now if they have none; None once destroyed."""
        exists, key = self.lookup(owner)
        if exists:
            return key
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE)
        wrapped = nonce + self._wrap.encrypt(nonce, key, owner.bytes)
        if owner in self._new_owners():
            self._created()[owner] = (key, wrapped)
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
        topic = get_topic(type(domain_event))
        sealing = SEALINGS.get(topic)
        if sealing is None or self.keys is None:
            if OWNER in vars(domain_event) and sealing is None:
                domain_event = _without_owner(domain_event)
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        owner = _owner(state, sealing)
        key = self.keys.key_for_sealing(owner)
        aead = None if key is None else AESGCM(key)
        prefix = f"{state['originator_id']}:{state['originator_version']}:"
        for path, holder, name in _fields(state, sealing.paths, copy=True):
            value = holder[name]
            if value is None:
                continue
            if aead is None:  # written after the erasure: stored erased
                holder[name] = {SEALED: None}
                continue
            nonce = os.urandom(NONCE)
            sealed = aead.encrypt(nonce, self.transcoder.encode(value), (prefix + path).encode())
            holder[name] = {SEALED: base64.b64encode(nonce + sealed).decode()}
        shadow = object.__new__(type(domain_event))
        object.__setattr__(shadow, "__dict__", state)
        return super().to_stored_event(shadow)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        if self.keys is None:
            return event
        sealing = SEALINGS.get(stored_event.topic)
        if sealing is not None:
            self._open(event, sealing)
        elif stored_event.topic == ERASURE_TOPIC:
            # Later events of these customers must not open with a key cached here.
            self.keys.forget(getattr(event, "owners", ()))
        return event

    def _open(self, event: Any, sealing: Sealing) -> None:
        """Open the sealed fields; if the owner's key is destroyed, read every personal
        field as erased and flag the event (whether or not it held a value)."""
        assert self.keys is not None
        state = vars(event)
        owner = state.get(sealing.owner)
        if not isinstance(owner, UUID):
            return  # stored before events named their key owner: plain
        sealed = [
            (path, holder, name)
            for path, holder, name in _fields(state, sealing.paths, copy=False)
            if isinstance(holder[name], dict) and SEALED in holder[name]
        ]
        exists, key = self.keys.lookup(owner)
        if not exists:
            if sealed:
                raise PersonalDataError(f"no data key for {owner}: the key store is incomplete")
            return  # plain, from before sealing
        if key is None:
            for path, holder, name in sealed:
                holder[name] = sealing.erased_value(path.split(".")[0])
            state[ERASED_FLAG] = True
            return
        aead = AESGCM(key)
        prefix = f"{state['originator_id']}:{state['originator_version']}:"
        for path, holder, name in sealed:
            blob = holder[name][SEALED]
            if blob is None:  # written after an erasure by a process that knew no key
                holder[name] = sealing.erased_value(path.split(".")[0])
                state[ERASED_FLAG] = True
                continue
            raw = base64.b64decode(blob)
            try:
                plain = aead.decrypt(raw[:NONCE], raw[NONCE:], (prefix + path).encode())
            except InvalidTag:
                raise PersonalDataError(
                    f"a sealed field ({path}) of {state['originator_id']}"
                    f" v{state['originator_version']} does not open: it was altered"
                ) from None
            holder[name] = self.transcoder.decode(plain)


def _owner(state: dict[str, Any], sealing: Sealing) -> UUID:
    owner = state.get(sealing.owner)
    if not isinstance(owner, UUID):
        raise PersonalDataError(f"an event with personal data names no key owner ({sealing})")
    return owner


def _without_owner(event: Any) -> Any:
    shadow = object.__new__(type(event))
    object.__setattr__(shadow, "__dict__", {k: x for k, x in vars(event).items() if k != OWNER})
    return shadow


def _fields(
    state: dict[str, Any], paths: tuple[str, ...], *, copy: bool
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(path, the dict holding the value, its key) for every personal value present.
    ``copy`` replaces nested containers with copies first, so sealing never changes the
    domain event itself."""
    for path in paths:
        head, _, rest = path.partition(".")
        listed = head.endswith("[]")
        name = head.removesuffix("[]")
        if name not in state or state[name] is None:
            continue
        if not rest:
            yield path, state, name
            continue
        holders = state[name] if listed else [state[name]]
        if copy:
            holders = [dict(h) if isinstance(h, dict) else h for h in holders]
            state[name] = holders if listed else holders[0]
        for index, holder in enumerate(holders):
            if not isinstance(holder, dict):
                continue
            for key in list(holder):
                if key != "kind":
                    yield f"{name}[{index}].{key}" if listed else f"{name}.{key}", holder, key
