"""Search (issue 19): prefixes, typos, languages, phrases, relevance, and bounded newest-first pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command

from chats import search, search_index, selectors, services, store, tasks
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage, ChatSession, Role
from tests.chats.explain import captured_aggregations, explain
from tests.chats.factories import bulk_messages, next_user_id

pytestmark = pytest.mark.django_db(databases=["chats"])


def _session_with(*contents: str, user_id: int | None = None) -> ChatSession:
    session = services.start_session(user_id=user_id or next_user_id())
    for content in contents:
        services.append_message(session=session, role=Role.USER, content=content)
    return session


def _orders(result: selectors.SearchResult) -> list[int]:
    return [hit.message.order for hit in result.messages]


def test_a_word_start_finds_the_words_it_begins() -> None:
    session = _session_with("A bad headache and nausea", "my head hurts", "heartburn only")

    result = selectors.search_chats(query="head", user_id=session.user_id)

    assert sorted(_orders(result)) == [1, 2]
    assert "<mark>headache</mark>" in next(hit.snippet for hit in result.messages if hit.message.order == 1)


@pytest.mark.parametrize(
    ("query", "stored"),
    [("headahce", "I have a headache since Monday"), ("diabetis", "My diabetes is under control")],
)
def test_a_misspelt_word_finds_the_word_meant(query: str, stored: str) -> None:
    session = _session_with(stored, "nothing related here")

    assert _orders(selectors.search_chats(query=query, user_id=session.user_id)) == [1]


def test_french_plural_finds_the_singular() -> None:
    session = _session_with("J'ai de la fièvre depuis hier soir", "Je vais bien")

    result = selectors.search_chats(query="fièvres", user_id=session.user_id)

    assert _orders(result) == [1]
    assert "<mark>fièvre</mark>" in result.messages[0].snippet


def test_german_inflection_finds_the_stem() -> None:
    session = _session_with("Ich habe seit gestern Kopfschmerz und Fieber", "Mir geht es gut")

    assert _orders(selectors.search_chats(query="Kopfschmerzen", user_id=session.user_id)) == [1]


@pytest.mark.parametrize("text", ["Ik heb hoofdpijn sinds gisteren", "Tengo dolor de cabeza desde ayer"])
def test_other_languages_are_stemmed_in_their_own_language(text: str) -> None:
    session = _session_with(text)
    word = search.words(text)[2]

    assert _orders(selectors.search_chats(query=word, user_id=session.user_id)) == [1]


def test_a_quoted_phrase_matches_its_words_in_order() -> None:
    session = _session_with("my blood pressure is high", "pressure on the blood vessels")

    assert _orders(selectors.search_chats(query='"blood pressure"', user_id=session.user_id)) == [1]
    assert sorted(_orders(selectors.search_chats(query="blood pressure", user_id=session.user_id))) == [1, 2]


def test_relevance_puts_exact_and_close_words_first() -> None:
    session = _session_with(
        "blood pressure measured today",  # exact words, side by side (oldest)
        "bloody noses and some pressure",  # an expansion of "blood" (prefix), far apart
        "the pressure on my blood is fine",  # exact words, apart (newest)
    )

    newest = selectors.search_chats(query="blood pressure", user_id=session.user_id)
    relevant = selectors.search_chats(query="blood pressure", user_id=session.user_id, sort="relevance")

    assert _orders(newest) == [3, 2, 1]
    assert _orders(relevant) == [1, 3, 2]
    assert relevant.messages[0].score > relevant.messages[-1].score


def test_exact_matches_rank_above_expansions() -> None:
    session = _session_with("my head hurts", "a headache again")

    relevant = selectors.search_chats(query="head", user_id=session.user_id, sort="relevance")

    assert _orders(relevant) == [1, 2]


@pytest.mark.parametrize("query", ["(a+)+$", ".*", "$where", '{"$ne": null}', "[a-z]", "head.*", "^head"])
def test_operator_and_regex_text_is_taken_literally(query: str) -> None:
    session = _session_with("aaaa plain text", "headache")
    try:
        result = selectors.search_chats(query=query, user_id=session.user_id)
    except InvalidChatInput:
        return
    expected = [2] if "head" in query else []
    assert _orders(result) == expected


def test_another_users_terms_never_expand_a_query() -> None:
    mine = _session_with("my head hurts")
    _session_with("a headache and a headband", user_id=next_user_id())

    result = selectors.search_chats(query="headach", user_id=mine.user_id)

    assert result.messages == []
    assert not any(term.startswith("headach") for term in result.terms)


def _notes(count: int, *, after_each: Callable[[ChatSession, int], None] | None = None) -> ChatSession:
    """``count`` notes a second apart, every one but each third about insulin (``after_each`` runs
    after each append, with the note's number)."""
    session = services.start_session(user_id=next_user_id())
    moment = store.now() - timedelta(hours=1)
    for number in range(1, count + 1):
        content = f"note {number} about insulin" if number % 3 else f"note {number} about walking"
        services.append_message(
            session=session, role=Role.USER, content=content, created_at=moment + timedelta(seconds=number)
        )
        if after_each is not None:
            after_each(session, number)
    return session


def _walk_all(query: str, user_id: int, *, limit: int) -> list[int]:
    """The orders of every hit, following the cursor page by page."""
    seen: list[int] = []
    cursor = None
    while True:
        page = selectors.search_chats(query=query, user_id=user_id, limit=limit, cursor=cursor)
        seen += _orders(page)
        if not page.has_more:
            return seen
        cursor = page.next_cursor


def test_newest_first_cursor_walk_returns_each_hit_once_across_buckets() -> None:
    session = _notes(41)
    expected = [order for order in range(41, 0, -1) if order % 3]

    seen = _walk_all("insulin", session.user_id, limit=5)

    assert len(expected) > 3 * search.BUCKET_SIZE
    assert seen == expected


@pytest.mark.django_db(databases=["default", "chats"])  # the counting job reads the search language (MySQL)
def test_the_walk_stays_in_order_while_counts_are_deferred_and_counted_now_and_then() -> None:
    """Appends place postings from the counts as they stand and leave the counting to a job (here
    run every fifth append, out of step with the buckets): every hit still comes once, newest
    first, and no bucket holds more than a job's worth of postings over its size."""

    def count_every_fifth(session: ChatSession, number: int) -> None:
        if number % 5 == 0:
            tasks.count_search_terms(session.user_id)

    session = _notes(60, after_each=count_every_fifth)
    expected = [order for order in range(60, 0, -1) if order % 3]

    seen = _walk_all("insulin", session.user_id, limit=5)

    assert seen == expected
    key = search.search_key(session.user_id, "insulin")
    buckets = Counter(
        posting
        for document in store.collection(ChatMessage).find(
            {"user_id": session.user_id}, {"search_postings": 1}
        )
        for posting in document["search_postings"]
        if posting.startswith(f"{key}{search.POSTING_SEPARATOR}")
    )
    assert len(buckets) > 3
    assert max(buckets.values()) <= search.BUCKET_SIZE + 5


@pytest.mark.django_db(databases=["default", "chats"])  # the counting job reads the search language (MySQL)
def test_a_word_first_used_a_moment_ago_is_found_before_and_after_its_count_is_written() -> None:
    session = _session_with("my insulin pump")  # the user's first terms are counted at once
    services.append_message(session=session, role=Role.USER, content="a pounding headache since noon")
    services.append_message(session=session, role=Role.USER, content="the headache is worse")

    for when in ("deferred", "counted"):
        for query in ("headache", "head", "headahce", "pounding"):
            assert _orders(selectors.search_chats(query=query, user_id=session.user_id)) in (
                [3, 2],
                [2],
            ), (when, query)
        if when == "deferred":
            assert tasks.count_search_terms(session.user_id) == 2

    counts = store.database()["chat_search_terms"].find_one(
        {"user_id": session.user_id, "key": search.COUNTS_KEY}
    )
    assert counts is not None
    assert counts["counts"][search.search_key(session.user_id, "headach")] == 2
    assert tasks.count_search_terms(session.user_id) == 0, "each deferred message is counted once"


@pytest.mark.django_db(databases=["default", "chats"])  # the counting job reads the search language (MySQL)
def test_the_minute_job_counts_every_users_deferred_terms() -> None:
    first, second = _session_with("insulin dose"), _session_with("asthma inhaler")
    services.append_message(session=first, role=Role.USER, content="insulin again")
    services.append_message(session=second, role=Role.USER, content="inhaler again")

    assert tasks.count_search_terms() >= 2

    for session, word in ((first, "insulin"), (second, "inhal")):
        counts = store.database()["chat_search_terms"].find_one(
            {"user_id": session.user_id, "key": search.COUNTS_KEY}
        )
        assert counts is not None
        assert counts["counts"][search.search_key(session.user_id, word)] == 2
    assert tasks.count_search_terms(first.user_id) == 0


@pytest.mark.django_db(databases=["default", "chats"])  # erasure also removes care-team shares (MySQL)
def test_counting_after_an_erasure_never_brings_the_vocabulary_back() -> None:
    """A conversation under legal hold keeps its messages, deferred ones included, while the
    erasure drops the whole vocabulary: counting them must not make it again."""
    session = _session_with("my diabetes diary")
    services.append_message(session=session, role=Role.USER, content="diabetes again")
    services.set_legal_hold(session=session, hold=True)
    services.clear_user_chats(user_id=session.user_id)

    tasks.count_search_terms(session.user_id)
    tasks.count_search_terms()

    assert store.database()["chat_search_terms"].count_documents({"user_id": session.user_id}) == 0


def test_a_forged_cursor_is_refused() -> None:
    session = _session_with("insulin")
    with pytest.raises(InvalidChatInput):
        selectors.search_chats(query="insulin", user_id=session.user_id, cursor="not-a-cursor")


def test_every_search_query_is_an_index_scan_bounded_by_the_page_size() -> None:
    session = bulk_messages(session=services.start_session(user_id=next_user_id()), count=400)
    services.append_message(session=session, role=Role.USER, content="rare arrhythmia question")
    bulk_messages(session=services.start_session(user_id=next_user_id()), count=200)

    def searching(query: str) -> Callable[[], selectors.SearchResult]:
        return lambda: selectors.search_chats(query=query, user_id=session.user_id, limit=20)

    for query in ["blood", "arrhythmia", "arrythmia", "press"]:
        aggregations = captured_aggregations(searching(query))
        assert aggregations
        for collection, pipeline in aggregations:
            stats = explain(collection, pipeline)
            assert "IXSCAN" in stats["stages"], (query, collection, stats)
            assert stats["totalDocsExamined"] <= 4 * 20, (query, collection, stats)


def test_a_common_words_first_page_reads_its_postings_in_one_query() -> None:
    session = bulk_messages(session=services.start_session(user_id=next_user_id()), count=200)
    pages: list[selectors.SearchResult] = []

    aggregations = captured_aggregations(
        lambda: pages.append(selectors.search_chats(query="blood", user_id=session.user_id, limit=20))
    )

    postings_reads = [
        pipeline
        for collection, pipeline in aggregations
        if collection == "chat_messages" and "search_postings" in str(pipeline)
    ]
    assert len(pages[0].messages) == 20
    assert pages[0].has_more
    assert len(postings_reads) == 1, postings_reads


@pytest.mark.django_db(databases=["default", "chats"])  # the owner's search language (MySQL)
def test_rebuild_search_restores_postings_and_vocabulary(capsys: pytest.CaptureFixture[str]) -> None:
    session = _session_with("A bad headache and nausea", "my diabetes diary")
    store.collection(ChatMessage).update_many(
        {"user_id": session.user_id}, {"$set": {"search_terms": [], "search_postings": []}}
    )
    store.database()["chat_search_terms"].delete_many({"user_id": session.user_id})
    assert selectors.search_chats(query="headache", user_id=session.user_id).messages == []

    call_command("rebuild_search", "--user", str(session.user_id))

    assert _orders(selectors.search_chats(query="head", user_id=session.user_id)) == [1]
    assert _orders(selectors.search_chats(query="diabetis", user_id=session.user_id)) == [2]
    assert "2 messages" in capsys.readouterr().out


@pytest.mark.django_db(databases=["default", "chats"])  # the owner's search language (MySQL)
def test_rebuild_search_reaches_a_message_older_than_its_session() -> None:
    asked_at = store.now() - timedelta(milliseconds=50)  # a turn's question predates its new session
    session = services.start_session(user_id=next_user_id())
    services.append_message(session=session, role=Role.USER, content="insulin question", created_at=asked_at)

    call_command("rebuild_search", "--user", str(session.user_id))

    assert _orders(selectors.search_chats(query="insulin", user_id=session.user_id)) == [1]


@pytest.mark.django_db(databases=["default", "chats"])  # the owner's search language (MySQL)
def test_an_interrupted_rebuild_resumes_where_it_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    session = _session_with("first note about insulin", "second note about insulin")
    call_command("rebuild_search", "--user", str(session.user_id))
    stopped = {"user_id": session.user_id, "next_window": store.now() + timedelta(days=2), "finished": False}
    store.database()["chat_search_rebuild"].update_one({"_id": "rebuild_search"}, {"$set": stopped})

    call_command("rebuild_search", "--user", str(session.user_id))

    assert f"resumed at user {session.user_id}" in capsys.readouterr().out
    assert _orders(selectors.search_chats(query="insulin", user_id=session.user_id)) == [2, 1]


@pytest.mark.django_db(databases=["default", "chats"])  # erasure also removes care-team shares (MySQL)
def test_clearing_a_users_chats_drops_their_vocabulary() -> None:
    session = _session_with("my diabetes diary")

    services.clear_user_chats(user_id=session.user_id)

    assert store.database()["chat_search_terms"].count_documents({"user_id": session.user_id}) == 0


def _made_up_words(count: int) -> list[str]:
    return [f"xyl{first}{second}o" for first in "bcdfghk" for second in "jlmnpqrstvwz"][:count]


def test_new_terms_written_out_in_a_batch_are_found_by_prefix_and_typo() -> None:
    words = _made_up_words(search_index.PENDING_LIMIT)
    session = _session_with(f"headache and diabetes with {' '.join(words)}")
    written = store.database()["chat_search_terms"].count_documents(
        {"user_id": session.user_id, "key": {"$ne": search.COUNTS_KEY}}
    )

    assert written >= search_index.PENDING_LIMIT
    assert _orders(selectors.search_chats(query="head", user_id=session.user_id)) == [1]
    assert _orders(selectors.search_chats(query="diabetis", user_id=session.user_id)) == [1]
    assert _orders(selectors.search_chats(query="xylbjo", user_id=session.user_id)) == [1]


@pytest.mark.django_db(databases=["default", "chats"])  # the counting job reads the search language (MySQL)
def test_a_term_left_waiting_with_its_keys_by_an_earlier_release_is_found_and_written_out() -> None:
    """Counts documents written before pending terms were stored without their keys still hold
    entries with every prefix and deletion key: they are read as they are, and written out."""
    session = _session_with("my insulin pump")
    user_id = session.user_id
    prefix_keys, typo_keys = search.term_keys(user_id, "headach")
    key = search.search_key(user_id, "headach")
    older = {"key": key, "prefix_keys": prefix_keys, "typo_keys": typo_keys}
    store.database()["chat_search_terms"].update_one(
        {"user_id": user_id, "key": search.COUNTS_KEY},
        {"$push": {"pending": older}, "$inc": {f"counts.{key}": 1}},
    )
    store.collection(ChatMessage).update_one(
        {"user_id": user_id, "order": 1},
        {"$push": {"search_terms": key, "search_postings": search.posting(key, 0)}},
    )

    assert _orders(selectors.search_chats(query="head", user_id=user_id)) == [1]
    services.append_message(session=session, role=Role.USER, content=" ".join(_made_up_words(70)))
    tasks.count_search_terms(user_id)  # the append deferred its counting to this job
    stored = store.database()["chat_search_terms"].find_one({"user_id": user_id, "key": key})
    assert stored is not None
    assert stored["prefix_keys"] == prefix_keys
    assert _orders(selectors.search_chats(query="headahce", user_id=user_id)) == [1]
