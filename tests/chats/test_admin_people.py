"""Staff find a patient's conversations by who they are, by words, or by a person and words (prefixes,
typos) in the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from chats.models import ChatSession
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(
        make_user(username="people-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


@pytest.fixture
def patient_sessions() -> tuple[User, ChatSession, ChatSession]:
    patient = make_user(
        username="demo-patient", email="Demo.Patient@example.test", phone_number="+4915112345678"
    )
    mine = session_with_messages(user_id=patient.pk, title="Headache diary")
    someone_else = session_with_messages(user_id=make_user(username="bystander").pk, title="Knee pain")
    return patient, mine, someone_else


def _sessions_page(client: Client, query: str | dict[str, str]) -> str:
    if isinstance(query, dict):
        response = client.get("/admin/chats/chatsession/", query)
    else:
        response = client.get(f"/admin/chats/chatsession/?{query}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "term", ["demo-patient", "DEMO-PATIENT", "demo.patient@example.test", "+49 151 12345678", "id"]
)
def test_session_search_finds_a_patient_by_username_email_phone_or_user_id(
    staff_client: Client, patient_sessions: tuple[User, ChatSession, ChatSession], term: str
) -> None:
    patient, _, _ = patient_sessions
    page = _sessions_page(staff_client, {"q": str(patient.pk) if term == "id" else term})
    assert "Headache diary" in page
    assert "Knee pain" not in page


def test_session_search_matches_whole_words_across_patients(
    staff_client: Client, patient_sessions: tuple[User, ChatSession, ChatSession]
) -> None:
    assert "Headache diary" in _sessions_page(staff_client, "q=headaches")
    assert "Knee pain" in _sessions_page(staff_client, "q=knee")
    assert "Headache diary" not in _sessions_page(staff_client, "q=knee")


def test_message_search_of_one_patient_takes_prefixes_and_typos(staff_client: Client) -> None:
    owner = make_user(username="prefix-owner")
    session_with_messages(user_id=owner.pk, messages=1)
    for query in ["prefix-owner sess", "prefix-owner sesion"]:
        response = staff_client.get("/admin/chats/chatmessage/", {"q": query})
        assert response.status_code == 200
        assert "message 1 of the session" in response.content.decode()
    other = staff_client.get("/admin/chats/chatmessage/", {"q": "sess"})
    assert "message 1 of the session" not in other.content.decode()


def test_owner_filter_takes_a_username_and_keeps_other_filters(
    staff_client: Client, patient_sessions: tuple[User, ChatSession, ChatSession]
) -> None:
    page = _sessions_page(staff_client, "owner=demo-patient&is_archived__exact=0")
    assert "Headache diary" in page
    assert "Knee pain" not in page
    assert '<input type="hidden" name="is_archived__exact" value="0">' in page


def test_user_page_links_to_their_conversations_ehr_profile_and_access_log(
    staff_client: Client, patient_sessions: tuple[User, ChatSession, ChatSession]
) -> None:
    patient, _, _ = patient_sessions
    page = staff_client.get(f"/admin/accounts/user/{patient.pk}/change/").content.decode()
    assert f'href="/admin/chats/chatsession/?user_id={patient.pk}">Their conversations</a>' in page
    assert f'href="/admin/ehr/patientprofile/?user__id__exact={patient.pk}">EHR profile</a>' in page
    assert f'href="/admin/audit/auditevent/?owner={patient.pk}">Who accessed their data</a>' in page
    assert staff_client.get(f"/admin/ehr/patientprofile/?user__id__exact={patient.pk}").status_code == 200


def test_user_search_takes_a_user_id_or_phone(
    staff_client: Client, patient_sessions: tuple[User, ChatSession, ChatSession]
) -> None:
    patient, _, _ = patient_sessions
    for term in [str(patient.pk), "+4915112345678"]:
        page = staff_client.get("/admin/accounts/user/", {"q": term}).content.decode()
        assert "demo-patient" in page
        assert "bystander" not in page
    assert (
        "1 sessions, 0 messages" in staff_client.get("/admin/accounts/user/?q=demo-patient").content.decode()
    )
