"""Domain errors of the EHR; each declares its HTTP status (``medibot.exception_handler``)."""

from __future__ import annotations

from typing import Any

from medibot.errors import DomainError


class EhrError(DomainError):
    """Base of every EHR error; ``message`` is safe to show (never a clinical value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def body(self) -> Any:
        return {"detail": [self.message]}


class _Shown(EhrError):
    """An error whose body is ``{"detail": message}``."""

    def body(self) -> Any:
        return {"detail": self.message}


class PatientNotFound(_Shown):
    """No such patient — or one the caller may not see (indistinguishable on purpose)."""

    status_code = 404

    def __init__(self) -> None:
        super().__init__("Patient record not found.")


class RecordNotFound(_Shown):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("Record not found.")


class ChangeNotAllowed(_Shown):
    """The caller may read this record but not change it (only assigned clinicians write)."""

    status_code = 403

    def __init__(self) -> None:
        super().__init__("Only a clinician assigned to this patient can change their record.")


class InvalidRecord(EhrError):
    """Input the model's validation refused; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The record is not valid.")
        self.errors = errors

    def body(self) -> Any:
        return self.errors


class NoCareTeam(_Shown):
    """Sharing needs a patient record with at least one assigned clinician."""

    status_code = 409

    def __init__(self) -> None:
        super().__init__("You have no care team to share with yet: no clinician is assigned to you.")
