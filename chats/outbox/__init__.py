"""The chat outbox: chat writes kept on MySQL while MongoDB is unreachable, delivered later once.

A separate Django app (label ``chats_outbox``) so the router keeps it on ``default``: the outbox
must live in a different store from the one whose outage it covers.
"""
