"""The world of the security tests: Alice's chats and EHR, and the people who must not touch them.

Alice (a patient) owns a conversation with a voted, token-counted reply, a full EHR with one
entry of each kind and a completed erasure of an earlier session. Bob is another patient with his
own chats and record, Dr Who a clinician assigned to nobody, Dr House Alice's clinician, Sam a
staff member. Every distinctive value of Alice's is in ``World.alice_markers``, so a response can be
searched for leaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import pytest
from bson import Int64
from django.core.cache import cache
from django.forms.models import model_to_dict
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from chats import services, store
from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage
from chats.outbox.models import Erasure
from chats.services import transfers
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile, PatientRecord
from tests.chats.factories import exchange as stored_exchange
from tests.ehr.factories import (
    AllergyFactory,
    ConditionFactory,
    EncounterFactory,
    MedicationFactory,
    ObservationFactory,
    make_clinician,
    make_profile,
)
from tests.factories import make_staff, make_user, token_for

SHARED_WORD = "zebracorn"  # in Alice's and Bob's messages: a search must find only the caller's
ALICE_QUESTION = f"Does {SHARED_WORD} quetiapine interact with grapefruit?"
ALICE_ANSWER = "Quetiapine levels may rise with grapefruit; ask Dr Alicebrand."
BOB_QUESTION = f"Is {SHARED_WORD} bobsleigh safe after knee surgery?"
ALICE_TITLE = "alice quetiapine private"
ALICE_MRN = "MRN-ALICE-0042"
ALICE_ERASED_SESSION = "alice-erased-session-0007"
CHAT_MODELS: tuple[type[Any], ...] = (ChatSession, ChatMessage, MessageVote, TokenUsage)
RECORD_MODELS: dict[str, type[PatientRecord]] = {
    "allergies": Allergy,
    "medications": Medication,
    "conditions": Condition,
    "encounters": Encounter,
    "observations": Observation,
}


@dataclass
class World:
    alice: User
    bob: User
    clinician: User
    outsider_clinician: User
    staff: User
    session: ChatSession
    question: ChatMessage
    answer: ChatMessage
    bob_session: ChatSession
    profile: PatientProfile
    bob_profile: PatientProfile
    records: dict[str, PatientRecord]
    erasure: Erasure
    transfer_id: str  # Alice's export, queued
    alice_markers: list[str] = field(default_factory=list)

    def path_values(self) -> dict[str, object]:
        """Alice's objects as URL parameters (records are filled in per kind by the caller)."""
        return {
            "session_id": self.session.session_id,
            "message_id": self.answer.message_id,
            "patient_id": self.profile.pk,
            "user_id": self.alice.pk,
            "erasure_id": self.erasure.pk,
            "transfer_id": self.transfer_id,
        }


def exchange(session: ChatSession, question: str, answer: str) -> tuple[ChatMessage, ChatMessage]:
    user_message, assistant, _ = stored_exchange(
        session=session,
        user_content=question,
        reply=services.Reply(
            content=answer, model="m-sec", prompt_tokens=11, completion_tokens=7, cost=Decimal("0.0042")
        ),
    )
    return user_message, assistant


def _built_export(user_id: int) -> str:
    """An all-conversations export of the user's, built (as the task does) so it can be downloaded."""
    transfer_id = transfers.start_export(user_id=user_id).transfer_id
    transfers.run_export(transfer_id=transfer_id)
    return transfer_id


