"""Importers of legacy chat history (``manage.py migrate_chats``).

One module per legacy source reads it in keyset batches and turns rows into ``records``; the
``runner`` feeds every batch to the one ``writer`` and checkpoints the run in ``runs``. Target ids
are derived from (source, legacy key), so a rerun or a resumed run inserts each message once.
"""
