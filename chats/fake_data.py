"""Realistic medical chat data, written fast and exactly as the services store it.

For benchmarks and by hand (``manage.py generate_chats``). Documents are built from model instances
with ``store.to_document`` (the ORM's own encoding), carry the same search terms and content
hashes as ``services.append_message`` writes, and are inserted in bulk. Session counters are kept
in step with an ``$inc``/``$max`` after every batch, so ``message_count`` always equals the stored
messages and orders are 1..n without gaps. Assistant messages are the offline responder's answers
and come with their token usage, as ``services.record_reply`` stores them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pymongo
from bson import Int64
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from pymongo import UpdateOne

from chats import builders, search, search_index, services, store
from chats.models import Channel, ChatMessage, ChatSession, Role, SessionType, TokenUsage
from chats.responders import offline

BATCH_SIZE = 5000
BULK_TIMEOUT_SECONDS = 600
SEARCH_PHRASE = "blood pressure"

SYMPTOMS = [
    "a headache",
    "a dry cough",
    "a fever",
    "high blood pressure readings",
    "dizziness when I stand up",
    "a sore throat",
    "lower back pain",
    "heartburn after meals",
    "trouble sleeping",
    "an itchy rash on my arm",
    "swollen ankles",
    "a migraine",
    "nausea in the mornings",
    "joint pain in my knees",
    "blurred vision",
    "ringing in my ears",
    "stomach cramps",
    "a runny nose and sneezing",
    "constant tiredness",
    "palpitations",
]
DURATIONS = [
    "since yesterday",
    "for three days",
    "for about a week",
    "on and off for a month",
    "since I started a new medication",
    "every morning",
    "after exercise",
]
RELATIVES = ["mother", "father", "son", "daughter", "husband", "wife", "grandmother"]
MEDICINES = [
    "ibuprofen",
    "paracetamol",
    "metformin",
    "lisinopril",
    "amoxicillin",
    "atorvastatin",
    "omeprazole",
    "sertraline",
    "levothyroxine",
    "aspirin",
]
LAB_RESULTS = {
    "HbA1c": ["5.9%", "6.8%", "7.4%"],
    "LDL cholesterol": ["3.1 mmol/L", "4.2 mmol/L", "160 mg/dL"],
    "TSH": ["0.3 mU/L", "4.8 mU/L", "7.1 mU/L"],
    "ferritin": ["12 ng/mL", "250 ng/mL"],
    "creatinine": ["0.9 mg/dL", "1.6 mg/dL"],
}
QUESTIONS = [
    "I've had {symptom} {duration}. Should I see a doctor?",
    "My {relative} has {symptom} {duration}. What can we do at home?",
    "Is it safe to take {medicine} together with {other_medicine}?",
    "What does a {lab} of {value} mean on my lab results?",
    "I forgot to take my {medicine} this morning, what should I do?",
    "How can I lower my blood pressure without more medication?",
    "Can {symptom} be a side effect of {medicine}?",
    "I'd like to book a follow-up appointment about {symptom}.",
    "Hello, I have a question about my {medicine} dose.",
    "I feel anxious and have had {symptom} {duration}.",
]
# Models and prices (per 1,000 tokens) of the assistant messages' token usage.
MODELS = [
    (offline.MODEL, Decimal(0), Decimal(0)),
    ("gpt-4o-mini", Decimal("0.00015"), Decimal("0.0006")),
    ("gpt-4o", Decimal("0.0025"), Decimal("0.01")),
]


def patient_question(rng: random.Random) -> str:
    """One realistic patient message."""
    lab = rng.choice(list(LAB_RESULTS))
    medicine, other_medicine = rng.sample(MEDICINES, 2)
    return rng.choice(QUESTIONS).format(
        symptom=rng.choice(SYMPTOMS),
        duration=rng.choice(DURATIONS),
        relative=rng.choice(RELATIVES),
        medicine=medicine,
        other_medicine=other_medicine,
        lab=lab,
        value=rng.choice(LAB_RESULTS[lab]),
    )


@lru_cache(maxsize=4096)
def _answer(question: str) -> str:
    return offline.compose(message=question, ehr=None)


@dataclass
class _Pending:
    """Documents waiting for the next bulk write, and the counter updates they imply."""

    sessions: dict[Any, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[Any, tuple[ChatSession, int, datetime]] = field(default_factory=dict)

    def count(self, session: ChatSession, moment: datetime) -> None:
        _, added, _ = self.counters.get(session.pk, (session, 0, moment))
        self.counters[session.pk] = (session, added + 1, moment)


@dataclass(frozen=True)
class GeneratedChats:
    user_ids: list[int]
    sessions: int
    messages: int
    token_usage: int


class ChatGenerator:
    """Writes sessions and messages in bulk; the same seed gives the same texts (ids are always new)."""

    def __init__(self, *, seed: int = 0, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> None:
        self.rng = random.Random(seed)  # nosec B311 - synthetic benchmark text, not security
        self.batch_size = batch_size
        self.now = now or store.now()
        self.pending = _Pending()
        self.written = {"sessions": 0, "messages": 0, "token_usage": 0}  # nosec B105 - counter names, not passwords

    def sessions_for(self, *, user_id: int, sessions: int, messages: int) -> list[ChatSession]:
        """``sessions`` new sessions of ``user_id`` with ``messages`` messages each, newest last."""
        spacing = timedelta(minutes=2 * messages + 30)
        started = [
            self.now - spacing * (sessions - number) - timedelta(minutes=2 * messages)
            for number in range(sessions)
        ]
        created = [self._new_session(user_id=user_id, created_at=moment) for moment in started]
        for session in created:
            self._add_messages(session, messages)
        self.flush()
        return created

    def append_to(self, *, session: ChatSession, messages: int) -> ChatSession:
        """Grow an existing session by ``messages`` messages, continuing its order numbers."""
        self._add_messages(session, messages)
        self.flush()
        return session

    def _new_session(self, *, user_id: int, created_at: datetime) -> ChatSession:
        session = builders.session(
            user_id=user_id,
            session_type=self.rng.choice(SessionType.values),
            channel=self.rng.choice([Channel.WEB, Channel.WEB, Channel.API, Channel.WHATSAPP]),
            created_at=created_at,
        )
        document = store.to_document(session)
        self.pending.sessions[document["_id"]] = document
        return store.mark_saved(session)

    def _add_messages(self, session: ChatSession, count: int) -> None:
        moment = max(session.last_message_at or session.created_at, session.created_at)
        question, question_id = "", ""
        for order in range(session.message_count + 1, session.message_count + count + 1):
            moment += timedelta(seconds=self.rng.randint(5, 90))
            if order % 2:
                question = patient_question(self.rng)
                message = self._message(session, order, Role.USER, question, moment)
                question_id = message.message_id
                if not session.title:
                    self._set_title(session, question)
            else:
                reply = _answer(question or patient_question(self.rng))
                message = self._message(session, order, Role.ASSISTANT, reply, moment, parent=question_id)
                self._add_usage(session, message, question, reply)
            self.pending.count(session, moment)
            if len(self.pending.messages) >= self.batch_size:
                self.flush()
        session.message_count += count
        if count:
            session.last_message_at = moment
            session.updated_at = max(session.updated_at, moment)

    def _message(
        self, session: ChatSession, order: int, role: str, content: str, moment: datetime, parent: str = ""
    ) -> ChatMessage:
        message = builders.message(
            session=session,
            role=role,
            content=content,
            order=order,
            model=self._model()[0] if role == Role.ASSISTANT else "",
            parent_message_id=parent,
            created_at=moment,
        )
        self.pending.messages.append(store.to_document(message))
        return message

    def _model(self) -> tuple[str, Decimal, Decimal]:
        return MODELS[self.rng.randrange(len(MODELS))]

    def _add_usage(self, session: ChatSession, message: ChatMessage, question: str, reply: str) -> None:
        model, prompt_price, completion_price = next(m for m in MODELS if m[0] == message.model)
        prompt_tokens = offline.estimate_tokens(question)
        completion_tokens = offline.estimate_tokens(reply)
        cost = (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1000
        usage = builders.token_usage(
            session=session,
            message=message,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost.quantize(Decimal("0.00000001")),
        )
        self.pending.usage.append(store.to_document(usage))

    def _set_title(self, session: ChatSession, question: str) -> None:
        session.title = services.title_from(question, max_chars=settings.CHAT_TITLE_MAX_CHARS)
        session.search_terms = search.document_keys(session.user_id, session.title)
        document = self.pending.sessions.get(session.pk)
        if document is not None:
            document.update(builders.title_change(user_id=session.user_id, title=session.title))
            return
        store.collection(ChatSession).update_one(
            _selected(session), {"$set": builders.title_change(user_id=session.user_id, title=session.title)}
        )

    def flush(self) -> None:
        """Write what is pending: sessions first, then messages and usage, then the counters."""
        pending, self.pending = self.pending, _Pending()
        with pymongo.timeout(BULK_TIMEOUT_SECONDS):
            if pending.sessions:
                store.collection(ChatSession).insert_many(list(pending.sessions.values()), ordered=False)
            if pending.messages:
                search_index.index_documents(pending.messages)
                store.collection(ChatMessage).insert_many(pending.messages, ordered=False)
            if pending.usage:
                store.collection(TokenUsage).insert_many(pending.usage, ordered=False)
            if pending.counters:
                store.collection(ChatSession).bulk_write(
                    [
                        UpdateOne(
                            _selected(session),
                            {
                                "$inc": {"message_count": added},
                                "$max": {"last_message_at": last_at, "updated_at": last_at},
                            },
                        )
                        for session, added, last_at in pending.counters.values()
                    ],
                    ordered=False,
                )
        self.written["sessions"] += len(pending.sessions)
        self.written["messages"] += len(pending.messages)
        self.written["token_usage"] += len(pending.usage)


def _selected(session: ChatSession) -> dict[str, Any]:
    """The session by its unique ``(user_id, session_id)``: a filter one index holds entirely."""
    return {"user_id": Int64(session.user_id), "session_id": session.session_id}


def generated_users(*, count: int, prefix: str = "generated") -> list[int]:
    """Ids of ``count`` patient accounts ``<prefix>-00001``…, created (unusable password) if missing."""
    user_model = get_user_model()
    names = [f"{prefix}-{number:05d}" for number in range(1, count + 1)]
    existing = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    password = make_password(None)
    user_model.objects.bulk_create(
        [
            user_model(username=name, email=f"{name}@example.test", password=password)
            for name in names
            if name not in existing
        ],
        batch_size=500,
    )
    ids = dict(user_model.objects.filter(username__in=names).values_list("username", "id"))
    return [int(ids[name]) for name in names]


def generate_chats(
    *, users: int, sessions: int, messages: int, seed: int = 0, prefix: str = "generated"
) -> GeneratedChats:
    """``users`` accounts, each with ``sessions`` new sessions of ``messages`` messages."""
    generator = ChatGenerator(seed=seed)
    user_ids = generated_users(count=users, prefix=prefix)
    for user_id in user_ids:
        generator.sessions_for(user_id=user_id, sessions=sessions, messages=messages)
    return GeneratedChats(user_ids=user_ids, **generator.written)


def iter_patient_questions(*, seed: int = 0) -> Iterator[str]:
    """An endless stream of patient messages (benchmarks send these)."""
    rng = random.Random(seed)  # nosec B311 - synthetic benchmark text, not security
    while True:
        yield patient_question(rng)
