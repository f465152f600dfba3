"""Domain errors of the chat store; the API maps them to HTTP in one exception handler."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every chat domain error; ``message`` is safe to show (never message text)."""

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class SessionNotFound(ChatError):
    def __init__(self, message: str = "Chat session not found.") -> None:
        super().__init__(message)


class MessageNotFound(ChatError):
    def __init__(self, message: str = "Message not found.") -> None:
        super().__init__(message)


class SessionAlreadyExists(ChatError):
    def __init__(self, message: str = "A chat session with this id already exists.") -> None:
        super().__init__(message)


class InvalidChatInput(ChatError):
    """Input a service refuses before writing anything."""


class StoreUnavailable(ChatError):
    def __init__(self, message: str = "Chat storage is temporarily unavailable.") -> None:
        super().__init__(message)


class ReplyFailed(ChatError):
    """The bot's provider failed; the user message and a failed assistant message are stored."""
