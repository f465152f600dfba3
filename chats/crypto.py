"""Per-patient encryption of chat content: a data key per patient in MongoDB's key vault, and the
values sealed with AES-256-GCM under a content key derived from it.

Every patient has one data key in the key vault collection (``chat_key_vault``, key alt name
``medibot-patient:<user_id>``), created on their first encrypted write and wrapped by the master
key of the configured KMS provider (``CHAT_ENCRYPTION_KMS_PROVIDER``); libmongocrypt (pymongo's
client-side field level encryption, explicit) manages, unwraps, rotates and caches these keys.
Two per-patient keys are derived from the data key — a deterministic encryption of a fixed label
is a keyed function of the key material, hashed to 32 bytes: the content key and the search key.
Destroying the data key destroys both (crypto-shredding).

Values are sealed with AES-256-GCM (``cryptography``) under the content key, into BSON Binary of
subtype ``SEALED_SUBTYPE``: ``version | data key id (16) | nonce (12) | ciphertext and tag``, the
first 17 bytes authenticated as associated data. The value names its data key, so reading is
generic: the ``chats`` client decodes every sealed value it receives (``type_registry``, installed
by the engine through ``MONGODB_TYPE_REGISTRY``), and the ORM, the admin, raw pymongo reads and
exports all see plaintext without knowing about encryption. Why not libmongocrypt's own value
encryption (AEAD_AES_256_CBC_HMAC_SHA_512, BSON subtype 6), which the first version stored: the
``pymongocrypt`` wheel's libmongocrypt has no native crypto and calls back into Python for every
value (~75 µs a value, a fifth of a 50-message page); AES-GCM in ``cryptography`` is ~5 µs.
Values of that first format are still read (``decrypt_value``), and ``encrypt_chats`` rewrites them.

Writing goes through ``seal_document`` (called by ``store.to_document``) and ``seal``. Only
content is encrypted; ids, owner, timestamps, order, roles, status and counters stay plaintext so
every bounded index range keeps working. Empty values stay plaintext (an empty title is matched
by the first-message title update); operational metadata keys (``delivery``, ``import``) stay
plaintext because jobs update and query them in place.

Key caches: libmongocrypt keeps data keys ``CHAT_ENCRYPTION_KEY_CACHE_SECONDS``, and so do the
content-key and search-key caches here, so a shredded key stops working in every process within
that time; the process that shreds drops its caches at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

from bson import Binary
from bson import decode as bson_decode
from bson import encode as bson_encode
from bson.binary import STANDARD
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pymongo import MongoClient
from pymongo.encryption import Algorithm, ClientEncryption
from pymongo.errors import DuplicateKeyError, EncryptionError

from medibot.routers import CHATS_ALIAS

LEGACY_SUBTYPE = 6  # libmongocrypt's own encrypted values (Medibot's first encrypted format)
SEALED_SUBTYPE = 0x80  # user-defined: Medibot's AES-256-GCM values (layout in the module's docstring)
SEALED_VERSION = 1
_HEADER = 17  # version byte and data key id: the associated data
_NONCE = 12
_VALUE_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(uuid_representation=STANDARD)
RANDOM = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
DETERMINISTIC = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
KEY_ALT_NAME_PREFIX = "medibot-patient:"
# Encrypted per table: whole values, except dicts whose top-level values are encrypted one by one.
ENCRYPTED_FIELDS: dict[str, tuple[str, ...]] = {
    "chat_sessions": ("title", "metadata"),
    "chat_messages": ("content", "metadata", "source_documents", "agent_steps", "attachments", "error_info"),
    "chat_message_votes": ("reason",),
}
# Metadata keys jobs update or query in place on the server: never PHI, kept plaintext.
PLAINTEXT_METADATA_KEYS = frozenset({"delivery", "import"})
SEARCH_KEY_LABEL = "medibot search key v1"
CONTENT_KEY_LABEL = "medibot content key v1"
BACKUP_FORMAT = "medibot-encrypted-backup-1"
KEY_CACHE_MAX = 10_000
ERASED_REASON = "erased: the patient's encryption key was destroyed"


class PatientKeyErased(Exception):
    """The patient's data key was destroyed (crypto-shredding): their data can never be read again."""

    def __init__(self, user_id: int | None = None) -> None:
        self.user_id = user_id
        super().__init__(ERASED_REASON)


