"""The EHR summary the chat responder gets: active facts only, ids recorded, values never logged."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from django.test import override_settings

from chats.services import turn as conversation
from ehr.models import Condition
from ehr.selectors import ehr_summary_for
from tests.ehr.conftest import Ward
from tests.ehr.factories import AllergyFactory, ConditionFactory, MedicationFactory
from tests.factories import make_user


@pytest.mark.django_db
def test_summary_holds_active_allergies_current_medications_and_active_conditions(ward: Ward) -> None:
    AllergyFactory(patient=ward.profile, substance="Latex", active=False)
    MedicationFactory(
        patient=ward.profile, name="Old pill", start_date=date(2010, 1, 1), end_date=date(2010, 2, 1)
    )
    MedicationFactory(patient=ward.profile, name="Paused pill", active=False)
    ConditionFactory(patient=ward.profile, icd10_code="J45.909", status=Condition.Status.RESOLVED)
    summary = ehr_summary_for(ward.owner.pk)
    assert [(fact.kind, fact.record_id, fact.text) for fact in summary.facts] == [
        ("allergy", ward.allergy.pk, "Penicillin (severe: Hives)"),
        ("medication", ward.medication.pk, "Metformin 500 mg twice daily"),
        ("condition", ward.condition.pk, "Type 2 diabetes mellitus without complications (E11.9)"),
    ]


@pytest.mark.django_db
def test_summary_is_empty_for_a_user_without_a_record() -> None:
    assert ehr_summary_for(make_user().pk).facts == []


@pytest.mark.django_db
def test_summary_costs_one_query(ward: Ward, django_assert_num_queries: object) -> None:
    with django_assert_num_queries(1):  # type: ignore[operator]
        ehr_summary_for(ward.owner.pk)


@pytest.mark.django_db(databases=["default", "chats"])
@override_settings(CHAT_RESPONDER="offline")
def test_a_chat_reply_records_the_ehr_ids_it_used_and_logs_no_values(
    ward: Ward, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        turn = conversation.run_turn(
            user_id=ward.owner.pk, session_id=None, text="Can I take ibuprofen for my headache?"
        )
    assert turn.assistant_message.metadata["ehr_record_ids"] == {
        "allergy": [ward.allergy.pk],
        "medication": [ward.medication.pk],
        "condition": [ward.condition.pk],
    }
    assert "Metformin" in turn.assistant_message.content
    for value in ["Penicillin", "Metformin", "diabetes", "E11.9", "Hives"]:
        assert value not in caplog.text
