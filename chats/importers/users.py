"""Legacy user references to Medibot accounts (MySQL), resolved for a whole batch at once."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import phone_number_validator

PLACEHOLDER_USER_ID = -1  # an account a dry run would create; no document has it
_PHONE_NOISE = re.compile(r"[\s\-().]")


def existing_user_ids(user_ids: Iterable[int]) -> set[int]:
    wanted = {int(user_id) for user_id in user_ids}
    if not wanted:
        return set()
    return set(get_user_model().objects.filter(pk__in=wanted).values_list("pk", flat=True))


@dataclass(frozen=True)
class UserMap:
    """``--user-map file.csv``: ``legacy_user_id,account`` where account is a username or an id."""

    accounts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> UserMap:
        accounts: dict[str, str] = {}
        with Path(path).open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) < 2 or not row[0].strip() or row[0].strip().startswith("#"):
                    continue
                legacy, account = row[0].strip(), row[1].strip()
                if legacy.lower() in ("legacy_user_id", "legacy") and not accounts:
                    continue
                accounts[legacy] = account
        return cls(accounts)


class LegacyUsers:
    """Legacy user ids (numbers or strings) to account ids: the map first, then the id itself."""

    def __init__(self, user_map: UserMap | None = None) -> None:
        self.user_map = user_map or UserMap()

    def resolve(self, legacy_ids: Iterable[str]) -> dict[str, int | None]:
        wanted = {str(legacy).strip() for legacy in legacy_ids}
        targets = {legacy: self.user_map.accounts.get(legacy, legacy) for legacy in wanted}
        ids = {int(target) for target in targets.values() if target.isdigit()}
        names = {target for target in targets.values() if not target.isdigit()}
        if not ids and not names:
            return dict.fromkeys(wanted)
        found = get_user_model().objects.filter(Q(pk__in=ids) | Q(username__in=names))
        by_id: dict[str, int] = {}
        for pk, username in found.values_list("pk", "username"):
            by_id[str(pk)] = pk
            by_id.setdefault(username, pk)
        return {legacy: by_id.get(target) for legacy, target in targets.items()}


def normalise_phone(raw: str | None) -> str | None:
    """E.164 (``+4915112345678``) from the usual ways numbers are written, or None."""
    if not raw:
        return None
    digits = _PHONE_NOISE.sub("", raw.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = "+" + digits
    try:
        phone_number_validator(digits)
    except ValidationError:
        return None
    return digits


def accounts_for_phones(phones: dict[str, str], *, create: bool) -> tuple[dict[str, int], int]:
    """Account ids by E.164 phone (``phones`` maps phone to display name); creates missing accounts.

    Created accounts have an unusable password: their owners sign in by resetting it. Without
    ``create`` a missing account maps to PLACEHOLDER_USER_ID. Returns (ids, accounts created or that
    would be created).
    """
    User = get_user_model()
    found: dict[str, int] = {
        str(phone): int(pk)
        for phone, pk in User.objects.filter(phone_number__in=list(phones)).values_list("phone_number", "pk")
    }
    created = 0
    for phone, name in phones.items():
        if phone in found:
            continue
        found[phone] = _create_whatsapp_account(phone, name) if create else PLACEHOLDER_USER_ID
        created += 1
    return found, created


def _create_whatsapp_account(phone: str, name: str) -> int:
    User = get_user_model()
    username = f"whatsapp-{phone.lstrip('+')}"
    suffix = 0
    while True:
        candidate = username if suffix == 0 else f"{username}-{suffix}"
        try:
            with transaction.atomic(using="default"):
                user = User.objects.create_user(
                    username=candidate, password=None, phone_number=phone, first_name=(name or "")[:150]
                )
            return int(user.pk)
        except IntegrityError:
            existing = User.objects.filter(phone_number=phone).values_list("pk", flat=True).first()
            if existing is not None:
                return int(existing)
            suffix += 1
