"""Deleting an account: every app holding the user's data erases it first, then the user row goes.

``accounts`` never imports the apps built on it (import-linter): an app that holds a user's data
registers an eraser in its ``AppConfig.ready`` (``chats`` erases the chats, search vocabulary,
outbox entries and transfer files, and destroys the patient's data key). The account is
deactivated and its tokens revoked before any eraser runs, so no request of the user writes
while their data goes; an eraser that cannot finish (its store is down) leaves a durable record
that completes on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from django.db import transaction

from accounts.models import User
from accounts.services import InvalidCredentials, revoke_all_tokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureReport:
    """What one app did with a deleted account's data.

    ``completed`` is False while the erasure waits for its store (it completes automatically);
    ``kept`` counts items a legal hold keeps, and ``detail`` says so in one sentence for the user.
    """

    app: str
    completed: bool
    kept: int = 0
    detail: str = ""


class AccountEraser(Protocol):
    def __call__(self, *, user_id: int, requested_by_id: int | None) -> ErasureReport: ...


_erasers: dict[str, AccountEraser] = {}


def register_account_eraser(app: str, eraser: AccountEraser) -> None:
    """Called from an app's ``ready()``: ``eraser`` runs for every deleted account (once per app)."""
    _erasers[app] = eraser


@dataclass(frozen=True)
class AccountDeletion:
    user_id: int
    reports: tuple[ErasureReport, ...]

    @property
    def completed(self) -> bool:
        return all(report.completed for report in self.reports)

    @property
    def kept(self) -> int:
        return sum(report.kept for report in self.reports)

    @property
    def details(self) -> list[str]:
        return [report.detail for report in self.reports if report.detail]


def delete_account(*, user: User, requested_by_id: int | None) -> AccountDeletion:
    """Erase everything the apps hold of ``user`` (honouring legal holds), then delete the account.

    An eraser's failure other than a pending store leaves the account deactivated, not deleted,
    so staff can run the deletion again.
    """
    user_id = int(user.pk)
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(is_active=False)
        revoke_all_tokens(user_id=user_id)
    reports = tuple(eraser(user_id=user_id, requested_by_id=requested_by_id) for eraser in _erasers.values())
    user.delete()
    logger.info(
        "account deleted",
        extra={"user_id": user_id, "requested_by_id": requested_by_id, "kept": sum(r.kept for r in reports)},
    )
    return AccountDeletion(user_id=user_id, reports=reports)


def delete_own_account(*, user: User, password: str) -> AccountDeletion:
    """The user's own request: their current password confirms it (``InvalidCredentials`` if wrong)."""
    if not user.check_password(password):
        raise InvalidCredentials
    return delete_account(user=user, requested_by_id=int(user.pk))
