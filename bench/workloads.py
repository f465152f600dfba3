"""Operations 1-4 and the scaling curves: the data they read and each layer's way to do them.

Layers: ``raw`` (pymongo, see bench/raw.py), ``service`` (chats.services / chats.selectors /
chats.services.turn in this process) and ``http`` (DRF behind gunicorn, token-authenticated).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import pymongo
from bson import Int64
from django.conf import settings
from pymongo.database import Database
from pymongo.mongo_client import MongoClient

from accounts.models import User
from accounts.services import issue_token
from bench import raw
from bench.timing import Operation
from chats import builders, selectors, services, store
from chats.fake_data import SEARCH_PHRASE, ChatGenerator, generated_users, iter_patient_questions
from chats.models import ChatMessage, ChatSession, Role
from chats.services import turn as conversation

T = TypeVar("T")
PAGE = 50
APPEND_STEPS = [
    "insert_one of the message alone",
    "find_one_and_update ($inc) of the session alone",
    "update_one ($inc) + find_one of the session",
    "transaction: find_one_and_update + insert_one (the product before the fix)",
    "transaction: update_one + find_one + insert_one (the raw floor and the product)",
]


@dataclass(frozen=True)
class Actor:
    """A benchmark account and its API token."""

    user_id: int
    token: str


@dataclass
class Dataset:
    """The generated data every read operation and curve uses."""

    writer: Actor
    long_sessions: dict[int, tuple[Actor, ChatSession]] = field(default_factory=dict)
    forked: tuple[Actor, ChatSession] | None = None  # branches: the forked conversation of the headline size
    session_owners: dict[int, Actor] = field(default_factory=dict)
    generated: dict[str, Any] = field(default_factory=dict)


def build_dataset(*, session_lengths: list[int], session_counts: list[int], seed: int = 8) -> Dataset:
    """One user per session length (one session of that many messages; also the search curve) and one
    user per session count (that many two-message sessions), plus a writer for the appends."""
    started = time.monotonic()
    user_ids = generated_users(count=2 + len(session_lengths) + len(session_counts), prefix="bench")
    actors = [Actor(user_id, issue_token(user=User.objects.get(pk=user_id)).key) for user_id in user_ids]
    generator = ChatGenerator(seed=seed)
    dataset = Dataset(writer=actors[0])
    for length, actor in zip(session_lengths, actors[1:], strict=False):
        [session] = generator.sessions_for(user_id=actor.user_id, sessions=1, messages=length)
        dataset.long_sessions[length] = (actor, session)
    owners = actors[1 + len(session_lengths) : 1 + len(session_lengths) + len(session_counts)]
    for count, actor in zip(session_counts, owners, strict=True):  # the last actor owns the fork
        generator.sessions_for(user_id=actor.user_id, sessions=count, messages=2)
        dataset.session_owners[count] = actor
    headline_length = max(length for length in session_lengths if length <= 10_000)
    dataset.forked = (
        actors[-1],
        forked_conversation(generator, user_id=actors[-1].user_id, size=headline_length),
    )
    dataset.generated = {**generator.written, "seconds": round(time.monotonic() - started, 1)}
    return dataset


def forked_conversation(generator: ChatGenerator, *, user_id: int, size: int) -> ChatSession:
    """A conversation of ``size`` messages with branches: 60 % on the original line, a fork of it at
    30 % (20 %), and a fork of that fork at 40 % (20 %), which is active."""
    [session] = generator.sessions_for(user_id=user_id, sessions=1, messages=size * 6 // 10)
    add_fork(session, parent=0, first=size * 3 // 10 + 1, count=size // 5)
    add_fork(session, parent=1, first=size * 4 // 10 + 1, count=size - size * 6 // 10 - size // 5)
    return session


def add_fork(session: ChatSession, *, parent: int, first: int, count: int) -> None:
    """A branch of ``count`` messages forked from ``parent`` at order ``first``, made active."""
    branch = len(session.branches) + 1
    moment = store.now()
    documents = [
        store.to_document(
            builders.message(
                session=session,
                role=Role.USER if order % 2 else Role.ASSISTANT,
                content=f"message {order} on branch {branch}",
                order=order,
                branch=branch,
                created_at=moment,
            )
        )
        for order in range(first, first + count)
    ]
    with pymongo.timeout(120):  # a bulk load, not a request: the request timeout does not apply
        store.collection(ChatMessage).insert_many(documents, ordered=False)
    fork = builders.fork(id=branch, parent=parent, first=first, tip=first + count - 1)
    store.collection(ChatSession).update_one(
        store.owned(session),
        {"$inc": {"message_count": count}, "$push": {"branches": fork}, "$set": {"active_branch": branch}},
    )
    session.message_count += count
    session.branches = [*session.branches, fork]
    session.active_branch = branch


def raw_client() -> tuple[MongoClient[dict[str, Any]], Database[dict[str, Any]]]:
    """A plain pymongo client with the product's client options (write concern, timeouts)."""
    chats = settings.DATABASES["chats"]
    options = {key: value for key, value in chats["OPTIONS"].items() if key != "event_listeners"}
    client: MongoClient[dict[str, Any]] = MongoClient(chats["HOST"], **options)
    return client, client[chats["NAME"]]


