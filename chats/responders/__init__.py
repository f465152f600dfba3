"""Bot reply providers. ``get_responder()`` returns the one chosen by settings.CHAT_RESPONDER."""