class UndecryptableValue(ValueError):
    """A sealed value failed authentication: altered, or presented under another patient's key."""


def enabled() -> bool:
    return str(settings.CHAT_ENCRYPTION) == "on"


def key_alt_name(user_id: int) -> str:
    return f"{KEY_ALT_NAME_PREFIX}{int(user_id)}"


# --- configuration --------------------------------------------------------------------------------------


def master_key_bytes() -> bytes:
    """The ``local`` provider's 96-byte master key: CHAT_ENCRYPTION_LOCAL_KEY (base64), else the
    file CHAT_ENCRYPTION_LOCAL_KEY_FILE, generated there when missing and allowed (embedded run)."""
    if settings.CHAT_ENCRYPTION_LOCAL_KEY:
        key = base64.b64decode(settings.CHAT_ENCRYPTION_LOCAL_KEY)
    else:
        path = settings.CHAT_ENCRYPTION_LOCAL_KEY_FILE
        if not path:
            raise ImproperlyConfigured(
                "CHAT_ENCRYPTION_LOCAL_KEY or CHAT_ENCRYPTION_LOCAL_KEY_FILE must be set."
            )
        if not os.path.exists(path):
            if not settings.CHAT_ENCRYPTION_GENERATE_LOCAL_KEY:
                raise ImproperlyConfigured(f"the local master key file {path} does not exist.")
            _create_key_file(path)
        with open(path, "rb") as handle:
            key = base64.b64decode(handle.read().strip())
    if len(key) != 96:
        raise ImproperlyConfigured("the local master key must be 96 bytes (base64-encoded).")
    return key