class PerThread(Generic[T]):
    """Each worker thread writes to a session of its own, as separate users' requests would."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._local = threading.local()
        self._lock = threading.Lock()

    def get(self) -> T:
        value: T | None = getattr(self._local, "value", None)
        if value is None:
            with self._lock:
                value = self._make()
            self._local.value = value
        return value

    def reset(self) -> None:
        """The next call in this thread makes a new value (a session whose writes were queued)."""
        self._local.value = None


def _questions(count: int = 1000) -> list[str]:
    stream: Iterator[str] = iter_patient_questions(seed=count)
    return [next(stream) for _ in range(count)]


class Layers:
    """Builds the three layers' operations on one shared raw client and HTTP client."""

    def __init__(self, *, http_base: str | None, concurrency: int) -> None:
        """Without ``http_base`` (gunicorn did not start) the operations have no ``http`` layer."""
        self.client, self.db = raw_client()
        self.has_http = http_base is not None
        self.http = httpx.Client(
            base_url=http_base or "http://127.0.0.1:9",
            timeout=60,
            limits=httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2),
        )
        self.questions = _questions()

    def close(self) -> None:
        self.http.close()
        self.client.close()

    def _layers(self, operations: dict[str, Operation]) -> dict[str, Operation]:
        return operations if self.has_http else {k: v for k, v in operations.items() if k != "http"}

    def _get(self, actor: Actor, path: str, params: dict[str, Any]) -> None:
        response = self.http.get(path, params=params, headers={"Authorization": f"Token {actor.token}"})
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")

    # --- operation 1: writes ---------------------------------------------------------------------------

    def append(self, writer: Actor) -> dict[str, Operation]:
        """One message appended to a session (order from $inc, one transaction)."""
        raw_sessions = PerThread(lambda: self._raw_session(writer))
        service_sessions = PerThread(lambda: services.start_session(user_id=writer.user_id))

        def raw_append(number: int) -> None:
            raw.append(
                self.client, self.db, session=raw_sessions.get(), content=self.questions[number % 1000]
            )

        def service_append(number: int) -> None:
            services.append_message(
                session=service_sessions.get(), role="user", content=self.questions[number % 1000]
            )

        return {"raw": raw_append, "service": service_append}

    def append_costs(self, writer: Actor) -> dict[str, Operation]:
        """What one append costs on this server, step by step (each step on sessions of its own)."""
        sessions = {step: PerThread(lambda: self._raw_session(writer)) for step in APPEND_STEPS}
        orders = itertools.count(10**9)
        counters = {"$inc": {"message_count": 1}}

        def owned(step: str) -> dict[str, Any]:
            session = sessions[step].get()
            return {"user_id": Int64(session["user_id"]), "session_id": session["session_id"]}

        def insert(number: int) -> None:
            session = sessions[APPEND_STEPS[0]].get()
            raw.insert_alone(
                self.db, session=session, content=self.questions[number % 1000], order=next(orders)
            )

        def find_and_modify(number: int) -> None:
            raw.count_messages(self.db, owned(APPEND_STEPS[1]), counters, txn=None, find_and_modify=True)

        def update_then_find(number: int) -> None:
            raw.count_messages(self.db, owned(APPEND_STEPS[2]), counters, txn=None)

        def product_way(number: int) -> None:
            session = sessions[APPEND_STEPS[3]].get()
            raw.append(
                self.client,
                self.db,
                session=session,
                content=self.questions[number % 1000],
                find_and_modify=True,
            )

        def floor(number: int) -> None:
            session = sessions[APPEND_STEPS[4]].get()
            raw.append(self.client, self.db, session=session, content=self.questions[number % 1000])

        steps = (insert, find_and_modify, update_then_find, product_way, floor)
        return dict(zip(APPEND_STEPS, steps, strict=True))

    def _raw_session(self, writer: Actor) -> dict[str, Any]:
        session = services.start_session(user_id=writer.user_id)
        return raw.find_session(self.db, user_id=writer.user_id, session_id=session.session_id)

    def exchange(self, writer: Actor) -> dict[str, Operation]:
        """A whole chat turn (two messages, history read, offline reply, token usage)."""
        sessions = {
            layer: PerThread(lambda: services.start_session(user_id=writer.user_id).session_id)
            for layer in ("raw", "service", "http")
        }
        headers = {"Authorization": f"Token {writer.token}"}

        def raw_exchange(number: int) -> None:
            raw.exchange(
                self.client,
                self.db,
                user_id=writer.user_id,
                session_id=sessions["raw"].get(),
                content=self.questions[number % 1000],
            )

        def service_exchange(number: int) -> None:
            turn = conversation.run_turn(
                user_id=writer.user_id,
                text=self.questions[number % 1000],
                session_id=sessions["service"].get(),
            )
            if turn.queued:
                sessions["service"].reset()  # its later turns would queue behind this one
                raise RuntimeError("queued in the outbox: MongoDB did not answer within MONGODB_TIMEOUT_MS")

        def http_exchange(number: int) -> None:
            response = self.http.post(
                "/api/chat/send",
                json={"message": self.questions[number % 1000], "session_id": sessions["http"].get()},
                headers=headers,
            )
            if response.status_code == 202:
                sessions["http"].reset()
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/chat/send: HTTP {response.status_code} {response.text[:200]}")

        return self._layers({"raw": raw_exchange, "service": service_exchange, "http": http_exchange})

    # --- operations 2-4: reads -------------------------------------------------------------------------

    def session_list(self, owner: Actor) -> dict[str, Operation]:
        """The first 20 sessions of a user."""
        return self._layers(
            {
                "raw": lambda number: raw.session_list(self.db, user_id=owner.user_id),
                "service": lambda number: selectors.list_sessions(user_id=owner.user_id, limit=20),
                "http": lambda number: self._get(owner, "/api/chat/sessions", {"page_size": 20}),
            }
        )

    def message_pages(self, owner: Actor, session: ChatSession, *, backwards: bool) -> dict[str, Operation]:
        """The newest 50 messages of a session, or (``backwards``) the 50 before a cursor walking back.

        Every layer starts from the public session id, as a request does: session, then the range.
        """
        pages = max(1, session.message_count // PAGE - 1)

        def before(number: int) -> int | None:
            return session.message_count - PAGE * (1 + number % pages) + 1 if backwards else None

        def service_page(number: int) -> None:
            found = selectors.get_session(user_id=owner.user_id, session_id=session.session_id)
            selectors.message_page(session=found, limit=PAGE, before=before(number))

        def http_page(number: int) -> None:
            cursor = before(number)
            self._get(
                owner,
                f"/api/chat/sessions/{session.session_id}/messages",
                {"limit": PAGE, **({"before": cursor} if cursor else {})},
            )

        return self._layers(
            {
                "raw": lambda number: raw.message_page(
                    self.db, user_id=owner.user_id, session_id=session.session_id, before=before(number)
                ),
                "service": service_page,
                "http": http_page,
            }
        )

    def forked_newest_page(self, owner: Actor, session: ChatSession) -> dict[str, Operation]:
        """The newest 50 messages of a conversation with branches: its active path."""

        def service_page(number: int) -> None:
            found = selectors.get_session(user_id=owner.user_id, session_id=session.session_id)
            selectors.message_page(session=found, limit=PAGE)

        return self._layers(
            {
                "raw": lambda number: raw.forked_message_page(
                    self.db, user_id=owner.user_id, session_id=session.session_id
                ),
                "service": service_page,
                "http": lambda number: self._get(
                    owner, f"/api/chat/sessions/{session.session_id}/messages", {"limit": PAGE}
                ),
            }
        )

    def search(self, owner: Actor, query: str = SEARCH_PHRASE) -> dict[str, Operation]:
        """Every message and session title of one user holding all words of ``query``."""
        return self._layers(
            {
                "raw": lambda number: raw.search_chats(self.db, user_id=owner.user_id, query=query),
                "service": lambda number: selectors.search_chats(
                    query=query, user_id=owner.user_id, limit=20
                ),
                "http": lambda number: self._get(owner, "/api/chat/search", {"q": query}),
            }
        )