def build_world() -> World:
    clinician = make_clinician(username="dr-house")
    alice = make_user(username="alice", first_name="Alicebrand")
    bob = make_user(username="bob")
    profile = make_profile(user=alice, clinicians=[clinician], medical_record_number=ALICE_MRN)
    records = cast(
        dict[str, PatientRecord],
        {
            "allergies": AllergyFactory(patient=profile, substance="Alicemycin", reaction="violet rash"),
            "medications": MedicationFactory(patient=profile, name="Quetiapine-Alice", dose="25 mg"),
            "conditions": ConditionFactory(patient=profile, description="Alice hidden condition"),
            "encounters": EncounterFactory(patient=profile, clinician=clinician, notes="Alice secret note"),
            "observations": ObservationFactory(patient=profile),
        },
    )
    session = services.start_session(user_id=alice.pk, title=ALICE_TITLE, tags=["alice-tag"])
    question, answer = exchange(session, ALICE_QUESTION, ALICE_ANSWER)
    services.vote(message=answer, user_id=alice.pk, vote_type="up", reason="alice liked grapefruit")
    bob_session = services.start_session(user_id=bob.pk, title="bob knee")
    exchange(bob_session, BOB_QUESTION, "Bobsleigh after surgery needs your surgeon's consent.")
    return World(
        alice=alice,
        bob=bob,
        clinician=clinician,
        outsider_clinician=make_clinician(username="dr-who"),
        staff=make_staff(username="sam-staff"),
        session=session,
        question=question,
        answer=answer,
        bob_session=bob_session,
        profile=profile,
        bob_profile=make_profile(user=bob),
        records=records,
        transfer_id=_built_export(alice.pk),
        erasure=Erasure.objects.create(
            user_id=alice.pk,
            session_id=ALICE_ERASED_SESSION,
            requested_by_id=alice.pk,
            completed_at=timezone.now(),
        ),
        alice_markers=[
            session.session_id,
            question.message_id,
            answer.message_id,
            "quetiapine",
            "Quetiapine",
            "Alicebrand",
            "alice-tag",
            "Alicemycin",
            "violet rash",
            "Alice hidden condition",
            "Alice secret note",
            ALICE_MRN,
            ALICE_ERASED_SESSION,
        ],
    )


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Throttle counters (login failures, sends, exports) live in the cache: no test inherits another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def chat_documents(user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every chat document of the user, as MongoDB stores it."""
    return {
        model._meta.db_table: list(store.collection(model).find({"user_id": Int64(user_id)}).sort("_id", 1))
        for model in CHAT_MODELS
    }


def ehr_rows(profile: PatientProfile) -> dict[str, Any]:
    stored = PatientProfile.objects.get(pk=profile.pk)
    rows: dict[str, Any] = {"profile": model_to_dict(stored), "created": stored.created_at}
    rows["updated"] = stored.updated_at
    owned = {"patient_id": profile.pk}
    for slug, model in RECORD_MODELS.items():
        rows[slug] = list(model._default_manager.filter(**owned).order_by("pk").values())
    return rows


def account_row(user: User) -> dict[str, Any]:
    stored = User.objects.get(pk=user.pk)
    return {
        **model_to_dict(stored, exclude=["last_login"]),
        "tokens": sorted(ApiToken.objects.filter(user_id=user.pk).values_list("digest", flat=True)),
    }


def stored_state(world: World) -> dict[str, Any]:
    """Everything of Alice's that lives in a store: chat documents, EHR rows, account and token."""
    return {
        "chats": chat_documents(world.alice.pk),
        "ehr": ehr_rows(world.profile),
        "account": account_row(world.alice),
    }


def chat_counts(user_id: int) -> dict[str, int]:
    return {
        model._meta.db_table: store.collection(model).count_documents({"user_id": Int64(user_id)})
        for model in CHAT_MODELS
    }


def body_of(response: Any) -> bytes:
    """The body, read once: a streamed body is kept on the response for later reads."""
    if not getattr(response, "streaming", False):
        return bytes(response.content)
    if not hasattr(response, "read_body"):
        response.read_body = b"".join(response.streaming_content)
    return bytes(response.read_body)


def leaked(response: Any, markers: Iterable[str]) -> list[str]:
    body = body_of(response).decode("utf-8", errors="replace")
    return [marker for marker in markers if marker in body]


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def token_client(user: User) -> APIClient:
    """A client that authenticates like a real one: with the user's API token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client
