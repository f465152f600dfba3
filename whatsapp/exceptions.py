class InvalidLinkCode(Exception):
    """The code is unknown, used or expired."""


class StorageNotReady(Exception):
    """The reply's message is not in the chat store yet (MongoDB down, the outbox not drained)."""
