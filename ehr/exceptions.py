"""Domain errors of the EHR; ``ehr.api`` turns them into HTTP (404, 403, 400)."""

from __future__ import annotations


class EhrError(Exception):
    """Base of every EHR error; ``message`` is safe to show (never a clinical value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PatientNotFound(EhrError):
    """No such patient — or one the caller may not see (indistinguishable on purpose)."""

    def __init__(self) -> None:
        super().__init__("Patient record not found.")


class RecordNotFound(EhrError):
    def __init__(self) -> None:
        super().__init__("Record not found.")


class ChangeNotAllowed(EhrError):
    """The caller may read this record but not change it (only assigned clinicians write)."""

    def __init__(self) -> None:
        super().__init__("Only a clinician assigned to this patient can change their record.")


class InvalidRecord(EhrError):
    """Input the model's validation refused; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The record is not valid.")
        self.errors = errors
