"""The bot reply providers: the offline rules and the OpenAI-compatible client against a real local server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chats.responders.base import EhrFact, EhrSummary, Reply, ResponderError, Turn
from chats.responders.offline import OfflineResponder, estimate_tokens
from chats.responders.openai_compatible import OpenAICompatibleResponder, ProviderConfig
from chats.responders.registry import get_responder
from tests.chats.fake_llm_server import FakeLlmServer

API_KEY = "sk-test-secret-key-0123456789"
SECRET_MESSAGE = "my neighbour Zebediah Quill gave me his pills"
EHR = EhrSummary(
    facts=[
        EhrFact(kind="allergy", record_id=11, text="penicillin"),
        EhrFact(kind="medication", record_id=21, text="metformin 500 mg twice daily"),
        EhrFact(kind="condition", record_id=31, text="type 2 diabetes"),
    ]
)
HISTORY = [
    Turn(role="user", content="I have had a cough since Monday."),
    Turn(role="assistant", content="I'm sorry to hear that."),
]


@pytest.fixture
def fake_llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


def responder_for(fake: FakeLlmServer, **overrides: object) -> OpenAICompatibleResponder:
    options: dict[str, object] = {
        "base_url": fake.url,
        "api_key": API_KEY,
        "model": "fake-model-1",
        "timeout_seconds": 2.0,
        "max_retries": 2,
        "price_per_1k_prompt": Decimal("0.0025"),
        "price_per_1k_completion": Decimal("0.01"),
        "backoff_seconds": 0.01,
        **overrides,
    }
    return OpenAICompatibleResponder(ProviderConfig(**options))  # type: ignore[arg-type]


def collect(chunks: Iterator[str | Reply]) -> tuple[list[str], Reply]:
    items = list(chunks)
    texts = [item for item in items[:-1] if isinstance(item, str)]
    assert len(texts) == len(items) - 1, "only text chunks may come before the final Reply"
    final = items[-1]
    assert isinstance(final, Reply)
    return texts, final


def ask(bot: OpenAICompatibleResponder, *, message: str, stream: bool) -> Reply:
    if stream:
        return collect(bot.stream(history=[], message=message, ehr=EHR))[1]
    return bot.reply(history=[], message=message, ehr=EHR)


# --- offline -------------------------------------------------------------------------------------


def test_offline_reply_is_deterministic() -> None:
    bot = OfflineResponder()

    first = bot.reply(history=HISTORY, message="I have a fever", ehr=EHR)
    second = bot.reply(history=HISTORY, message="I have a fever", ehr=EHR)

    assert first == second
    assert first.model == "medibot-offline"
    assert first.cost == Decimal(0)


@pytest.mark.parametrize(
    "message",
    ["hello", "I have a fever", "I have a headache", "Can I take ibuprofen?", "What is the meaning of life?"],
)
def test_offline_says_it_is_an_automated_assistant_not_a_clinician(message: str) -> None:
    content = OfflineResponder().reply(history=[], message=message, ehr=None).content

    assert "automated assistant" in content
    assert "not a clinician" in content


def test_offline_greets_a_greeting() -> None:
    content = OfflineResponder().reply(history=[], message="Hello there!", ehr=None).content

    assert content.startswith("Hello!")


@pytest.mark.parametrize(
    "message",
    [
        "I have chest pain and a headache",
        "I am having difficulty breathing",
        "I'm short of breath",
        "I want to kill myself",
    ],
)
def test_offline_urges_emergency_services_first(message: str) -> None:
    content = OfflineResponder().reply(history=[], message=message, ehr=EHR).content

    first_paragraph = content.split("\n\n")[0]
    assert "call your local emergency number" in first_paragraph


def test_offline_answers_a_symptom_without_emergency_advice() -> None:
    content = OfflineResponder().reply(history=[], message="I have a fever", ehr=None).content

    assert "fever" in content
    assert "emergency number" not in content


def test_offline_medication_question_defers_to_a_pharmacist() -> None:
    content = OfflineResponder().reply(history=[], message="What dose of paracetamol?", ehr=None).content

    assert "pharmacist" in content


def test_offline_unknown_question_falls_back_without_guessing() -> None:
    content = OfflineResponder().reply(history=[], message="Is my blood test normal?", ehr=None).content

    assert "rather not guess" in content


def test_offline_mentions_recorded_allergies_medications_and_conditions() -> None:
    content = OfflineResponder().reply(history=[], message="Can I take amoxicillin?", ehr=EHR).content

    assert "Your record lists an allergy to penicillin." in content
    assert "metformin 500 mg twice daily" in content
    assert "type 2 diabetes" in content


def test_offline_metadata_holds_only_the_ehr_record_ids() -> None:
    reply = OfflineResponder().reply(history=[], message="I have a headache", ehr=EHR)

    assert reply.metadata == {"ehr_record_ids": {"allergy": [11], "medication": [21], "condition": [31]}}


def test_offline_without_ehr_mentions_no_record() -> None:
    reply = OfflineResponder().reply(history=[], message="I have a headache", ehr=None)

    assert "Your record" not in reply.content
    assert reply.metadata == {}


def test_offline_token_counts_are_estimated_from_history_message_and_reply() -> None:
    reply = OfflineResponder().reply(history=HISTORY, message="I have a fever", ehr=None)

    prompt_words = sum(len(turn.content.split()) for turn in HISTORY) + 4
    assert reply.prompt_tokens == -(-prompt_words * 4 // 3)
    assert reply.completion_tokens == estimate_tokens(reply.content) > 0


def test_estimate_tokens_rounds_up_four_thirds_of_the_words() -> None:
    assert [estimate_tokens(" ".join(["w"] * words)) for words in (0, 1, 2, 3, 4)] == [0, 2, 3, 4, 6]


def test_offline_stream_chunks_join_to_the_final_content() -> None:
    bot = OfflineResponder()

    texts, final = collect(bot.stream(history=HISTORY, message="I have chest pain", ehr=EHR))

    assert len(texts) > 1
    assert "".join(texts) == final.content
    assert final == bot.reply(history=HISTORY, message="I have chest pain", ehr=EHR)


# --- OpenAI-compatible: success ------------------------------------------------------------------


def test_openai_reply_parses_content_and_usage(fake_llm: FakeLlmServer) -> None:
    reply = responder_for(fake_llm).reply(history=HISTORY, message="I have a fever", ehr=EHR)

    assert reply.content == fake_llm.reply_text
    assert reply.model == "fake-model-1"
    assert (reply.prompt_tokens, reply.completion_tokens) == (1200, 300)
    assert reply.metadata == {"ehr_record_ids": {"allergy": [11], "medication": [21], "condition": [31]}}


def test_openai_cost_is_exact_from_per_1k_prices(fake_llm: FakeLlmServer) -> None:
    fake_llm.usage = {"prompt_tokens": 1234, "completion_tokens": 567}

    reply = responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert reply.cost == Decimal("0.003085") + Decimal("0.00567")


def test_openai_request_carries_auth_model_system_prompt_ehr_history_and_message(
    fake_llm: FakeLlmServer,
) -> None:
    responder_for(fake_llm).reply(history=HISTORY, message="I have a fever", ehr=EHR)

    [request] = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "fake-model-1"
    assert "stream" not in request.body
    roles = [message["role"] for message in request.messages]
    assert roles == ["system", "system", "user", "assistant", "user"]
    assert "not a clinician" in request.messages[0]["content"]
    assert "penicillin" in request.messages[1]["content"]
    assert "metformin 500 mg twice daily" in request.messages[1]["content"]
    assert [m["content"] for m in request.messages[2:4]] == [turn.content for turn in HISTORY]
    assert request.messages[-1] == {"role": "user", "content": "I have a fever"}


def test_openai_request_without_ehr_has_one_system_message(fake_llm: FakeLlmServer) -> None:
    responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    roles = [message["role"] for message in fake_llm.requests[0].messages]
    assert roles == ["system", "user"]


def test_openai_without_usage_estimates_tokens(fake_llm: FakeLlmServer) -> None:
    fake_llm.usage = None

    reply = responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert reply.completion_tokens == estimate_tokens(fake_llm.reply_text)
    assert reply.prompt_tokens > estimate_tokens("hello")
    assert reply.metadata == {"tokens_estimated": True}


def test_openai_stream_yields_chunks_then_the_final_reply(fake_llm: FakeLlmServer) -> None:
    texts, final = collect(responder_for(fake_llm).stream(history=HISTORY, message="fever?", ehr=EHR))

    assert len(texts) == len(fake_llm.reply_text.split(" "))
    assert "".join(texts) == final.content == fake_llm.reply_text
    assert (final.prompt_tokens, final.completion_tokens) == (1200, 300)
    assert final.cost == Decimal("0.006")
    request = fake_llm.requests[0].body
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}


def test_openai_stream_without_usage_chunk_estimates_tokens(fake_llm: FakeLlmServer) -> None:
    fake_llm.usage = None

    _, final = collect(responder_for(fake_llm).stream(history=[], message="hello", ehr=None))

    assert final.completion_tokens == estimate_tokens(fake_llm.reply_text)
    assert final.metadata["tokens_estimated"] is True


def test_openai_retries_server_errors_then_succeeds(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_times = 2

    reply = responder_for(fake_llm, max_retries=2).reply(history=[], message="hello", ehr=None)

    assert reply.content == fake_llm.reply_text
    assert len(fake_llm.requests) == 3


def test_openai_retries_429(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_times, fake_llm.fail_status = 1, 429

    reply = responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert reply.content == fake_llm.reply_text
    assert len(fake_llm.requests) == 2


def test_openai_stream_retries_server_errors_before_the_first_chunk(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_times = 1

    texts, final = collect(responder_for(fake_llm).stream(history=[], message="hello", ehr=None))

    assert "".join(texts) == final.content == fake_llm.reply_text
    assert len(fake_llm.requests) == 2


# --- OpenAI-compatible: failures -----------------------------------------------------------------


def test_openai_gives_up_after_max_retries(fake_llm: FakeLlmServer) -> None:
    fake_llm.fail_times = 10

    with pytest.raises(ResponderError) as caught:
        responder_for(fake_llm, max_retries=2).reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_http_500"
    assert len(fake_llm.requests) == 3


def test_openai_does_not_retry_a_client_error(fake_llm: FakeLlmServer) -> None:
    fake_llm.status = 400

    with pytest.raises(ResponderError) as caught:
        responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_http_400"
    assert len(fake_llm.requests) == 1


def test_openai_timeout_is_bounded(fake_llm: FakeLlmServer) -> None:
    timeout, retries = 0.3, 1
    fake_llm.delay_seconds = 10
    bot = responder_for(fake_llm, timeout_seconds=timeout, max_retries=retries)

    started = time.monotonic()
    with pytest.raises(ResponderError) as caught:
        bot.reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_timeout"
    assert time.monotonic() - started < timeout * (retries + 1) + 2
    assert len(fake_llm.requests) == retries + 1


def test_openai_stream_timeout_is_provider_timeout(fake_llm: FakeLlmServer) -> None:
    fake_llm.delay_seconds = 10

    with pytest.raises(ResponderError) as caught:
        collect(
            responder_for(fake_llm, timeout_seconds=0.3, max_retries=0).stream(
                history=[], message="hi", ehr=None
            )
        )

    assert caught.value.code == "provider_timeout"


def test_openai_malformed_json_is_provider_malformed(fake_llm: FakeLlmServer) -> None:
    fake_llm.malformed = True

    with pytest.raises(ResponderError) as caught:
        responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_malformed"
    assert len(fake_llm.requests) == 1


def test_openai_malformed_stream_is_provider_malformed(fake_llm: FakeLlmServer) -> None:
    fake_llm.malformed = True

    with pytest.raises(ResponderError) as caught:
        collect(responder_for(fake_llm).stream(history=[], message="hello", ehr=None))

    assert caught.value.code == "provider_malformed"


def test_openai_stream_cut_before_done_is_provider_malformed(fake_llm: FakeLlmServer) -> None:
    fake_llm.omit_done = True

    with pytest.raises(ResponderError) as caught:
        collect(responder_for(fake_llm).stream(history=[], message="hello", ehr=None))

    assert caught.value.code == "provider_malformed"


def test_openai_empty_reply_is_an_error(fake_llm: FakeLlmServer) -> None:
    fake_llm.reply_text = ""

    with pytest.raises(ResponderError) as caught:
        responder_for(fake_llm).reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_empty"


def test_openai_unreachable_provider_is_provider_unreachable() -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = reserved.getsockname()[1]
        config = ProviderConfig(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, model="m", backoff_seconds=0.01
        )

        with pytest.raises(ResponderError) as caught:
            OpenAICompatibleResponder(config).reply(history=[], message="hello", ehr=None)

    assert caught.value.code == "provider_unreachable"


@pytest.mark.parametrize(
    ("setup", "stream"),
    [
        ({"status": 401}, False),
        ({"fail_times": 10}, True),
        ({"malformed": True}, False),
        ({"malformed": True}, True),
        ({"delay_seconds": 10}, False),
    ],
)
def test_error_messages_contain_neither_the_api_key_nor_the_users_text(
    fake_llm: FakeLlmServer, setup: dict[str, object], stream: bool
) -> None:
    for name, value in setup.items():
        setattr(fake_llm, name, value)
    bot = responder_for(fake_llm, timeout_seconds=0.3, max_retries=1)

    with pytest.raises(ResponderError) as caught:
        ask(bot, message=SECRET_MESSAGE, stream=stream)

    text = f"{caught.value} {caught.value!r} {caught.value.code} {caught.value.__cause__!r}"
    assert API_KEY not in text
    assert "Zebediah" not in text
    assert "penicillin" not in text


def test_provider_config_repr_hides_the_api_key() -> None:
    config = ProviderConfig(base_url="http://127.0.0.1:1/v1", api_key=API_KEY, model="m")

    assert API_KEY not in repr(config)


# --- registry ------------------------------------------------------------------------------------


@override_settings(CHAT_RESPONDER="offline")
def test_registry_defaults_to_offline() -> None:
    assert isinstance(get_responder(), OfflineResponder)


def test_registry_builds_the_openai_responder_from_settings(fake_llm: FakeLlmServer) -> None:
    with override_settings(
        CHAT_RESPONDER="openai",
        OPENAI_BASE_URL=fake_llm.url,
        OPENAI_API_KEY=API_KEY,
        OPENAI_MODEL="fake-model-1",
        OPENAI_PRICE_PER_1K_PROMPT="0.0025",
        OPENAI_PRICE_PER_1K_COMPLETION="0.01",
    ):
        bot = get_responder()
    reply = bot.reply(history=[], message="hello", ehr=None)

    assert isinstance(bot, OpenAICompatibleResponder)
    assert reply.cost == Decimal("0.006")
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


@override_settings(CHAT_RESPONDER="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
def test_registry_caches_one_responder_per_configuration() -> None:
    first = get_responder()
    with override_settings(OPENAI_MODEL="another-model"):
        changed = get_responder()

    assert get_responder() is first
    assert changed is not first


@override_settings(CHAT_RESPONDER="openai", OPENAI_BASE_URL="127.0.0.1:9")
def test_registry_rejects_a_base_url_without_scheme() -> None:
    with pytest.raises(ImproperlyConfigured):
        get_responder()


@override_settings(
    CHAT_RESPONDER="openai", OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_PRICE_PER_1K_PROMPT="cheap"
)
def test_registry_rejects_a_price_that_is_not_a_decimal() -> None:
    with pytest.raises(ImproperlyConfigured):
        get_responder()


@override_settings(CHAT_RESPONDER="oracle")
def test_registry_rejects_an_unknown_responder() -> None:
    with pytest.raises(ImproperlyConfigured):
        get_responder()
