"""Field-level encryption of free text at rest (AES-256-GCM, reliability-security.md CR-01/CR-02).

What clients and therapists write in their own words (journal text,
reflections, notes, names of supporters, goal descriptions, ...) is stored
only as ciphertext, so a copied database file, WAL file or backup does not
disclose it. Each value is sealed on its own::

    0x01 | len(key id) | key id (UTF-8) | 12-byte random nonce | ciphertext + 16-byte tag

with the associated data ``"table.column"``, so a value cannot be moved into
another column without failing authentication. Any change to a stored value
fails with `StorageError` instead of returning garbage.

A `KeyRing` holds every key that may still be needed to read (key id ->
32-byte key); the first configured key is the active one for new writes.
`rotate_keys` re-encrypts every stored value with the active key, after which
older keys can be retired. Outside production a fixed, public development key
is used when none is configured; production refuses to start without keys
(`twostep.config.require_production_ready`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator

from twostep.config import DEV_KEY_ID, Settings, encryption_key_entries
from twostep.errors import ConfigurationError, StorageError

__all__ = [
    "EncryptedJSON",
    "EncryptedText",
    "KeyRing",
    "attach_keyring",
    "generate_key",
    "rotate_keys",
]

FORMAT_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16

#: The development key is derived from a public phrase: it protects nothing and says so.
_DEV_KEY = hashlib.sha256(b"twostep development key - not a secret").digest()


def generate_key() -> str:
    """A new random AES-256 key, base64-encoded for ``TWOSTEP_ENCRYPTION_KEYS``."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


class KeyRing:
    """Keys by id; ``active_id`` encrypts, every key may decrypt. Never prints key material."""

    __slots__ = ("_aead", "active_id")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ConfigurationError("a key ring needs at least one key")
        aead: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not kid or len(kid.encode("utf-8")) > 255:
                raise ConfigurationError("a key id must have 1 to 255 bytes")
            if len(key) != 32:
                raise ConfigurationError(f"key {kid!r}: an AES-256 key has 32 bytes")
            if kid in aead:
                raise ConfigurationError(f"key id {kid!r} appears twice")
            aead[kid] = AESGCM(key)
        self._aead: Mapping[str, AESGCM] = aead
        self.active_id: str = keys[0][0]

    @classmethod
    def development(cls) -> KeyRing:
        """The fixed development key (public; refused in production)."""
        return cls([(DEV_KEY_ID, _DEV_KEY)])

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The configured keys; the development key when none are set outside production."""
        entries = encryption_key_entries(settings)
        if entries:
            return cls(entries)
        if settings.environment == "production":
            raise ConfigurationError(
                "production needs TWOSTEP_ENCRYPTION_KEYS; refusing to use the development key"
            )
        return cls.development()

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active_id!r}, keys={list(self._aead)!r})"

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Seal ``plaintext`` with the active key, bound to ``context`` (``"table.column"``)."""
        kid = self.active_id.encode("utf-8")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.active_id].encrypt(nonce, plaintext, context.encode("utf-8"))
        return bytes((FORMAT_VERSION, len(kid))) + kid + nonce + sealed

    def key_id_of(self, blob: bytes, context: str = "value") -> str:
        """The id of the key that sealed ``blob`` (StorageError if it is not a sealed value)."""
        return self._parse(blob, context)[0]

    def decrypt(self, blob: bytes, context: str) -> bytes:
        """Open a sealed value; StorageError when it was altered, moved or the key is unknown."""
        kid, nonce, sealed = self._parse(blob, context)
        aead = self._aead.get(kid)
        if aead is None:
            raise StorageError(
                f"{context}: sealed with key {kid!r}, which is not in the key ring "
                "(add it to TWOSTEP_ENCRYPTION_KEYS)"
            )
        try:
            return aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise StorageError(
                f"{context}: encrypted value failed authentication (altered, moved from "
                "another column, or a wrong key with the same id)"
            ) from None

    @staticmethod
    def _parse(blob: bytes, context: str) -> tuple[str, bytes, bytes]:
        data = bytes(blob)
        if len(data) < 2 or data[0] != FORMAT_VERSION:
            raise StorageError(f"{context}: not an encrypted value of a known format")
        n = data[1]
        head = 2 + n
        if len(data) < head + NONCE_BYTES + TAG_BYTES:
            raise StorageError(f"{context}: encrypted value is truncated")
        try:
            kid = data[2:head].decode("utf-8")
        except UnicodeDecodeError:
            raise StorageError(f"{context}: encrypted value has a corrupt key id") from None
        return kid, data[head : head + NONCE_BYTES], data[head + NONCE_BYTES :]


