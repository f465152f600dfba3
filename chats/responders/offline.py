"""The default responder: deterministic rule-based answers, no network, no invented facts.

It says plainly that it is an automated assistant, urges emergency services first for
emergency signs, and mentions the patient's recorded allergies, medications and conditions
by their text. It reads only the latest message; the history counts towards prompt tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from chats.responders.base import EhrFact, EhrSummary, Reply, Turn

MODEL = "medibot-offline"

HONESTY = (
    "I'm Medibot, an automated assistant, not a clinician: I can't examine you or diagnose anything, "
    "so please check with a doctor, nurse or pharmacist about your own situation."
)
GREETING = (
    "Hello! I'm Medibot, an automated assistant, not a clinician. I can share general health "
    "information and point you to the right kind of care. What would you like to ask?"
)
EMERGENCY_CALL = (
    "Please call your local emergency number (such as 911 or 112) now, or have someone take you to "
    "the nearest emergency department. Don't wait for an online answer."
)
MEDICATION = (
    "I can't tell you which medicine or dose to take, or whether to start or stop one. A pharmacist or "
    "your prescriber can check a medicine against your allergies, other medicines and conditions."
)
FALLBACK = (
    "I can only answer a few common questions (symptoms such as fever, headache or cough, and "
    "questions about medicines), and I'd rather not guess about this one."
)


@dataclass(frozen=True)
class Rule:
    """A phrase pattern and the fixed text the responder answers with when it matches."""

    pattern: re.Pattern[str]
    text: str


def _rule(pattern: str, text: str) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), text)


EMERGENCY_RULES = [
    _rule(
        r"\bchest\s+(pain|tightness|pressure)|\bpain\s+in\s+(my|the)\s+chest",
        "Chest pain can be a sign of a heart attack and needs urgent care.",
    ),
    _rule(
        r"\b(difficult\w*|trouble|hard|struggl\w*|problems?)\s+(with\s+)?breath\w*"
        r"|\bshort(ness)?\s+of\s+breath|\b(can'?t|cannot|unable\s+to)\s+breathe|\bbreathless",
        "Difficulty breathing needs urgent care.",
    ),
    _rule(
        r"\b(suicid\w*|kill\s+myself|end\s+my\s+life|harm(ing)?\s+myself|self[-\s]harm)",
        "If you are thinking about harming yourself, you deserve support right away: "
        "a crisis line or emergency service can help now.",
    ),
]
SYMPTOM_RULES = [
    _rule(
        r"\b(fever\w*|feverish|high\s+temperature)\b",
        "For a fever, rest and drink plenty of fluids. Contact a doctor if it is very high, lasts more "
        "than three days, or comes with a stiff neck, confusion, a rash or drowsiness.",
    ),
    _rule(
        r"\b(headaches?|migraines?)\b",
        "For a headache, rest, drink water and avoid screens for a while. Get urgent help for a sudden, "
        "severe headache, or one with a stiff neck, fever, confusion, weakness or vision changes.",
    ),
    _rule(
        r"\b(cough\w*)\b",
        "A cough from a cold usually settles within three weeks. Contact a doctor if it lasts longer, "
        "or if you cough up blood or have a high temperature.",
    ),
]
MEDICATION_PATTERN = re.compile(
    r"\b(medications?|medicines?|meds|drugs?|pills?|tablets?|doses?|dosage|prescriptions?|"
    r"side[-\s]effects?|antibiotics?|painkillers?|ibuprofen|paracetamol|acetaminophen|aspirin)\b",
    re.IGNORECASE,
)
GREETING_PATTERN = re.compile(
    r"^\W*(hi|hello|hey|good\s+(morning|afternoon|evening)|greetings)\b", re.IGNORECASE
)
WORD_CHUNK = re.compile(r"\S+\s*")


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: four tokens for every three words, rounded up."""
    words = len(text.split())
    return (words * 4 + 2) // 3


def _listed(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def ehr_sentences(facts: list[EhrFact], *, kinds: tuple[str, ...]) -> list[str]:
    """One sentence per kind of recorded fact, quoting each record's text."""
    sentences: list[str] = []
    for kind in kinds:
        texts = [fact.text for fact in facts if fact.kind == kind and fact.text.strip()]
        if not texts:
            continue
        if kind == "allergy":
            noun = "an allergy" if len(texts) == 1 else "allergies"
            sentences.append(f"Your record lists {noun} to {_listed(texts)}.")
        else:
            noun = kind if len(texts) == 1 else f"{kind}s"
            sentences.append(f"Your record lists the {noun} {_listed(texts)}.")
    return sentences


def compose(*, message: str, ehr: EhrSummary | None) -> str:
    """The reply text for ``message``: emergency advice first, then symptoms, medicines, the record."""
    facts = ehr.facts if ehr else []
    emergencies = [rule.text for rule in EMERGENCY_RULES if rule.pattern.search(message)]
    symptoms = [rule.text for rule in SYMPTOM_RULES if rule.pattern.search(message)]
    about_medication = bool(MEDICATION_PATTERN.search(message))

    if not (emergencies or symptoms or about_medication) and GREETING_PATTERN.match(message):
        return GREETING

    paragraphs: list[str] = []
    if emergencies:
        paragraphs.append(" ".join([EMERGENCY_CALL, *emergencies]))
        record = ehr_sentences(facts, kinds=("allergy", "medication"))
        if record:
            paragraphs.append("Tell the emergency team about your record. " + " ".join(record))
    paragraphs.extend(symptoms)
    if about_medication:
        paragraphs.append(MEDICATION)
    if not paragraphs:
        paragraphs.append(FALLBACK)
    if not emergencies:
        record = ehr_sentences(facts, kinds=("allergy", "medication", "condition"))
        if record:
            paragraphs.append(" ".join(record))
    paragraphs.append(HONESTY)
    return "\n\n".join(paragraphs)


class OfflineResponder:
    """Deterministic replies from a few intent rules; the same input always gives the same Reply."""

    name = "offline"

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        content = compose(message=message, ehr=ehr)
        prompt = "\n".join([*(turn.content for turn in history), message])
        return Reply(
            content=content,
            model=MODEL,
            prompt_tokens=estimate_tokens(prompt),
            completion_tokens=estimate_tokens(content),
            cost=Decimal(0),
            metadata={"ehr_record_ids": ehr.record_ids()} if ehr else {},
        )

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        """The reply word by word (each chunk keeps its trailing whitespace), then the Reply."""
        reply = self.reply(history=history, message=message, ehr=ehr)
        yield from WORD_CHUNK.findall(reply.content)
        yield reply