def _create_key_file(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(base64.b64encode(os.urandom(96)))


def kms_providers() -> dict[str, Any]:
    provider = settings.CHAT_ENCRYPTION_KMS_PROVIDER
    if provider == "local":
        return {"local": {"key": master_key_bytes()}}
    credentials = dict(settings.CHAT_ENCRYPTION_KMS_CREDENTIALS)
    return {provider: credentials}


def master_key() -> dict[str, Any] | None:
    """The master key description for data keys (None for ``local``): CHAT_ENCRYPTION_MASTER_KEY."""
    if settings.CHAT_ENCRYPTION_KMS_PROVIDER == "local":
        return None
    return dict(settings.CHAT_ENCRYPTION_MASTER_KEY)


def key_vault_namespace() -> str:
    if settings.CHAT_KEY_VAULT_NAMESPACE:
        return str(settings.CHAT_KEY_VAULT_NAMESPACE)
    from django.db import connections

    # A database of its own: full-store backups of the chat database never carry the keys.
    return f"{connections[CHATS_ALIAS].settings_dict['NAME']}_keyvault.datakeys"


# --- the per-process client -----------------------------------------------------------------------------


class _Vault:
    """The key vault client and the ClientEncryption of one process (pymongo is not fork-safe)."""

    def __init__(self) -> None:
        chats = settings.DATABASES[CHATS_ALIAS]
        options = {
            key: value
            for key, value in chats.get("OPTIONS", {}).items()
            if key not in ("type_registry", "event_listeners")
        }
        self.pid = os.getpid()
        self.namespace = key_vault_namespace()
        self.client: MongoClient[dict[str, Any]] = MongoClient(chats["HOST"], **options)
        self.encryption: ClientEncryption[dict[str, Any]] = ClientEncryption(
            kms_providers(),
            self.namespace,
            self.client,
            CodecOptions(uuid_representation=STANDARD),
            key_expiration_ms=int(settings.CHAT_ENCRYPTION_KEY_CACHE_SECONDS * 1000),
        )
        database, collection = self.namespace.split(".", 1)
        self.keys = self.client[database][collection]
        self.keys.create_index(
            "keyAltNames",
            unique=True,
            partialFilterExpression={"keyAltNames": {"$exists": True}},
            name="key_alt_names_unique",
        )

    def close(self) -> None:
        self.encryption.close()
        self.client.close()


_lock = threading.Lock()
_vault: _Vault | None = None
# Bounded, expiring caches (CHAT_ENCRYPTION_KEY_CACHE_SECONDS, KEY_CACHE_MAX entries each): a
# patient's data key id, a data key's content key (ready AES-GCM), a patient's search key.
_key_ids: OrderedDict[int, tuple[float, bytes]] = OrderedDict()
_content_keys: OrderedDict[bytes, tuple[float, AESGCM]] = OrderedDict()
_search_keys: OrderedDict[int, tuple[float, bytes]] = OrderedDict()


def vault() -> _Vault:
    global _vault
    current = _vault
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _vault is None or _vault.pid != os.getpid():
            _vault = _Vault()
        return _vault


def reset() -> None:
    """Drop this process's key caches and clients (after shredding; settings changes in tests)."""
    global _vault
    with _lock:
        if _vault is not None and _vault.pid == os.getpid():
            _vault.close()
        _vault = None
        _key_ids.clear()
        _content_keys.clear()
        _search_keys.clear()


def _missing_key(exc: EncryptionError) -> bool:
    """Whether the key asked for is not in the vault; forgets the exception's tracebacks.

    pymongo's wrapped libmongocrypt error references its own frame (a cycle), and through the
    frames' callers every frame up the stack — a streamed reply's generator included, which then
    is not closed when its response is, but only by a later garbage collection."""
    missing = "not all keys requested were satisfied" in str(exc)
    seen: BaseException | None = exc
    while seen is not None:
        seen.__traceback__ = None
        seen = seen.__cause__ or seen.__context__
    return missing


def ensure_patient_key(user_id: int) -> Any:
    """The id of the patient's data key, created on first use (the unique alt name settles races)."""
    current = vault()
    found = current.encryption.get_key_by_alt_name(key_alt_name(user_id))
    if found is not None:
        return found["_id"]
    try:
        return current.encryption.create_data_key(
            settings.CHAT_ENCRYPTION_KMS_PROVIDER,
            master_key=master_key(),
            key_alt_names=[key_alt_name(user_id)],
        )
    except (DuplicateKeyError, EncryptionError) as exc:
        if isinstance(exc, EncryptionError) and not isinstance(exc.cause, DuplicateKeyError):
            raise
        found = current.encryption.get_key_by_alt_name(key_alt_name(user_id))
        if found is None:
            raise
        return found["_id"]


def _key_vault() -> Any:
    """The key vault collection through the ``chats`` connection: needs no KMS (erasure and
    shredding work with encryption off and no master key configured)."""
    from django.db import connections

    connection = connections[CHATS_ALIAS]
    connection.ensure_connection()
    database, collection = key_vault_namespace().split(".", 1)
    return connection.connection[database][collection]


def patient_key_exists(user_id: int) -> bool:
    return int(_key_vault().count_documents({"keyAltNames": key_alt_name(user_id)}, limit=1)) > 0


# --- values ---------------------------------------------------------------------------------------------


def _cached(cache: OrderedDict[Any, tuple[float, Any]], key: Any) -> Any:
    now = time.monotonic()
    with _lock:
        found = cache.get(key)
        if found is not None and found[0] > now:
            cache.move_to_end(key)
            return found[1]
    return None


def _remember(cache: OrderedDict[Any, tuple[float, Any]], key: Any, value: Any) -> None:
    with _lock:
        cache[key] = (time.monotonic() + settings.CHAT_ENCRYPTION_KEY_CACHE_SECONDS, value)
        cache.move_to_end(key)
        while len(cache) > KEY_CACHE_MAX:
            cache.popitem(last=False)


def _derive(label: str, **key: Any) -> bytes:
    """A 32-byte key derived from a data key (``key_id=`` or ``key_alt_name=``): SHA-256 of the
    deterministic encryption of ``label``. Raises EncryptionError when the data key is missing."""
    return hashlib.sha256(bytes(vault().encryption.encrypt(label, DETERMINISTIC, **key))).digest()


def _content_key(key_id: bytes) -> AESGCM:
    """The content key of data key ``key_id``; ``PatientKeyErased`` when that key was destroyed."""
    found = _cached(_content_keys, key_id)
    if found is not None:
        return found
    try:
        derived = AESGCM(_derive(CONTENT_KEY_LABEL, key_id=Binary(key_id, 4)))
    except EncryptionError as exc:
        if _missing_key(exc):
            raise PatientKeyErased() from None
        raise
    _remember(_content_keys, key_id, derived)
    return derived


def _writing_key(user_id: int) -> tuple[bytes, AESGCM]:
    """The patient's data key id and content key, the data key created on first use."""
    key_id = _cached(_key_ids, user_id)
    if key_id is not None:
        try:
            return key_id, _content_key(key_id)
        except PatientKeyErased:  # shredded since it was cached: a new key, as on first use
            with _lock:
                _key_ids.pop(user_id, None)
    created = ensure_patient_key(user_id)
    key_id = created.bytes if isinstance(created, uuid.UUID) else bytes(created)
    _remember(_key_ids, user_id, key_id)
    return key_id, _content_key(key_id)


def encrypt_value(user_id: int, value: Any) -> Binary:
    """``value`` (any BSON value) sealed under the patient's content key."""
    key_id, key = _writing_key(user_id)
    header = bytes((SEALED_VERSION,)) + key_id
    nonce = os.urandom(_NONCE)
    return Binary(
        header + nonce + key.encrypt(nonce, bson_encode({"v": value}, codec_options=_VALUE_OPTIONS), header),
        SEALED_SUBTYPE,
    )


def is_encrypted(value: Any) -> bool:
    return isinstance(value, Binary) and value.subtype in (SEALED_SUBTYPE, LEGACY_SUBTYPE)


def is_current(value: Any) -> bool:
    """Encrypted in the current format (``encrypt_chats`` rewrites the others)."""
    return isinstance(value, Binary) and value.subtype == SEALED_SUBTYPE


def data_key_id(value: Binary) -> bytes:
    """The id of the data key an encrypted value is under (bytes 1-16 in both formats)."""
    return bytes(value[1:_HEADER])


def decrypt_value(value: Any) -> Any:
    """The plaintext of an encrypted value; other values unchanged. A destroyed key raises
    ``PatientKeyErased``, an altered value ``UndecryptableValue``."""
    if not isinstance(value, Binary):
        return value
    if value.subtype == SEALED_SUBTYPE:
        data = bytes(value)
        if len(data) < _HEADER + _NONCE + 16 or data[0] != SEALED_VERSION:
            raise UndecryptableValue("not a sealed value of a known version")
        key = _content_key(data_key_id(value))
        try:
            plain = key.decrypt(data[_HEADER : _HEADER + _NONCE], data[_HEADER + _NONCE :], data[:_HEADER])
        except InvalidTag:
            raise UndecryptableValue("the value failed authentication") from None
        return bson_decode(plain, codec_options=_VALUE_OPTIONS)["v"]
    if value.subtype != LEGACY_SUBTYPE:
        return value
    try:
        return vault().encryption.decrypt(value)
    except EncryptionError as exc:
        if _missing_key(exc):
            raise PatientKeyErased() from None
        raise


def seal(user_id: int, value: Any, *, field: str = "", force: bool = False) -> Any:
    """``value`` as stored for an encrypted field (unchanged when encryption is off — unless
    ``force`` — or when it is empty)."""
    if not (force or enabled()) or value in ("", None) or value == [] or value == {} or is_current(value):
        return value
    if is_encrypted(value):  # the first format: rewritten in the current one
        return seal(user_id, decrypt_value(value), field=field, force=True)
    if field == "metadata" and isinstance(value, dict):
        return {
            key: item if key in PLAINTEXT_METADATA_KEYS else seal(user_id, item, force=True)
            for key, item in value.items()
        }
    return encrypt_value(user_id, value)


def seal_document(table: str, document: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
    """Encrypt, in place, the content fields of one chat document of ``table`` (needs ``user_id``)."""
    fields = ENCRYPTED_FIELDS.get(table)
    if not fields or not (force or enabled()):
        return document
    user_id = int(document["user_id"])
    for field in fields:
        if field in document:
            document[field] = seal(user_id, document[field], field=field, force=True)
    return document


def open_document(document: Any) -> Any:
    """Decrypt every encrypted value of a document read without the ``chats`` client's decoder."""
    if isinstance(document, dict):
        return {key: open_document(value) for key, value in document.items()}
    if isinstance(document, list):
        return [open_document(value) for value in document]
    return decrypt_value(document)


class _EncryptedValueDecoder(TypeDecoder):
    bson_type = Binary

    def transform_bson(self, value: Any) -> Any:
        return decrypt_value(value)


def type_registry() -> TypeRegistry:
    """The ``chats`` client's decoder: every encrypted value read is decrypted (MONGODB_TYPE_REGISTRY)."""
    return TypeRegistry([_EncryptedValueDecoder()])


# --- search keys ----------------------------------------------------------------------------------------


def _search_key(user_id: int) -> bytes:
    """The patient's search key, derived from their data key (created on first use), so shredding
    the data key destroys it too."""
    key = _cached(_search_keys, user_id)
    if key is not None:
        return key
    try:
        key = _derive(SEARCH_KEY_LABEL, key_alt_name=key_alt_name(user_id))
    except EncryptionError as exc:
        if not _missing_key(exc):
            raise
        ensure_patient_key(user_id)
        key = _derive(SEARCH_KEY_LABEL, key_alt_name=key_alt_name(user_id))
    _remember(_search_keys, user_id, key)
    return key


def search_hmac(user_id: int, term: str) -> str:
    """The stored form of one search term of one patient: HMAC-SHA-256 under their search key, 32 hex
    characters. Equal terms of one patient hash equal (that is what search needs); across patients,
    and without the patient's data key, nothing is learnt."""
    digest = hmac.new(_search_key(user_id), term.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:32]


# --- shredding, rotation --------------------------------------------------------------------------------


def shred_patient_key(user_id: int) -> list[str]:
    """Destroy the patient's data key(s): everything encrypted under them, in backups too, can no
    longer be decrypted (at once here, within CHAT_ENCRYPTION_KEY_CACHE_SECONDS elsewhere).
    Returns the ids (hex) of the destroyed keys."""
    keys = _key_vault()
    found = list(keys.find({"keyAltNames": key_alt_name(user_id)}, {"_id": 1}))
    if found:
        keys.delete_many({"_id": {"$in": [key["_id"] for key in found]}})
    reset()
    return [bytes(key["_id"]).hex() for key in found]


def rewrap_all_keys(*, provider: str | None = None, master_key: dict[str, Any] | None = None) -> int:
    """Re-encrypt every data key under the current (or the given cloud) master key; returns how many."""
    result = vault().encryption.rewrap_many_data_key({}, provider=provider, master_key=master_key)
    reset()
    return result.bulk_write_result.modified_count if result.bulk_write_result else 0


def rewrap_local_master_key(new_key: bytes) -> int:
    """Rotate the ``local`` master key: every data key re-encrypted under ``new_key``, in two passes
    through a named provider (``local`` is then the new key). Processes still configured with the
    old key cannot unwrap data keys they have not cached: switch the configuration and restart
    right after. Returns how many data keys were rewrapped."""
    if len(new_key) != 96:
        raise ImproperlyConfigured("the new local master key must be 96 bytes.")
    current = vault()
    steps = (
        ({"local": {"key": master_key_bytes()}, "local:next": {"key": new_key}}, "local:next"),
        ({"local": {"key": new_key}, "local:next": {"key": new_key}}, "local"),
    )
    count = 0
    for providers, target in steps:
        rotation: ClientEncryption[dict[str, Any]] = ClientEncryption(
            providers, current.namespace, current.client, CodecOptions(uuid_representation=STANDARD)
        )
        with rotation:
            result = rotation.rewrap_many_data_key({}, provider=target)
            count = result.bulk_write_result.modified_count if result.bulk_write_result else 0
    reset()
    return count


# --- outbox payloads (MySQL) ----------------------------------------------------------------------------
# The outbox holds writes while MongoDB — and so the key vault — is unreachable: its payloads are
# sealed with AES-256-GCM under a site key that needs no database (CHAT_OUTBOX_KEY, or derived
# from the local master key). An erasure deletes the patient's outbox entries outright.

PAYLOAD_PHI_KEYS = frozenset(
    {"content", "reason", "title", "metadata", "source_documents", "agent_steps", "attachments", "error_info"}
)
SEALED_PAYLOAD_KEY = "sealed"


def _outbox_key() -> bytes:
    if settings.CHAT_OUTBOX_KEY:
        key = base64.b64decode(settings.CHAT_OUTBOX_KEY)
        if len(key) != 32:
            raise ImproperlyConfigured("CHAT_OUTBOX_KEY must be 32 bytes (base64-encoded).")
        return key
    if settings.CHAT_ENCRYPTION_KMS_PROVIDER != "local":
        raise ImproperlyConfigured("CHAT_OUTBOX_KEY must be set with a cloud KMS provider.")
    return hmac.new(master_key_bytes(), b"medibot outbox key v1", hashlib.sha256).digest()


def seal_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload as stored: its PHI keys sealed together (unchanged when encryption is off)."""
    if not enabled() or not PAYLOAD_PHI_KEYS & payload.keys():
        return payload
    secret = {key: value for key, value in payload.items() if key in PAYLOAD_PHI_KEYS}
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(_outbox_key()).encrypt(nonce, json.dumps(secret).encode(), None)
    kept = {key: value for key, value in payload.items() if key not in PAYLOAD_PHI_KEYS}
    return {**kept, SEALED_PAYLOAD_KEY: base64.b64encode(sealed).decode()}


SEALED_TEXT_PREFIX = "sealed1:"


def seal_text(text: str) -> str:
    """A cache entry (the recent-history cache) sealed like outbox payloads, when encryption is on."""
    if not enabled():
        return text
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(_outbox_key()).encrypt(nonce, text.encode(), None)
    return SEALED_TEXT_PREFIX + base64.b64encode(sealed).decode()


def open_text(text: str) -> str:
    if not text.startswith(SEALED_TEXT_PREFIX):
        return text
    sealed = base64.b64decode(text[len(SEALED_TEXT_PREFIX) :])
    return AESGCM(_outbox_key()).decrypt(sealed[:12], sealed[12:], None).decode()


def open_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The plaintext of an outbox payload (sealed or not)."""
    if SEALED_PAYLOAD_KEY not in payload:
        return payload
    sealed = base64.b64decode(payload[SEALED_PAYLOAD_KEY])
    secret = json.loads(AESGCM(_outbox_key()).decrypt(sealed[:12], sealed[12:], None))
    kept = {key: value for key, value in payload.items() if key != SEALED_PAYLOAD_KEY}
    return {**kept, **secret}


# --- files at rest --------------------------------------------------------------------------------------


def seal_file(user_id: int, data: bytes) -> bytes:
    """A backup file's bytes encrypted under the patient's key (a small JSON envelope)."""
    ciphertext = encrypt_value(user_id, data)
    envelope = {
        "format": BACKUP_FORMAT,
        "user_id": int(user_id),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "subtype": ciphertext.subtype,
    }
    return json.dumps(envelope).encode()


def is_sealed_file(data: bytes) -> bool:
    return data.startswith(b'{"format": "' + BACKUP_FORMAT.encode())


def open_file(data: bytes) -> bytes:
    """The plaintext of a file written by ``seal_file`` (other files unchanged); a destroyed key
    raises ``PatientKeyErased``."""
    if not is_sealed_file(data):
        return data
    envelope = json.loads(data)
    try:
        sealed = Binary(base64.b64decode(envelope["ciphertext"]), envelope.get("subtype", LEGACY_SUBTYPE))
        plain = decrypt_value(sealed)
    except PatientKeyErased:
        raise PatientKeyErased(envelope.get("user_id")) from None
    return bytes(plain)
