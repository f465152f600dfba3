"""A key vault and a local master key of one test (chat encryption), dropped afterwards; stored
documents as they are at rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bson.codec_options import CodecOptions
from django.test import override_settings

from chats import crypto, store


@contextmanager
def own_keys(directory: Path, *, encryption: str = "on") -> Iterator[dict[str, str]]:
    """CHAT_ENCRYPTION set, a fresh key vault and master key; yields them as environment variables."""
    namespace = f"{store.database().name}_keyvault.datakeys_{uuid.uuid4().hex[:12]}"
    key_file = str(directory / "master-key.b64")
    with override_settings(
        CHAT_ENCRYPTION=encryption,
        CHAT_KEY_VAULT_NAMESPACE=namespace,
        CHAT_ENCRYPTION_LOCAL_KEY_FILE=key_file,
    ):
        crypto.reset()
        try:
            yield {"CHAT_KEY_VAULT_NAMESPACE": namespace, "CHAT_ENCRYPTION_LOCAL_KEY_FILE": key_file}
        finally:
            crypto.reset()
            database, collection = namespace.split(".", 1)
            store.database().client[database].drop_collection(collection)


def raw_documents(model: Any, user_id: int | None = None) -> list[dict[str, Any]]:
    """The stored documents of ``model`` (of ``user_id``, or all), read without the chats client's
    decoder: encrypted values stay ciphertext."""
    chats = store.database()
    plain = chats.client.get_database(chats.name, codec_options=CodecOptions())
    return list(plain[model._meta.db_table].find({} if user_id is None else {"user_id": user_id}))
