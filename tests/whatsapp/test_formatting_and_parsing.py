"""The pure parts of the channel: numbers, payload reading, WhatsApp markup and splitting."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from tests.whatsapp import deliveries
from whatsapp import formatting, payloads, phones


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("4915112345678", "+4915112345678"),
        ("+44 7700 900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("16505551234", "+16505551234"),
    ],
)
def test_whatsapp_ids_and_written_numbers_become_e164(raw: str, e164: str) -> None:
    assert phones.to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+999999999999999999999", "1" * 40])
def test_numbers_that_cannot_be_parsed_are_none(raw: str) -> None:
    assert phones.to_e164(raw) is None


def test_a_delivery_yields_its_messages_and_statuses() -> None:
    document = deliveries.messages(
        deliveries.message("4915112345678", "text", body="hi"),
        deliveries.message("4915112345678", "image", id="7", mime_type="image/png", caption="look"),
    )
    document["entry"][0]["changes"][0]["value"]["statuses"] = deliveries.status("wamid.X", "read", "1")[
        "entry"
    ][0]["changes"][0]["value"]["statuses"]
    delivery = payloads.parse(document)
    assert [(m.kind, m.text) for m in delivery.messages] == [("text", "hi"), ("image", "look")]
    assert delivery.messages[1].attachment == {"kind": "image", "id": "7", "mime_type": "image/png"}
    assert delivery.messages[0].phone_number_id == deliveries.PHONE_NUMBER_ID
    assert [(s.wamid, s.status) for s in delivery.statuses] == [("wamid.X", "read")]


def test_a_failed_status_keeps_its_error_code_and_title() -> None:
    [update] = payloads.parse(deliveries.status("wamid.F", "failed", "1", error_code=131047)).statuses
    assert (update.error_code, update.error_title) == (131047, "Message undeliverable")


def test_a_location_keeps_no_coordinates() -> None:
    [message] = payloads.parse(deliveries.location("4915112345678")).messages
    assert message.attachment == {"kind": "location"}


@pytest.mark.parametrize("document", [[], {"entry": "x"}, "text", None, {"object": "page"}])
def test_what_is_not_a_delivery_is_malformed(document: object) -> None:
    with pytest.raises(payloads.MalformedPayload):
        payloads.parse(document)


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("# Title\n\nText", "*Title*\n\nText"),
        ("- one\n* two\n+ three", "• one\n• two\n• three"),
        ("[NHS](https://www.nhs.uk)", "NHS (https://www.nhs.uk)"),
        ("```python\nx = **1**\n```", "```x = **1**\n```"),
        ("a\n\n\n\nb", "a\n\nb"),
        ("2 * 3 * 4", "2 * 3 * 4"),
    ],
)
def test_markdown_is_reduced_to_whatsapp_formatting(markdown: str, whatsapp: str) -> None:
    assert formatting.to_whatsapp(markdown) == whatsapp


def test_a_long_reply_is_split_at_paragraph_boundaries() -> None:
    paragraphs = [f"{n} " + "x" * 1500 for n in range(4)]
    parts = formatting.split("\n\n".join(paragraphs))
    assert parts == ["\n\n".join(paragraphs[:2]), "\n\n".join(paragraphs[2:])]


def test_a_paragraph_longer_than_the_limit_is_cut_at_spaces() -> None:
    parts = formatting.split("word " * 2000)
    assert all(len(part) <= formatting.MAX_CHARS for part in parts)
    assert " ".join(parts).split() == ["word"] * 2000


def test_a_short_reply_is_one_message() -> None:
    assert formatting.split("Rest and drink fluids.") == ["Rest and drink fluids."]


@pytest.mark.django_db(databases=["default"])
def test_the_resume_job_runs_every_minute_from_beat() -> None:
    job = PeriodicTask.objects.get(task="whatsapp.tasks.resume_pending")
    assert (job.interval.every, job.interval.period) == (1, "minutes")
