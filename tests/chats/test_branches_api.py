"""The branch API: regenerate, edit and resend, versions at a fork, switching the active branch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def send(client: APIClient, text: str, session_id: str | None = None) -> dict[str, Any]:
    body = {"message": text, **({"session_id": session_id} if session_id else {})}
    response = client.post("/api/chat/send", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def conversation(client: APIClient) -> tuple[str, list[str]]:
    first = send(client, "I have a headache.")
    second = send(client, "It started this morning.", first["session_id"])
    ids = [
        first["user_message"]["message_id"],
        first["assistant_message"]["message_id"],
        second["user_message"]["message_id"],
        second["assistant_message"]["message_id"],
    ]
    return first["session_id"], ids


def page(client: APIClient, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/chat/sessions/{session_id}/messages")
    assert response.status_code == 200
    return list(response.json()["results"])


def test_regenerate_answers_again_on_a_new_active_branch(alice: APIClient) -> None:
    session_id, ids = conversation(alice)

    response = alice.post(f"/api/chat/messages/{ids[3]}/regenerate")

    assert response.status_code == 201, response.content
    reply = response.json()["assistant_message"]
    assert (reply["branch"], reply["order"], reply["sibling_index"], reply["sibling_count"]) == (1, 4, 2, 2)
    assert response.json()["user_message"]["message_id"] == ids[2]
    shown = page(alice, session_id)
    assert [m["message_id"] for m in shown[:3]] == ids[:3]
    assert shown[3]["message_id"] == reply["message_id"]
    assert [(m["sibling_index"], m["sibling_count"]) for m in shown] == [(1, 1), (1, 1), (1, 1), (2, 2)]


def test_regenerate_streams_like_send(alice: APIClient) -> None:
    session_id, ids = conversation(alice)

    response = alice.post(f"/api/chat/messages/{ids[3]}/regenerate?stream=1")

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    events = [block.split("\n")[0].removeprefix("event: ") for block in body.strip().split("\n\n")]
    assert events[-1] == "done"
    done = json.loads(body.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert page(alice, session_id)[3]["message_id"] == done["assistant_message_id"]


def test_edit_and_resend_replaces_the_message_on_the_shown_branch(alice: APIClient) -> None:
    session_id, ids = conversation(alice)

    response = alice.post(
        f"/api/chat/messages/{ids[2]}/edit", {"message": "It started yesterday."}, format="json"
    )

    assert response.status_code == 201, response.content
    shown = page(alice, session_id)
    assert [m["content"] for m in shown[:3]] == [
        "I have a headache.",
        shown[1]["content"],
        "It started yesterday.",
    ]
    assert (shown[2]["branch"], shown[2]["sibling_index"], shown[2]["sibling_count"]) == (1, 2, 2)
    assert len(shown) == 4


def test_siblings_list_every_version_and_the_active_one(alice: APIClient) -> None:
    _, ids = conversation(alice)
    regenerated = alice.post(f"/api/chat/messages/{ids[3]}/regenerate").json()["assistant_message"]

    response = alice.get(f"/api/chat/messages/{ids[3]}/siblings")

    assert response.status_code == 200
    body = response.json()
    assert [m["message_id"] for m in body["results"]] == [ids[3], regenerated["message_id"]]
    assert body["active_index"] == 2
    children = alice.get(f"/api/chat/messages/{ids[2]}/children").json()
    assert [m["message_id"] for m in children["results"]] == [ids[3], regenerated["message_id"]]


def test_activate_switches_the_shown_branch_and_it_persists(alice: APIClient) -> None:
    session_id, ids = conversation(alice)
    alice.post(f"/api/chat/messages/{ids[3]}/regenerate")

    response = alice.post(f"/api/chat/messages/{ids[3]}/activate")

    assert response.status_code == 200
    assert response.json()["active_branch"] == 0
    assert [m["message_id"] for m in page(alice, session_id)] == ids
    session = alice.get(f"/api/chat/sessions/{session_id}").json()
    assert session["active_branch"] == 0
    assert session["message_count"] == 5


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("post", "regenerate", None),
        ("post", "edit", {"message": "mine now"}),
        ("get", "siblings", None),
        ("get", "children", None),
        ("post", "activate", None),
    ],
)
def test_another_users_message_is_404(
    alice: APIClient, mallory: APIClient, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    session_id, ids = conversation(alice)
    target = ids[3] if suffix != "edit" else ids[2]

    response = getattr(mallory, method)(f"/api/chat/messages/{target}/{suffix}", body, format="json")

    assert response.status_code == 404
    assert len(page(alice, session_id)) == 4


def test_bad_input_is_a_4xx_and_stores_nothing(alice: APIClient, patient: User) -> None:
    session_id, ids = conversation(alice)

    assert alice.post(f"/api/chat/messages/{ids[2]}/regenerate").status_code == 400
    assert alice.post(f"/api/chat/messages/{ids[3]}/edit", {"message": "x"}, format="json").status_code == 400
    assert alice.post(f"/api/chat/messages/{ids[2]}/edit", {"message": ""}, format="json").status_code == 400
    assert alice.post(f"/api/chat/messages/{ids[2]}/edit", {"text": "x"}, format="json").status_code == 400
    assert alice.post("/api/chat/messages/not-a-message/activate").status_code == 404
    assert alice.get(f"/api/chat/sessions/{session_id}").json()["message_count"] == 4
