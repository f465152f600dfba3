"""Sharing a conversation with the care team (issue 17): the patient shares and unshares; the
clinicians assigned to them list and read it, read-only, every read in the patient's access log."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chats import services
from chats.models import ChatSession
from ehr.models import ConversationShare
from tests.chats.factories import session_with_messages
from tests.ehr.factories import make_clinician, make_profile
from tests.factories import make_user, token_for

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def api(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@dataclass
class CareTeam:
    patient: User
    clinician: User
    other_clinician: User
    other_patient: User
    conversation: ChatSession
    private: ChatSession


@pytest.fixture
def team() -> CareTeam:
    clinician = make_clinician(username="dr-grey")
    patient = make_user(username="pat")
    make_profile(user=patient, clinicians=[clinician])
    other_patient = make_user(username="olly")
    make_profile(user=other_patient, clinicians=[clinician])
    return CareTeam(
        patient=patient,
        clinician=clinician,
        other_clinician=make_clinician(username="dr-who"),
        other_patient=other_patient,
        conversation=session_with_messages(user_id=patient.pk, messages=4, title="Knee pain"),
        private=session_with_messages(user_id=patient.pk, messages=2, title="Private"),
    )


def share(team: CareTeam, session: ChatSession | None = None) -> None:
    session_id = (session or team.conversation).session_id
    response = api(team.patient).post(f"/api/chat/sessions/{session_id}/share")
    assert response.status_code == 201, response.content


def audit_log(user: User) -> list[dict[str, object]]:
    response = api(user).get("/api/audit/me")
    assert response.status_code == 200
    return list(response.json()["results"])


# --- the patient --------------------------------------------------------------------------------


def test_sharing_names_the_care_team(team: CareTeam) -> None:
    response = api(team.patient).post(f"/api/chat/sessions/{team.conversation.session_id}/share")

    assert response.status_code == 201
    body = response.json()
    assert body["shared"] is True
    assert [member["username"] for member in body["care_team"]] == ["dr-grey"]
    status = api(team.patient).get(f"/api/chat/sessions/{team.conversation.session_id}/share").json()
    assert status["shared"] is True


def test_sharing_twice_keeps_one_share(team: CareTeam) -> None:
    share(team)
    share(team)

    assert ConversationShare.objects.count() == 1


def test_sharing_someone_elses_conversation_is_404(team: CareTeam) -> None:
    theirs = session_with_messages(user_id=team.other_patient.pk, messages=2)

    response = api(team.patient).post(f"/api/chat/sessions/{theirs.session_id}/share")

    assert response.status_code == 404
    assert ConversationShare.objects.count() == 0


def test_sharing_without_a_care_team_is_a_clear_409() -> None:
    lonely = make_user(username="lonely")
    session = session_with_messages(user_id=lonely.pk, messages=2)

    response = api(lonely).post(f"/api/chat/sessions/{session.session_id}/share")

    assert response.status_code == 409
    assert "no care team" in response.json()["detail"]


# --- the clinician ------------------------------------------------------------------------------


def test_the_clinician_lists_what_was_shared_with_them_and_nothing_else(team: CareTeam) -> None:
    share(team)

    response = api(team.clinician).get("/api/chat/shared")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["session_id"], r["title"], r["patient"]["username"]) for r in results] == [
        (team.conversation.session_id, "Knee pain", "pat")
    ]


def test_the_clinician_reads_the_shared_conversation_page_by_page(team: CareTeam) -> None:
    share(team)
    base = f"/api/chat/shared/{team.conversation.session_id}"

    detail = api(team.clinician).get(base)
    newest = api(team.clinician).get(f"{base}/messages?limit=3")
    older = api(team.clinician).get(f"{base}/messages?limit=3&before=2")

    assert detail.status_code == 200
    assert detail.json()["message_count"] == 4
    assert [m["order"] for m in newest.json()["results"]] == [2, 3, 4]
    assert newest.json()["has_older"] is True
    assert [m["content"] for m in older.json()["results"]] == ["message 1 of the session"]
    assert "my_vote" not in newest.json()["results"][0]


def test_every_clinician_read_is_in_the_patients_access_log(team: CareTeam) -> None:
    share(team)
    base = f"/api/chat/shared/{team.conversation.session_id}"
    api(team.clinician).get("/api/chat/shared")
    api(team.clinician).get(base)
    api(team.clinician).get(f"{base}/messages?limit=3")

    events = audit_log(team.patient)

    reads = [e for e in events if e["actor"] == "dr-grey" and e["object_id"] == team.conversation.session_id]
    assert len(reads) == 3
    assert {e["action"] for e in reads} == {"read"}
    assert any(e["detail"] == "messages 2-4 of 4, shared with the care team" for e in reads)
    assert audit_log(team.other_patient) == []


def test_the_clinician_cannot_write_to_a_shared_conversation(team: CareTeam) -> None:
    share(team)

    sent = api(team.clinician).post(
        "/api/chat/send", {"message": "hello", "session_id": team.conversation.session_id}, format="json"
    )
    opened = api(team.clinician).get(f"/api/chat/sessions/{team.conversation.session_id}/messages")

    assert sent.status_code == 404
    assert opened.status_code == 404


@pytest.mark.parametrize("who", ["other_clinician", "other_patient", "patient"])
def test_anyone_but_an_assigned_clinician_gets_404(team: CareTeam, who: str) -> None:
    share(team)
    base = f"/api/chat/shared/{team.conversation.session_id}"

    client = api(getattr(team, who))

    assert client.get(base).status_code == 404
    assert client.get(f"{base}/messages").status_code == 404
    assert client.get("/api/chat/shared").json()["results"] == []


def test_an_unshared_conversation_of_the_same_patient_is_404(team: CareTeam) -> None:
    share(team)

    response = api(team.clinician).get(f"/api/chat/shared/{team.private.session_id}/messages")

    assert response.status_code == 404


def test_unsharing_revokes_access_with_the_next_request(team: CareTeam) -> None:
    share(team)
    base = f"/api/chat/shared/{team.conversation.session_id}"
    assert api(team.clinician).get(base).status_code == 200

    unshared = api(team.patient).delete(f"/api/chat/sessions/{team.conversation.session_id}/share")

    assert unshared.status_code == 204
    assert api(team.clinician).get(base).status_code == 404
    assert api(team.clinician).get(f"{base}/messages").status_code == 404
    assert api(team.clinician).get("/api/chat/shared").json()["results"] == []


def test_a_clinician_unassigned_from_the_patient_loses_access(team: CareTeam) -> None:
    share(team)
    team.patient.patient_profile.clinicians.remove(team.clinician)

    response = api(team.clinician).get(f"/api/chat/shared/{team.conversation.session_id}")

    assert response.status_code == 404


# --- deletion and erasure -----------------------------------------------------------------------


def test_deleting_the_conversation_removes_its_share(team: CareTeam) -> None:
    share(team)

    deleted = api(team.patient).delete(f"/api/chat/sessions/{team.conversation.session_id}")

    assert deleted.status_code in (200, 204)
    assert ConversationShare.objects.count() == 0
    assert api(team.clinician).get(f"/api/chat/shared/{team.conversation.session_id}").status_code == 404


def test_erasing_the_conversation_removes_its_share(team: CareTeam) -> None:
    share(team)
    share(team, team.private)

    erased = api(team.patient).delete(f"/api/chat/sessions/{team.conversation.session_id}/permanent")

    assert erased.status_code == 200
    assert list(ConversationShare.objects.values_list("session_id", flat=True)) == [team.private.session_id]


def test_erasing_all_chats_removes_every_share(team: CareTeam) -> None:
    share(team)
    share(team, team.private)

    services.request_erasure(user_id=team.patient.pk, requested_by_id=team.patient.pk)

    assert ConversationShare.objects.count() == 0
