"""Domain errors of the chat store; each declares its HTTP status (``medibot.exception_handler``)."""

from __future__ import annotations

from medibot.errors import DomainError


class ChatError(DomainError):
    """Base of every chat domain error; ``message`` is safe to show (never message text)."""


class SessionNotFound(ChatError):
    status_code = 404

    def __init__(self, message: str = "Chat session not found.") -> None:
        super().__init__(message)


class MessageNotFound(ChatError):
    status_code = 404

    def __init__(self, message: str = "Message not found.") -> None:
        super().__init__(message)


class ErasureNotFound(ChatError):
    status_code = 404

    def __init__(self, message: str = "Erasure not found.") -> None:
        super().__init__(message)


class SessionAlreadyExists(ChatError):
    status_code = 409

    def __init__(self, message: str = "A chat session with this id already exists.") -> None:
        super().__init__(message)


class InvalidChatInput(ChatError):
    """Input a service refuses before writing anything."""


class StoreUnavailable(ChatError):
    status_code = 503

    def __init__(self, message: str = "Chat storage is temporarily unavailable.") -> None:
        super().__init__(message)


class ReplyFailed(ChatError):
    """The bot's provider failed; the user message and a failed assistant message are stored."""

    status_code = 502


class TransferNotFound(ChatError):
    """An import or export that does not exist, is someone else's, or has nothing to download."""

    status_code = 404

    def __init__(self, message: str = "Import or export not found.") -> None:
        super().__init__(message)


class UploadTooLarge(ChatError):
    status_code = 413