_RINGS: WeakKeyDictionary[Dialect, KeyRing] = WeakKeyDictionary()


def attach_keyring(engine: Engine, keyring: KeyRing) -> None:
    """Use ``keyring`` for every encrypted column read or written through ``engine``."""
    _RINGS[engine.dialect] = keyring


def keyring_for(dialect: Dialect) -> KeyRing:
    ring = _RINGS.get(dialect)
    if ring is None:
        raise StorageError(
            "this engine has no encryption key ring; create it with "
            "twostep.storage.make_engine(url, keyring=...)"
        )
    return ring


class EncryptedText(TypeDecorator[str]):
    """A text column stored as AES-GCM ciphertext (``context`` = ``"table.column"``)."""

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise StorageError(f"{self.context}: expected text, got {type(value).__name__}")
        return keyring_for(dialect).encrypt(value.encode("utf-8"), self.context)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        plain = keyring_for(dialect).decrypt(value, self.context)
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - authenticated, so only a writer bug
            raise StorageError(f"{self.context}: decrypted value is not UTF-8") from None


class EncryptedJSON(TypeDecorator[object]):
    """A JSON value stored as AES-GCM ciphertext of its compact UTF-8 serialisation."""

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: object, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return keyring_for(dialect).encrypt(text.encode("utf-8"), self.context)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> object:
        if value is None:
            return None
        plain = keyring_for(dialect).decrypt(value, self.context)
        result: object = json.loads(plain.decode("utf-8"))
        return result


def encrypted_columns(metadata: sa.MetaData) -> list[tuple[sa.Table, list[sa.Column[object]]]]:
    """Every table with encrypted columns, with those columns."""
    found = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, EncryptedText | EncryptedJSON)]
        if cols:
            found.append((table, cols))
    return found


def rotate_keys(
    engine: Engine,
    keyring: KeyRing,
    *,
    batch_size: int = 500,
    metadata: sa.MetaData | None = None,
) -> int:
    """Re-encrypt every stored value not sealed with the active key; returns how many.

    Works table by table in primary-key order, one transaction per batch, so
    it can be interrupted and run again (values already under the active key
    are skipped). Every value is authenticated on the way (a tampered value
    stops the rotation with `StorageError`).
    """
    from twostep.storage.failures import translated

    if metadata is None:
        from twostep.storage.tables import metadata as default_metadata

        metadata = default_metadata
    rotated = 0
    for table, cols in encrypted_columns(metadata):
        pk = list(table.primary_key.columns)
        key = sa.tuple_(*pk) if len(pk) > 1 else pk[0]
        raw = [sa.type_coerce(c, sa.LargeBinary).label(f"raw_{c.name}") for c in cols]
        last: tuple[object, ...] | None = None
        while True:
            with translated(), engine.begin() as conn:
                stmt = sa.select(*pk, *raw).order_by(*pk).limit(batch_size)
                if last is not None:
                    stmt = stmt.where(key > (sa.tuple_(*last) if len(pk) > 1 else last[0]))
                rows = conn.execute(stmt).mappings().all()
                for row in rows:
                    changes: dict[str, object] = {}
                    for col in cols:
                        blob = row[f"raw_{col.name}"]
                        if blob is None:
                            continue
                        context = col.type.context  # type: ignore[attr-defined]
                        if keyring.key_id_of(blob, context) == keyring.active_id:
                            continue
                        sealed = keyring.encrypt(keyring.decrypt(blob, context), context)
                        changes[col.name] = sa.type_coerce(sealed, sa.LargeBinary)
                    if changes:
                        match = [c == row[c.name] for c in pk]
                        conn.execute(sa.update(table).where(*match).values(changes))
                        rotated += len(changes)
            if len(rows) < batch_size:
                break
            last = tuple(rows[-1][c.name] for c in pk)
    return rotated
