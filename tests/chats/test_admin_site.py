"""The admin as a whole: its name, the index dashboard, readable schedules, no caching."""

from __future__ import annotations

import pytest
from django.test import Client
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import User
from chats import services
from chats.outbox import services as outbox
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(
        make_user(username="site-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


def test_admin_is_called_medibot_administration(staff_client: Client) -> None:
    page = staff_client.get("/admin/").content.decode()
    assert "Medibot administration" in page
    assert "Django administration" not in page
    assert "| Medibot administration</title>" in page


def test_admin_pages_are_never_cached(staff_client: Client) -> None:
    assert staff_client.get("/admin/").headers["Cache-Control"] == "no-store"


def test_index_dashboard_shows_todays_activity_and_the_outbox(staff_client: Client) -> None:
    owner = make_user(username="dashboard-patient")
    session = session_with_messages(user_id=owner.pk, messages=3)
    services.set_archived(session=session, archived=False)
    outbox.enqueue_vote(user_id=owner.pk, message_id="missing", vote_type="up", reason="")

    page = staff_client.get("/admin/").content.decode()

    assert "<dt>Messages</dt><dd>3</dd>" in page
    assert "<dt>Active users</dt><dd>1</dd>" in page
    assert "<dt>New conversations</dt><dd>1</dd>" in page
    assert "Outbox depth</a></dt><dd>1</dd>" in page
    assert "Latest migration run</a></dt>\n      <dd>none</dd>" in page


def test_index_dashboard_is_hidden_from_staff_without_chat_statistics() -> None:
    client = Client()
    client.force_login(make_user(username="plain-staff", is_staff=True))
    page = client.get("/admin/").content.decode()
    assert "medibot-dashboard" not in page


def test_periodic_tasks_show_their_schedule_in_words(staff_client: Client) -> None:
    crontab = CrontabSchedule.objects.create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.create(name="nightly cleanup", task="chats.tasks.cleanup_chats", crontab=crontab)
    page = staff_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "At 03:00 AM" in page
