"""Key caches are bounded: a data key destroyed elsewhere (another process shredded it, so this
process's caches were not dropped) stops decrypting and stops deriving search keys here within
CHAT_ENCRYPTION_KEY_CACHE_SECONDS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from chats import crypto, selectors, services
from tests.chats.encryption_keys import own_keys

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

CACHE_SECONDS = 1.0
USER_ID = 424242


@pytest.fixture(autouse=True)
def short_key_cache(tmp_path: Path) -> Iterator[None]:
    with own_keys(tmp_path), override_settings(CHAT_ENCRYPTION_KEY_CACHE_SECONDS=CACHE_SECONDS):
        crypto.reset()
        yield


def destroyed_elsewhere(user_id: int) -> None:
    """What another process's shredding leaves this one with: the key gone, its caches intact."""
    crypto._key_vault().delete_many({"keyAltNames": crypto.key_alt_name(user_id)})


def seconds_until(condition: Callable[[], bool], *, deadline: float) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < deadline, "the destroyed key still works"
        time.sleep(0.1)


def test_a_key_destroyed_elsewhere_stops_decrypting_within_the_cache_time() -> None:
    ciphertext = crypto.encrypt_value(USER_ID, "lithium-carbonate 450mg")
    assert crypto.decrypt_value(ciphertext) == "lithium-carbonate 450mg"  # the key is cached now

    destroyed_elsewhere(USER_ID)

    def erased() -> bool:
        try:
            crypto.decrypt_value(ciphertext)
        except crypto.PatientKeyErased:
            return True
        return False

    seconds_until(erased, deadline=CACHE_SECONDS + 2)


def test_a_key_destroyed_elsewhere_stops_deriving_search_keys_within_the_cache_time() -> None:
    before = crypto.search_hmac(USER_ID, "psoriasi")

    destroyed_elsewhere(USER_ID)

    seconds_until(lambda: crypto.search_hmac(USER_ID, "psoriasi") != before, deadline=CACHE_SECONDS + 2)


def test_a_page_read_batch_wise_fails_as_erased_within_the_cache_time() -> None:
    session = services.start_session(user_id=USER_ID, title="Rash")
    services.append_message(session=session, role="user", content="lithium-carbonate 450mg")
    services.append_message(session=session, role="assistant", content="Noted.")
    page = selectors.message_page(session=session)
    assert [message.content for message in page.items] == ["lithium-carbonate 450mg", "Noted."]

    destroyed_elsewhere(USER_ID)

    def erased() -> bool:
        try:
            selectors.message_page(session=session)
        except crypto.PatientKeyErased:
            return True
        return False

    seconds_until(erased, deadline=CACHE_SECONDS + 2)


def test_the_shredding_process_drops_its_caches_at_once() -> None:
    ciphertext = crypto.encrypt_value(USER_ID, "lithium-carbonate 450mg")
    crypto.decrypt_value(ciphertext)

    crypto.shred_patient_key(USER_ID)

    with pytest.raises(crypto.PatientKeyErased):
        crypto.decrypt_value(ciphertext)
