"""The EHR admin through Django's test client: list, search, filter, change with inlines — all audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms import BaseForm, MultiWidget
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from ehr.models import Allergy, Observation, PatientProfile
from tests.ehr.conftest import Ward
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(
        make_user(username="root-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


def _fields(form: BaseForm) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in form:
        value = field.value()
        if value is None:
            continue
        widget = field.field.widget
        if isinstance(widget, MultiWidget):  # the admin's split date and time
            for index, part in enumerate(widget.decompress(value) or []):
                data[f"{field.html_name}_{index}"] = str(part)
            continue
        if isinstance(value, bool):
            if value:
                data[field.html_name] = "on"
            continue
        data[field.html_name] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


def change_form_data(response: Any) -> dict[str, Any]:
    """What the browser would post back unchanged: the main form and every inline formset."""
    data = _fields(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_fields(formset.management_form))
        for form in formset.forms:
            data.update(_fields(form))
    return data


def test_changelist_lists_searches_and_filters_patients(admin_client: Client, ward: Ward) -> None:
    page = admin_client.get("/admin/ehr/patientprofile/")
    assert page.status_code == 200
    assert ward.profile.medical_record_number in page.content.decode()
    found = admin_client.get("/admin/ehr/patientprofile/?q=alice").content.decode()
    assert ward.profile.medical_record_number in found
    assert ward.other_profile.medical_record_number not in found
    by_clinician = admin_client.get(f"/admin/ehr/patientprofile/?clinicians__id__exact={ward.clinician.pk}")
    assert by_clinician.status_code == 200
    assert ward.other_profile.medical_record_number not in by_clinician.content.decode()
    assert admin_client.get("/admin/ehr/patientprofile/?blood_type__exact=O%2B").status_code == 200


def test_change_page_shows_every_kind_of_entry_inline(admin_client: Client, ward: Ward) -> None:
    page = admin_client.get(f"/admin/ehr/patientprofile/{ward.profile.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ["Penicillin", "Metformin", "E11.9", "Routine review.", "8867-4"]:
        assert text in html


def test_an_inline_entry_is_added_through_the_change_page(admin_client: Client, ward: Ward) -> None:
    url = f"/admin/ehr/patientprofile/{ward.profile.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data.update(
        {
            "allergies-TOTAL_FORMS": "2",
            "allergies-1-substance": "Ibuprofen",
            "allergies-1-severity": "moderate",
            "allergies-1-active": "on",
            "allergies-1-patient": str(ward.profile.pk),
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Allergy.objects.filter(patient=ward.profile, substance="Ibuprofen").exists()


def test_the_admin_refuses_what_the_api_refuses(admin_client: Client, ward: Ward) -> None:
    url = f"/admin/ehr/patientprofile/{ward.profile.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data["observations-0-unit"] = "kg"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Heart rate (8867-4) is recorded in /min, not &#x27;kg&#x27;." in response.content.decode()
    assert Observation.objects.get(pk=ward.observation.pk).unit == "/min"


def test_admin_reads_and_changes_are_audited(admin_client: Client, ward: Ward) -> None:
    admin_user = User.objects.get(username="root-admin")
    admin_client.get("/admin/ehr/patientprofile/")
    url = f"/admin/ehr/patientprofile/{ward.profile.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data["blood_type"] = "B+"
    admin_client.post(url, data)
    events = list(
        AuditEvent.objects.order_by("sequence").values_list("actor_id", "action", "object_id", "owner_id")
    )
    profile_id = str(ward.profile.pk)
    assert events == [
        (admin_user.pk, "read", str(ward.profile.pk), ward.owner.pk),
        (admin_user.pk, "read", str(ward.other_profile.pk), ward.other_patient.pk),
        (admin_user.pk, "read", profile_id, ward.owner.pk),
        (admin_user.pk, "change", profile_id, ward.owner.pk),
    ]
    assert PatientProfile.objects.get(pk=ward.profile.pk).blood_type == "B+"


def test_admin_deletes_are_audited_and_leave_no_values_in_the_admin_log(
    admin_client: Client, ward: Ward
) -> None:
    from django.contrib.admin.models import LogEntry

    response = admin_client.post(f"/admin/ehr/patientprofile/{ward.profile.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(
        action="delete", owner_id=ward.owner.pk, object_type="ehr.patientprofile"
    ).exists()
    assert [entry.object_repr for entry in LogEntry.objects.all()] == [f"patient profile #{ward.profile.pk}"]


def test_a_bulk_delete_action_is_audited_per_patient(admin_client: Client, ward: Ward) -> None:
    admin_client.post(
        "/admin/ehr/patientprofile/",
        {
            "action": "delete_selected",
            "_selected_action": [ward.profile.pk, ward.other_profile.pk],
            "post": "yes",
        },
    )
    assert not PatientProfile.objects.exists()
    deleted = AuditEvent.objects.filter(action="delete").values_list("owner_id", flat=True)
    assert set(deleted) == {ward.owner.pk, ward.other_patient.pk}
